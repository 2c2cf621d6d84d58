"""`shipway --help` imports no stage module: the stages are found by name (cli.STAGES), so
the help needs neither python-jenkins, jinja2 nor PyYAML (bench/cli_start.py measures the
time). It does import docker-py: the context every command gets opens the Engine client, and
pipeline/ keeps no function-local import for a required package. One subprocess."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGE_LIBRARIES = ("jenkins", "jinja2", "yaml")


def test_help_imports_no_stage_library():
    code = ("import sys\nfrom pipeline.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {STAGE_LIBRARIES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip().splitlines()[-1] == "[]"

