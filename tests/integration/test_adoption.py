"""Adoption on the real engine (issue 9): services shipway did not create keep every field.

- A service made with the docker CLI (constraint, memory limit, CPU reservation, secret, tmpfs
  and bind mounts, health command and interval, env, label, overlay network, stop-first/pause
  update policy, grace period, dnsrr, 2 replicas) deployed with a new image and no catalog:
  `docker service inspect` before and after differ only in the image and shipway's labels, and
  the dry run listed exactly those. With a catalog setting three keys: only those paths
  change. With the catalog then leaving one out: that path goes back to the engine's default,
  and the dry run says so.
- A `docker stack deploy` service (`<stack>_<svc>`) deployed by name, with no catalog and with a
  catalog keyed by that name; status, releases, rollback and render take the name.
- The first rollback after adoption restores the spec from before shipway (release #0, the
  running tasks' digests checked); a second one changes nothing and exits 1.
- A key without its siblings (`deploy.mode` without `replicas`, one `update_config` key, log
  options without the driver) leaves the siblings as the service has them.
- Global mode converges (one task on the single-node swarm); `--replicas` on it, and ingress
  ports on its dnsrr endpoint (or on a new service, dnsrr by shipway's default), are refused
  with exit 2 before anything changes.
- Bad values of the stack-file keys: exit 2, one `error:` line naming file, service and key,
  and nothing changed on the swarm.

The CLI is Debian's /usr/bin/docker (20.10, `docker stack deploy`), logged in to the lab's
registry through a DOCKER_CONFIG of this module's own, logged out and removed after.
"""
import io
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from pipeline.cli import main as cli_main
from pipeline.console import Console
from pipeline.swarm import objects
from pipeline.swarm.plan import IMAGE, path_text
from pipeline.swarm.spec import VOLATILE_LABELS
from tests.integration.conftest import (
    container_digests,
    random_name,
    remove_service_and_releases,
    running_digests,
    wait_for,
)

pytestmark = pytest.mark.integration

DOCKER = "/usr/bin/docker"
TIMEOUT = "60s"       # a deploy bound; each takes a few seconds here


def digest(ref):
    return ref.rsplit("@", 1)[1]


@pytest.fixture(scope="module")
def cli(lab):
    """Runs Debian's docker client, logged in to the lab's registry in a DOCKER_CONFIG of its
    own (so `--with-registry-auth` has credentials to send); logged out and removed after."""
    config = tempfile.mkdtemp(prefix="shipway-adopt-docker-")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "DOCKER_CONFIG": config}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]

    def run(*args, check=True, stdin=None):
        proc = subprocess.run([DOCKER, *args], env=env, input=stdin, capture_output=True,
                              text=True, timeout=120)
        if check:
            assert proc.returncode == 0, f"docker {args[:2]} failed: {proc.stderr}"
        return proc
    try:
        run("login", lab["SHIPWAY_REGISTRY"], "-u", lab["SHIPWAY_REGISTRY_USER"],
            "--password-stdin", stdin=lab["password"])
        yield run
    finally:
        run("logout", lab["SHIPWAY_REGISTRY"], check=False)
        shutil.rmtree(config, ignore_errors=True)


