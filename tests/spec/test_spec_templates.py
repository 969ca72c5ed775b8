"""Templates at parse time: lodash detection and Jinja2 syntax errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kes.spec import ExternalSecretSpec, SpecError

Parse = Callable[..., ExternalSecretSpec]
Fails = Callable[..., SpecError]


@pytest.mark.parametrize("source", [
    "<%= data.password %>",
    "user: <%- data.user %>",
    "<% if (data.x) { %>x<% } %>",
])
def test_lodash_templates_point_to_the_readme(fails: Fails, source: str) -> None:
    error = fails(template={"stringData": {"config": source}})
    assert str(error) == (
        "ExternalSecret ns/es: spec.template.stringData[config]: uses KES's lodash template "
        "syntax (<% %>), which kes cannot run; rewrite it in Jinja2 (README, section Templates)"
    )


def test_lodash_is_detected_in_every_template_field(fails: Fails) -> None:
    lodash = "<%= data.x %>"
    assert fails(template={"data": {"k": lodash}}).field == "spec.template.data[k]"
    assert fails(template={"metadata": {"labels": {"k": lodash}}}).field == (
        "spec.template.metadata.labels[k]"
    )
    assert fails(template={"metadata": {"annotations": {"k": lodash}}}).field == (
        "spec.template.metadata.annotations[k]"
    )


@pytest.mark.parametrize(("source", "message"), [
    ("{{ data.x ", "template line 1: unexpected end of template, expected 'end of print "
                   "statement'."),
    ("a\n{% if data.x %}", "template line 2: Unexpected end of template. Jinja was looking for "
                           "the following tags: 'elif' or 'else' or 'endif'. The innermost "
                           "block that needs to be closed is 'if'."),
    ("{{ data.x | nosuchfilter }}", "template line 1: No filter named 'nosuchfilter'."),
])
def test_syntax_errors_are_caught_at_parse_time(fails: Fails, source: str, message: str) -> None:
    error = fails(template={"stringData": {"k": source}})
    assert (error.field, error.message) == ("spec.template.stringData[k]", message)


def test_templates_compile_once_at_parse_time(parse: Parse) -> None:
    text = parse(template={"stringData": {"k": "{{ data.n | b64enc }}"}}).template.string_data["k"]
    assert text.source == "{{ data.n | b64enc }}"
    assert text.render({"data": {"n": "x"}}) == "eA=="


def test_equal_template_texts_share_one_compiled_template(parse: Parse) -> None:
    source = "{{ data.n }} shared"
    first = parse(template={"stringData": {"a": source}}).template.string_data["a"]
    second = parse(template={"stringData": {"b": source}}).template.string_data["b"]
    assert first.compiled is second.compiled
