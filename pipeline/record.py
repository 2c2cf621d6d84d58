"""Record classes, as `@dataclass` makes them, without importing `dataclasses`.

Why: `dataclasses` imports `inspect`, and with it `ast`, `dis`, `tokenize` and more: 20-30 ms
of every Python start on this machine, on the path of every deploy and rollback (issue 11
measures the time before swarm starts). The records on that path need only this:

    @record                        # or @record(frozen=True)
    class Change:
        path: tuple
        old: object = None
        events: list = field(default_factory=list)
        content: object = field(default=None, repr=False, compare=False)

gives an `__init__` taking the fields in order, by position or by name, with their defaults
(a fresh value from `default_factory` each time); `__repr__` and `__eq__` over the fields
(those with repr / compare); and for `frozen=True`, no assignment and a `__hash__`. A
non-frozen record is unhashable, as a dataclass with eq is. `fields()` and `asdict()` (a
shallow copy: the records keep no records inside that a caller turns into JSON) as in
`dataclasses`. Only a class's own annotations are fields: no record here inherits one.
"""

MISSING = object()


class Field:
    """One field of a record: its name, default or default factory, repr and compare."""

    __slots__ = ("name", "default", "default_factory", "repr", "compare")

    def __init__(self, default=MISSING, default_factory=None, repr=True, compare=True):
        # `repr` is the dataclasses keyword; inside, the builtin is not needed
        self.name = None
        self.default, self.default_factory = default, default_factory
        self.repr, self.compare = repr, compare

    def required(self):
        return self.default is MISSING and self.default_factory is None

    def value(self):
        return self.default_factory() if self.default_factory is not None else self.default


def field(*, default=MISSING, default_factory=None, repr=True, compare=True):
    """A field's options, as `dataclasses.field` takes them."""
    if default is not MISSING and default_factory is not None:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr, compare)


def fields(record_or_class):
    """The record's Fields, in order."""
    return record_or_class.__record_fields__


def asdict(instance):
    """{field name: value} of a record (shallow)."""
    return {f.name: getattr(instance, f.name) for f in fields(instance)}


def record(cls=None, *, frozen=False):
    """Make `cls` a record class (see the module docstring); usable bare or with frozen."""
    def make(cls):
        specs = _fields_of(cls)
        cls.__record_fields__ = specs
        cls.__init__ = _init(cls.__name__, specs)
        cls.__repr__ = _repr(specs)
        cls.__eq__ = _eq([f.name for f in specs if f.compare])
        if frozen:
            cls.__setattr__ = cls.__delattr__ = _refuse
            cls.__hash__ = _hash([f.name for f in specs if f.compare])
        else:
            cls.__hash__ = None
        return cls
    return make(cls) if cls is not None else make


def _fields_of(cls):
    specs, seen_default = [], None
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        if spec.default_factory is not None or isinstance(value, Field):
            if spec.default is MISSING:
                if name in cls.__dict__:
                    delattr(cls, name)   # as dataclasses does: no class attribute
            else:
                setattr(cls, name, spec.default)
        if spec.required() and seen_default:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        seen_default = seen_default or not spec.required()
        if isinstance(spec.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(spec.default)} for field {name} "
                             "is not allowed: use default_factory")
        specs.append(spec)
    return tuple(specs)


def _init(class_name, specs):
    names = {f.name for f in specs}

    def __init__(self, *args, **kwargs):
        if len(args) > len(specs):
            raise TypeError(f"{class_name}() takes {len(specs)} arguments "
                            f"but {len(args)} were given")
        values = dict(zip((f.name for f in specs), args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{class_name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{class_name}() got multiple values for argument {key!r}")
            values[key] = value
        for spec in specs:
            if spec.name in values:
                value = values[spec.name]
            elif spec.required():
                raise TypeError(f"{class_name}() missing required argument: {spec.name!r}")
            else:
                value = spec.value()
            object.__setattr__(self, spec.name, value)   # frozen records too
    return __init__


def _repr(specs):
    shown = [f.name for f in specs if f.repr]

    def __repr__(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__qualname__}({inner})"
    return __repr__


def _eq(compared):
    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in compared)
    return __eq__


def _hash(compared):
    def __hash__(self):
        return hash(tuple(getattr(self, n) for n in compared))
    return __hash__


def _refuse(self, name, *value):
    raise AttributeError(f"cannot assign to field {name!r} of a frozen "
                         f"{type(self).__name__}")
