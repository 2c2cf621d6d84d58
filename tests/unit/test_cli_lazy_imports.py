"""`shipway --help` stays fast by importing none of the heavy libraries (bench/cli_start.py
measures the time; this checks the cause). One subprocess, about 0.1 s."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("docker", "requests", "jenkins", "jinja2", "yaml", "tenacity", "dataclasses")


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom pipeline.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_swarm_commands_modules_import_no_yaml():
    """deploy, rollback, status and what they run on: PyYAML only when a catalog must be
    parsed."""
    modules = ["pipeline.stages.deploy", "pipeline.stages.rollback", "pipeline.stages.status",
               "pipeline.swarm.apply", "pipeline.swarm.canary", "pipeline.swarm.watch",
               "pipeline.swarm.releases", "pipeline.swarm.compose", "pipeline.context",
               "pipeline.catalog", "pipeline.analysis", "pipeline.doccache"]
    code = (f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
            "print(sorted(m for m in ('yaml',) if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr
