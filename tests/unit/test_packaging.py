"""Packaging: what `pip install .` builds from setup.cfg is a working `shipway`.

setuptools builds the package (build_py) and its metadata (egg_info) from a copy of the tree,
into a temporary directory: the templates must land in `pipeline/templates` (package_dir
mapping), every sub-package must be listed, the console script must be `pipeline.cli:main`,
and the built tree must render a Jenkinsfile on its own. About 3 s (one setuptools run).
"""
import configparser
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = ("setup.cfg", "pyproject.toml", "README.md", "pipeline", "templates")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(source copy, build_py output, egg-info dir) of one setuptools run on a copy."""
    src = tmp_path_factory.mktemp("src")
    for name in SHIPPED:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    lib, meta = src / "_lib", src / "_meta"
    meta.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q",
         "egg_info", "--egg-base", str(meta), "build_py", "--build-lib", str(lib)],
        cwd=src, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (egg_info,) = meta.iterdir()
    return src, lib, egg_info


def _packages(tree):
    return sorted(os.path.relpath(d, tree).replace(os.sep, ".")
                  for d, _, files in os.walk(os.path.join(tree, "pipeline"))
                  if "__init__.py" in files)


def test_templates_ship_as_package_data(built):
    _, lib, _ = built
    shipped = sorted(os.listdir(os.path.join(lib, "pipeline", "templates")))
    sources = sorted(f for f in os.listdir(os.path.join(ROOT, "templates"))
                     if f.endswith(".j2") or f == "__init__.py")
    assert sources and shipped == sources


def test_every_sub_package_is_installed(built):
    _, lib, _ = built
    assert _packages(lib) == sorted(_packages(ROOT) + ["pipeline.templates"])


def test_console_script_and_bounded_dependencies(built):
    _, _, egg_info = built
    entry_points = configparser.ConfigParser()
    entry_points.read(egg_info / "entry_points.txt")
    assert dict(entry_points["console_scripts"]) == {"shipway": "pipeline.cli:entry"}
    requires = (egg_info / "requires.txt").read_text().split("\n\n")[0].split()
    assert {r.split(">")[0].split("<")[0] for r in requires} >= {
        "docker", "python-jenkins", "jinja2", "tenacity", "PyYAML"}
    for requirement in requires:   # a lower and an upper bound on every dependency
        assert ">=" in requirement and "<" in requirement.replace("<=", ""), requirement


def test_build_system_table():
    tomllib = pytest.importorskip("tomllib")   # Python 3.11+

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        system = tomllib.load(handle)["build-system"]
    assert system["build-backend"] == "setuptools.build_meta"
    assert any(r.startswith("setuptools") for r in system["requires"])


def test_the_built_tree_is_the_shipway_command(built, tmp_path):
    """Outside the source tree, only the built package on the path: `python -m pipeline` is
    `pipeline.cli:main` (the console script), and it renders from the packaged templates."""
    src, lib, _ = built
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(lib), "HOME": str(tmp_path)}
    catalog = tmp_path / "c.yml"
    catalog.write_text("services:\n  web:\n    image: r/web\n"
                       "    jenkins: {repo: 'https://git.example.com/web.git'}\n")

    def run(*argv):
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    as_module = run(sys.executable, "-m", "pipeline", "render", "jenkinsfile",
                    "--catalog", str(catalog), "--service", "web")
    as_script = run(sys.executable, "-c", "import sys; from pipeline.cli import main; "
                    "sys.argv[0] = 'shipway'; sys.exit(main())", "render", "jenkinsfile",
                    "--catalog", str(catalog), "--service", "web")
    assert as_module == as_script and "shipway build --catalog shipway.yml" in as_module
    where = run(sys.executable, "-c", "import pipeline.templates as t; print(t.__file__)")
    assert where.startswith(str(lib))
