"""Template limits: a hostile or careless template fails fast with the limit it hit.

Every attack here would run for minutes or exhaust memory without its limit; with
it, each fails before doing the work.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kes.render import MAX_SECRET_BYTES, DesiredSecret, RenderError
from kes.spec import ExternalSecretSpec, SpecError
from kes.template import (
    MAX_LOOP_ITERATIONS,
    MAX_RANGE,
    MAX_TEMPLATE_CHARS,
    MAX_VALUE_BYTES,
    MAX_WORK_BYTES,
)

Parse = Callable[..., ExternalSecretSpec]
Fails = Callable[..., SpecError]
Render = Callable[..., DesiredSecret]
RenderFails = Callable[..., RenderError]

PAYLOADS = {"pw": b"hunter2-pw"}
DATA = [{"key": "pw", "name": "password"}]
VALUE_LIMIT = f"would make a value over the limit of {MAX_VALUE_BYTES} bytes"
SECRET_LIMIT = (f"would make the Secret's data larger than {MAX_SECRET_BYTES} bytes, the most "
                "Kubernetes stores in a Secret")


def out(render: Render, source: str) -> bytes:
    return render(PAYLOADS, data=DATA, template={"stringData": {"out": source}}).data["out"]


def render_problem(render_fails: RenderFails, source: str) -> str:
    error = render_fails(PAYLOADS, data=DATA, template={"stringData": {"out": source}})
    assert (error.object_ref, error.key, error.field) == (
        "ns/es", "out", "spec.template.stringData[out]"
    )
    return error.message


# ---- refused when compiled ---------------------------------------------------------


@pytest.mark.parametrize(("source", "problem"), [
    ("{% macro m() %}x{% endmacro %}{{ m() }}", "uses macro, which templates may not"),
    ("{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}x{% endcall %}",
     "uses macro, which templates may not"),
    ("{% call range(1) %}x{% endcall %}", "uses call blocks, which templates may not"),
    ("{% import 'x' as x %}", "uses import, which templates may not"),
    ("{% from 'x' import y %}", "uses import, which templates may not"),
    ("{% include 'x' %}", "uses include, which templates may not"),
    ("{% extends 'x' %}", "uses extends, which templates may not"),
    ("{% block b %}x{% endblock %}", "uses block, which templates may not"),
    ("{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}",
     "uses a recursive loop, which templates may not"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
     "nests loops; at most 1 level is allowed"),
    ("{% for i in [1] %}{% if i %}{% for j in [2] %}x{% endfor %}{% endif %}{% endfor %}",
     "nests loops; at most 1 level is allowed"),
    ("{{ __kes_loop([1]) }}", "uses the reserved name __kes_loop"),
    ("{{ " + "(" * 33 + "1" + ")" * 33 + " }}", "nests brackets more than 32 deep"),
    ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nests brackets more than 32 deep"),
    ("{{ " + "not " * 70 + "1 }}",
     "nests more than 64 levels deep (blocks, operators and filters together)"),
    ("{{ " + " + ".join(["1"] * 70) + " }}",
     "nests more than 64 levels deep (blocks, operators and filters together)"),
    ("{{ 1" + " | abs" * 70 + " }}",
     "nests more than 64 levels deep (blocks, operators and filters together)"),
    ("{% if 1 %}" * 70 + "x" + "{% endif %}" * 70,
     "nests more than 64 levels deep (blocks, operators and filters together)"),
    ("{{ " + "not " * 3000 + "1 }}", "nests too deeply to compile"),
])
def test_templates_refuse_what_enables_unbounded_work(render_fails: RenderFails, source: str,
                                                      problem: str) -> None:
    assert render_problem(render_fails, source) == (
        f"template {problem} (README, section Templates)"
    )


def test_templates_nested_within_the_limits_render(render: Render) -> None:
    assert out(render, "{{ " + "(" * 32 + "1" + ")" * 32 + " }}") == b"1"
    assert out(render, "{% if 1 %}" * 30 + "x" + "{% endif %}" * 30) == b"x"
    assert out(render, "{{ " + " + ".join(["1"] * 30) + " }}") == b"30"


def test_overlong_templates_are_refused_when_parsed(fails: Fails) -> None:
    error = fails(template={"stringData": {"k": "x" * (MAX_TEMPLATE_CHARS + 1)}})
    assert (error.field, error.message) == (
        "spec.template.stringData[k]",
        f"template is longer than the limit of {MAX_TEMPLATE_CHARS} characters "
        "(README, section Templates)",
    )


@pytest.mark.parametrize("name", ["batch", "slice", "center", "format", "wordwrap", "sum",
                                  "random", "urlize", "xmlattr", "pprint"])
def test_filters_that_can_blow_up_are_not_available(render_fails: RenderFails,
                                                    name: str) -> None:
    problem = render_problem(render_fails, f"{{{{ data.password | {name} }}}}")
    assert problem == f"template line 1: No filter named '{name}'."


def test_sequential_loops_are_fine(render: Render) -> None:
    source = "{% for i in range(3) %}{{ i }}{% endfor %}-{% for k in data %}{{ k }}{% endfor %}"
    assert out(render, source) == b"012-password"


# ---- limits hit while rendering ----------------------------------------------------


@pytest.mark.parametrize(("source", "problem"), [
    ('{{ "x" * 10**10 }}', VALUE_LIMIT),
    ("{{ 'x' * 1048577 }}", VALUE_LIMIT),
    ("{{ [data.password] * 200000 }}", VALUE_LIMIT),
    ("{{ 10**10 * 'x' }}", VALUE_LIMIT),
    ("{% set a = 'x' * 600000 %}{{ a + a }}", VALUE_LIMIT),
    ("{% set a = 'x' * 600000 %}{{ a ~ a }}", VALUE_LIMIT),
    ("{% set a = ['x' * 600000] %}{{ a + a }}", VALUE_LIMIT),
    ("{% set a = 'x' * 2000 %}{{ a | replace('', a) }}", VALUE_LIMIT),
    ("{% set a = 'x' * 2000 %}{{ a.replace('x', a) }}", VALUE_LIMIT),
    ("{% set a = 'x' * 2000 %}{{ (10 ** 999) | replace('', a) }}", VALUE_LIMIT),
    ("{{ range(2000) | join('x' * 1000) }}", VALUE_LIMIT),
    ("{{ ('x\n' * 100000) | indent(64) }}", VALUE_LIMIT),
    ("{{ 'x' | indent(1000) }}", "indent is wider than the limit of 64"),
    ("{{ {'a': 1} | tojson(indent=1000) }}", "indent is wider than the limit of 64"),
    ("{{ 'x'.ljust(10**9) }}", "str.ljust() is not available"),
    ("{{ 'x'.format(1) }}", "str.format() is not available"),
    ("{{ ','.join(['a']) }}", "str.join() is not available"),
    ("{{ '%0999999999d' % 1 }}", "% formatting of text is not available; use ~"),
    ("{{ (1).to_bytes(10**9, 'big') }}", f"an argument of to_bytes() exceeds the limit of "
                                         f"{MAX_VALUE_BYTES}"),
    ("{{ 2 ** 100000 }}", "power exceeds the limit of 4096 bits"),
    ("{% set a = 2 ** 4000 %}{{ a * a }}", "product exceeds the limit of 4096 bits"),
    ("{{ range(10**9) | length }}", f"range has more than the limit of {MAX_RANGE} items"),
    ("{% for c in 'x' * 20000 %}{% endfor %}",
     f"loops ran more than the limit of {MAX_LOOP_ITERATIONS} iterations"),
    ("{% for i in range(6000) %}{% endfor %}{% for i in range(6000) %}{% endfor %}",
     f"loops ran more than the limit of {MAX_LOOP_ITERATIONS} iterations"),
    ("{% for i in range(10000) %}{{ 'x' * 200 }}{% endfor %}", SECRET_LIMIT),
    ("{% set a = 'x' * 1000000 %}{% for i in range(17) %}{% set b = a ~ '' %}{% endfor %}",
     f"produced more than the limit of {MAX_WORK_BYTES} bytes"),
    ("{% set a %}{% for i in range(9000) %}" + "x" * 2000 + "{% endfor %}{% endset %}",
     f"produced more than the limit of {MAX_WORK_BYTES} bytes"),
    ("{% filter upper %}{% for i in range(9000) %}{{ '" + "x" * 2000 + "' }}{% endfor %}"
     "{% endfilter %}", f"produced more than the limit of {MAX_WORK_BYTES} bytes"),
    ("{% set a = 'x' * 1000000 %}{% set b %}{% for i in range(10000) %}{{ a }}{% endfor %}"
     "{% endset %}", f"produced more than the limit of {MAX_WORK_BYTES} bytes"),
    ("{{ ('a: &a [' ~ ('x,' * 100) ~ 'x]\nb: &b [' ~ ('*a,' * 100) ~ '*a]\n"
     "c: [' ~ ('*b,' * 100) ~ '*b]') | fromyaml }}", VALUE_LIMIT),
])
def test_limits_stop_templates_before_the_work(render_fails: RenderFails, source: str,
                                               problem: str) -> None:
    assert render_problem(render_fails, source) == f"template {problem}"


def test_the_limits_leave_ordinary_templates_alone(render: Render) -> None:
    source = ("{{ '-' * 3 }}{{ 2 ** 10 }}{{ ([1] + [2]) | tojson }}{{ 'a' ~ 'b' }}{{ 7 % 4 }}"
              "{{ data.password | replace('hunter2', 'x') | upper }}"
              "{{ ['a', 'b'] | join(',') }}{{ 'l1\nl2' | indent(2) }}"
              "{{ data.password.split('-')[1] }}{{ range(3) | list | length }}")
    assert out(render, source) == b"---1024[1,2]ab3X-PWa,bl1\n  l2pw3"


def test_a_value_may_be_as_big_as_a_secret(render: Render) -> None:
    # stringData replaces the generated password: the Secret holds exactly 1 MiB.
    secret = render(PAYLOADS, data=DATA,
                    template={"stringData": {"password": f"{{{{ 'x' * {MAX_VALUE_BYTES} }}}}"}})
    assert len(secret.data["password"]) == MAX_VALUE_BYTES == MAX_SECRET_BYTES


def test_the_secret_as_a_whole_holds_at_most_1_mib(render_fails: RenderFails) -> None:
    # 1 MiB of template output next to the 10-byte password is over before it is written.
    assert render_problem(render_fails, f"{{{{ 'x' * {MAX_VALUE_BYTES} }}}}") == (
        f"template {SECRET_LIMIT}"
    )


def test_loops_may_run_up_to_the_limit(render: Render) -> None:
    source = f"{{% for i in range({MAX_LOOP_ITERATIONS}) %}}.{{% endfor %}}"
    assert out(render, source) == b"." * MAX_LOOP_ITERATIONS


def test_rendered_bytes_count_against_the_value_limit(render_fails: RenderFails) -> None:
    # 'é' is one character but two bytes in the Secret.
    error = render_fails(PAYLOADS, data=DATA, template={"stringData": {
        "password": f"{{{{ 'é' * {MAX_VALUE_BYTES // 2 + 1} }}}}"}})
    assert error.message == f"template rendered a value over the limit of {MAX_VALUE_BYTES} bytes"
    problem = render_problem(render_fails, f"{{{{ 'é' * {MAX_VALUE_BYTES // 2} }}}}")
    assert problem == f"template {SECRET_LIMIT}"


def test_each_rendering_starts_a_fresh_budget(render: Render) -> None:
    loop = f"{{% for i in range({MAX_LOOP_ITERATIONS}) %}}{{% endfor %}}ok"
    secret = render(PAYLOADS, data=DATA, template={"stringData": {"a": loop, "b": loop}})
    assert (secret.data["a"], secret.data["b"]) == (b"ok", b"ok")
