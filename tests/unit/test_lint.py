"""The guide's lint rule, run: Python passes `ruff check` (pyproject.toml's config), shell scripts
pass `shellcheck`. A missing tool fails in CI (CI=true or SHIPWAY_REQUIRE_LAB=1, as lab/test
sets; lab/test installs both) and skips elsewhere, saying which tool is missing."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _required():
    return (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("SHIPWAY_REQUIRE_LAB") == "1")


def _missing(tool, how):
    message = f"{tool} is not installed ({how})"
    if _required():
        pytest.fail(message)
    pytest.skip(message)


def _ruff():
    """The command that runs ruff: the module pip installs with setup.cfg's test extras, or
    a ruff on PATH."""
    probe = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    return [found] if found else None


def _tracked_files():
    """The repository's files (git ls-files), or every file under ROOT when this is no checkout."""
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if proc.returncode == 0 and proc.stdout:
        return [ROOT / name for name in proc.stdout.decode().split("\0") if name]
    return [Path(top) / name for top, dirs, names in os.walk(ROOT)
            if ".git" not in Path(top).relative_to(ROOT).parts for name in names]


def _is_shell(path):
    """A .sh file, or one whose shebang's interpreter is sh or bash (`#!/usr/bin/env bash`,
    `#!/bin/busybox sh` included)."""
    if path.suffix == ".sh":
        return True
    try:
        with open(path, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return False
    return any(os.path.basename(word) in (b"sh", b"bash") for word in first[2:].split())


def shell_scripts():
    """The shell scripts shellcheck checks, relative to the repository root, sorted."""
    return sorted(str(p.relative_to(ROOT)) for p in _tracked_files()
                  if p.is_file() and _is_shell(p))


def test_the_shell_scripts_are_found():
    scripts = shell_scripts()
    for expected in ("lab/up", "lab/test", "lab/lib.sh", "lab/multinode/up",
                     "examples/hello/entrypoint.sh"):
        assert expected in scripts, scripts
    assert not [s for s in scripts if s.endswith(".py")], scripts


def test_python_passes_ruff():
    ruff = _ruff()
    if ruff is None:
        _missing("ruff", "pip install ruff, in setup.cfg's test extras")
    proc = subprocess.run([*ruff, "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"ruff check:\n{proc.stdout}{proc.stderr}"


def test_shell_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        _missing("shellcheck", "apt-get install shellcheck; lab/test installs it")
    proc = subprocess.run([shellcheck, *shell_scripts()], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"shellcheck:\n{proc.stdout}{proc.stderr}"


def test_test_modules_have_unique_names():
    """pytest imports test modules by basename (tests/ has no __init__.py): two files of one
    name stop the collection of the whole suite."""
    seen = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "tests")):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                seen.setdefault(name, []).append(os.path.relpath(folder, ROOT))
    assert {n: f for n, f in seen.items() if len(f) > 1} == {}