class Made:
    """What a test made on the swarm, removed after it: stacks, services (with their release
    records and the objects shipway made for them), then secrets and networks, once no task
    holds them."""

    def __init__(self, client, cli=None, secrets_deployed=False):
        self.client, self.cli = client, cli
        self.stacks, self.services, self.secrets, self.networks = [], [], [], []
        # The swarm's naming key for secrets (objects.KEY_CONFIG) is made by the first deploy
        # of a catalog secret; only a test that deploys some removes it, if it was not there.
        self.had_key = not secrets_deployed or self._key() is not None

    def _key(self):
        found = self.client.api.configs(filters={"name": objects.KEY_CONFIG})
        return next((c for c in found if c["Spec"]["Name"] == objects.KEY_CONFIG), None)

    def service(self, prefix="adopt"):
        name = random_name(prefix)
        self.services.append(name)
        return name

    def stack(self):
        name = random_name("adoptst")
        self.stacks.append(name)
        return name

    def network(self):
        name = random_name("adopt-net")
        self.networks.append(self.client.networks.create(name, driver="overlay",
                                                         attachable=True).id)
        return name

    def secret(self, data):
        name = random_name("adopt-secret")
        self.secrets.append(self.client.api.create_secret(name, data)["ID"])
        return name

    def cleanup(self):
        import docker

        api = self.client.api
        for stack in self.stacks:
            self.cli("stack", "rm", stack, check=False)
        for name in self.services:
            remove_service_and_releases(self.client, name)
        # Until the containers are gone the engine refuses to remove what they use.
        wait_for(lambda: not any(api.containers(all=True, filters={
            "label": f"com.docker.swarm.service.name={n}"}) for n in self.services),
                 timeout=30, poll=0.2, what="the services' containers gone")
        for name in self.services:
            for kind in objects.KINDS:
                for obj in getattr(api, f"{kind}s")(
                        filters={"label": f"{objects.SERVICE_LABEL}={name}"}):
                    getattr(api, f"remove_{kind}")(obj["ID"])
        for secret in self.secrets:
            api.remove_secret(secret)

        def network_gone(network):
            try:
                api.remove_network(network)
            except docker.errors.NotFound:
                return True
            except docker.errors.APIError:
                return False   # still in use by a container being torn down
            return True
        for network in self.networks:
            wait_for(lambda n=network: network_gone(n), timeout=30, poll=0.2,
                     what=f"network {network} removed")
        if not self.had_key and self._key() is not None:
            api.remove_config(self._key()["ID"])


@pytest.fixture
def made(docker_client, cli):
    things = Made(docker_client, cli)
    yield things
    things.cleanup()


def leaves(doc, path=()):
    """{path: value} of every leaf (lists are leaves) of a JSON document."""
    if isinstance(doc, dict) and doc:
        out = {}
        for key, value in doc.items():
            out.update(leaves(value, path + (key,)))
        return out
    return {path: doc}


def changed(before, after):
    """The leaf paths whose values differ between two specs (or exist in only one)."""
    old, new = leaves(before), leaves(after)
    return {p for p in set(old) | set(new) if old.get(p) != new.get(p)}


def shipway_label(path):
    return len(path) == 2 and path[0] == "Labels" and path[1].startswith("shipway.")


def spec_of(client, name):
    return client.api.inspect_service(name)["Spec"]


def dry_paths(result):
    return {c["path"] for c in result["changes"]}


def listed(paths):
    """What a dry run lists for these changed paths: all but the labels that change on
    every deploy (deployed-at, release id)."""
    return {path_text(p) for p in paths if not (shipway_label(p) and p[1] in VOLATILE_LABELS)}


def converged(client, name, image, count):
    return wait_for(lambda: running_digests(client, name) == [digest(image)] * count,
                    timeout=60, poll=0.2, what=f"{count} tasks of {name} on {image}")


def cli_service(cli, client, made, image, prefix="adopt"):
    """A service made with `docker service create`, with every kind of field a user sets."""
    name = made.service(prefix)
    network = made.network()
    secret = made.secret(b"cli-made secret\n")
    cli("service", "create", "--detach", "--quiet", "--name", name, "--with-registry-auth",
        "--constraint", "node.role==manager", "--limit-memory", "64M", "--reserve-cpu", "0.01",
        "--secret", secret, "--mount", "type=tmpfs,target=/cache,tmpfs-size=1048576",
        # a health command (CMD-SHELL, as the CLI makes it): the image has no /bin/sh, so the
        # node's static busybox is bound there (one node: the source is on it)
        "--mount", "type=bind,source=/bin/busybox,target=/bin/sh,readonly",
        "--health-cmd", "/bin/busybox wget -q -O /dev/null http://127.0.0.1:8080/health",
        "--health-interval", "500ms", "--env", "KEEP=1", "--label", "team=x",
        "--network", network, "--update-order", "stop-first", "--update-failure-action",
        "pause", "--update-parallelism", "2", "--update-delay", "0s", "--update-monitor", "1s",
        "--rollback-parallelism", "2", "--rollback-monitor", "1s",
        "--stop-grace-period", "1s", "--endpoint-mode", "dnsrr", "--replicas", "2", image)
    converged(client, name, image, 2)
    test = spec_of(client, name)["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"]
    assert test[0] == "CMD-SHELL"
    return name


def write(path, text):
    path.write_text(text)
    return str(path)


