import pytest

from kes_emulators.apiserver.selectors import (
    SelectorError,
    label_selector_from_match,
    parse_field_selector,
    parse_label_selector,
)

PROD_FRONTEND = {"environment": "production", "tier": "frontend"}
DEV_BACKEND = {"environment": "dev", "tier": "backend", "partition": "customerA"}
UNLABELLED: dict[str, str] = {}

# Examples from the "Labels and Selectors" concept page, plus the edge cases of the parser.
LABEL_CASES = [
    ("", [True, True, True]),
    ("environment = production", [True, False, False]),
    ("environment==production", [True, False, False]),
    ("tier != frontend", [False, True, True]),
    ("environment=production,tier=frontend", [True, False, False]),
    ("environment in (production, qa)", [True, False, False]),
    ("tier notin (frontend, backend)", [False, False, True]),
    ("partition", [False, True, False]),
    ("!partition", [True, False, True]),
    ("partition in (customerA, customerB),environment!=qa", [False, True, False]),
    ("tier in (frontend),!partition", [True, False, False]),
    ("environment=", [False, False, False]),
    ("environment!=", [True, True, True]),
    ("environment in ()", [False, False, False]),
    ("environment notin (,production)", [False, True, True]),
    ("in in (a)", [False, False, False]),
]


@pytest.mark.parametrize(("text", "expected"), LABEL_CASES)
def test_label_selector_matches_like_the_docs(text: str, expected: list[bool]) -> None:
    selector = parse_label_selector(text)
    assert [selector.matches(labels) for labels in (PROD_FRONTEND, DEV_BACKEND, UNLABELLED)] \
        == expected


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("replicas>2", {"replicas": "3"}, True),
    ("replicas>2", {"replicas": "2"}, False),
    ("replicas<2", {"replicas": "1"}, True),
    ("replicas<2", {"replicas": "x"}, False),
    ("replicas<2", {}, False),
    ("replicas>2", {"replicas": "1_0"}, False),
    ("replicas>2", {"replicas": "99999999999999999999"}, False),
    ("example.com/team=a", {"example.com/team": "a"}, True),
    ("example.com/team=a", {"team": "a"}, False),
])
def test_numeric_and_prefixed_keys(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


QNAME = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
         "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
         "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, "
               "'-', '_' or '.', and must start and end with an alphanumeric character "
               "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
               "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

INVALID_LABEL_CASES = [
    ("app=a b", "found 'b', expected: ',' or 'end of string'"),
    ("app=a,", "found '', expected: identifier after ','"),
    (",app", "found ',', expected: !, identifier, or 'end of string'"),
    ("app in a", "unable to parse requirement: found 'a' expected: '('"),
    ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
    ("app ~ a", "unable to parse requirement: found '~', expected: '=', '!=', '==', 'in', "
                "notin'"),
    ("app=(a)", "unable to parse requirement: found '(', expected: identifier"),
    ("-app=a", f'unable to parse requirement: <nil>: Invalid value: "-app": name part {QNAME}'),
    ("app=-a", f'unable to parse requirement: values[0][app]: Invalid value: "-a": {LABEL_VALUE}'),
    ("replicas>two", "unable to parse requirement: values[0]: Invalid value: \"two\": "
                     "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a/b/c", 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name '
              f"{QNAME} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("Example.com/x", 'unable to parse requirement: <nil>: Invalid value: "Example.com/x": '
                      "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                      "alphanumeric characters, '-' or '.', and must start and end with an "
                      "alphanumeric character (e.g. 'example.com', regex used for validation is "
                      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("x" * 64, f'unable to parse requirement: <nil>: Invalid value: "{"x" * 64}": '
               "name part must be no more than 63 characters"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_LABEL_CASES)
def test_invalid_label_selectors_are_rejected_with_the_servers_message(
        text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value) == message


def test_label_selector_object_matches_like_its_expressions() -> None:
    selector = label_selector_from_match(
        {"app": "web"},
        [{"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
         {"key": "canary", "operator": "DoesNotExist"}],
    )
    assert selector.matches({"app": "web", "tier": "edge"})
    assert not selector.matches({"app": "web", "tier": "edge", "canary": "1"})
    assert not selector.matches({"app": "db", "tier": "edge"})
    assert label_selector_from_match(None, None).matches({"any": "thing"})


@pytest.mark.parametrize(("expressions", "message"), [
    ([{"key": "a", "operator": "Foo"}], '"Foo" is not a valid label selector operator'),
    ([{"key": "a", "operator": "In", "values": []}],
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ([{"key": "a", "operator": "Exists", "values": ["x"]}],
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does not '
     "exist"),
])
def test_label_selector_object_errors(expressions: list[dict[str, object]], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_match(None, expressions)
    assert str(info.value) == message


SUPPORTED = ("metadata.name", "metadata.namespace", "type")
SECRET_FIELDS = {"metadata.name": "a,b=c\\d", "metadata.namespace": "ns", "type": "Opaque"}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True),
    ("metadata.namespace=ns", True),
    ("metadata.namespace==ns", True),
    ("metadata.namespace!=ns", False),
    ("type!=kubernetes.io/tls,metadata.namespace=ns", True),
    ("metadata.name=a\\,b\\=c\\\\d", True),
    ("metadata.name=a", False),
    ("type=", False),
])
def test_field_selector_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text, SUPPORTED).matches(SECRET_FIELDS) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("spec.foo=bar", "field label not supported: spec.foo"),
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    ("metadata.name=a\\b", "invalid field selector: invalid escape sequence: \\b"),
    ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_invalid_field_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text, SUPPORTED)
    assert str(info.value) == message
