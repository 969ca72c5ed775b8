"""`kes hmac`'s flags: kes's own, Prow's config and GitHub flags with Prow's names and
meaning, and the Prow hmac flags that have no use here, which are taken with a notice
naming what replaces each: a Prow job definition runs once the kes flags are added,
and nothing it says is silently ignored.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kes.errors import KesError
from kes.hmac.prow_config import DEFAULT_SUFFIX
from kes.hmac.throttle import check_throttle

DEFAULT_ENDPOINT = "https://api.github.com"
DEFAULT_MASS_REMOVAL_THRESHOLD = 0.5
_EXTERNALSECRET_INSTEAD = (
    "not used: the kes controller writes that Secret from the ExternalSecret of the same "
    "name; name it with --wait-for-externalsecret NAMESPACE/NAME"
)
# Prow hmac flags with no use here, and what replaces each.
PROW_ONLY_FLAGS = {
    "--hmac-token-secret-name": _EXTERNALSECRET_INSTEAD,
    "--hmac-token-secret-namespace": _EXTERNALSECRET_INSTEAD,
    "--hmac-token-key": "not used: the Secret's key is the ExternalSecret's "
    "spec.data[].name, and the tokens live in --gsm-project/--gsm-secret",
    # Prow's "default" context is the cluster the job runs in unless the kubeconfig has
    # one of that name, which --context cannot say: the choice is left to the user.
    "--kubeconfig-context": "not used: name a kubeconfig context with --context; without "
    "it the cluster is found as by every kes command ($KUBECONFIG, then in-cluster)",
    "--job-config-path": "not used: managed_webhooks is never read from job configs "
    "(nor is it by Prow)",
    "--github-host": "not used: Prow uses it for git access; kes hmac only calls the API "
    "at --github-endpoint",
}


@dataclass(frozen=True)
class HmacOptions:
    config_path: str
    hook_url: str
    gsm_project: str
    gsm_secret: str
    github_token_path: str | None = None
    github_app_id: str | None = None
    github_app_private_key_path: str | None = None
    github_endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    github_hourly_tokens: int = 0
    github_allowed_burst: int = 0
    supplemental_config_dirs: tuple[str, ...] = ()
    supplemental_config_suffix: str = DEFAULT_SUFFIX
    dry_run: bool = True
    allow_mass_removal: bool = False
    mass_removal_threshold: float = DEFAULT_MASS_REMOVAL_THRESHOLD
    wait_for_externalsecret: str | None = None  # "namespace/name"
    kubeconfig: str | None = None
    context: str | None = None
    propagation_grace: float = 60.0
    propagation_timeout: float = 600.0
    propagation_poll_interval: float = 2.0
    # One line per Prow flag given that kes hmac takes differently.
    notices: tuple[str, ...] = ()

    def check(self) -> None:
        """The rules between flags, as Prow's flag checks have them."""
        app = self.github_app_id or self.github_app_private_key_path
        if self.github_token_path and app:
            raise KesError(
                "--github-token-path and --github-app-id/--github-app-private-key-path "
                "exclude each other: authenticate with a token or as a GitHub App"
            )
        if app and not (self.github_app_id and self.github_app_private_key_path):
            raise KesError("--github-app-id and --github-app-private-key-path go together")
        if not (self.github_token_path or app):
            raise KesError(
                "GitHub credentials are required: --github-token-path, or --github-app-id "
                "with --github-app-private-key-path"
            )
        check_throttle(self.github_hourly_tokens, self.github_allowed_burst)


