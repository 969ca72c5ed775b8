"""An emulated GCP Secret Manager over real gRPC, for the real client libraries."""

from kes.testing.gsm.control import Counters, Faults, Quotas
from kes.testing.gsm.emulator import SecretManagerEmulator
from kes.testing.gsm.iam import ROLES, Iam
from kes.testing.gsm.seed import SeedError

__all__ = ["ROLES", "Counters", "Faults", "Iam", "Quotas", "SecretManagerEmulator", "SeedError"]
