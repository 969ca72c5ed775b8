"""An emulated Kubernetes API server for tests, benchmarks and `kes emulate`."""

from kes.testing.apiserver.server import ApiServer
from kes.testing.seed import SeedError

__all__ = ["ApiServer", "SeedError"]
