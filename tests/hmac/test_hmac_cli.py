"""`kes hmac` from the command line, on the emulators in background threads."""

import pytest
import yaml

from kes.cli import build_parser, main
from kes_emulators.github import GitHubEmulator
from kes_emulators.gsm import SecretManagerEmulator

REQUIRED = [
    "hmac", "--config-path", "c.yaml", "--github-token-path", "t", "--hook-url", "http://h/",
    "--gsm-project", "p", "--gsm-secret", "s",
]


@pytest.mark.parametrize(
    ("flags", "dry_run"),
    [([], True), (["--dry-run"], True), (["--dry-run=false"], False),
     (["--dry-run", "false"], False), (["--dry-run=True"], True)],
)
def test_dry_run_defaults_to_true_and_takes_go_style_values(flags, dry_run) -> None:
    assert build_parser().parse_args(REQUIRED + flags).dry_run is dry_run


def test_dry_run_rejects_other_values(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*REQUIRED, "--dry-run=maybe"])
    assert "expected true or false" in capsys.readouterr().err


@pytest.fixture
def emulators(tmp_path, monkeypatch):
    gsm = SecretManagerEmulator()
    github = GitHubEmulator(seed={
        "tokens": {"ghp_cli": {"user": "bot", "scopes": ["admin:repo_hook"]}},
        "repos": {"foo/bar": {"admins": ["bot"]}},
    })
    with gsm.background(), github.background():
        monkeypatch.setenv("SECRET_MANAGER_EMULATOR_HOST", gsm.address)
        (tmp_path / "token").write_text("ghp_cli\n")
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"managed_webhooks": {
            "org_repo_config": {"foo/bar": {"token_created_after": "2020-01-01T00:00:00Z"}},
        }}))
        yield gsm, github, [
            "hmac", "--config-path", str(tmp_path / "config.yaml"),
            "--github-token-path", str(tmp_path / "token"),
            "--github-endpoint", github.url, "--hook-url", "http://127.0.0.1:9/hook",
            "--gsm-project", "proj", "--gsm-secret", "hmac", "--propagation-grace", "0",
        ]


def test_the_default_is_a_dry_run(emulators, capsys) -> None:
    gsm, github, argv = emulators
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "foo/bar  onboard  create  new in config" in out
    assert "propagation: not checked (no --wait-for-externalsecret)" in out
    assert "dry run: nothing was written" in out
    assert github.writes == 0 and gsm.counters.calls["CreateSecret"] == 0


def test_applying_requires_wait_for_externalsecret(emulators, capsys) -> None:
    """No fixed sleep in its place: the run stops before reading or writing anything."""
    gsm, github, argv = emulators
    assert main([*argv, "--dry-run=false"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "kes hmac: --wait-for-externalsecret NAMESPACE/NAME is required with "
        "--dry-run=false: no hook may change before the cluster serves the new tokens\n"
    )
    assert captured.out == ""
    assert github.calls == {} and gsm.counters.calls == {}


def test_errors_are_reported_without_a_traceback(emulators, capsys, tmp_path) -> None:
    gsm, github, argv = emulators
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"managed_webhooks": {
        "org_repo_config": {"foo/bar": {"token_created_after": "2999-01-01T00:00:00Z"}},
    }}))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"kes hmac: Prow config {tmp_path / 'config.yaml'}: "
        "managed_webhooks: org_repo_config['foo/bar']"
    )
    assert "no later than the current time" in err


def test_a_failing_key_makes_the_exit_code_1(emulators, capsys, tmp_path) -> None:
    gsm, github, argv = emulators
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"managed_webhooks": {
        "org_repo_config": {"foo": {"token_created_after": "2020-01-01T00:00:00Z"}},
    }}))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "kes hmac: foo: GitHub list hooks for foo failed: 404 Not Found" in err


def test_bad_wait_for_externalsecret_is_named(emulators, capsys) -> None:
    gsm, github, argv = emulators
    assert main([*argv, "--wait-for-externalsecret", "just-a-name"]) == 1
    assert "--wait-for-externalsecret 'just-a-name': expected NAMESPACE/NAME" in (
        capsys.readouterr().err
    )


