"""`kes demo`: kes's Secret Manager round trip on the local emulator, step by step.

Only demo placeholders are ever stored, so printing them shows nothing secret.
"""

from __future__ import annotations

import asyncio
import itertools

from kes.gsm import FailedPrecondition, SecretManager
from kes.testing.gsm import SecretManagerEmulator

SECRET = "projects/kes-demo/secrets/demo-db-password"
PLACEHOLDERS = (b"demo-placeholder-1", b"demo-placeholder-2")


async def secret_manager_round_trip() -> None:
    emulator = SecretManagerEmulator()
    await emulator.start()
    gsm = SecretManager(emulator_host=emulator.address)
    numbers = itertools.count(1)

    def _step(text: str) -> None:
        print(f"{next(numbers)}. {text}", flush=True)

    try:
        _step(f"Secret Manager emulator serving plaintext gRPC on {emulator.address}")

        created = await gsm.create_secret(SECRET, labels={"app": "kes-demo"})
        _step(f"create_secret {SECRET}: {'created' if created else 'already there'}")

        versions = [await gsm.add_version(SECRET, value) for value in PLACEHOLDERS]
        for version, value in zip(versions, PLACEHOLDERS, strict=True):
            _step(f"add_version -> {version} holding {value.decode()!r}")

        latest = await gsm.access(f"{SECRET}/versions/latest")
        _step(f"access latest -> {latest.name}: {latest.data.decode()!r} (crc32c checked)")

        first = await gsm.access(versions[0])
        _step(f"access {versions[0]} -> {first.data.decode()!r}")

        await gsm.disable_version(versions[1])
        _step(f"disable_version {versions[1]}")
        try:
            await gsm.access(f"{SECRET}/versions/latest")
        except FailedPrecondition as error:
            _step(f"access latest now fails, as on GCP: {error}")
        else:
            raise AssertionError("a disabled latest version was served")

        states = [f"{v.name.rsplit('/', 1)[1]} {v.state}" for v in await gsm.list_versions(SECRET)]
        listed = ", ".join(states)
        _step(f"list_versions (newest first): {listed}")
    finally:
        await gsm.close()
        await emulator.stop()


def run() -> int:
    print("kes demo: a Secret Manager round trip through kes.gsm on the local emulator")
    asyncio.run(secret_manager_round_trip())
    print("Done.")
    return 0