def add_arguments(p: argparse.ArgumentParser, bool_flag: Callable[[str], bool]) -> None:
    """`bool_flag` parses Go-style boolean values (`--dry-run=false`)."""
    p.set_defaults(notices=())
    config = p.add_argument_group("Prow config")
    config.add_argument("--config-path", required=True, metavar="PATH",
                        help="Prow's main config file")
    config.add_argument("--supplemental-prow-config-dir", action="append", default=[],
                        metavar="DIR", help="also read the files under DIR (recursively) "
                        "whose names end with the suffix below; repeatable")
    config.add_argument("--supplemental-prow-configs-filename-suffix",
                        "--supplemental-prow-configs-filename", default=DEFAULT_SUFFIX,
                        metavar="SUFFIX", help="suffix of supplemental config files "
                        "(default %(default)s)")

    github = p.add_argument_group(
        "GitHub", "Authenticate with a token or as a GitHub App (exactly one)."
    )
    github.add_argument("--github-token-path", metavar="PATH",
                        help="file with a GitHub token; classic token scopes: admin:repo_hook, "
                        "admin:org_hook, and with auto_accept_invitation also repo:invite and "
                        "write:org")
    github.add_argument("--github-app-id", metavar="ID",
                        help="ID of the GitHub App to act as, through its installation on each "
                        "organisation (needs --github-app-private-key-path)")
    github.add_argument("--github-app-private-key-path", metavar="PATH",
                        help="the App's private key (PEM)")
    github.add_argument("--github-endpoint", type=_endpoint, action="append", metavar="URL",
                        help="GitHub API base URL; repeatable: when one cannot be reached the "
                        "next is used, in order (default https://api.github.com)")
    github.add_argument("--github-hourly-tokens", type=int, default=0, metavar="N",
                        help="at most N requests an hour (default 0: no limit)")
    github.add_argument("--github-allowed-burst", type=int, default=0, metavar="N",
                        help="of which N may go at once (needed with --github-hourly-tokens)")
    github.add_argument("--hook-url", required=True, metavar="URL",
                        help="the webhook receiver URL the managed hooks deliver to")

    store = p.add_argument_group("Token store and cluster")
    store.add_argument("--gsm-project", required=True, metavar="PROJECT",
                       help="GCP project of the token secret")
    store.add_argument("--gsm-secret", required=True, metavar="SECRET",
                       help="Secret Manager secret holding the token map (created if missing)")
    store.add_argument("--wait-for-externalsecret", metavar="NAMESPACE/NAME",
                       help="ExternalSecret syncing the token secret: wait until it serves each "
                       "new version before touching hooks (required with --dry-run=false)")
    store.add_argument("--kubeconfig", metavar="PATH",
                       help="kubeconfig for --wait-for-externalsecret (default $KUBECONFIG, "
                       "then the in-cluster service account, then ~/.kube/config)")
    store.add_argument("--context", metavar="NAME", help="kubeconfig context")
    store.add_argument("--propagation-grace", type=float, default=60.0, metavar="SECONDS",
                       help="wait after the cluster has a new version, for the kubelet to "
                       "update mounted Secrets (default %(default)s)")
    store.add_argument("--propagation-timeout", type=float, default=600.0, metavar="SECONDS",
                       help="give up waiting for the ExternalSecret to serve a new version "
                       "after this long: before the hooks, no hook is changed; before "
                       "destroying old versions, a later run destroys them (default %(default)s)")
    store.add_argument("--propagation-poll-interval", type=float, default=2.0,
                       metavar="SECONDS", help="how often to read the ExternalSecret and "
                       "Secret while waiting (default %(default)s)")

    run = p.add_argument_group("Run")
    run.add_argument("--dry-run", type=bool_flag, nargs="?", const=True, default=True,
                     metavar="BOOL", help="print the plan and write nothing (default true; "
                     "--dry-run=false applies it)")
    run.add_argument("--allow-mass-removal", type=bool_flag, nargs="?", const=True,
                     default=False, metavar="BOOL", help="apply a plan even when the config "
                     "has no managed_webhooks section or the plan deletes more than "
                     "--mass-removal-threshold of the managed hooks (default false)")
    run.add_argument("--mass-removal-threshold", type=_fraction,
                     default=DEFAULT_MASS_REMOVAL_THRESHOLD, metavar="FRACTION",
                     help="share of the managed hooks one run may delete without "
                     "--allow-mass-removal (default %(default)s)")

    prow = p.add_argument_group(
        "Prow hmac's flags", "Flags of Prow's hmac with no use here, where tokens live in "
        "Secret Manager: accepted, each with a notice naming what replaces it."
    )
    for flag, notice in PROW_ONLY_FLAGS.items():
        prow.add_argument(flag, dest=argparse.SUPPRESS, metavar="VALUE", action=_Notice,
                          notice=notice, help=notice.replace("%", "%%"))


def options_from(args: argparse.Namespace) -> HmacOptions:
    return HmacOptions(
        config_path=args.config_path,
        hook_url=args.hook_url,
        gsm_project=args.gsm_project,
        gsm_secret=args.gsm_secret,
        github_token_path=args.github_token_path,
        github_app_id=args.github_app_id,
        github_app_private_key_path=args.github_app_private_key_path,
        github_endpoints=tuple(args.github_endpoint or (DEFAULT_ENDPOINT,)),
        github_hourly_tokens=args.github_hourly_tokens,
        github_allowed_burst=args.github_allowed_burst,
        supplemental_config_dirs=tuple(args.supplemental_prow_config_dir),
        supplemental_config_suffix=args.supplemental_prow_configs_filename_suffix,
        dry_run=args.dry_run,
        allow_mass_removal=args.allow_mass_removal,
        mass_removal_threshold=args.mass_removal_threshold,
        wait_for_externalsecret=args.wait_for_externalsecret,
        kubeconfig=args.kubeconfig,
        context=args.context,
        propagation_grace=args.propagation_grace,
        propagation_timeout=args.propagation_timeout,
        propagation_poll_interval=args.propagation_poll_interval,
        notices=tuple(args.notices),
    )


class _Notice(argparse.Action):
    """A Prow flag with no use here: records a notice, stores nothing."""

    def __init__(self, option_strings: Sequence[str], dest: str, notice: str,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.notice = notice

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        namespace.notices = (*namespace.notices, f"{option_string}: {self.notice}")


def _endpoint(text: str) -> str:
    """As in Prow, an empty value means the default endpoint."""
    if not text:
        return DEFAULT_ENDPOINT
    url = urlsplit(text)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise argparse.ArgumentTypeError(f"expected an http(s) URL, not {text!r}")
    return text.rstrip("/")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text!r}")
    return value
