"""An emulated Kubernetes API server for tests, benchmarks and `kes emulate`."""

from kes_emulators.apiserver.server import ApiServer
from kes_emulators.seed import SeedError

__all__ = ["ApiServer", "SeedError"]
