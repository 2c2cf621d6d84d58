"""The registry copy's boundary (pipeline/skopeo.py): skopeo's argv holds no secret, the
logins go through 0600 auth files that are gone afterwards, and its error line is redacted.
skopeo itself is replaced by a script that records what it was given (the real copy between
the labs' registries is tests/integration/test_promote.py's)."""
import json
import os
import stat

import pytest

from pipeline import skopeo
from pipeline.errors import RegistryError, UsageError
from pipeline.swarm.promote_plan import Copy

COPY = Copy("127.0.0.1:5000/shop/web@sha256:" + "a" * 64, "10.210.0.1:5001/shop/web:v2",
            "127.0.0.1:5000", "10.210.0.1:5001")
STAGING = {"username": "ci", "password": "staging-pass-1", "serveraddress": "127.0.0.1:5000"}
PRODUCTION = {"username": "ci", "password": "prod-pass-2", "serveraddress": "10.210.0.1:5001"}


def test_argv_with_logins_and_tls_as_the_engines_say():
    argv = skopeo.arguments(COPY, "/tmp/x/src-auth.json", None, True, False)
    assert argv == ["skopeo", "copy", "--all", "--preserve-digests", "--quiet",
                    "--retry-times=2", "--src-authfile", "/tmp/x/src-auth.json",
                    "--src-tls-verify=false", "--dest-no-creds",
                    f"docker://{COPY.source}", f"docker://{COPY.destination}"]


def test_auth_file_in_containers_auth_json_form():
    doc = skopeo.auth_file(STAGING, "127.0.0.1:5000")
    assert doc == {"auths": {"127.0.0.1:5000": {"auth": "Y2k6c3RhZ2luZy1wYXNzLTE="}}}
    assert skopeo.auth_file({"identitytoken": "tok"}, "r") == \
        {"auths": {"r": {"identitytoken": "tok"}}}
    assert skopeo.auth_file(None, "r") is None


FAKE = """#!/bin/sh
# records its argv and the auth files it was given, then fails naming a password
out="$RECORD"
printf '%s\\n' "$@" > "$out.argv"
while [ $# -gt 0 ]; do
  case "$1" in
    --src-authfile|--dest-authfile) stat -c '%a' "$2" >> "$out.modes"; cat "$2" >> "$out.files";
       echo >> "$out.files"; echo "$2" >> "$out.paths"; shift ;;
  esac
  shift
done
env > "$out.env"
echo 'Getting image source signatures' >&2
echo 'time="2026" level=fatal msg="copying: unauthorized for prod-pass-2"' >&2
exit 1
"""


@pytest.fixture
def fake_skopeo(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "skopeo"
    script.write_text(FAKE)
    script.chmod(0o755)
    return {"PATH": f"{folder}:/usr/bin:/bin", "RECORD": str(tmp_path / "record"),
            "SHIPWAY_REGISTRY_PASSWORD": "prod-pass-2"}


def test_copy_passes_logins_in_files_only_and_redacts_the_error(fake_skopeo, tmp_path):
    with pytest.raises(RegistryError) as caught:
        skopeo.copy_image(COPY, STAGING, PRODUCTION, (True, True), fake_skopeo, 30,
                          ["staging-pass-1", "prod-pass-2"])
    text = str(caught.value)
    assert text.startswith(f"cannot copy {COPY.source} to {COPY.destination}: copying: "
                           "unauthorized for ***")
    assert "prod-pass-2" not in text
    record = str(tmp_path / "record")
    argv = open(record + ".argv", encoding="utf-8").read()
    assert "pass" not in argv and "--src-tls-verify=false" in argv
    assert open(record + ".modes", encoding="utf-8").read().split() == ["600", "600"]
    files = [json.loads(line) for line in open(record + ".files", encoding="utf-8")
             if line.strip()]
    assert list(files[0]["auths"]) == ["127.0.0.1:5000"]
    assert list(files[1]["auths"]) == ["10.210.0.1:5001"]
    for path in open(record + ".paths", encoding="utf-8").read().split():
        assert not os.path.exists(path)      # removed with their directory
    assert "prod-pass-2" not in open(record + ".env", encoding="utf-8").read()


def test_no_skopeo_is_bad_input(tmp_path):
    with pytest.raises(UsageError) as caught:
        skopeo.copy_image(COPY, None, None, (False, False), {"PATH": str(tmp_path)}, 30, [])
    assert "apt-get install skopeo" in str(caught.value)


def test_auth_files_are_private(tmp_path):
    path = skopeo._write(str(tmp_path), "src", {"auths": {}})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
