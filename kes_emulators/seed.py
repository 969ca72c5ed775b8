"""The one error every emulator raises for a `kes emulate --seed` section it cannot load."""


class SeedError(ValueError):
    """A seed entry an emulator cannot load; the message names the section, entry and field."""
