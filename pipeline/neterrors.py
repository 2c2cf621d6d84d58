"""A failed connection in words, for a user's line: `connection refused`, `timed out`, `name
or service not known`, never Python's `[Errno 111] Connection refused` or a class name.

For the stdlib clients (urllib: Prometheus, the Pushgateway); the Engine's errors are
translated in pipeline/api/errors.py.
"""
import re
import socket
import ssl

_ERRNO = re.compile(r"^\s*\[Errno -?\d+\]\s*")


def _lower_first(text):
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def describe(exc):
    """What went wrong with a connection (`exc`: an OSError, or urllib's URLError around
    one), in a few words."""
    reason = getattr(exc, "reason", exc)   # URLError wraps the OSError that happened
    if isinstance(reason, str):
        return _lower_first(_ERRNO.sub("", reason)) or "the connection failed"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"its certificate is not trusted ({reason.verify_message or 'verify failed'})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or 'handshake'})".replace("_", " ").lower()
    if isinstance(reason, OSError) and reason.strerror:
        return _lower_first(reason.strerror)
    text = _ERRNO.sub("", str(reason)).strip()
    return _lower_first(text) if text else "the connection failed"