def test_adopt_cli_service_changes_only_what_was_asked(shipway, releases, docker_client, cli,
                                                       made, tmp_path):
    client = docker_client
    name = cli_service(cli, client, made, releases["v1"])
    before = spec_of(client, name)
    assert before["TaskTemplate"]["ContainerSpec"]["Env"] == ["KEEP=1"]

    # No catalog: an image change and shipway's labels, nothing else.
    dry = shipway.json("deploy", "--service", name, "--image", releases["v2"], "--dry-run")
    assert spec_of(client, name) == before                     # a dry run writes nothing
    shipway("deploy", "--service", name, "--image", releases["v2"], "--timeout", TIMEOUT,
            check=0)
    adopted = spec_of(client, name)
    diff = changed(before, adopted)
    assert {p for p in diff if not shipway_label(p)} == {IMAGE}
    assert dry_paths(dry) == listed(diff)
    assert running_digests(client, name) == [digest(releases["v2"])] * 2

    # A catalog that sets three keys: those paths (and the image and labels) change.
    catalog = tmp_path / "catalog.yml"
    three = f"""
services:
  {name}:
    image: {releases['repo']}
    environment: {{KEEP: "1", ADDED: "yes"}}
    deploy:
      replicas: 1
      update_config: {{order: start-first}}
      timeout: {TIMEOUT}
"""
    args = ("--catalog", write(catalog, three), "--service", name)
    dry = shipway.json("deploy", *args, "--image", releases["v3"], "--dry-run")
    shipway("deploy", *args, "--image", releases["v3"], check=0)
    managed = spec_of(client, name)
    env, replicas, order = (("TaskTemplate", "ContainerSpec", "Env"),
                            ("Mode", "Replicated", "Replicas"), ("UpdateConfig", "Order"))
    diff = changed(adopted, managed)
    assert {p for p in diff if not shipway_label(p)} == {IMAGE, env, replicas, order}
    assert dry_paths(dry) == listed(diff)
    assert managed["TaskTemplate"]["ContainerSpec"]["Env"] == ["ADDED=yes", "KEEP=1"]
    assert managed["UpdateConfig"]["Order"] == "start-first"
    converged(client, name, releases["v3"], 1)

    # The catalog no longer sets update_config.order: it goes back to the engine's default.
    two = three.replace("      update_config: {order: start-first}\n", "")
    args = ("--catalog", write(catalog, two), "--service", name)
    dry = shipway.json("deploy", *args, "--image", releases["v3"], "--dry-run")
    assert dry["changes"] == [{"path": "UpdateConfig.Order", "before": "start-first",
                               "after": None}]
    text = shipway("deploy", *args, "--image", releases["v3"], "--dry-run", check=0).stdout
    assert "UpdateConfig.Order: 'start-first' -> (default)" in text
    shipway("deploy", *args, "--image", releases["v3"], check=0)
    default = spec_of(client, name)
    assert {p for p in changed(managed, default) if not shipway_label(p)} == {order}
    # The engine stores an unset order as its default, stop-first (swarmkit's zero value).
    assert default["UpdateConfig"].get("Order", "stop-first") == "stop-first"
    assert default["TaskTemplate"]["ContainerSpec"]["Env"] == ["ADDED=yes", "KEEP=1"]

    # A deploy with flags alone undoes nothing the catalog set, and its release carries the
    # catalog's fields on: a catalog without `environment` then puts Env back to the default.
    shipway("deploy", "--service", name, "--image", releases["v2"], "--timeout", TIMEOUT,
            check=0)
    flags_only = spec_of(client, name)
    assert {p for p in changed(default, flags_only) if not shipway_label(p)} == {IMAGE}
    args = ("--catalog", write(catalog, two.replace(
        "    environment: {KEEP: \"1\", ADDED: \"yes\"}\n", "")), "--service", name)
    dry = shipway.json("deploy", *args, "--image", releases["v2"], "--dry-run")
    assert dry["changes"] == [{"path": "TaskTemplate.ContainerSpec.Env",
                               "before": ["ADDED=yes", "KEEP=1"], "after": None}]


