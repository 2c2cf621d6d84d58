"""Copying an image between registries by digest, for `shipway promote`: skopeo, run as the
docker client is for BuildKit builds (pipeline/builders.py), an external tool at this one
boundary.

Why skopeo: it is a maintained tool (containers/skopeo), packaged by Debian (`apt-get install
skopeo`) and the other distributions, that copies an image from registry to registry
directly: the manifest byte for byte (`--preserve-digests` fails rather than let the digest
change), every platform of an index (`--all`), and only the blobs the destination lacks,
with no round trip through a Docker Engine (a pull and a re-push may change the digest). The
PyPI clients are less: python-dxf is a registry client a copy would drive blob by blob and
manifest by manifest (its media types, cross-repository mounts and indexes our code), and
oras targets OCI artifacts with a tool of its own to install.

Credentials never reach argv or the console: each side's login goes into a temporary
auth file (containers-auth.json form, mode 0600, in a directory of its own, removed after)
passed as --src-authfile / --dest-authfile; a side without a login gets --*-no-creds, so
skopeo does not go looking in other auth files. TLS verification is turned off only for a
registry the environment's engine itself treats as insecure. skopeo's error line is
redacted of every secret given before it is raised.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile

from pipeline.console import clean, redact
from pipeline.context import without_secrets
from pipeline.errors import RegistryError, UsageError

SKOPEO = "skopeo"
RETRIES = 2   # skopeo's own retries of a failed blob or manifest transfer


def available(environ):
    """The path of skopeo on PATH; UsageError when there is none (nothing was changed)."""
    found = shutil.which(SKOPEO, path=environ.get("PATH") or os.defpath)
    if not found:
        raise UsageError("promoting to another registry copies the image with skopeo, and "
                         "there is no skopeo on PATH",
                         hint="install it (Debian: apt-get install skopeo) on the agent")
    return found


def auth_file(auth, registry):
    """The containers-auth.json document holding `auth` (an engine auth dict: username
    and password, or identitytoken) for `registry`; None without a login."""
    if not auth:
        return None
    entry = {}
    if auth.get("username") is not None and auth.get("password") is not None:
        pair = f"{auth['username']}:{auth['password']}".encode()
        entry["auth"] = base64.b64encode(pair).decode("ascii")
    if auth.get("identitytoken"):
        entry["identitytoken"] = auth["identitytoken"]
    return {"auths": {registry: entry}} if entry else None


def arguments(copy, source_file, destination_file, source_insecure, destination_insecure):
    """skopeo's argv for `copy` (promote_plan.Copy): auth file paths (None: no login) and
    TLS verification per side; no secret is in it."""
    argv = [SKOPEO, "copy", "--all", "--preserve-digests", "--quiet",
            f"--retry-times={RETRIES}"]
    for side, path, insecure in (("src", source_file, source_insecure),
                                 ("dest", destination_file, destination_insecure)):
        argv += [f"--{side}-authfile", path] if path else [f"--{side}-no-creds"]
        if insecure:
            argv.append(f"--{side}-tls-verify=false")
    return argv + [f"docker://{copy.source}", f"docker://{copy.destination}"]


def copy_image(copy, source_auth, destination_auth, insecure, environ, timeout, secrets):
    """Copy the image of `copy` (promote_plan.Copy) by digest. source_auth /
    destination_auth: engine auth dicts (or None); insecure: (source, destination) TLS
    verification off; secrets: what skopeo's error line must not show. Raises
    RegistryError with skopeo's last error line."""
    path = available(environ)
    with tempfile.TemporaryDirectory(prefix="shipway-copy-") as scratch:
        files = [_write(scratch, name, auth_file(auth, registry))
                 for name, auth, registry in (("src", source_auth, copy.source_registry),
                                              ("dest", destination_auth,
                                               copy.destination_registry))]
        argv = [path] + arguments(copy, files[0], files[1], *insecure)[1:]
        try:
            done = subprocess.run(argv, env=without_secrets(environ), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace",
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RegistryError(f"the copy of {copy.source} to {copy.destination} did not "
                                f"finish in {timeout:g}s",
                                hint="pass a longer --timeout, or check both registries") \
                from None
        except OSError as exc:
            raise RegistryError(f"cannot run skopeo: {exc.strerror}") from None
    if done.returncode != 0:
        raise RegistryError(f"cannot copy {copy.source} to {copy.destination}: "
                            f"{_error_line(done.stderr, secrets)}",
                            hint="check both environments' registry logins "
                                 "(SHIPWAY_REGISTRY_USER_<ENV>, ..._PASSWORD_FILE_<ENV>) and "
                                 "that the source has the digest")


def _write(scratch, name, document):
    """Write `document` to a 0600 file in `scratch`; its path, or None for no document."""
    if document is None:
        return None
    path = os.path.join(scratch, f"{name}-auth.json")
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(document, out)
    return path


def _error_line(stderr, secrets):
    """skopeo's last non-empty stderr line (its error), cleaned and redacted."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    line = clean(lines[-1]) if lines else "skopeo failed without saying why"
    line = line.split("msg=", 1)[-1].strip('"') if 'level=fatal msg="' in line else line
    return redact(line, [s for s in secrets if s])
