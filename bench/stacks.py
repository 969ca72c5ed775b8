"""Read py-spy's collapsed stacks (`--format raw`): where the samples went.

    python -m bench.stacks bench-results/10k-steady.txt [--top 30] [--match kes/]

Prints each function's share of all samples, counted once per stack it appears in
(inclusive), the busiest first; `--match` keeps frames whose file contains the text.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def inclusive(path: Path, match: str = "") -> tuple[Counter[str], int]:
    """(samples per frame, counted once per stack; total samples)."""
    shares: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = {frame for frame in stack.split(";") if match in frame}
        for frame in frames:
            shares[frame] += samples
    return shares, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stacks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="")
    args = parser.parse_args(argv)
    shares, total = inclusive(args.path, args.match)
    print(f"{total} samples")
    for frame, samples in shares.most_common(args.top):
        print(f"{100 * samples / max(total, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
