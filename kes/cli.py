"""The one `kes` command. Argument parsing only: each subcommand hands off to its room."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from kes import __version__

Subparsers = argparse._SubParsersAction  # the type argparse gives add_subparsers()


def _add_emulate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "emulate",
        help="run the local emulators until interrupted",
        description="Start the emulated services on local ports, print their endpoints and "
        "the environment to export, and serve until interrupted.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument(
        "--gsm-port", type=int, default=0, metavar="N",
        help="Secret Manager emulator port; 0 picks a free one (default %(default)s)",
    )
    p.add_argument(
        "--seed", metavar="PATH",
        help="YAML file of secrets and versions to load into the emulators at start",
    )
    p.add_argument(
        "--gsm-notify-url", metavar="URL",
        help="POST Pub/Sub push envelopes for Secret Manager events to this URL",
    )
    p.set_defaults(run=_run_emulate)


def _run_emulate(args: argparse.Namespace) -> int:
    from kes.testing.launcher import run

    return run(
        host=args.host,
        gsm_port=args.gsm_port,
        seed_path=args.seed,
        gsm_notify_url=args.gsm_notify_url,
    )


def _add_demo(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="run kes end to end on the local emulators, step by step",
        description="Start the emulators and walk through kes's main job, printing each step.",
    )
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from kes.demo import run

    return run()


SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    _add_emulate,
    _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kes",
        description="Sync GCP Secret Manager values into Kubernetes Secrets.",
    )
    parser.add_argument("--version", action="version", version=f"kes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
