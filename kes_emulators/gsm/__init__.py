"""An emulated GCP Secret Manager over real gRPC, for the real client libraries."""

from kes_emulators.gsm.control import Counters, Faults, Quotas
from kes_emulators.gsm.emulator import SecretManagerEmulator
from kes_emulators.gsm.iam import ROLES, Iam
from kes_emulators.gsm.seed import SeedError

__all__ = ["ROLES", "Counters", "Faults", "Iam", "Quotas", "SecretManagerEmulator", "SeedError"]
