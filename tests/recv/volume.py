"""A Secret volume as the kubelet writes it, for tests of files that change in place.

The kubelet's atomic writer puts each version of the files in a new timestamped
folder, points the `..data` symlink at it with one rename, and keeps each file name
a symlink into `..data/`; the old folder is then removed. A reader that opened the
path sees either the old or the new content, never a mix.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

_serial = itertools.count()


class SecretVolume:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, files: Mapping[str, bytes]) -> None:
        version = self.root / f"..2026_01_01_00_00_00.{next(_serial):09d}"
        version.mkdir()
        for name, data in files.items():
            (version / name).write_bytes(data)
        data_link = self.root / "..data"
        old = data_link.resolve() if data_link.is_symlink() else None
        staging = self.root / "..data_tmp"
        staging.symlink_to(version.name)
        os.rename(staging, data_link)  # the one atomic step
        for name in files:
            visible = self.root / name
            if not visible.is_symlink():
                visible.symlink_to(Path("..data") / name)
        if old is not None:
            shutil.rmtree(old)

    def path(self, name: str) -> Path:
        return self.root / name
