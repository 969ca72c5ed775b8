"""Templates at parse time (cheap checks only) and when compiled (syntax errors)."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from kes.render import RenderError
from kes.spec import ExternalSecretSpec, SpecError
from kes.template import compile_template

Parse = Callable[..., ExternalSecretSpec]
Fails = Callable[..., SpecError]
RenderFails = Callable[..., RenderError]


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
def test_syntax_errors_are_render_errors_naming_the_field(render_fails: RenderFails,
                                                          source: str, message: str) -> None:
    error = render_fails({"k": b"v"}, template={"stringData": {"k": source}})
    assert (error.field, error.message) == ("spec.template.stringData[k]", message)


def test_parsing_does_not_compile_templates(parse: Parse) -> None:
    spec = parse(template={"stringData": {"k": "{{ data.x ", "s": "static", "c": "{# c #}"}})
    text = spec.template.string_data["k"]
    assert (text.field, text.source) == ("spec.template.stringData[k]", "{{ data.x ")
    assert not text.static and spec.template.string_data["s"].static
    assert not spec.template.string_data["c"].static
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_equal_template_texts_compile_once() -> None:
    compile_template.cache_clear()
    first = compile_template("{{ data.n }} shared")
    assert compile_template("{{ data.n }} shared") is first
    assert compile_template.cache_info().misses == 1
