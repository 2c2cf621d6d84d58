"""Console output for a Jenkins log: one readable line per event.

Control characters are stripped unless the stream is a TTY, because Jenkins consoles
show escape sequences as garbage. Events go to stderr; results (ids, digests, JSON) to stdout
so `$(shipway push ...)` captures only the result.
"""
import json
import re
import sys
import time

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|[\x00-\x08\x0b-\x1f\x7f]")
# What clean() keeps but would still break a line (str.splitlines, many log viewers).
_LINE_BREAK = re.compile("[\n\x85\u2028\u2029]")
MASK = "***"


def redact(text, secrets):
    """`text` with every secret value (4 characters or more) replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return text


def clean(text):
    """Remove ANSI escapes and control characters (keeps tabs)."""
    return _CONTROL.sub("", text)


class Console:
    """Where a stage reports to; passed into library code as `report` callables."""

    def __init__(self, out=None, err=None, timestamps=False, quiet=False):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.timestamps = timestamps
        self.quiet = quiet
        self._tty = hasattr(self.err, "isatty") and self.err.isatty()
        # Values never written out (the secrets shipway knows, set by Context.from_env), as
        # Jenkins masks credentials: a plan line showing an --env value, a failed task's log.
        self.secrets = ()

    def _masked(self, text):
        return redact(text, self.secrets)

    def event(self, message):
        """One line about something that happened (to stderr)."""
        if self.quiet:
            return
        for line in self._masked(str(message)).splitlines() or [""]:
            if not self._tty:
                line = clean(line)
            if self.timestamps:
                line = time.strftime("%H:%M:%S ") + line
            self.err.write(f"[shipway] {line}\n")
        self.err.flush()

    def result(self, text):
        """The stage's result, for people and for `$(...)` (to stdout)."""
        self.out.write(f"{self._masked(str(text))}\n")
        self.out.flush()

    def json(self, data):
        """The stage's result as one JSON document (to stdout)."""
        self.out.write(self._masked(json.dumps(data, indent=2, sort_keys=True)) + "\n")
        self.out.flush()
        self.json_written = True

    json_written = False   # main() writes an error record for --json only when none was

    def error(self, message, label="error"):
        """The one `error: ...` line main() prints (`paused: ...` for a paused update); line
        breaks in it (from a path or an argument) are written as escapes, so it stays one
        line."""
        text = _LINE_BREAK.sub(lambda m: repr(m.group())[1:-1],
                               clean(self._masked(str(message))))
        self.err.write(f"{label}: {text}\n")
        self.err.flush()
