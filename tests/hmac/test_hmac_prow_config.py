"""managed_webhooks from Prow's main config plus supplemental `*_prowconfig.yaml` files."""

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kes.errors import KesError
from kes.hmac.prow_config import load_managed_webhooks

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1, T2 = "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"


def write(path: Path, section: dict | None, **other: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = dict(other)
    if section is not None:
        document["managed_webhooks"] = section
    path.write_text(yaml.safe_dump(document) if document else "")
    return str(path)


def entries(*keys: str, when: str = T1) -> dict:
    return {"org_repo_config": {key: {"token_created_after": when} for key in keys}}


def test_a_split_config_merges_flags_and_entries(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", {"respect_legacy_global_token": True,
                                            **entries("foo/bar")}, plank={})
    write(tmp_path / "sup" / "team_prowconfig.yaml",
          {"auto_accept_invitation": True, **entries("qux", when=T2)})
    write(tmp_path / "sup" / "deeper" / "more_prowconfig.yaml", entries("foo/baz"))
    write(tmp_path / "sup" / "ignored.yaml", entries("not/read"))
    loaded = load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW)
    config = loaded.managed_webhooks
    assert config.present
    assert config.respect_legacy_global_token and config.auto_accept_invitation
    assert set(config.org_repo_config) == {"foo/bar", "qux", "foo/baz"}
    assert config.org_repo_config["qux"] == dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    # Prow's walk: lexical order, a directory's files where its name sorts.
    assert loaded.files_with_section == (
        main, str(tmp_path / "sup" / "deeper" / "more_prowconfig.yaml"),
        str(tmp_path / "sup" / "team_prowconfig.yaml"),
    )
    assert loaded.describe() == (
        f"config: managed_webhooks (3 entries) from {', '.join(loaded.files_with_section)}"
    )


def test_a_key_set_in_two_files_names_both(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", entries("foo/bar"))
    other = write(tmp_path / "sup" / "a_prowconfig.yaml", entries("foo/bar", when=T2))
    with pytest.raises(KesError) as twice:
        load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW)
    assert str(twice.value) == (
        f"managed_webhooks: org_repo_config['foo/bar']: set in both {main} and {other}; "
        "each may be set in one file only"
    )


def test_a_flag_set_in_two_files_names_both_even_when_equal(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", {"respect_legacy_global_token": False})
    other = write(tmp_path / "sup" / "a_prowconfig.yaml", {"respect_legacy_global_token": False})
    with pytest.raises(KesError, match=f"respect_legacy_global_token: set in both {main} and "
                                       f"{other}"):
        load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW)


def test_an_org_and_its_repo_in_two_files_name_both(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", entries("foo"))
    other = write(tmp_path / "sup" / "a_prowconfig.yaml", entries("foo/bar"))
    with pytest.raises(KesError) as both:
        load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW)
    assert f"org 'foo' is configured too (in {other} and {main})" in str(both.value)


def test_an_error_in_a_supplemental_file_names_it(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", entries("foo/bar"))
    bad = write(tmp_path / "sup" / "a_prowconfig.yaml", entries("qux", when="2999-01-01T00:00:00Z"))
    with pytest.raises(KesError) as raised:
        load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW)
    assert str(raised.value).startswith(
        f"Prow config {bad}: managed_webhooks: org_repo_config['qux'].token_created_after"
    )


def test_configmap_internals_and_other_suffixes_are_skipped(tmp_path: Path) -> None:
    """A mounted ConfigMap holds `..data` and `..2024_01_01...` entries next to the links."""
    main = write(tmp_path / "config.yaml", entries("foo/bar"))
    sup = tmp_path / "sup"
    write(sup / "..2026_01_01" / "x_prowconfig.yaml", entries("qux"))
    os.symlink("..2026_01_01", sup / "..data")
    os.symlink("..data/x_prowconfig.yaml", sup / "x_prowconfig.yaml")
    write(sup / "y.conf", entries("foo/baz"))
    config = load_managed_webhooks(main, [str(sup)], now=NOW).managed_webhooks
    assert set(config.org_repo_config) == {"foo/bar", "qux"}  # qux once, through the link
    custom = load_managed_webhooks(main, [str(sup)], ".conf", now=NOW).managed_webhooks
    assert set(custom.org_repo_config) == {"foo/bar", "foo/baz"}