def test_a_key_without_its_siblings_leaves_them_as_the_service_has_them(
        shipway, releases, docker_client, cli, made, tmp_path):
    client = docker_client
    name = made.service("adopt-part")
    cli("service", "create", "--detach", "--quiet", "--name", name, "--with-registry-auth",
        "--replicas", "2", "--endpoint-mode", "dnsrr", "--stop-grace-period", "1s",
        "--label", "team=x", "--update-order", "stop-first", "--update-failure-action", "pause",
        "--update-delay", "1s", "--update-monitor", "1s", "--log-driver", "json-file",
        "--log-opt", "max-size=1m", "--log-opt", "max-file=2", releases["v1"])
    converged(client, name, releases["v1"], 2)
    before = spec_of(client, name)
    # `mode: replicated` without `replicas`, one update_config key, log options without the
    # driver: the scale, the rest of the policy and the driver stay as the service has them.
    catalog = write(tmp_path / "catalog.yml", f"""
services:
  {name}:
    image: {releases['repo']}
    logging: {{options: {{max-size: 2m, max-file: "2"}}}}
    deploy:
      mode: replicated
      update_config: {{parallelism: 2}}
      timeout: {TIMEOUT}
""")
    args = ("--catalog", catalog, "--service", name, "--image", releases["v2"])
    dry = shipway.json("deploy", *args, "--dry-run")
    shipway("deploy", *args, check=0)
    after = spec_of(client, name)
    diff = changed(before, after)
    options = ("TaskTemplate", "LogDriver", "Options")
    assert {p for p in diff if not shipway_label(p)} == {
        IMAGE, ("UpdateConfig", "Parallelism"), options + ("max-size",)}
    assert dry_paths(dry) - {"TaskTemplate.LogDriver.Options"} == listed(
        {p for p in diff if p[:3] != options})
    assert after["Mode"] == {"Replicated": {"Replicas": 2}}
    assert after["TaskTemplate"]["LogDriver"]["Name"] == "json-file"
    converged(client, name, releases["v2"], 2)


def test_first_rollback_after_adoption_restores_the_spec_before_shipway(
        shipway, releases, docker_client, cli, made):
    client = docker_client
    # upper case and '_', as the engine accepts: release records and objects are named for it
    name = cli_service(cli, client, made, releases["v1"], prefix="Adopt_Rb")
    before = spec_of(client, name)
    shipway("deploy", "--service", name, "--image", releases["v2"], "--timeout", TIMEOUT,
            check=0)
    assert running_digests(client, name) == [digest(releases["v2"])] * 2
    version = client.api.inspect_service(name)["Version"]["Index"]
    dry = shipway("rollback", "--service", name, "--dry-run", check=0)
    assert dry.stdout.strip() == (f"roll back service {name} to the spec before shipway's "
                                  f"first deploy: {releases['v2']} -> {releases['v1']}")
    planned = shipway.json("rollback", "--service", name, "--dry-run")
    assert planned["dry_run"] is True and planned["image"] == releases["v1"]
    assert planned["plan"] == [dry.stdout.strip()]
    assert client.api.inspect_service(name)["Version"]["Index"] == version

    back = shipway("rollback", "--service", name, "--timeout", TIMEOUT, "--json", check=0)
    assert "to the spec before shipway's first deploy" in back.stderr
    assert running_digests(client, name) == [digest(releases["v1"])] * 2
    # what the containers were created from, not only what the tasks' specs say
    assert container_digests(client, name) == [[digest(releases["v1"])]] * 2
    restored = spec_of(client, name)
    assert not {p for p in changed(before, restored) if not shipway_label(p)}
    history = shipway.json("releases", "--service", name)
    assert [(r["seq"], r["running"], r["image"]) for r in history] == [
        (1, False, releases["v2"]), (0, True, releases["v1"])]

    version = client.api.inspect_service(name)["Version"]["Index"]
    again = shipway("rollback", "--service", name, "--timeout", TIMEOUT, check=1)
    assert "nothing was changed" in again.stderr
    assert client.api.inspect_service(name)["Version"]["Index"] == version
    assert running_digests(client, name) == [digest(releases["v1"])] * 2


