"""The example files in config/hmac/ and docs/hmac.md stay in step with the code."""

import argparse
import re
from pathlib import Path

import yaml

from kes.cli import build_parser
from kes.hmac.options import options_from
from kes.spec import parse_external_secret

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "hmac"


def test_the_postsubmit_passes_flags_kes_hmac_accepts() -> None:
    jobs = yaml.safe_load((EXAMPLES / "postsubmit.yaml").read_text())["postsubmits"]
    [job] = jobs["example-org/prow-config"]
    assert job["max_concurrency"] == 1
    [container] = job["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    assert args.command == "hmac" and args.dry_run is False
    assert args.wait_for_externalsecret == "prow/hmac-token"
    assert args.gsm_secret == "prow-hmac-tokens"
    options = options_from(args)
    options.check()
    assert options.notices == ()
    assert options.github_endpoints == (
        "http://ghproxy.prow.svc.cluster.local", "https://api.github.com",
    )
    # The App's ID and key come from Prow's github-token Secret (keys appid and cert).
    [env] = container["env"]
    assert options.github_app_id == f"$({env['name']})"
    assert env["valueFrom"]["secretKeyRef"] == {"name": "github-token", "key": "appid"}
    [mount] = container["volumeMounts"]
    [volume] = job["spec"]["volumes"]
    assert options.github_app_private_key_path == f"{mount['mountPath']}/cert"
    assert volume["secret"]["secretName"] == "github-token" == mount["name"]


def test_the_external_secret_is_valid_and_reads_the_jobs_secret() -> None:
    obj = yaml.safe_load((EXAMPLES / "externalsecret.yaml").read_text())
    spec = parse_external_secret(obj, default_project=None)
    assert [str(ref) for ref in spec.refs] == [
        "projects/example-prow/secrets/prow-hmac-tokens/versions/latest"
    ]
    assert f"{obj['metadata']['namespace']}/{obj['metadata']['name']}" == "prow/hmac-token"


def test_rbac_lets_the_job_read_just_those_two_objects() -> None:
    role, binding = yaml.safe_load_all((EXAMPLES / "rbac.yaml").read_text())
    assert {(r["resources"][0], tuple(r["resourceNames"]), tuple(r["verbs"]))
            for r in role["rules"]} == {
        ("externalsecrets", ("hmac-token",), ("get",)),
        ("secrets", ("hmac-token",), ("get",)),
    }
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_the_page_documents_every_flag_and_no_other() -> None:
    """docs/hmac.md's flag table against `kes hmac --help`."""
    page = (EXAMPLES.parents[1] / "docs" / "hmac.md").read_text()
    section = page[page.index("## Flags"):page.index("## Configuration")]
    names = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `--")]
    documented = {flag for name in names for flag in re.findall(r"`(--[a-z-]+)", name)}
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    hmac = subparsers.choices["hmac"]
    flags = {s for a in hmac._actions for s in a.option_strings if s.startswith("--")}
    assert documented == flags - {"--help"}