def test_no_section_anywhere_is_marked_not_present(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", None, plank={})
    write(tmp_path / "sup" / "x_prowconfig.yaml", None)  # an empty file
    loaded = load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW)
    assert not loaded.managed_webhooks.present
    assert loaded.describe() == (
        f"config: no managed_webhooks section in {main}, {tmp_path / 'sup' / 'x_prowconfig.yaml'}"
    )


def test_the_section_only_in_a_supplemental_file_is_present(tmp_path: Path) -> None:
    main = write(tmp_path / "config.yaml", None, plank={})
    write(tmp_path / "sup" / "x_prowconfig.yaml", entries("foo/bar"))
    config = load_managed_webhooks(main, [str(tmp_path / "sup")], now=NOW).managed_webhooks
    assert config.present and list(config.org_repo_config) == ["foo/bar"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing-dir", "cannot read --supplemental-prow-config-dir {tmp}/nowhere: "
                        "No such file or directory"),
        ("main-is-dir", "--config-path {tmp} is a directory; it names the main file"),
        ("not-a-mapping", "Prow config {tmp}/sup/x_prowconfig.yaml must be a mapping at the top "
                          "level"),
    ],
)
def test_unusable_paths_are_named(tmp_path: Path, layout: str, message: str) -> None:
    main = write(tmp_path / "config.yaml", entries("foo/bar"))
    dirs = [str(tmp_path / "sup")]
    (tmp_path / "sup").mkdir()
    if layout == "missing-dir":
        dirs = [str(tmp_path / "nowhere")]
    elif layout == "main-is-dir":
        main = str(tmp_path)
    else:
        (tmp_path / "sup" / "x_prowconfig.yaml").write_text("- a list\n")
    with pytest.raises(KesError) as raised:
        load_managed_webhooks(main, dirs, now=NOW)
    assert str(raised.value) == message.format(tmp=tmp_path)


# No org here has one of its repos here too: that is a conflict of its own (above).
KEYS = st.sampled_from(["foo/bar", "foo/baz", "qux/one", "acme", "beta/x", "gamma"])
FILE = st.integers(min_value=0, max_value=3)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    placed=st.dictionaries(KEYS, FILE, max_size=6),
    again=st.one_of(st.none(), st.tuples(KEYS, FILE)),
)
def test_merging_is_the_union_and_a_second_definition_always_fails(
    tmp_path_factory, placed, again
) -> None:
    """Entries spread over a main file and three supplemental files merge to the same
    config wherever each lives; a key set again in another file is an error naming both."""
    root = tmp_path_factory.mktemp("split")
    files = [root / "config.yaml", *(root / "sup" / f"f{i}_prowconfig.yaml" for i in range(3))]
    per_file: list[set[str]] = [set() for _ in files]
    for key, index in placed.items():
        per_file[index].add(key)
    if again is not None:
        per_file[again[1]].add(again[0])
    for path, keys in zip(files, per_file, strict=True):
        write(path, {"org_repo_config": {k: {} for k in sorted(keys)}} if keys else None)
    twice = again is not None and again[0] in placed and placed[again[0]] != again[1]
    try:
        config = load_managed_webhooks(str(files[0]), [str(root / "sup")], now=NOW)
    except KesError as err:
        assert twice, err
        assert again is not None
        first, second = sorted((placed[again[0]], again[1]))
        assert f"set in both {files[first]} and {files[second]}" in str(err)
        return
    assert not twice
    assert set(config.managed_webhooks.org_repo_config) == set().union(*per_file)
    assert config.managed_webhooks.present == any(per_file)
