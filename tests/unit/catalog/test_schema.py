"""The one schema walker (pipeline/catalog/schema.py), which checks shipway's own keys, the
analysis keys and the stack-file keys alike: every problem is one call of `fail` naming the
dotted key."""
import pytest

from pipeline.catalog.schema import Part, uncarriable, walk
from pipeline.catalog.values import boolean, whole_number


class Refused(Exception):
    pass


def fail(key, message):
    raise Refused(key, message)


def refusal(rules, value, **options):
    with pytest.raises(Refused) as info:
        walk(rules, value, fail, **options)
    return info.value.args


def items(value, fail, key):
    """A Part: a list of {n: whole number}, its keys named by index."""
    return [walk({"n": whole_number()}, item, fail, f"{key}[{i}].")
            for i, item in enumerate(value)]


RULES = {"count": whole_number(1), "flag": boolean, "nested": {"deep": {"on": boolean}},
         "items": Part(items, list)}


def test_values_are_converted_and_nested_mappings_walked():
    assert walk(RULES, {"count": 3, "nested": {"deep": {"on": True}}, "items": [{"n": 1}]},
                fail) == {"count": 3, "nested": {"deep": {"on": True}}, "items": [{"n": 1}]}
    assert walk(RULES, {"nested": None, "items": None}, fail) == {"nested": {}, "items": []}


@pytest.mark.parametrize("value, key, message", [
    ({"colour": 1}, "colour", "unknown key (known keys here: count, flag, items, nested)"),
    ({"nested": {"deep": {"off": 1}}}, "nested.deep.off", "unknown key (known keys here: on)"),
    ({"count": 0}, "count", "must be 1 or more"),
    ({"nested": {"deep": {"on": "yes"}}}, "nested.deep.on", "must be true or false"),
    ({"nested": {"deep": []}}, "nested.deep", "must be a mapping"),
    ({"items": [{"n": 1}, {"n": -1}]}, "items[1].n", "must be 0 or more"),
    ({"flag": None}, "flag", "must be true or false"),    # the check says what it wants
    ({"count": 1, "flag": "\x00"}, "flag", "must be true or false"),
])
def test_a_problem_is_one_fail_naming_the_dotted_key(value, key, message):
    assert refusal(RULES, value) == (key, message)


def test_a_document_that_is_no_mapping_names_no_key_or_its_parent():
    assert refusal(RULES, [1]) == (None, "must be a mapping")
    assert refusal(RULES, "x", prefix="deploy.") == ("deploy", "must be a mapping")


def test_null_can_be_refused_as_no_value():
    assert refusal(RULES, {"flag": None}, null="has no value") == ("flag", "has no value")
    # a mapping or a Part given no value is empty either way
    assert walk(RULES, {"nested": None, "items": None}, fail, null="has no value") == {
        "nested": {}, "items": []}


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\ufffe", "\uffff"])
def test_characters_no_output_can_carry_are_refused(bad):
    def text(value):
        return value

    def texts(value, fail, key):
        return {str(k): v for k, v in value.items()}

    rules = {"name": text, "map": Part(texts)}
    assert refusal(rules, {"name": f"a{bad}b"}) == (
        "name", f"must not contain the character {bad!r} (U+{ord(bad):04X})")
    assert refusal(rules, {"map": {f"k{bad}": "v"}})[0] == "map"
    assert uncarriable(["fine", {"k": ["deep", bad]}]) == bad
    assert uncarriable(["fine", {"k": 1}]) is None
