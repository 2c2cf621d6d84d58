"""The parsed-catalog cache: a YAML file read back from JSON while its bytes are unchanged.

Every stage of a pipeline run (build, image, push, deploy) reads the same catalog, and
importing PyYAML costs 15-25 ms of each start (its reader compiles one large regex). A
document whose file bytes are unchanged is read back from JSON instead: keyed by the
file's path, checked against a SHA-256 of its bytes, so an edited file is always parsed
again. Only a document that JSON gives back exactly is kept (not dates, integer keys,
NaN...). Any trouble with the cache is no cache: the file is parsed as before.
"""
import hashlib
import json
import os

CACHE_FORMAT = 1


def cache_dir(environ):
    """SHIPWAY_CACHE_DIR, else $XDG_CACHE_HOME/shipway, else ~/.cache/shipway; '' or
    'off' for SHIPWAY_CACHE_DIR turns the cache off (None)."""
    chosen = environ.get("SHIPWAY_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip() in ("", "off") else chosen
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "shipway")


def load_file(path, environ=None):
    """Parse the YAML file at `path` as yamlload.load does (OSError, UnicodeDecodeError and
    yaml.YAMLError as it raises them), reusing the document parsed the last time the
    file held the same bytes."""
    with open(path, "rb") as handle:
        data = handle.read()
    directory = cache_dir(os.environ if environ is None else environ)
    digest = hashlib.sha256(data).hexdigest()
    entry = None
    if directory:
        name = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogateescape"))
        entry = os.path.join(directory, name.hexdigest()[:32] + ".json")
        try:
            with open(entry, encoding="utf-8") as handle:
                cached = json.load(handle)
            if cached.get("format") == CACHE_FORMAT and cached.get("sha256") == digest:
                return cached["document"]
        except (OSError, ValueError, AttributeError, KeyError):
            pass   # none yet, or unreadable: parse
    from pipeline import yamlload  # PyYAML: only when the file must be parsed

    document = yamlload.load(data.decode("utf-8"))
    if entry is not None:
        _keep(entry, {"format": CACHE_FORMAT, "sha256": digest, "document": document})
    return document


def _keep(entry, record):
    """Write the cache entry atomically, if JSON gives the document back exactly."""
    import tempfile

    if not _plain(record["document"]):
        return
    try:
        text = json.dumps(record, allow_nan=False)   # inf and NaN: no cache
        directory = os.path.dirname(entry)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temp, entry)
        except BaseException:
            os.unlink(temp)
            raise
    except (OSError, TypeError, ValueError, RecursionError):
        pass   # a read-only home, a value JSON cannot hold: no cache


def _plain(value):
    """True when JSON reads `value` back as the same types: only str, int, float, bool,
    None, lists and string-keyed maps (JSON would turn a key 8080 into "8080"; a date, a
    set or bytes it cannot write at all)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))
