"""Which builder `shipway image` picks, and the error line of a failed BuildKit build."""
import os
import stat

import pytest

from pipeline import builders
from pipeline.errors import UsageError


def fake_docker(directory, version):
    """An executable `docker` in `directory` that prints `docker --version` output."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "docker")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"#!/bin/sh\necho 'Docker version {version}, build 0000000'\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def environ(tmp_path, *dirs):
    return {"PATH": os.pathsep.join(str(d) for d in dirs),
            "DOCKER_CONFIG": str(tmp_path / "config")}


def test_auto_takes_the_first_client_with_buildkit_built_in(tmp_path):
    fake_docker(tmp_path / "new", "28.2.2")          # no buildx plugin: no BuildKit
    old = fake_docker(tmp_path / "old", "20.10.24+dfsg1")
    env = environ(tmp_path, tmp_path / "new", tmp_path / "old")
    assert builders.choose("auto", env) == ("buildkit", old)


def test_a_new_client_counts_with_its_buildx_plugin(tmp_path):
    new = fake_docker(tmp_path / "new", "28.2.2")
    plugin = tmp_path / "config" / "cli-plugins" / "docker-buildx"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    assert builders.choose("auto", environ(tmp_path, tmp_path / "new")) == \
        ("buildkit", new)


def test_auto_falls_back_to_legacy_and_buildkit_says_why(tmp_path):
    fake_docker(tmp_path / "new", "28.2.2")
    env = environ(tmp_path, tmp_path / "new")
    assert builders.choose("auto", env) == ("legacy", None)
    with pytest.raises(UsageError, match="builder buildkit is not available: no docker"):
        builders.choose("buildkit", env)
    old = environ(tmp_path, os.path.dirname(fake_docker(tmp_path / "old", "20.10.24")))
    assert builders.choose("legacy", old) == ("legacy", None)


@pytest.mark.parametrize("tail, expected", [
    (["#3 ERROR: executor failed running [/x]: exit code: 1", "------",
      " > [1/1] RUN [\"/x\"]:", "------", "executor failed running [/x]: exit code: 1"],
     "executor failed running [/x]: exit code: 1"),
    (["#1 DONE 0.0s", "ERROR: failed to solve: process \"/x\" did not complete successfully"],
     "ERROR: failed to solve: process \"/x\" did not complete successfully"),
    (["#3 ERROR: lost", "------"], "lost"),
])
def test_the_error_line_is_the_clients_own(tail, expected):
    assert builders._error_line(tail) == expected