def test_adopt_a_stack_service(shipway, releases, docker_client, cli, made, tmp_path):
    client = docker_client
    stack, network = made.stack(), made.network()
    name = f"{stack}_web"
    made.services.append(name)             # its release records go after the test
    stack_file = write(tmp_path / "stack.yml", f"""
version: "3.8"
services:
  web:
    image: {releases['v1']}
    environment: {{KEEP: "1"}}
    networks: [net]
    stop_grace_period: 1s
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
      labels: {{team: x}}
      update_config: {{delay: 0s, monitor: 1s, order: stop-first, failure_action: pause}}
networks:
  net: {{external: true, name: {network}}}
""")
    cli("stack", "deploy", "--with-registry-auth", "-c", stack_file, stack)
    converged(client, name, releases["v1"], 1)
    before = spec_of(client, name)
    assert before["Labels"]["com.docker.stack.namespace"] == stack

    shipway("deploy", "--service", name, "--image", releases["v2"], "--timeout", TIMEOUT,
            check=0)
    adopted = spec_of(client, name)
    assert {p for p in changed(before, adopted) if not shipway_label(p)} == {IMAGE}

    write(tmp_path / "app.conf", "mode: stack\n")
    catalog = write(tmp_path / "catalog.yml", f"""
configs:
  appconf: {{file: app.conf}}
services:
  {name}:
    image: {releases['repo']}
    environment: {{KEEP: "1", MORE: "2"}}
    networks: [{network}]           # the stack's short name stays the alias on it: no change
    configs: [{{source: appconf, target: /etc/app.conf}}]   # configs and no secrets
    deploy: {{timeout: {TIMEOUT}}}
    jenkins: {{repo: https://git.example.com/web.git, folder: stacks}}
""")
    args = ("--catalog", catalog, "--service", name)
    shipway("deploy", *args, "--image", releases["v3"], check=0)
    managed = spec_of(client, name)
    assert {p for p in changed(adopted, managed) if not shipway_label(p)} == {
        IMAGE, ("TaskTemplate", "ContainerSpec", "Env"), ("TaskTemplate", "ContainerSpec",
                                                        "Configs")}
    assert managed["Labels"]["com.docker.stack.namespace"] == stack
    assert managed["TaskTemplate"]["Networks"][0]["Aliases"] == ["web"]
    converged(client, name, releases["v3"], 1)
    task = client.api.tasks(filters={"service": name, "desired-state": "running"})[0]
    container = client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
    assert container.exec_run(["/bin/busybox", "cat", "/etc/app.conf"]).output == b"mode: stack\n"

    status = shipway.json("status", *args)
    assert status["service"] == name and status["image"] == releases["v3"]
    assert status["release"]["seq"] == 2 and status["rollback_to"]["seq"] == 1
    assert [r["seq"] for r in shipway.json("releases", "--service", name)] == [2, 1]
    jenkinsfile = shipway("render", "jenkinsfile", *args, check=0).stdout
    assert name in jenkinsfile
    back = shipway.json("rollback", *args)
    assert back["image"] == releases["v2"] and back["release"]["seq"] == 1
    assert running_digests(client, name) == [digest(releases["v2"])]


def test_global_mode_deploys_and_converges(shipway, releases, docker_client, made, tmp_path):
    client = docker_client
    name = made.service("adopt-global")
    catalog = write(tmp_path / "catalog.yml", f"""
services:
  {name}:
    image: {releases['repo']}
    stop_grace_period: 1s
    deploy:
      mode: global
      timeout: 10s
      update_config: {{delay: 0s, monitor: 1s}}
""")
    args = ("--catalog", catalog, "--service", name)
    created = shipway("deploy", *args, "--image", releases["v1"])
    # what runs right after the deploy said so (one node: one task)
    runs = running_digests(client, name)
    assert client.api.inspect_service(name)["Spec"]["Mode"] == {"Global": {}}
    converged(client, name, releases["v1"], 1)
    updated = shipway("deploy", *args, "--image", releases["v2"])
    assert (created.returncode, runs) == (0, [digest(releases["v1"])]), created.stderr
    assert updated.returncode == 0, updated.stderr
    assert running_digests(client, name) == [digest(releases["v2"])]
    # the engine cannot make a global service replicated: refused, nothing written
    version = client.api.inspect_service(name)["Version"]["Index"]
    refused = shipway("deploy", "--service", name, "--image", releases["v3"], "--replicas",
                      "2", check=2)
    assert refused.stderr.startswith("error: deploy.replicas: ")
    assert "cannot change a service's mode" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert client.api.inspect_service(name)["Version"]["Index"] == version
    # ingress ports on its dnsrr endpoint (the engine would refuse them): exit 2, unchanged;
    # and on a new service, which gets shipway's dnsrr: exit 2, nothing created
    fresh = made.service("adopt-ingress")
    ingress = write(tmp_path / "ingress.yml", f"""
services:
  {name}: &entry
    image: {releases['repo']}
    deploy: {{mode: global}}
    ports: ["18097:8080"]
  {fresh}: *entry
""")
    for service, why in ((name, f"which service {name} has"),
                         (fresh, "shipway's default for a new service")):
        refused = shipway("deploy", "--catalog", ingress, "--service", service, "--image",
                          releases["v3"], check=2)
        assert refused.stderr == (
            f"error: {ingress}: service '{service}': key 'ports[0].mode': ingress cannot be "
            f"used with endpoint mode dnsrr, {why}: publish with mode: host, or set "
            "deploy.endpoint_mode: vip\n")
    assert client.api.inspect_service(name)["Version"]["Index"] == version
    assert not client.api.services(filters={"name": fresh})


