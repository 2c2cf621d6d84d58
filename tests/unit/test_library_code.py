"""Library code never prints or exits: only the CLI (pipeline/cli.py, __main__.py) maps
errors to exit codes, and only pipeline/console.py writes to the terminal. Checked on the
syntax tree of every module, so a new module is covered as soon as it exists."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "pipeline")
MAY_EXIT = {"pipeline/cli.py", "pipeline/__main__.py"}
MAY_WRITE = MAY_EXIT | {"pipeline/console.py"}


def modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(folder, name), ROOT).replace(os.sep, "/")


def offences(source):
    """(line, what) for every print, exit or direct stdout/stderr use in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and \
                isinstance(func.value, ast.Name) else ""
            if isinstance(func, ast.Name) and name in ("print", "exit", "quit"):
                found.append((node.lineno, f"{name}()"))
            elif (owner, name) in (("sys", "exit"), ("os", "_exit"), ("os", "abort")):
                found.append((node.lineno, f"{owner}.{name}()"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "sys" and node.attr in ("stdout", "stderr"):
            found.append((node.lineno, f"sys.{node.attr}"))
        elif isinstance(node, ast.Raise) and isinstance(node.exc, (ast.Name, ast.Call)):
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                found.append((node.lineno, "raise SystemExit"))
    return found


def test_the_checker_finds_what_it_looks_for():
    source = ("import sys, os\nprint(1)\nsys.exit(2)\nos._exit(3)\nsys.stderr.write('x')\n"
              "raise SystemExit(4)\nexit()\nreport('fine')\n")
    assert [what for _, what in sorted(offences(source))] == [
        "print()", "sys.exit()", "os._exit()", "sys.stderr", "raise SystemExit", "exit()"]


@pytest.mark.parametrize("module", sorted(set(modules()) - MAY_WRITE))
def test_library_code_neither_prints_nor_exits(module):
    with open(os.path.join(ROOT, module), encoding="utf-8") as handle:
        found = offences(handle.read())
    assert found == [], f"{module}: library code raises; it never prints or exits"


def test_console_writes_but_does_not_exit():
    with open(os.path.join(PACKAGE, "console.py"), encoding="utf-8") as handle:
        assert not [w for _, w in offences(handle.read()) if "exit" in w.lower()]
