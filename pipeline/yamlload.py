"""YAML loading that refuses duplicate mapping keys.

PyYAML's safe_load keeps the last of two equal keys and says nothing (YAML 1.2 says keys
must be unique; PyYAML does not check). In a catalog that silently drops a service, and
`jobs sync --prune` then deletes its jobs. Here a duplicate key anywhere in the document is
a DuplicateKey error naming the key and both lines.
"""
import yaml


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping holds the same key twice; `key`, `first_line`, `second_line` (1-based)."""

    def __init__(self, key, first_line, second_line, mark):
        super().__init__(None, None, f"duplicate key {key!r}: first at line {first_line}, "
                                     f"again at line {second_line}", mark)
        self.key, self.first_line, self.second_line = key, first_line, second_line


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse a key they already hold."""

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


def load(stream):
    """Parse one YAML document from `stream` (text or a file) like yaml.safe_load, refusing
    duplicate keys (DuplicateKey, a yaml.YAMLError)."""
    return yaml.load(stream, Loader=UniqueKeyLoader)  # a SafeLoader subclass