# (catalog text under the service, the key the error must name[, top-level definitions])
BAD_VALUES = [
    ("command: {a: 1}", "command"),
    ("entrypoint: 5", "entrypoint"),
    ("environment: [1, 2]", "environment"),
    ("env_file: missing.env", "env_file"),
    ("labels: just-text", "labels"),
    ("healthcheck: {interval: soon}", "healthcheck.interval"),
    ("healthcheck: {retries: -1}", "healthcheck.retries"),
    ("healthcheck: {test: 5}", "healthcheck.test"),
    ("user: [root]", "user"),
    ("extra_hosts: [nohost]", "extra_hosts"),
    ("init: 'yes'", "init"),
    ("read_only: 2", "read_only"),
    ("stop_grace_period: forever", "stop_grace_period"),
    ("cap_add: 7", "cap_add"),
    ("sysctls: text", "sysctls"),
    ("ulimits: {nofile: {soft: many}}", "ulimits"),
    ("logging: {driver: [a]}", "logging.driver"),
    ("tmpfs: [{a: b}]", "tmpfs"),
    ("volumes: ['db:/x:ro:z']", "volumes"),
    ("volumes: [{type: nfs, target: /x}]", "volumes"),
    ("secrets: [undefined]", "secrets"),
    ("configs: [{source: undefined}]", "configs"),
    ("ports: ['70000:80']", "ports"),
    ("ports: [{target: 80, mode: bridge}]", "ports"),
    ("networks: {front: {aliases: 5}}", "networks"),
    ("deploy: {mode: daemon}", "deploy.mode"),
    ("deploy: {replicas: -1}", "deploy.replicas"),
    ("deploy: {mode: global, replicas: 2}", "deploy"),
    ("deploy: {endpoint_mode: lb}", "deploy.endpoint_mode"),
    ("deploy: {placement: {constraints: 5}}", "deploy.placement.constraints"),
    ("deploy: {placement: {max_replicas_per_node: -1}}", "deploy.placement.max_replicas_per_node"),
    ("deploy: {resources: {limits: {cpus: lots}}}", "deploy.resources.limits.cpus"),
    ("deploy: {resources: {limits: {memory: 1x}}}", "deploy.resources.limits.memory"),
    ("deploy: {resources: {reservations: {pids: 5}}}", "deploy.resources.reservations"),
    ("deploy: {restart_policy: {condition: sometimes}}", "deploy.restart_policy.condition"),
    ("deploy: {update_config: {order: random}}", "deploy.update_config.order"),
    ("deploy: {update_config: {max_failure_ratio: 2}}", "deploy.update_config.max_failure_ratio"),
    ("deploy: {rollback_config: {failure_action: undo}}",
     "deploy.rollback_config.failure_action"),
    ("tmpfs: ['/scratch:size=lots']", "tmpfs"),
    # Found only when the deploy reads files, the environment and the swarm (before a write).
    ("secrets: [fromenv]", "secrets", "secrets: {fromenv: {environment: ADOPT_UNSET_VAR}}"),
    ("secrets: [fromfile]", "secrets", "secrets: {fromfile: {file: absent-secret.txt}}"),
    ("configs: [ext]", "configs", "configs: {ext: {external: true, name: adopt-absent-cfg}}"),
    ("networks: [adopt-absent-network]", "networks"),
    # a mode the service (replicated) cannot change to: refused before the secret is made
    ("deploy: {mode: global}\n    secrets: [good]", "deploy.mode",
     "secrets: {good: {file: good.txt}}"),
    # a good secret, then a missing external config: the secret is not created either
    ("secrets: [good]\n    configs: [ext]", "configs",
     "secrets: {good: {file: good.txt}}\nconfigs: {ext: {external: true, name: adopt-absent}}"),
]


