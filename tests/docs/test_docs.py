"""The documentation points at things that exist.

Every relative link in README.md, docs/*.md and kes_emulators/README.md must name an
existing file (and an existing heading when it has a #fragment), and every `make`
target and `kes` subcommand and flag quoted in their code must exist: make targets
in the Makefile, subcommands and flags in `kes.cli.build_parser()`. Nothing is run.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kes.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console", "zsh"})
# Words that end one command and start the next on a shell line.
SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "(", ")", "$(", "`"})
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_MAKE_RULE = re.compile(r"^([^\s:#=][^:=]*?)\s*::?(?!=)")
_MAKE_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[:?+]?=\s*(.*)$")


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md")),
            root / "kes_emulators" / "README.md"]


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    code: str | None
    """None for prose; the fence's language ("" when none) inside a code block."""


def lines_of(text: str) -> Iterator[Line]:
    fence: str | None = None
    language = ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if match and (fence is None or match.group(1).startswith(fence)):
            if fence is None:
                fence, language = match.group(1), match.group(2).lower()
            else:
                fence = None
            continue
        yield Line(number, line, language if fence is not None else None)


# ---- links ---------------------------------------------------------------------


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text without markup, lowercased,
    punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in lines_of(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line.text) if line.code is None else None
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def prose(line: Line) -> str:
    """The line without its code spans, where a `[x](y)` is not a link."""
    return _CODE_SPAN.sub("", line.text)


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    where = path.relative_to(root)
    for line in lines_of(path.read_text(encoding="utf-8")):
        if line.code is not None:
            continue
        for target in _LINK.findall(prose(line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # https:, mailto: and the like
            name, _, fragment = target.partition("#")
            linked = (path.parent / name).resolve() if name else path
            if not linked.exists():
                problems.append(f"{where}:{line.number}: link to {target}: "
                                f"{name} does not exist")
            elif fragment and (linked.suffix != ".md" or fragment not in anchors(linked)):
                problems.append(f"{where}:{line.number}: link to {target}: "
                                f"{linked.relative_to(root)} has no heading #{fragment}")
    return problems


# ---- commands ------------------------------------------------------------------


def code_snippets(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every code span, and of every line of a shell block
    (continuation lines joined, comments dropped)."""
    pending: tuple[int, str] | None = None
    for line in lines_of(text):
        if line.code is None:
            for _, span in _CODE_SPAN.findall(line.text):
                yield line.number, span.strip()
            continue
        if line.code not in SHELL_LANGUAGES:
            continue
        number, start = pending or (line.number, "")
        joined = start + line.text
        if joined.endswith("\\"):
            pending = (number, joined[:-1] + " ")
            continue
        pending = None
        yield number, re.sub(r"(^|\s)#.*$", "", joined).strip()


def words(snippet: str) -> list[str]:
    lexer = shlex.shlex(snippet, posix=True, punctuation_chars="|&;()")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: good enough for finding commands
        return snippet.split()


def commands(snippet: str) -> Iterator[list[str]]:
    """Each simple command in a snippet, without a `$ ` prompt or `VAR=value`s."""
    command: list[str] = []
    for word in [*words(snippet), ";"]:
        if word in SEPARATORS or set(word) <= set("|&;()"):
            if command:
                yield command
            command = []
        elif not command and (word == "$" or _ASSIGNMENT.match(word)):
            continue
        else:
            command.append(word)


def make_targets(makefile: Path) -> set[str]:
    variables: dict[str, str] = {}

    def expand(text: str) -> str:
        for _ in range(10):
            text = re.sub(r"\$[({](\w+)[)}]", lambda m: variables.get(m.group(1), ""), text)
        return text

    targets = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        assignment = _MAKE_VARIABLE.match(line)
        if assignment:
            variables.setdefault(assignment.group(1), assignment.group(2).strip())
            continue
        rule = _MAKE_RULE.match(line)
        if rule:
            targets.update(expand(rule.group(1)).split())
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
    return targets


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flag(word: str) -> str | None:
    """The option a word names (`--dry-run=false` names `--dry-run`), or None."""
    word = word.strip("[]")
    if not word.startswith("-") or word in ("-", "--"):
        return None
    return word.split("=", 1)[0]


def kes_problems(words_: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """What a `kes ...` command names that the parser does not have."""
    subcommands = subparsers(parser)
    rest = words_[1:]
    while rest and _flag(rest[0]):
        flag = _flag(rest[0])
        if flag not in option_strings(parser):
            return [f"`kes` has no option {flag}"]
        rest = rest[1:]
    if not rest:
        return []
    name = rest[0]
    if name.endswith(":"):
        return []  # `kes emulate: ...` is a message kes printed, not a command
    if name not in subcommands:
        return [f"`kes` has no subcommand {name!r} (it has {', '.join(sorted(subcommands))})"]
    known = option_strings(subcommands[name])
    return [f"`kes {name}` has no option {flag}"
            for flag in map(_flag, rest[1:]) if flag is not None and flag not in known]


def command_problems(path: Path, targets: set[str], parser: argparse.ArgumentParser,
                     root: Path = ROOT) -> list[str]:
    problems = []
    where = path.relative_to(root)
    for number, snippet in code_snippets(path.read_text(encoding="utf-8")):
        for command in commands(snippet):
            program = Path(command[0]).name
            if program == "make":
                problems += [f"{where}:{number}: `make {target}`: the Makefile has no "
                             f"target {target}"
                             for target in command[1:]
                             if not target.startswith("-") and "=" not in target
                             and target not in targets]
            elif program == "kes":
                problems += [f"{where}:{number}: {problem}"
                             for problem in kes_problems(command, parser)]
    return problems


# ---- the documentation as it is -----------------------------------------------------


def test_every_relative_link_resolves() -> None:
    problems = [p for path in doc_files() for p in link_problems(path)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_quoted_make_and_kes_command_exists() -> None:
    targets, parser = make_targets(ROOT / "Makefile"), build_parser()
    problems = [p for path in doc_files() for p in command_problems(path, targets, parser)]
    assert not problems, "commands that do not exist:\n" + "\n".join(problems)


def test_the_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [page.name for page in sorted((ROOT / "docs").glob("*.md"))
               if f"(docs/{page.name})" not in readme]
    assert not missing, f"README.md does not link to docs/{', docs/'.join(missing)}"


def test_the_checks_read_the_real_makefile_and_parser() -> None:
    """The checks above are only as good as what they compare against."""
    assert {"demo", "test", ".venv/bin/.installed"} <= make_targets(ROOT / "Makefile")
    assert {"controller", "render", "hmac", "recv", "emulate", "demo"} <= set(
        subparsers(build_parser()))


# ---- the checks themselves fail on broken documentation --------------------------


@pytest.fixture
def docs_root(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## `kes render`: twice\n")
    (tmp_path / "Makefile").write_text(
        "BIN := .venv/bin\n.PHONY: demo\n$(BIN)/.installed: pyproject.toml\n\ttouch $@\n"
        "demo: $(BIN)/.installed\n\t$(BIN)/kes demo\n")
    return tmp_path


def test_a_missing_file_or_heading_is_named_with_its_line(docs_root: Path) -> None:
    readme = docs_root / "README.md"
    readme.write_text(
        "# kes\n"
        "[fine](docs/page.md#kes-render-twice) and [outside](https://example.com/x)\n"
        "`[not a link](nowhere.md)`\n"
        "[gone](docs/missing.md)\n"
        "[no heading](docs/page.md#install)\n"
        "[here](#kes)\n")
    assert link_problems(readme, docs_root) == [
        "README.md:4: link to docs/missing.md: docs/missing.md does not exist",
        "README.md:5: link to docs/page.md#install: docs/page.md has no heading #install",
    ]


def test_a_missing_make_target_subcommand_or_flag_is_named(docs_root: Path) -> None:
    readme = docs_root / "README.md"
    readme.write_text(
        "Run `make demo`, `make .venv/bin/.installed` or `make deploy`.\n"
        "```sh\n"
        "$ kes render -f x.yaml --show-values   # fine\n"
        "POLLER_INTERVAL_MILLISECONDS=2000 kes controller --kubeconfig k &\n"
        "cat x | kes render --filename - \\\n"
        "  --values\n"
        "kes serve --port 8080\n"
        "```\n"
        "```yaml\n"
        "managed-by: kes\n"
        "```\n"
        "`kes hmac --dry-run=false`, `kes emulate: seed: bad`, `kes --version`, "
        "`kes --verbose`\n")
    problems = command_problems(readme, make_targets(docs_root / "Makefile"),
                                build_parser(), docs_root)
    assert problems == [
        "README.md:1: `make deploy`: the Makefile has no target deploy",
        "README.md:5: `kes render` has no option --values",
        "README.md:7: `kes` has no subcommand 'serve' (it has controller, demo, emulate, "
        "hmac, recv, render)",
        "README.md:12: `kes` has no option --verbose",
    ]


@pytest.mark.parametrize(("heading", "anchor"), [
    ("The controller: `kes controller`", "the-controller-kes-controller"),
    ("Migrating from KES's lodash templates", "migrating-from-kess-lodash-templates"),
    ("dataFrom and dataFromWithOptions", "datafrom-and-datafromwithoptions"),
    ("Known problem: the image's user", "known-problem-the-images-user"),
    ("[Linked](x.md) heading", "linked-heading"),
])
def test_anchors_follow_githubs_rule(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