def test_help_names_the_scopes_and_what_a_timeout_leaves(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hmac", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "admin:repo_hook, admin:org_hook, and with auto_accept_invitation also " \
        "repo:invite and write:org" in text
    assert "(required with --dry-run=false)" in text
    assert "before destroying old versions, a later run destroys them" in text


def test_prow_hmac_flags_are_taken_with_a_notice_each(emulators, capsys) -> None:
    gsm, github, argv = emulators
    prow_flags = [
        "--hmac-token-secret-name=hmac-token", "--hmac-token-secret-namespace=prow",
        "--hmac-token-key=hmac", "--kubeconfig-context=prow-services",
        "--job-config-path=config/jobs", "--github-host=github.com",
    ]
    assert main([*argv, *prow_flags]) == 0
    notices = capsys.readouterr().err.splitlines()
    assert notices == [
        "kes hmac: notice: --hmac-token-secret-name: not used: the kes controller writes that "
        "Secret from the ExternalSecret of the same name; name it with "
        "--wait-for-externalsecret NAMESPACE/NAME",
        "kes hmac: notice: --hmac-token-secret-namespace: not used: the kes controller writes "
        "that Secret from the ExternalSecret of the same name; name it with "
        "--wait-for-externalsecret NAMESPACE/NAME",
        "kes hmac: notice: --hmac-token-key: not used: the Secret's key is the ExternalSecret's "
        "spec.data[].name, and the tokens live in --gsm-project/--gsm-secret",
        "kes hmac: notice: --kubeconfig-context: not used: name a kubeconfig context with "
        "--context; without it the cluster is found as by every kes command ($KUBECONFIG, "
        "then in-cluster)",
        "kes hmac: notice: --job-config-path: not used: managed_webhooks is never read from "
        "job configs (nor is it by Prow)",
        "kes hmac: notice: --github-host: not used: Prow uses it for git access; kes hmac only "
        "calls the API at --github-endpoint",
    ]


def test_kubeconfig_context_is_not_taken_for_context() -> None:
    """Prow's `--kubeconfig-context=default` means the job's own cluster; as --context it
    would make kes hmac look for a kubeconfig instead."""
    args = build_parser().parse_args([*REQUIRED, "--kubeconfig-context", "default"])
    assert args.context is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--github-app-id", "12"],
         "--github-token-path and --github-app-id/--github-app-private-key-path exclude each "
         "other: authenticate with a token or as a GitHub App"),
        (["--github-token-path=", "--github-app-id", "12"],
         "--github-app-id and --github-app-private-key-path go together"),
        (["--github-token-path="],
         "GitHub credentials are required: --github-token-path, or --github-app-id with "
         "--github-app-private-key-path"),
        (["--github-hourly-tokens", "100"],
         "--github-hourly-tokens and --github-allowed-burst must be either both higher than "
         "zero or both equal to zero"),
        (["--github-hourly-tokens", "10", "--github-allowed-burst", "20"],
         "--github-allowed-burst must not be larger than --github-hourly-tokens"),
    ],
)
def test_flag_rules_are_checked_before_anything_runs(emulators, capsys, flags, message) -> None:
    gsm, github, argv = emulators
    assert main([*argv, *flags]) == 1
    assert capsys.readouterr().err == f"kes hmac: {message}\n"
    assert github.calls == {} and gsm.counters.calls == {}


def test_endpoints_repeat_in_order_and_default_to_github() -> None:
    parser = build_parser()
    assert parser.parse_args(REQUIRED).github_endpoint is None
    args = parser.parse_args([
        *REQUIRED, "--github-endpoint=http://ghproxy.prow/", "--github-endpoint",
        "https://api.github.com",
    ])
    assert args.github_endpoint == ["http://ghproxy.prow", "https://api.github.com"]


def test_a_bad_endpoint_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*REQUIRED, "--github-endpoint", "ghproxy"])
    assert "expected an http(s) URL, not 'ghproxy'" in capsys.readouterr().err


def test_a_config_without_managed_webhooks_is_refused_unless_allowed(
    emulators, capsys, tmp_path
) -> None:
    gsm, github, argv = emulators
    (tmp_path / "config.yaml").write_text("plank: {}\n")
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert f"config: no managed_webhooks section in {tmp_path / 'config.yaml'}" in captured.out
    assert captured.err == (
        "kes hmac: refused: the Prow config has no managed_webhooks section (a wrong "
        "--config-path, or an empty file?): it would delete 0 of the 0 managed hooks and drop "
        "the tokens of 0 keys; pass --allow-mass-removal to apply it\n"
    )
    assert main([*argv, "--allow-mass-removal"]) == 0
    assert github.writes == 0 and gsm.counters.calls["AddSecretVersion"] == 0
