"""The guide's error boundary, checked: only pipeline/api/ imports docker (docker.errors,
docker.auth, docker itself) and touches docker-py's private members; the rest of pipeline/
catches the errors pipeline/api translates them into.

The rule, per module outside pipeline/api/:
- no `import docker`, `import docker.x`, `from docker import ...`, `from docker.x import ...`;
- no `requests` either, except in pipeline/jobs/ (python-jenkins's transport, not the Docker
  SDK's): the engine's connection errors are pipeline/api's to translate;
- no attribute with one leading underscore on an object named `api` or `client`
  (`api._url`, `self.api._get`, `client.api._auth_configs`): docker-py's private members.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "pipeline"
BOUNDARY = PACKAGE / "api"
REQUESTS_ALLOWED = (PACKAGE / "jobs",)   # Jenkins through python-jenkins
SDK_OBJECTS = ("api", "client")


def _top(module):
    return (module or "").split(".")[0]


def _owner_name(node):
    """`api` for `api`, `self.api`, `ctx.docker().api`; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def violations(source, filename, requests_allowed=False):
    """["file:line: what"] for every break of the boundary rule in `source`."""
    found = []
    forbidden = {"docker"} if requests_allowed else {"docker", "requests"}
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if _top(alias.name) in forbidden]
        elif isinstance(node, ast.ImportFrom):
            names = ([node.module] if node.level == 0 and _top(node.module) in forbidden
                     else [])
        elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
              and not node.attr.startswith("__") and _owner_name(node.value) in SDK_OBJECTS):
            found.append(f"{filename}:{node.lineno}: private SDK member "
                         f"{_owner_name(node.value)}.{node.attr}")
            continue
        else:
            continue
        found += [f"{filename}:{node.lineno}: imports {name} (only pipeline/api/ may"
                  + (", and pipeline/jobs/ for Jenkins)" if _top(name) == "requests" else ")")
                  for name in names]
    return found


def _modules():
    return sorted(path for path in PACKAGE.rglob("*.py") if BOUNDARY not in path.parents)


def test_only_pipeline_api_touches_the_docker_sdk():
    found = []
    for path in _modules():
        allowed = any(top in path.parents for top in REQUESTS_ALLOWED)
        found += violations(path.read_text(), str(path.relative_to(ROOT)), allowed)
    assert not found, ("the error boundary is pipeline/api/ (GUIDE.md): use its engine "
                       "functions and translated errors instead:\n" + "\n".join(found))


def test_the_walk_sees_the_package():
    names = {str(path.relative_to(PACKAGE)) for path in _modules()}
    assert {"cli.py", "registry.py", "stages/push.py", "swarm/watch.py"} <= names
    assert not any(name.startswith("api/") for name in names)


@pytest.mark.parametrize("source", [
    "from docker.errors import APIError\n",
    "def f():\n    from docker.errors import APIError, NotFound\n",
    "from docker import auth\n",
    "import docker\n",
    "import docker.errors as errors\n",
    "import requests\n",
    "def f(api):\n    return api._url('/x')\n",
    "def f(self):\n    return self.api._get('/x')\n",
    "def f(client):\n    client.api._auth_configs = {}\n",
    "def f(client):\n    return client._session\n",
])
def test_the_rule_catches(source):
    assert violations(source, "x.py"), source


@pytest.mark.parametrize("source, requests_allowed", [
    ("from pipeline.api import engine\n", False),
    ("from .docker import x\n", False),            # a relative module, not the SDK
    ("import dockerfile_parse\n", False),
    ("def f(api):\n    return api.inspect_service('x')\n", False),
    ("def f(self):\n    return self._private\n", False),
    ("def f(api):\n    return api.__class__\n", False),
    ("import requests\n", True),                   # pipeline/jobs: python-jenkins's transport
])
def test_the_rule_lets_pass(source, requests_allowed):
    assert violations(source, "x.py", requests_allowed) == []


def test_violations_name_file_and_line():
    assert violations("x = 1\nfrom docker import auth\n", "pipeline/registry.py") == [
        "pipeline/registry.py:2: imports docker (only pipeline/api/ may)"]


def test_an_engine_that_refuses_a_tag_is_one_engine_error():
    """image's extra tags go through the boundary too: docker-py's APIError becomes one
    EngineError line naming the tag (it used to escape raw)."""
    docker = pytest.importorskip("docker")
    from pipeline.errors import EngineError
    from pipeline.stages.image import tag_image

    class Api:
        def tag(self, image, repo, tag):
            response = type("R", (), {"status_code": 404, "reason": "Not Found",
                                      "url": "http://x/images/tag", "text": ""})()
            raise docker.errors.APIError("404 Client Error", response,
                                         explanation="No such image: sha256:abc")

    with pytest.raises(EngineError) as caught:
        tag_image(Api(), "sha256:abc", "127.0.0.1:5000/web", ["latest"])
    assert "tagging sha256:abc as 127.0.0.1:5000/web:latest" in caught.value.message
    assert "No such image" in caught.value.message
