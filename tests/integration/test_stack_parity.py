"""Stack-file parity: the services shipway makes from a stack file are the ones `docker stack
deploy` makes from it, field by field as the Engine returns them.

- tests/fixtures/compose/full/docker-stack.yml uses every key shipway converts. It is deployed
  with Debian's docker 20.10 (`/usr/bin/docker stack deploy --resolve-image always
  --with-registry-auth`), then each of its services is created again with `shipway deploy`
  outside any stack, and the two specs are compared except the service name, the
  com.docker.stack.* labels, shipway.* labels and, for the secrets and configs stack deploy
  makes from files, their object names and ids.
- Stack files in the shapes public swarm stacks have (tests/fixtures/compose/monitoring,
  voting, swarmpit: configs from files and a template, named volumes, networks the file
  creates and an external one, the stack's default network, global services, YAML anchors
  and merge keys) are deployed with stack deploy, removed, and deployed again with shipway
  into the same stack (`compose: {file:, service:, stack:}`, services `<stack>_<service>`):
  every service's spec, every network the stack has and every config it made are compared
  (their ids, shipway's labels, com.docker.stack.image and the names of objects made from
  files aside; the namespace labels included).
- Adopting a running stack service with its own stack file changes no task: its volume
  `<stack>_<name>` (and the data in it), its binds as written, its networks and its labels
  stay; only shipway's labels are added.
"""
import base64
import contextlib
import json
import os
import random
import shutil
import subprocess

import docker.errors
import pytest

from pipeline import catalog
from pipeline.catalog import compose_file
from tests.integration.conftest import random_name, wait_for
from tests.support.busybox import build_sleeper

COMPOSE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "compose")
FIXTURE = os.path.join(COMPOSE, "full")
DOCKER_20 = "/usr/bin/docker"
SERVICES = ("full", "mesh", "short", "bare")
STACK_LABEL = "com.docker.stack."


def _build_image(client, lab, tmp_path, repo):
    """A FROM scratch busybox image pushed to the lab registry; returns repo:tag@digest."""
    context = tmp_path / "image"
    context.mkdir()
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\n"
                                        "ENTRYPOINT [\"/bin/busybox\"]\n")
    client.images.build(path=str(context), tag=f"{repo}:1", rm=True)
    auth = Hidden(username=lab["SHIPWAY_REGISTRY_USER"], password=lab["password"])
    for line in client.api.push(repo, tag="1", auth_config=auth, stream=True, decode=True):
        assert "error" not in line, line
    digest = client.api.inspect_distribution(f"{repo}:1", auth_config=auth)["Descriptor"]["digest"]
    return f"{repo}:1@{digest}", auth


def _delete_from_registry(lab, repo, digest):
    """Remove the pushed manifest (the lab registry allows deletes)."""
    import urllib.request

    name = repo.split("/", 1)[1]
    token = base64.b64encode(f"{lab['SHIPWAY_REGISTRY_USER']}:{lab['password']}".encode()).decode()
    request = urllib.request.Request(
        f"http://{lab['SHIPWAY_REGISTRY']}/v2/{name}/manifests/{digest}", method="DELETE",
        headers={"Authorization": f"Basic {token}"})
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=10):
        pass


def _docker_config(tmp_path, lab):
    """A DOCKER_CONFIG holding the lab login, for stack deploy --with-registry-auth."""
    config = tmp_path / "docker-config"
    config.mkdir(mode=0o700)
    token = base64.b64encode(f"{lab['SHIPWAY_REGISTRY_USER']}:{lab['password']}".encode()).decode()
    (config / "config.json").write_text(json.dumps(
        {"auths": {lab["SHIPWAY_REGISTRY"]: {"auth": token}}}))
    return str(config)


