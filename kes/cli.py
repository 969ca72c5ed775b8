"""The one `kes` command. Argument parsing only: each subcommand hands off to its room."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from kes import __version__
from kes.config import ConfigError, listen_address, parse_bool

Subparsers = argparse._SubParsersAction  # the type argparse gives add_subparsers()


def _add_emulate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "emulate",
        help="run the emulated Kubernetes API server, Secret Manager and GitHub",
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
        help="YAML file with a section per emulator (secretmanager, kubernetes, github) "
        "to load at start",
    )
    p.add_argument(
        "--gsm-notify-url", metavar="URL",
        help="POST Pub/Sub push envelopes for Secret Manager events to this URL",
    )
    p.add_argument(
        "--github-port", type=int, default=0, metavar="N",
        help="GitHub emulator port; 0 picks a free one (default %(default)s)",
    )
    p.add_argument(
        "--github-token", type=_github_token, action="append", default=[],
        metavar="TOKEN=SCOPE,...",
        help="accept this GitHub token (user kes-bot) with these scopes; repeatable",
    )
    p.add_argument(
        "--apiserver-port", type=int, default=0, metavar="N",
        help="Kubernetes API server emulator port (HTTPS); 0 picks a free one "
        "(default %(default)s)",
    )
    p.add_argument(
        "--kubeconfig-out", metavar="PATH",
        help="write the emulated cluster's admin kubeconfig here (default: a temporary file); "
        "its CA certificate is written next to it",
    )
    p.add_argument(
        "--rbac", action="store_true",
        help="authorize every Kubernetes request with RBAC (the admin kubeconfig still passes)",
    )
    p.set_defaults(run=_run_emulate)


def _github_token(text: str) -> tuple[str, tuple[str, ...]]:
    token, _, scopes = text.partition("=")
    if not token:
        raise argparse.ArgumentTypeError(f"expected TOKEN=scope1,scope2, not {text!r}")
    return token, tuple(s.strip() for s in scopes.split(",") if s.strip())


def _emulators_missing(command: str, error: ModuleNotFoundError) -> int:
    print(f"kes {command}: the emulators are not installed ({error}); install them with "
          "`pip install 'kes[emulators]'`, or run `make demo` in a checkout", file=sys.stderr)
    return 2


def _run_emulate(args: argparse.Namespace) -> int:
    try:
        from kes_emulators.launcher import run
    except ModuleNotFoundError as error:
        return _emulators_missing("emulate", error)
    return run(
        host=args.host,
        gsm_port=args.gsm_port,
        seed_path=args.seed,
        gsm_notify_url=args.gsm_notify_url,
        github_port=args.github_port,
        github_tokens=tuple(args.github_token),
        apiserver_port=args.apiserver_port,
        kubeconfig_out=args.kubeconfig_out,
        rbac=args.rbac,
    )


def _add_demo(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="run kes end to end on the local emulators, step by step",
        description="Start the emulators and walk through kes's main job, printing each step.",
    )
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    try:
        from kes_emulators.demo import run
    except ModuleNotFoundError as error:
        return _emulators_missing("demo", error)
    return run()


def _add_controller(sub: Subparsers) -> None:
    p = sub.add_parser(
        "controller",
        help="sync ExternalSecrets from Secret Manager into Secrets",
        description="Watch ExternalSecrets (kubernetes-client.io/v1) and keep the Secrets they "
        "own in step with GCP Secret Manager. Configured by KES's environment variables "
        "(POLLER_INTERVAL_MILLISECONDS, WATCHED_NAMESPACES, INSTANCE_ID, ...).",
    )
    p.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default $KUBECONFIG, "
                   "then the in-cluster service account, then ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context to use (default the current one)")
    p.add_argument("--project", help="GCP project for specs without projectId "
                   "(default $GOOGLE_CLOUD_PROJECT)")
    p.set_defaults(run=_run_controller)


def _run_controller(args: argparse.Namespace) -> int:
    from kes.controller.main import main

    return main(kubeconfig=args.kubeconfig, context=args.context, project=args.project)


def _add_render(sub: Subparsers) -> None:
    p = sub.add_parser(
        "render",
        help="print the Secrets ExternalSecret manifests would produce, without a cluster",
        description="Parse the ExternalSecrets in a file, fetch their values from Secret "
        "Manager (or the emulator at $SECRET_MANAGER_EMULATOR_HOST) and print the Secrets the "
        "controller would write. Exit code 1 on any error.",
    )
    p.add_argument("-f", "--filename", required=True, metavar="PATH",
                   help="YAML file with one or more ExternalSecrets ('-' reads stdin)")
    p.add_argument("--project", help="GCP project for specs without projectId "
                   "(default $GOOGLE_CLOUD_PROJECT)")
    p.add_argument("--show-values", action="store_true",
                   help="print the values (base64) instead of their sizes")
    p.set_defaults(run=_run_render)


def _run_render(args: argparse.Namespace) -> int:
    from kes.controller.settings import project_from
    from kes.render_command import run_render

    try:
        project = project_from(os.environ, args.project)
    except ConfigError as e:
        print(f"kes render: {e}", file=sys.stderr)
        return 1
    return run_render(args.filename, project, args.show_values)


def _bool_flag(text: str) -> bool:
    """Go-style boolean flag values: `--dry-run=false`."""
    try:
        return parse_bool("value", text)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}") from None


def _add_hmac(sub: Subparsers) -> None:
    from kes.hmac.options import add_arguments

    p = sub.add_parser(
        "hmac",
        help="rotate, onboard and remove GitHub webhook HMAC tokens (Prow managed_webhooks)",
        description="Bring the token map in Secret Manager and the GitHub webhooks in line "
        "with managed_webhooks in a Prow config, in an order that is safe to interrupt.",
    )
    add_arguments(p, bool_flag=_bool_flag)
    p.set_defaults(run=_run_hmac)


def _run_hmac(args: argparse.Namespace) -> int:
    from kes.hmac.job import main
    from kes.hmac.options import options_from

    return main(options_from(args))


def _listen(text: str) -> tuple[str, int]:
    try:
        return listen_address("--listen", text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_recv(sub: Subparsers) -> None:
    p = sub.add_parser(
        "recv",
        help="receive webhooks (GitHub, Docker Hub, Secret Manager events) and sync the "
        "ExternalSecrets they concern at once",
        description="Serve /hook/<route> for each endpoint of the config, verify each "
        "delivery the way its source signs it, and annotate the ExternalSecrets it concerns "
        "(externalsecrets.kubernetes-client.io/requested-at) so the controller syncs them "
        "now. Also serves /healthz, /readyz and /metrics. The config is flux-recv's, "
        "extended (docs/recv.md).",
    )
    p.add_argument("--config", required=True, metavar="PATH",
                   help="receiver config (kesRecvVersion: 1, or a flux-recv config); key "
                   "paths in it are relative to its folder")
    p.add_argument("--listen", type=_listen, default=_listen(":8080"), metavar="ADDR",
                   help="address to listen on: :PORT, HOST:PORT or [V6]:PORT (default :8080)")
    p.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default $KUBECONFIG, "
                   "then the in-cluster service account, then ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context to use (default the current one)")
    p.add_argument("--project", help="GCP project of ExternalSecrets without projectId, to "
                   "match Secret Manager events to them (default $GOOGLE_CLOUD_PROJECT)")
    p.add_argument("--log-level", default="info",
                   choices=("debug", "info", "warning", "error"),
                   help="log level (default %(default)s)")
    p.set_defaults(run=_run_recv)


def _run_recv(args: argparse.Namespace) -> int:
    from kes.controller.settings import project_from
    from kes.recv.main import main

    try:
        project = project_from(os.environ, args.project)
    except ConfigError as e:
        print(f"kes recv: {e}", file=sys.stderr)
        return 2
    return main(config_path=args.config, listen=args.listen, kubeconfig=args.kubeconfig,
                context=args.context, project=project, log_level=args.log_level)


SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    _add_controller,
    _add_render,
    _add_hmac,
    _add_recv,
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
    # gRPC's C core writes connection events (a server's GOAWAY on shutdown) to stderr
    # at INFO, past kes's own logging and the controller's JSON lines. Set
    # GRPC_VERBOSITY to see them.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
