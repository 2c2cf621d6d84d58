"""shipway's command run in-process, as the unit tests run it."""
import io

from pipeline import cli
from pipeline.console import Console


def run_cli(argv, environ=None):
    """main(argv) with `environ` (default: empty) and a console of its own:
    (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), environ=environ or {}, console=Console(out, err))
    return code, out.getvalue(), err.getvalue()


def catalog_file(tmp_path, text):
    """`text` written as tmp_path/shipway.yml; its path."""
    path = tmp_path / "shipway.yml"
    path.write_text(text)
    return str(path)
