"""Env files (a service's `env_file`), read as docker reads them. The catalog reads each one
when it is loaded, so that a bad file is refused before a deploy starts; the conversion
(pipeline/swarm/compose.py) reads them again for the values."""


def read_env_file(path, environ):
    """{name: value} from an env file as docker reads one: `#` comments, a leading BOM and
    leading blanks skipped, a `NAME` alone taken from `environ` (left out when not there).
    OSError when it cannot be read, ValueError (naming the line) when a line is bad."""
    values = {}
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n").lstrip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not key:
                raise ValueError(f"line {number}: no variable name")
            if any(c.isspace() for c in key):
                raise ValueError(f"line {number}: variable {key!r} contains whitespaces")
            if sep:
                values[key] = value
            elif key in environ:
                values[key] = environ[key]
    return values