def test_bad_values_exit_2_naming_file_service_and_key(shipway, releases, docker_client, made,
                                                       tmp_path):
    api = docker_client.api
    made.had_key = made._key() is not None      # it deploys secrets (which must make none)
    name = made.service("adopt-bad")
    # An existing service (no tasks: nothing to wait for) that every bad deploy names.
    api.create_service({"ContainerSpec": {"Image": releases["v1"]}}, name=name,
                       mode={"Replicated": {"Replicas": 0}})
    version = api.inspect_service(name)["Version"]["Index"]
    write(tmp_path / "good.txt", "a good secret\n")

    # In this process (the catalog is refused before any engine call, so 40 subprocesses
    # would only cost time); the output is what `shipway` prints.
    wrong = []
    for number, (text, key, *top) in enumerate(BAD_VALUES):
        catalog = write(tmp_path / f"bad{number}.yml", "\n".join(top) + f"""
services:
  {name}:
    image: {releases['repo']}
    {text}
""")
        out, err = io.StringIO(), io.StringIO()
        try:
            code = cli_main(["deploy", "--catalog", catalog, "--service", name, "--image",
                             releases["v2"], "--timeout", "10s"],
                            environ=shipway.env, console=Console(out, err))
        except Exception as exc:   # noqa: BLE001 - a crash is one more wrong answer
            code, err = "a crash", io.StringIO(f"{type(exc).__name__}: {exc}")
        lines = err.getvalue().splitlines()
        named = re.match(rf"^error: {re.escape(catalog)}: service '{re.escape(name)}': "
                         rf"key '{re.escape(key)}[^']*': ", lines[0] if lines else "")
        if code != 2 or len(lines) != 1 or not named:
            wrong.append(f"{text!r}: exit {code}: {err.getvalue().strip()!r}")
    assert not wrong, "\n".join(wrong)
    assert api.inspect_service(name)["Version"]["Index"] == version
    assert not api.configs(filters={"label": f"shipway.release.service={name}"})
    for kind in objects.KINDS:   # other runs make objects meanwhile: only this service's
        assert not getattr(api, f"{kind}s")(filters={"label": f"{objects.SERVICE_LABEL}={name}"})


def test_dnsrr_for_a_service_with_ingress_ports_is_refused(shipway, releases, docker_client,
                                                           made):
    api = docker_client.api
    name = made.service("adopt-vip")
    port = 20000 + int(name[-4:], 16) % 10000       # random, as the name is
    api.create_service({"ContainerSpec": {"Image": releases["v1"]}}, name=name,
                       mode={"Replicated": {"Replicas": 0}},
                       endpoint_spec={"Mode": "vip", "Ports": [
                           {"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": port}]})
    version = api.inspect_service(name)["Version"]["Index"]
    refused = shipway("deploy", "--service", name, "--image", releases["v2"],
                      "--endpoint-mode", "dnsrr", check=2)
    assert refused.stderr == (
        f"error: deploy.endpoint_mode: dnsrr cannot be used with the ingress port {port} the "
        "service publishes: set ports with mode: host too, or keep endpoint mode vip\n")
    assert api.inspect_service(name)["Version"]["Index"] == version


def test_a_new_image_brings_its_platforms_as_the_cli_does(shipway, releases, docker_client,
                                                          cli, made):
    """A service made with `--no-resolve-image` has no Placement.Platforms; a shipway deploy
    of a tag sets them to what `docker service create` (which resolves) sets, as `docker
    service update --image` does; the same image again changes nothing."""
    client = docker_client
    resolved = made.service("adopt-plat")
    cli("service", "create", "--detach", "--quiet", "--name", resolved, "--replicas", "0",
        "--with-registry-auth", releases["v2"])
    want = spec_of(client, resolved)["TaskTemplate"]["Placement"]["Platforms"]
    assert want, "the CLI resolved the image's platforms"
    name = made.service("adopt-noplat")
    cli("service", "create", "--detach", "--quiet", "--name", name, "--no-resolve-image",
        "--replicas", "1", "--stop-grace-period", "1s", releases["v1"])
    converged(client, name, releases["v1"], 1)
    assert not (spec_of(client, name)["TaskTemplate"].get("Placement") or {}).get("Platforms")
    tag = f"{releases['repo']}:v2"
    shipway("deploy", "--service", name, "--image", tag, "--timeout", TIMEOUT, check=0)
    assert spec_of(client, name)["TaskTemplate"]["Placement"]["Platforms"] == want
    again = shipway.json("deploy", "--service", name, "--image", tag, "--dry-run")
    assert [c["path"] for c in again["changes"] if not c["path"].startswith("Labels")] == []
