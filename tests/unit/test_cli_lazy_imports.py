"""`shipway --help` stays fast by importing none of the heavy libraries (bench/cli_start.py
measures the time; this checks the cause). One subprocess, about 0.1 s."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("docker", "requests", "jenkins", "jinja2", "yaml", "tenacity")


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom pipeline.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip().splitlines()[-1] == "[]"

