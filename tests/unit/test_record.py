"""pipeline/record.py behaves as @dataclass does for what the records use: the same
__init__ (order, names, defaults, fresh factory values, the same TypeErrors), repr, eq,
frozen and hash, fields() and asdict()."""
import dataclasses

import pytest

from pipeline import record


def pair():
    """The same class as a dataclass and as a record."""
    def body(decorate, field):
        @decorate
        class Thing:
            name: str
            size: int = 3
            items: list = field(default_factory=list)
            secret: object = field(default=None, repr=False, compare=False)
        return Thing
    return body(dataclasses.dataclass, dataclasses.field), body(record.record, record.field)


@pytest.mark.parametrize("args,kwargs", [
    (("a",), {}), (("a", 5), {}), (("a",), {"items": [1]}), ((), {"name": "b", "size": 0}),
    (("a", 1, [2], "s"), {}),
])
def test_init_repr_eq_as_a_dataclass(args, kwargs):
    dc, rc = pair()
    d, r = dc(*args, **kwargs), rc(*args, **kwargs)
    assert repr(r) == repr(d)
    assert [getattr(r, f.name) for f in record.fields(r)] == \
        [getattr(d, f.name) for f in dataclasses.fields(d)]
    assert r == rc(*args, **kwargs) and r != dc(*args, **kwargs)
    assert record.asdict(r) == dataclasses.asdict(d)


@pytest.mark.parametrize("args,kwargs", [
    ((), {}), (("a", 1, [], None, "extra"), {}), (("a",), {"name": "b"}), (("a",), {"bad": 1}),
])
def test_bad_calls_raise_type_error_as_a_dataclass(args, kwargs):
    dc, rc = pair()
    with pytest.raises(TypeError):
        dc(*args, **kwargs)
    with pytest.raises(TypeError):
        rc(*args, **kwargs)


def test_factory_values_are_fresh_and_compare_false_is_ignored():
    _, rc = pair()
    one, two = rc("a"), rc("a")
    one.items.append(1)
    assert two.items == [] and rc("a", secret="x") == rc("a", secret="y")
    assert "secret" not in repr(rc("a", secret="hidden")) and "hidden" not in repr(
        rc("a", secret="hidden"))
    with pytest.raises(TypeError):
        hash(one)   # eq without frozen: unhashable, as a dataclass


def test_frozen_records_refuse_assignment_and_hash():
    @record.record(frozen=True)
    class Build:
        commit: str = ""
        number: str = ""

        @property
        def short(self):
            return self.commit[:7]

    build = Build("0123456789", number="7")
    assert build.short == "0123456" and Build() == Build("", "")
    assert hash(build) == hash(Build("0123456789", "7"))
    with pytest.raises(AttributeError):
        build.commit = "x"
    with pytest.raises(AttributeError):
        del build.number


def test_definition_errors_as_a_dataclass():
    with pytest.raises(TypeError):
        @record.record
        class Bad:
            a: int = 1
            b: int
    with pytest.raises(ValueError):
        @record.record
        class Mutable:
            a: list = []
    with pytest.raises(ValueError):
        record.field(default=1, default_factory=list)
