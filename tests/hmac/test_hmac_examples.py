"""The example files in config/hmac/ stay in step with the code."""

from pathlib import Path

import yaml

from kes.cli import build_parser
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
