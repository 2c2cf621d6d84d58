"""Stack-file parity: the service shipway makes from a stack file is the one `docker stack
deploy` makes from it, field by field as the Engine returns them.

tests/fixtures/compose/full/docker-stack.yml uses every key shipway converts. It is deployed
with Debian's docker 20.10 (`/usr/bin/docker stack deploy --resolve-image always
--with-registry-auth`), then each of its services is created again from shipway's conversion
(compose.convert: implied + fields) through the Engine API, and the two specs are compared
except the service name, the com.docker.stack.* labels, shipway.* labels and, for the secrets
and configs stack deploy makes from files, their object names and ids. `create_from_shipway`
is the one step to switch to `shipway deploy` once the deploy stage creates from the catalog.
"""
import base64
import contextlib
import json
import os
import shutil
import subprocess

import pytest

from pipeline import catalog
from tests.integration.conftest import random_name, wait_for

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "compose", "full")
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
