"""YAML files read into documents: the catalog, and the stack files it names.

PyYAML's C parser (libyaml, `yaml.CSafeLoader`) when PyYAML has it, else its pure-Python
SafeLoader; either way with PyYAML's safe constructor and one check PyYAML does not make.
PyYAML keeps the last of two equal keys and says nothing (YAML 1.2 says keys must be unique).
In a catalog that silently drops a service, and `jobs sync --prune` then deletes its jobs.
Here a duplicate key anywhere in the document is a DuplicateKey error naming the key and both
lines.

Two things CSafeLoader alone would change, kept as they were with the pure-Python loader:
- Nesting. CSafeLoader composes the nodes in C, recursively: a document nested about 30,000
  levels deep kills the process (SIGSEGV). PyYAML's Python composer, used over the C parser
  here, raises RecursionError instead, which the catalog reports in one line. It costs
  10-25 % of the parse (a 500-service catalog: 56 ms of CPU against 45; the pure-Python
  loader takes 275).
- What parses. libyaml refuses a little YAML PyYAML's own parser reads (`{a: 1, b:}`, as
  docs/catalog.md writes an environment variable taken from shipway's environment) and words
  its errors its own way: a document the C parser refuses is parsed again by the pure-Python
  one, which reads it as before or says what is wrong as before.
"""
import yaml


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping holds the same key twice; `key`, `first_line`, `second_line` (1-based)."""

    def __init__(self, key, first_line, second_line, mark):
        super().__init__(None, None, f"duplicate key {key!r}: first at line {first_line}, "
                                     f"again at line {second_line}", mark)
        self.key, self.first_line, self.second_line = key, first_line, second_line


class _UniqueKeys:
    """A safe loader's mappings that refuse a key they already hold."""

    def construct_mapping(self, node, deep=False):
        """Build the mapping like SafeLoader, raising DuplicateKey on a repeated key.

        Keys merged in with `<<` are not checked: the mapping's own keys override them.
        """
        merge = "tag:yaml.org,2002:merge"
        own = {id(key) for key, _ in node.value if key.tag != merge}
        self.flatten_mapping(node)
        seen = {}
        for key_node, _ in node.value:
            if id(key_node) not in own:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader reports unhashable keys itself, below
            if key in seen:
                raise DuplicateKey(key, seen[key] + 1, key_node.start_mark.line + 1,
                                   key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class PythonLoader(_UniqueKeys, yaml.SafeLoader):
    """PyYAML's pure-Python SafeLoader, refusing duplicate keys."""


if hasattr(yaml, "CSafeLoader"):
    class CLoader(_UniqueKeys, yaml.composer.Composer, yaml.CSafeLoader):
        """CSafeLoader (libyaml's reader, scanner and parser) with PyYAML's Python composer,
        refusing duplicate keys."""

        def __init__(self, stream):
            yaml.CSafeLoader.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
else:
    CLoader = None

# What the parser (libyaml or PyYAML's) raises for text that is no YAML it reads.
_PARSE_ERRORS = (yaml.reader.ReaderError, yaml.scanner.ScannerError, yaml.parser.ParserError)


def load(text, loaders=None):
    """Parse one YAML document from `text` like yaml.safe_load, refusing duplicate keys
    (DuplicateKey, a yaml.YAMLError). `loaders`: (C-parser loader or None, pure-Python
    loader) to use instead of this module's (compose_yaml's read stack files)."""
    c_loader, python_loader = loaders or (CLoader, PythonLoader)
    if c_loader is None:
        return yaml.load(text, Loader=python_loader)
    try:
        return yaml.load(text, Loader=c_loader)
    except _PARSE_ERRORS:
        return yaml.load(text, Loader=python_loader)   # see the module docstring


def read(path, loaders=None):
    """The document in the YAML file at `path` (`loaders` as for load). Raises OSError when it
    cannot be read, UnicodeDecodeError when it is not UTF-8, yaml.YAMLError (DuplicateKey
    among them) when it is not YAML, RecursionError when it is nested too deeply, and
    ValueError, TypeError, AttributeError or OverflowError for well-formed YAML with
    impossible values (a date like 2001-13-01, `!!int abc`)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return load(data.decode("utf-8"), loaders)


def where(exc):
    """` at line N` for a yaml.YAMLError that knows where the problem is, else ``."""
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark else ""
