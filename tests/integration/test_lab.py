"""The lab (lab/up) is up: registry with auth, swarm, the `proxy` network and the proxy service.

Quick checks, a few seconds in all. Skips only when there is no docker client at all; with
docker present, a lab that is not up is a failure (run lab/up first).
"""
import base64
import os
import shlex
import shutil
import stat
import subprocess
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Debian's client, as the lab scripts use; any docker client on PATH otherwise.
DOCKER = os.environ.get("SHIPWAY_DOCKER") or (
    "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker"))

if not DOCKER:
    pytest.skip("no docker client on this machine (/usr/bin/docker or docker on PATH)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def lab_env():
    """The variables `lab/env` prints (`export NAME='value'` lines)."""
    proc = subprocess.run(["sh", os.path.join(ROOT, "lab", "env")], capture_output=True,
                          text=True, timeout=30)
    if proc.returncode != 0:
        pytest.fail(f"lab/env failed, is the lab up? (run lab/up): {proc.stderr.strip()}")
    env = {}
    for line in proc.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    for key in ("SHIPWAY_REGISTRY", "SHIPWAY_REGISTRY_USER", "SHIPWAY_REGISTRY_PASSWORD_FILE",
                "SHIPWAY_LAB_PROXY"):
        assert env.get(key), f"lab/env does not give {key}: {proc.stdout!r}"
    return env


def docker(lab_env, *args):
    env = dict(os.environ)
    if lab_env.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = lab_env["DOCKER_HOST"]
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr.strip()}"
    return proc.stdout.strip()


def http_status(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_password_file_is_private_and_not_in_the_env(lab_env):
    path = lab_env["SHIPWAY_REGISTRY_PASSWORD_FILE"]
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, f"{path} has mode {oct(mode)}, wanted 0o600"
    with open(path, encoding="utf-8") as handle:
        password = handle.read().strip()
    assert len(password) >= 16
    assert password not in lab_env.values(), "lab/env must not carry the password"


def test_registry_wants_credentials_and_accepts_the_lab_ones(lab_env):
    url = f"http://{lab_env['SHIPWAY_REGISTRY']}/v2/"
    assert http_status(url) == 401
    with open(lab_env["SHIPWAY_REGISTRY_PASSWORD_FILE"], encoding="utf-8") as handle:
        password = handle.read().strip()
    token = base64.b64encode(f"{lab_env['SHIPWAY_REGISTRY_USER']}:{password}".encode()).decode()
    assert http_status(url, {"Authorization": f"Basic {token}"}) == 200
    wrong = base64.b64encode(f"{lab_env['SHIPWAY_REGISTRY_USER']}:wrong".encode()).decode()
    assert http_status(url, {"Authorization": f"Basic {wrong}"}) == 401


def test_swarm_is_active_and_this_node_manages_it(lab_env):
    assert docker(lab_env, "info", "--format",
                  "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}") == "active true"


def test_proxy_network_is_an_attachable_overlay(lab_env):
    info = docker(lab_env, "network", "inspect", "--format",
                  "{{.Driver}} {{.Attachable}} {{.Scope}}", "proxy")
    assert info == "overlay true swarm"


def test_proxy_service_runs_and_answers(lab_env):
    replicas = docker(lab_env, "service", "ls", "--filter", "name=shipway-proxy",
                      "--format", "{{.Name}} {{.Replicas}}")
    assert "shipway-proxy 1/1" in replicas.splitlines(), replicas
    spec = docker(lab_env, "service", "inspect", "--format",
                  "{{.Spec.EndpointSpec.Mode}} "
                  "{{range .Spec.TaskTemplate.Networks}}{{.Target}}{{end}}",
                  "shipway-proxy")
    net_id = docker(lab_env, "network", "inspect", "--format", "{{.Id}}", "proxy")
    assert spec == f"dnsrr {net_id}"
    proxy = lab_env["SHIPWAY_LAB_PROXY"]
    assert http_status(f"{proxy}/_lab/proxy-health") == 200
    # a Host nobody routes gets the proxy's own 404, not a hang or a 503
    assert http_status(f"{proxy}/", {"Host": "no-such-service.lab.localhost"}) == 404


def test_lab_up_again_changes_nothing(lab_env):
    """lab/up is idempotent: on an up lab it changes no service, network or registry (~1 s)."""
    import hashlib

    def snapshot():
        with open(lab_env["SHIPWAY_REGISTRY_PASSWORD_FILE"], "rb") as handle:
            password = hashlib.sha256(handle.read()).hexdigest()   # never the password itself
        return (docker(lab_env, "service", "inspect", "--format", "{{.ID}} {{.Version.Index}}",
                       "shipway-proxy"),
                docker(lab_env, "network", "inspect", "--format", "{{.Id}}", "proxy"),
                docker(lab_env, "info", "--format", "{{.Swarm.NodeID}}"), password)
    before = snapshot()
    proc = subprocess.run([os.path.join(ROOT, "lab", "up")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "shipway-proxy is up to date" in proc.stdout + proc.stderr
    assert snapshot() == before
    test_registry_wants_credentials_and_accepts_the_lab_ones(lab_env)


def test_prometheus_scrapes_the_proxy_exporter_and_the_pushgateway(lab_env):
    """lab/up runs Debian's Prometheus and Pushgateway on loopback; Prometheus scrapes the
    proxy's HAProxy exporter (/_lab/metrics) and the Pushgateway."""
    import json

    prometheus, gateway = lab_env["SHIPWAY_LAB_PROMETHEUS"], lab_env["SHIPWAY_LAB_PUSHGATEWAY"]
    assert prometheus.startswith("http://127.0.0.1:") and gateway.startswith("http://127.0.0.1:")
    assert http_status(f"{gateway}/-/ready") == 200
    assert http_status(f"{lab_env['SHIPWAY_LAB_PROXY']}/_lab/metrics") == 200
    with urllib.request.urlopen(f"{prometheus}/api/v1/targets?state=active", timeout=10) as r:
        targets = json.load(r)["data"]["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    assert health == {"haproxy": "up", "pushgateway": "up"}, targets