def stack_deploy(stack_file, stack, env):
    """`docker stack deploy` as an ops team runs it (20.10, registry resolved, auth sent)."""
    proc = subprocess.run([DOCKER_20, "stack", "deploy", "--compose-file", stack_file,
                           "--resolve-image", "always", "--with-registry-auth", stack],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def create_from_shipway(shipway, catalog_path, name, env):
    """The service `shipway deploy` creates from the catalog entry that takes its keys from the
    stack file. The parity services never run (a constraint no node meets), so the deploy ends
    when its short timeout does, having created the service (a global one has no task to wait
    for: it is done at once)."""
    proc = shipway("deploy", "--catalog", catalog_path, "--service", name, "--timeout", "1s",
                   env=env)
    assert proc.returncode == 0 or "timed out after 1s" in proc.stderr, proc.stderr
    assert f"creating service {name} with " in proc.stderr, proc.stderr
    return proc


def comparable(spec, file_objects):
    """A spec without what may differ: the name, stack/shipway labels (volume labels too), and
    the names and ids of secrets/configs made from files (`file_objects`: their names)."""
    spec = json.loads(json.dumps(spec))
    spec.pop("Name", None)
    for holder in (spec, spec["TaskTemplate"]["ContainerSpec"]):
        holder["Labels"] = {k: v for k, v in (holder.get("Labels") or {}).items()
                            if not k.startswith((STACK_LABEL, "shipway."))}
    container = spec["TaskTemplate"]["ContainerSpec"]
    for mount in container.get("Mounts", []):
        labels = mount.get("VolumeOptions", {}).get("Labels")
        if labels:
            mount["VolumeOptions"]["Labels"] = {k: v for k, v in labels.items()
                                                if not k.startswith(STACK_LABEL)}
    for kind, ident in (("Secrets", "Secret"), ("Configs", "Config")):
        for ref in container.get(kind, []):
            if ref[f"{ident}Name"] in file_objects:
                ref[f"{ident}Name"] = ref[f"{ident}ID"] = "<made from a file>"
        if kind in container:
            # both sort by object name, and the names differ: compare in target order
            container[kind].sort(key=lambda ref: ref["File"]["Name"])
    return spec


def differences(left, right, path=""):
    """Dotted paths where two JSON documents differ, with both values."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            found += differences(left.get(key), right.get(key), f"{path}.{key}".lstrip("."))
        return found
    return [] if left == right else [f"{path}: stack deploy {left!r} != shipway {right!r}"]


class Hidden(dict):
    """Registry credentials whose repr shows none of them (pytest prints locals)."""

    def __repr__(self):
        return "<registry login>"


class World(dict):
    """What the test made; its repr leaves out the registry login (pytest prints fixtures)."""

    def __repr__(self):
        return f"<parity world {self['tag']}>"


@pytest.fixture
def parity_world(lab, docker_client, tmp_path):
    """Everything the stack file needs that exists before it (random names), removed after."""
    client, made = docker_client, contextlib.ExitStack()
    tag = random_name("parity")
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{tag}"
    with made:
        image, auth = _build_image(client, lab, tmp_path, repo)
        made.callback(_delete_from_registry, lab, repo, image.split("@")[1])
        made.callback(client.images.remove, f"{repo}:1", force=True)
        net = client.networks.create(f"{tag}-net", driver="overlay", attachable=True)
        made.callback(net.remove)
        volume = client.volumes.create(f"{tag}-vol")
        made.callback(volume.remove, force=True)
        secret = client.secrets.create(name=f"{tag}-secret", data=b"external secret")
        made.callback(secret.remove)
        config = client.configs.create(name=f"{tag}-config", data=b"external config")
        made.callback(config.remove)
        files = tmp_path / "stack"
        shutil.copytree(FIXTURE, files)
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "IMAGE": f"{repo}:1",
               "NET": net.name, "SECRET": secret.name, "CONFIG": config.name,
               "VOLUME": volume.name, "FROM_SHELL": "from the shell",
               "EMPTY_IN_FILE": "filled from the shell",
               "DOCKER_CONFIG": _docker_config(tmp_path, lab)}
        if os.environ.get("DOCKER_HOST"):
            env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        yield World(client=client, tag=tag, image=image, auth=auth, env=env,
                    file=str(files / "docker-stack.yml"), made=made)


def _remove_services(shipway, client, names):
    """`shipway remove` each: the service and the secrets and configs shipway made for it."""
    for name in names:
        shipway("remove", "--service", name)
    wait_for(lambda: not any(client.api.services(filters={"name": n}) for n in names),
             timeout=30, what="services removed")


def test_stack_deploy_and_shipway_make_the_same_service(parity_world, shipway):
    world = parity_world
    client, env, tag = world["client"], world["env"], world["tag"]
    stack = tag.replace("-", "_")
    ours = {svc: f"{tag}-{svc}" for svc in SERVICES}

    def stack_rm():
        subprocess.run([DOCKER_20, "stack", "rm", stack], env=env, capture_output=True,
                       timeout=60, check=False)
        wait_for(lambda: not client.api.services(filters={"label":
                                                          f"com.docker.stack.namespace={stack}"})
                 and not client.api.secrets(filters={"label":
                                                     f"com.docker.stack.namespace={stack}"}),
                 timeout=60, what="stack removed")
    world["made"].callback(stack_rm)
    stderr = stack_deploy(world["file"], stack, env)
    assert "Ignoring unsupported options: build, restart" in stderr

    catalog_path = os.path.join(os.path.dirname(world["file"]), "catalog.yml")
    entries = {ours[svc]: {"compose": {"file": "docker-stack.yml", "service": svc}}
               for svc in SERVICES}
    with open(catalog_path, "w", encoding="utf-8") as handle:
        json.dump({"services": entries}, handle)     # JSON is YAML
    cat = catalog.from_data({"services": entries}, path=catalog_path, environ=env)
    warnings = cat.service(ours["mesh"])["warnings"]
    assert "Ignoring unsupported options: build, restart" in warnings
    # Stack deploy names the objects it makes from files <stack>_<name>; shipway names them
    # after their content, <service>_<name>_<hash>: those names (and ids) differ.
    file_objects = {f"{stack}_file_secret", f"{stack}_file_config"}
    shipway_env = {k: v for k, v in env.items() if k not in ("HOME", "DOCKER_CONFIG")}

    stacked = {svc: client.api.inspect_service(f"{stack}_{svc}")["Spec"] for svc in SERVICES}
    # Ingress ports are the swarm's: one published port, one service. Let stack deploy's go
    # before making shipway's.
    stack_rm()
    world["made"].callback(_remove_services, shipway, client, list(ours.values()))
    report = []
    for svc in SERVICES:
        create_from_shipway(shipway, catalog_path, ours[svc], shipway_env)
        made = client.api.inspect_service(ours[svc])["Spec"]
        container = made["TaskTemplate"]["ContainerSpec"]
        file_objects |= {ref[f"{ident}Name"] for kind, ident in (("Secrets", "Secret"),
                                                                  ("Configs", "Config"))
                         for ref in container.get(kind, [])
                         if ref[f"{ident}Name"].startswith(ours[svc] + "_")}
        if os.environ.get("SHIPWAY_PARITY_DUMP"):
            print(json.dumps({"stack deploy": stacked[svc], "shipway": made}, indent=1))
        report += [f"{svc}: {line}" for line in differences(
            comparable(stacked[svc], file_objects), comparable(made, file_objects))]
    assert report == [], "\n".join(report)


# ---------------------------------------------------------------- stack files as users have them

NAMESPACE = "com.docker.stack.namespace"
NEVER = "node.labels.shipway-parity == never"   # no node has it: compared, never run


def _in_stack(client, stack, kind):
    """The stack's services, networks, configs or secrets, as the Engine lists them."""
    listing = {"services": client.api.services, "networks": client.api.networks,
               "configs": client.api.configs, "secrets": client.api.secrets}[kind]
    return listing(filters={"label": f"{NAMESPACE}={stack}"})


def remove_stack(client, stack, env):
    """`docker stack rm`, again while something of the stack is left (a network still held
    by a service's endpoint is refused for a moment), until nothing with its label is."""
    def gone():
        left = [kind for kind in ("services", "networks", "configs", "secrets")
                if _in_stack(client, stack, kind)]
        if left:
            subprocess.run([DOCKER_20, "stack", "rm", stack], env=env, capture_output=True,
                           timeout=60, check=False)
        return not left
    wait_for(gone, timeout=90, poll=1, what=f"stack {stack} removed")


def remove_volumes(client, stack):
    """Remove the stack's volumes once no container holds them (a task's container is
    removed a moment after its service)."""
    def removed():
        for volume in client.volumes.list(filters={"label": f"{NAMESPACE}={stack}"}):
            with contextlib.suppress(docker.errors.APIError):
                volume.remove(force=True)
        return not client.volumes.list(filters={"label": f"{NAMESPACE}={stack}"})
    wait_for(removed, timeout=60, poll=1, what=f"the volumes of stack {stack} removed")


def _free_port():
    """A port in the ingress range that no service of the swarm is likely to publish."""
    return str(random.randint(30000, 32000))


def shape_env(world, tmp_path):
    """The variables the public-shape stack files take."""
    octet = int(world["tag"][-4:], 16) % 250
    return {**world["env"], "NEVER": NEVER, "PROXY": world["env"]["NET"],
            "SUBNET": f"10.123.{octet}.0/24", "GRAFANA_PORT": _free_port(),
            "PROMETHEUS_PORT": _free_port(), "VOTE_PORT": _free_port(),
            "RESULT_PORT": _free_port(), "VISUALIZER_PORT": _free_port(),
            "APP_PORT": _free_port()}


def named_networks(client, spec, names):
    """`spec` with each network attachment's Target id as the network's name (`names`: id ->
    name, read while the stack's networks existed)."""
    spec = json.loads(json.dumps(spec))
    for attachment in spec["TaskTemplate"].get("Networks", []):
        attachment["Target"] = names.get(attachment["Target"]) or \
            client.api.inspect_network(attachment["Target"])["Name"]
    return spec


def same_stack(spec, file_objects):
    """A spec of one stack, without what may differ between stack deploy and shipway:
    shipway's labels, com.docker.stack.image, the names and ids of objects made from files."""
    spec = comparable_ids(spec, file_objects)
    spec["Labels"] = {k: v for k, v in (spec.get("Labels") or {}).items()
                      if not k.startswith("shipway.") and k != "com.docker.stack.image"}
    return spec


def comparable_ids(spec, file_objects):
    spec = json.loads(json.dumps(spec))
    container = spec["TaskTemplate"]["ContainerSpec"]
    for kind, ident in (("Secrets", "Secret"), ("Configs", "Config")):
        for ref in container.get(kind, []):
            if ref[f"{ident}Name"] in file_objects:
                ref[f"{ident}Name"] = ref[f"{ident}ID"] = "<made from a file>"
        container.get(kind, []).sort(key=lambda ref: ref["File"]["Name"])
    return spec


def network_facts(network, given):
    """What a network was created with (its id, creation time, VXLAN id and the subnets the
    engine chose itself aside; `given`: the subnets a file gives)."""
    ipam = network.get("IPAM") or {}
    return {"Driver": network["Driver"], "Scope": network["Scope"],
            "Internal": network["Internal"], "Attachable": network["Attachable"],
            "Labels": network.get("Labels") or {},
            "Options": {k: v for k, v in (network.get("Options") or {}).items()
                        if k != "com.docker.network.driver.overlay.vxlanid_list"},
            "IPAM": {"Driver": ipam.get("Driver"), "Options": ipam.get("Options"),
                     "Subnets": [pool["Subnet"] for pool in ipam.get("Config") or []
                                 if pool["Subnet"] in given]}}


def object_facts(obj):
    """A config's or secret's labels (stack and shipway ones aside) and template driver."""
    spec = obj["Spec"]
    return {"Labels": {k: v for k, v in (spec.get("Labels") or {}).items()
                       if not k.startswith(("shipway.", "com.docker.stack."))},
            "Templating": spec.get("Templating")}


def stack_shape(client, stack):
    """{service: spec}, {network name: network}, {id: name}, {source name: config} of a
    deployed stack (configs by the name the file gives them)."""
    services = {s["Spec"]["Name"][len(stack) + 1:]: s["Spec"]
                for s in _in_stack(client, stack, "services")}
    networks = {n["Name"]: client.api.inspect_network(n["Id"])
                for n in _in_stack(client, stack, "networks")}
    configs = {c["Spec"]["Name"][len(stack) + 1:]: c for c in _in_stack(client, stack, "configs")}
    return services, networks, {n["Id"]: name for name, n in networks.items()}, configs


@pytest.mark.parametrize("shape", ["monitoring", "voting", "swarmpit"])
def test_public_stack_shapes_deploy_as_stack_deploy_deploys_them(parity_world, shipway,
                                                                  tmp_path, shape):
    world, client = parity_world, parity_world["client"]
    stack = "p" + world["tag"].split("-")[1]
    files = tmp_path / shape
    shutil.copytree(os.path.join(COMPOSE, shape), files)
    stack_file = str(files / "docker-stack.yml")
    env = shape_env(world, tmp_path)
    world["made"].callback(remove_stack, client, stack, env)
    stack_deploy(stack_file, stack, env)
    members = list(compose_file.stack_services(stack_file, env))
    theirs, their_networks, their_names, their_configs = stack_shape(client, stack)
    assert sorted(theirs) == sorted(members)
    remove_stack(client, stack, env)   # ports, networks and names are the swarm's: free them

    entries = {f"{stack}_{m}": {"compose": {"file": "docker-stack.yml", "service": m,
                                            "stack": stack}} for m in members}
    catalog_path = str(files / "catalog.yml")
    with open(catalog_path, "w", encoding="utf-8") as handle:
        json.dump({"services": entries}, handle)
    shipway_env = {k: v for k, v in env.items() if k not in ("HOME", "DOCKER_CONFIG")}
    world["made"].callback(_remove_services, shipway, client, list(entries))
    for name in entries:
        create_from_shipway(shipway, catalog_path, name, shipway_env)
    ours, our_networks, our_names, our_configs = stack_shape(client, stack)

    file_objects = {obj["Spec"]["Name"] for obj in (*their_configs.values(),
                                                     *our_configs.values())}
    report = []
    for member in members:
        if os.environ.get("SHIPWAY_PARITY_DUMP"):
            print(json.dumps({"stack deploy": theirs[member], "shipway": ours[member],
                              "networks": [their_networks, our_networks]}, indent=1))
        report += [f"{member}: {line}" for line in differences(
            same_stack(named_networks(client, theirs[member], their_names), file_objects),
            same_stack(named_networks(client, ours[member], our_names), file_objects))]
    assert sorted(our_networks) == sorted(their_networks)
    for name, network in their_networks.items():
        report += [f"network {name}: {line}" for line in differences(
            network_facts(network, {env["SUBNET"]}),
            network_facts(our_networks[name], {env["SUBNET"]}))]
    ours_by_source = {c["Spec"]["Labels"]["shipway.object.source"]: c
                      for c in our_configs.values()}
    assert sorted(ours_by_source) == sorted(their_configs)
    for source, config in their_configs.items():
        report += [f"config {source}: {line}" for line in differences(
            object_facts(config), object_facts(ours_by_source[source]))]
    assert report == [], "\n".join(report)


def test_adopting_a_stack_service_with_its_file_keeps_its_volume_and_tasks(
        parity_world, shipway, tmp_path, lab):
    """mon_grafana runs (the busybox sleeper) with data in its volume mon_grafana; shipway
    deploys it from the same stack file: the dry run changes no field of the task template,
    the deploy adds shipway's labels only, the task and its data stay."""
    world, client = parity_world, parity_world["client"]
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{world['tag']}-sleeper"
    build_sleeper(client, f"{repo}:1")
    for line in client.api.push(repo, tag="1", auth_config=world["auth"], stream=True,
                                decode=True):
        assert "error" not in line, line
    world["made"].callback(client.images.remove, f"{repo}:1", force=True)
    stack = "a" + world["tag"].split("-")[1]
    files = tmp_path / "adopt"
    files.mkdir()
    (files / "docker-stack.yml").write_text(
        'version: "3.8"\nservices:\n  grafana:\n    image: ${IMAGE}\n'
        '    networks: [default, net]\n'
        '    volumes: [grafana:/var/lib/grafana, "/var/lib/docker/:/host/docker:ro"]\n'
        '    deploy: {resources: {limits: {memory: 64M}}}\n'
        'networks:\n  net: {driver: overlay, attachable: true}\n'
        'volumes:\n  grafana: {}\n')
    env = {**world["env"], "IMAGE": f"{repo}:1"}
    world["made"].callback(remove_volumes, client, stack)
    world["made"].callback(remove_stack, client, stack, env)
    stack_deploy(str(files / "docker-stack.yml"), stack, env)
    name = f"{stack}_grafana"
    task = wait_for(lambda: next((t for t in client.api.tasks(filters={"service": name})
                                  if t["Status"]["State"] == "running"), None),
                    timeout=60, poll=0.5, what=f"{name} running")
    container = client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
    assert container.exec_run(["/bin/busybox", "sh", "-c", "echo kept > /var/lib/grafana/data"]
                              ).exit_code == 0

    with open(files / "catalog.yml", "w", encoding="utf-8") as handle:
        json.dump({"services": {name: {"compose": {"file": "docker-stack.yml",
                                                    "service": "grafana"}}}}, handle)
    shipway_env = {k: v for k, v in env.items() if k not in ("HOME", "DOCKER_CONFIG")}
    world["made"].callback(_remove_services, shipway, client, [name])
    dry = shipway("deploy", "--catalog", str(files / "catalog.yml"), "--service", name,
                  "--dry-run", "--json", env=shipway_env)
    assert dry.returncode == 0, dry.stderr
    changed = [c["path"] for c in json.loads(dry.stdout)["changes"]]
    assert changed and all(path.startswith("Labels[shipway.") for path in changed), changed
    before = client.api.inspect_service(name)["Spec"]
    proc = shipway("deploy", "--catalog", str(files / "catalog.yml"), "--service", name,
                   "--timeout", "60s", env=shipway_env)
    assert proc.returncode == 0, proc.stderr
    after = client.api.inspect_service(name)["Spec"]
    assert after["TaskTemplate"] == before["TaskTemplate"]
    running = [t for t in client.api.tasks(filters={"service": name, "desired-state": "running"})]
    assert [t["ID"] for t in running] == [task["ID"]]
    assert container.exec_run(["/bin/busybox", "cat", "/var/lib/grafana/data"]).output == b"kept\n"
    [volume] = client.volumes.list(filters={"label": f"{NAMESPACE}={stack}"})
    assert volume.name == f"{stack}_grafana"
