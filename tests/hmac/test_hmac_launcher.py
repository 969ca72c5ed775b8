"""`kes emulate` serves the GitHub emulator: flags add tokens, the seed adds the rest."""

import asyncio

from github import Auth, Github

from kes.cli import build_parser, main
from kes_emulators.github import GITHUB_FLAG_USER
from kes_emulators.launcher import LaunchOptions, launch_github


def test_emulate_flags_parse() -> None:
    args = build_parser().parse_args([
        "emulate", "--github-port", "0",
        "--github-token", "ghp_a=admin:repo_hook, admin:org_hook", "--github-token", "ghp_b=",
    ])
    assert args.github_token == [("ghp_a", ("admin:repo_hook", "admin:org_hook")), ("ghp_b", ())]


async def test_launch_github_with_seed_and_flag_tokens() -> None:
    options = LaunchOptions(github_tokens=(("ghp_flag", ("admin:repo_hook",)),))
    seed = {"repos": {"acme/app": {"admins": [GITHUB_FLAG_USER]}}}
    running = await launch_github(options, seed)
    try:
        [line] = running.endpoints
        url = line.split()[1]
        github = Github(auth=Auth.Token("ghp_flag"), base_url=url,
                        seconds_between_requests=0, seconds_between_writes=0)
        hooks = await asyncio.to_thread(lambda: list(github.get_repo("acme/app").get_hooks()))
        assert hooks == []
        login = await asyncio.to_thread(lambda: github.get_user().login)
        assert login == GITHUB_FLAG_USER
    finally:
        await running.stop()


def test_a_bad_github_seed_exits_2_naming_the_field(tmp_path, capsys) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("github:\n  tokens: {ghp_x: {scopes: [admin:repo_hook]}}\n")
    assert main(["emulate", "--seed", str(seed)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "kes emulate: github: github.tokens['ghp_x'].user: required, a non-empty string\n"
    )
    assert "Traceback" not in captured.out
