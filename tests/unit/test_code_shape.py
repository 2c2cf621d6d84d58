"""The shape the developers' guide asks of pipeline/: no function over 60 lines (read with
`ast`, nested functions and methods included), so that a function fits on a screen."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "pipeline"
LIMIT = 60


def long_functions(root=PACKAGE, limit=LIMIT):
    """'path:line name: N lines' for every function under `root` longer than `limit`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} "
                                 f"{node.name}: {length} lines")
    return found


def test_no_function_in_pipeline_is_over_60_lines():
    found = long_functions()
    assert not found, f"functions over {LIMIT} lines (split them):\n" + "\n".join(found)


def test_the_check_sees_a_long_function(tmp_path):
    package = tmp_path / "pipeline"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (package / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert long_functions(package) == [f"pipeline/m.py:5 long: {LIMIT + 1} lines"]
