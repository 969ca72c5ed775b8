"""The root of every error kes reports to a person.

Messages name the object and the field at fault and never carry a secret value:
they end up in logs, Kubernetes status and Events.
"""


class KesError(Exception):
    """An error kes explains to its user rather than a bug."""
