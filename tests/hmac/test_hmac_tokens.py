"""Prow's token map format, the legacy single token, and GitHub's signature test vector."""

import datetime as dt

import pytest

from kes.tokens import (
    ZERO_TIME,
    Token,
    TokenMapError,
    dump_token_map,
    new_token,
    newest,
    parse_token_map,
)
from kes_emulators.github import sign

T1 = dt.datetime(2020, 3, 2, 15, tzinfo=dt.UTC)
T2 = dt.datetime(2021, 3, 2, 15, tzinfo=dt.UTC)


def test_round_trip_in_prows_layout() -> None:
    tokens = {
        "foo/bar": (Token("a" * 40, T1), Token("b" * 40, T2)),
        "*": (Token("legacy", ZERO_TIME),),
    }
    data = dump_token_map(tokens)
    assert data.decode() == (
        "'*':\n"
        "- created_at: '0001-01-01T00:00:00Z'\n"
        "  value: legacy\n"
        "foo/bar:\n"
        f"- created_at: '2020-03-02T15:00:00Z'\n  value: {'a' * 40}\n"
        f"- created_at: '2021-03-02T15:00:00Z'\n  value: {'b' * 40}\n"
    )
    assert parse_token_map(data, respect_legacy_global_token=False) == tokens


def test_reads_unquoted_times_as_go_writes_them() -> None:
    data = b"foo:\n- value: x\n  created_at: 2020-03-02T15:00:00Z\n"
    assert parse_token_map(data, respect_legacy_global_token=False) == {"foo": (Token("x", T1),)}


def test_empty_store_is_an_empty_map() -> None:
    assert parse_token_map(b"", respect_legacy_global_token=False) == {}


def test_a_single_token_is_the_legacy_global_token() -> None:
    tokens = parse_token_map(b"  0f3c9a  \n", respect_legacy_global_token=True)
    assert tokens == {"*": (Token("0f3c9a", ZERO_TIME),)}


def test_a_legacy_token_needs_respect_legacy_global_token() -> None:
    with pytest.raises(TokenMapError, match="respect_legacy_global_token") as caught:
        parse_token_map(b"s3cr3t-value", respect_legacy_global_token=False)
    assert "s3cr3t-value" not in str(caught.value)


def test_a_malformed_map_names_the_key_not_the_value() -> None:
    with pytest.raises(TokenMapError, match=r"'foo/bar'\[0\].created_at") as caught:
        parse_token_map(
            b"foo/bar:\n- value: s3cr3t\n  created_at: soon\n", respect_legacy_global_token=True
        )
    assert "s3cr3t" not in str(caught.value)


def test_new_tokens_are_20_random_bytes_in_hex() -> None:
    first, second = new_token(T1), new_token(T1)
    assert len(first.value) == 40 and bytes.fromhex(first.value)
    assert first.value != second.value
    assert "value" not in repr(first) and first.value not in repr(first)


def test_newest_picks_the_latest_created_at() -> None:
    assert newest([Token("old", T1), Token("new", T2), Token("older", ZERO_TIME)]).value == "new"


def test_githubs_signature_test_vector() -> None:
    headers = sign("It's a Secret to Everybody", b"Hello, World!")
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert headers["X-Hub-Signature"] == "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"


def test_a_payload_that_is_not_utf8_names_the_source_not_the_bytes() -> None:
    source = "projects/p/secrets/hmac/versions/3"
    with pytest.raises(TokenMapError) as caught:
        parse_token_map(b"\xff\xfes3cr3t", respect_legacy_global_token=True, source=source)
    assert str(caught.value) == (
        f"{source}: not UTF-8 text, so neither a token map nor a legacy token"
    )
    assert caught.value.__suppress_context__  # no traceback quoting the payload
