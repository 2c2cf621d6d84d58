"""No import circles in pipeline/: a module never imports, directly or through others, a module
that imports it. Every import statement counts, a function's own imports too (they only move
the circle to run time). Read from the syntax tree of every module, so a new module is
covered as soon as it exists; a failure names each circle, edge by edge, with file and line."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOW_TO_BREAK = ("Break it: move what both sides need into a module of its own that imports "
                "neither, or pass it in as an argument.")


def modules(root):
    """{module name: path relative to root} of every module of the pipeline package."""
    found = {}
    for folder, _, files in os.walk(os.path.join(root, "pipeline")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.relpath(os.path.join(folder, name), root)
                dotted = path[:-len(".py")].replace(os.sep, ".")
                found[dotted[:-len(".__init__")] if name == "__init__.py" else dotted] = path
    return found


def _resolved(node, name, path, known):
    """The pipeline modules one import statement of module `name` (at `path`) names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in known]
    base = node.module or ""
    if node.level:   # relative: from the module's package, one level up per extra dot
        package = name.split(".")
        if not path.endswith("__init__.py"):
            package = package[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    targets = []
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        targets.append(submodule if submodule in known else base)
    return [target for target in targets if target in known]


def graph(root):
    """{module: {imported pipeline module: line of its first import}}, and the paths."""
    known = modules(root)
    edges = {}
    for name, path in known.items():
        with open(os.path.join(root, path), encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        edges[name] = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolved(node, name, path, known):
                    line = min(edges[name].get(target, node.lineno), node.lineno)
                    edges[name][target] = line
    return edges, known


def _components(edges):
    """The strongly connected components of the graph (Tarjan), each a set of modules."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def circles(edges):
    """(circle, group) for each group of modules that import one another: one shortest
    circle through it (a list of modules, the first again at the end) from its first module
    in sorted order, and the group's modules, sorted."""
    out = []
    for component in _components(edges):
        start = min(component)
        if len(component) > 1 or start in edges[start]:
            out.append((_shortest_circle(start, component, edges), sorted(component)))
    return sorted(out)


def _shortest_circle(start, component, edges):
    """Breadth first from `start` until an import leads back to it."""
    paths, frontier = {start: [start]}, [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(edges[node]):
            if target == start:
                return paths[node] + [start]
            if target in component and target not in paths:
                paths[target] = paths[node] + [target]
                frontier.append(target)
    raise AssertionError(f"{start} is in no circle")


def describe(circle, group, edges, paths):
    """The lines that name one circle: its modules, each import with file and line, and the
    other modules caught in the same knot."""
    lines = ["import circle: " + " -> ".join(circle)]
    for source, target in zip(circle, circle[1:]):
        lines.append(f"  {paths[source]}:{edges[source][target]} imports {target}")
    others = [name for name in group if name not in circle]
    if others:
        lines.append(f"  (also importing one another with them: {', '.join(others)})")
    return "\n".join(lines)


def test_pipeline_has_no_import_circle():
    edges, paths = graph(ROOT)
    found = [describe(circle, group, edges, paths) for circle, group in circles(edges)]
    assert not found, "\n".join(found + [HOW_TO_BREAK])


def test_the_check_names_a_circle_through_function_local_and_relative_imports(tmp_path):
    sources = {
        "__init__.py": "",
        "a.py": "from pipeline import b\n",
        "a2.py": "from pipeline import a\n",
        "b.py": "import os\n\n\ndef f():\n    from .c import value\n    return value\n",
        "c.py": "import pipeline.a\nimport pipeline.a2\nvalue = 1\n",
        "d.py": "from pipeline.a import b\n",            # imports the circle, is not in it
        "sub/__init__.py": "from . import e\n",
        "sub/e.py": "from ..sub import e\n",             # a module importing itself
    }
    for name, text in sources.items():
        path = tmp_path / "pipeline" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    edges, paths = graph(str(tmp_path))
    found = [describe(circle, group, edges, paths) for circle, group in circles(edges)]
    assert found == [
        "import circle: pipeline.a -> pipeline.b -> pipeline.c -> pipeline.a\n"
        "  pipeline/a.py:1 imports pipeline.b\n"
        "  pipeline/b.py:5 imports pipeline.c\n"
        "  pipeline/c.py:1 imports pipeline.a\n"
        "  (also importing one another with them: pipeline.a2)",
        "import circle: pipeline.sub.e -> pipeline.sub.e\n"
        "  pipeline/sub/e.py:1 imports pipeline.sub.e",
    ]
