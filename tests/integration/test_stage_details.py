"""Stage details the broader stage tests leave out, against the lab's real engine and registry:
image flags over the catalog; deploy's ports (host mode), env, labels and update settings as
the engine stores them, its per-task event lines, the registry login sent to the nodes (seen on
the wire through DOCKER_HOST), a paused update, the wait's timeout; rollback through swarm's
own PreviousSpec (`rollback=previous`) for a service shipway has no history of;
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH against an engine reached only through TLS.
About 50 s on the lab."""
import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.request

import pytest

from tests.integration.conftest import ROOT, random_name, running_digests, wait_for, write_catalog

pytestmark = pytest.mark.integration
TASK_LINE = re.compile(r"^\[shipway\] task \d+ [0-9a-z]{12} on \S+: (\w+ -> )?\w+ \(desired \w+, ")


def digest(ref):
    return ref.rsplit("@", 1)[1]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EngineTap:
    """tcp://127.0.0.1:PORT in front of the engine's unix socket: every byte is passed on
    unchanged, and the request heads shipway sends are kept (the engine itself is real)."""

    HEAD = re.compile(rb"(GET|POST|DELETE|HEAD|PUT) (\S+) HTTP/1\.1\r\n((?:[^\r\n]+\r\n)*)\r\n")

    def __init__(self, socket_path="/var/run/docker.sock", tls=None):
        self.socket_path = socket_path
        self.tls = tls            # an ssl.SSLContext: the tap speaks TLS to its clients
        self.sent = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self._listener.close()

    def _serve(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    client = self.tls.wrap_socket(client, server_side=True)
                except OSError:   # a client without an acceptable certificate
                    client.close()
                    continue
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.socket_path)
            buffer = bytearray()
            with self._lock:
                self.sent.append(buffer)
            threading.Thread(target=self._pipe, args=(client, engine, buffer), daemon=True).start()
            threading.Thread(target=self._pipe, args=(engine, client, None), daemon=True).start()

    @staticmethod
    def _pipe(source, target, keep):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if keep is not None:
                    keep.extend(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def requests(self, method, path_part):
        """[(path, {header: value})] of the requests seen so far."""
        found = []
        with self._lock:
            streams = [bytes(b) for b in self.sent]
        for stream in streams:
            for match in self.HEAD.finditer(stream):
                if match.group(1).decode() == method and path_part in match.group(2).decode():
                    headers = dict(line.split(": ", 1) for line in
                                   match.group(3).decode("latin-1").split("\r\n") if line)
                    found.append((match.group(2).decode(), headers))
        return found


def registry_login(headers):
    value = headers.get("X-Registry-Auth")
    if value is None:
        return None
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_image_flags_override_the_catalog_and_push_pushes_every_tag(shipway, lab, docker_client,
                                                                    tmp_path):
    context = tmp_path / "ctx"
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "tiny"), context)
    (context / "Other.dockerfile").write_text(
        "FROM scratch\nARG FLAVOUR=none\nLABEL flavour=$FLAVOUR\nCOPY tiny.txt /tiny.txt\n")
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('flags')}"
    catalog = tmp_path / "c.yml"
    catalog.write_text(f"services:\n  f:\n    image: {repo}\n    context: ctx\n"
                       "    dockerfile: Dockerfile\n    build_args: {FLAVOUR: catalog}\n")
    args = ("--catalog", str(catalog), "--service", "f")
    built = shipway("image", *args, "--dockerfile", "Other.dockerfile", "--build-arg",
                    "FLAVOUR=flag", "--tag", "one", "--tag", "two",
                    env={"GIT_COMMIT": "abcdef0123456789", "BUILD_NUMBER": "12"}, check=0)
    try:
        image = docker_client.images.get(built.stdout.strip())
        assert sorted(image.tags) == [f"{repo}:one", f"{repo}:two"]   # --tag, not the env's
        assert image.labels["flavour"] == "flag"                       # flag over catalog
        assert image.labels["org.opencontainers.image.revision"] == "abcdef0123456789"
        pushed = shipway("push", *args, check=0).stdout.strip()
        for tag in ("one", "two"):
            resolved = docker_client.api.inspect_distribution(
                f"{repo}:{tag}", auth_config={"username": lab["SHIPWAY_REGISTRY_USER"],
                                              "password": lab["password"]})
            assert resolved["Descriptor"]["digest"] == digest(pushed)
    finally:
        docker_client.images.remove(built.stdout.strip(), force=True)


def test_deploy_settings_reach_the_engine_and_a_paused_update_fails(
        shipway, releases, service_name, docker_client, lab, tmp_path):
    port = free_port()
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".",
                            replicas=1)
    args = ("--catalog", catalog, "--service", service_name)
    tap = EngineTap()
    try:
        created = shipway("deploy", *args, "--image", releases["v1"],
                          "--publish", f"{port}:8080", "--env", "COLOUR=blue",
                          "--label", "team=audit", "--stop-grace-period", "3s",
                          "--update-failure-action", "pause", "--update-monitor", "1500ms",
                          "--update-max-failure-ratio", "0.5",
                          env={"DOCKER_HOST": tap.url}, check=0)
        # one readable line per task state change, nothing else on those lines
        task_lines = [ln for ln in created.stderr.splitlines() if ln.startswith("[shipway] task ")]
        assert task_lines and all(TASK_LINE.match(ln) for ln in task_lines), created.stderr
        assert len(task_lines) == len(set(task_lines))
        assert any("-> running (" in ln or ": running (" in ln for ln in task_lines), \
            created.stderr
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", created.stderr)

        spec = docker_client.api.inspect_service(service_name)["Spec"]
        assert spec["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 8080,
                                                  "PublishedPort": port, "PublishMode": "host"}]
        assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["COLOUR=blue"]
        assert spec["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 3_000_000_000
        assert spec["Labels"]["team"] == "audit"
        assert spec["UpdateConfig"]["FailureAction"] == "pause"
        assert spec["UpdateConfig"]["Monitor"] == 1_500_000_000
        assert spec["UpdateConfig"]["MaxFailureRatio"] == 0.5
        assert spec["UpdateConfig"]["Order"] == "start-first"       # from the catalog
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert "1.0.0" in page.read().decode()                    # host-mode port answers
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as page:
            assert page.read().decode().strip() == "ok"
        config = docker_client.api.inspect_image(releases["v1"])["Config"]
        assert "/health" in " ".join(config["Healthcheck"]["Test"])   # the image's HEALTHCHECK

        # the registry login went to the engine with the create (for the nodes' pulls)
        ((_, headers),) = tap.requests("POST", "/services/create")
        login = registry_login(headers)
        assert login["username"] == lab["SHIPWAY_REGISTRY_USER"]
        assert login["serveraddress"] == lab["SHIPWAY_REGISTRY"]

        # The port published above stays (a flag sets a field, a later deploy without the
        # flag leaves it); a start-first task on one node needs another host port.
        failed = shipway("deploy", *args, "--image", releases["broken"], "--no-registry-auth",
                         "--update-failure-action", "pause", "--json",
                         "--publish", f"{free_port()}:8080",
                         env={"DOCKER_HOST": tap.url}, check=1)
        (update,) = [h for p, h in tap.requests("POST", "/update") if "/services/" in p]
        assert registry_login(update) is None                          # --no-registry-auth
    finally:
        tap.close()
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: update of {service_name} to {releases['broken']} failed: "
                           "swarm paused the update"), last
    assert "task error: container unhealthy" in last, last
    record = json.loads(failed.stdout)     # --json: the record also when it failed (archived)
    assert (record["ok"], record["update_state"], record["image"]) == (
        False, "paused", releases["broken"])
    assert record["task_error"].startswith("container unhealthy")
    # start-first: the old task is never stopped, so v1 still serves every request (on a
    # loaded machine its own health check may restart it: wait for it to run)
    wait_for(lambda: running_digests(docker_client, service_name) == [digest(releases["v1"])],
             30, what="v1 running")
    assert docker_client.api.inspect_service(service_name)["UpdateStatus"]["State"] == "paused"
    assert f"the service now runs {releases['v1']} (" in last, last   # what the tasks run, a hint


def test_rollback_without_history_uses_swarms_previous_spec(
        shipway, releases, service_name, docker_client):
    """A service shipway never deployed (no release records): rollback is the Engine API's
    `update?rollback=previous`; with no PreviousSpec it changes nothing and says so."""
    import docker

    docker_client.services.create(
        releases["v1"], name=service_name, mode=docker.types.ServiceMode("replicated", 1),
        stop_grace_period=1_000_000_000, labels={"shipway.test": "true"},
        update_config=docker.types.UpdateConfig(parallelism=1, order="start-first",
                                                monitor=1_000_000_000),
        rollback_config=docker.types.RollbackConfig(parallelism=1, order="start-first",
                                                    monitor=1_000_000_000))
    wait_for(lambda: running_digests(docker_client, service_name) == [digest(releases["v1"])],
             timeout=90, poll=0.3, what="v1 running")
    version = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    refused = shipway("rollback", "--service", service_name, check=1)
    assert refused.stderr.strip() == (f"error: service {service_name} has no previous spec to "
                                      "roll back to; nothing was changed (see `shipway releases` "
                                      "for what is recorded; `shipway deploy --image REF` puts "
                                      "any pushed image back)")
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == version

    docker_client.services.get(service_name).update(image=releases["v2"])
    wait_for(lambda: running_digests(docker_client, service_name) == [digest(releases["v2"])]
             and docker_client.api.inspect_service(service_name)
             .get("UpdateStatus", {}).get("State") == "completed", timeout=90, poll=0.3,
             what="v2 running")
    back = shipway("rollback", "--service", service_name, check=0)
    assert back.stdout.strip() == (f"{service_name}: rolled back from {releases['v2']} "
                                   f"to {releases['v1']}")
    assert "swarm's previous spec" in back.stderr
    service = docker_client.api.inspect_service(service_name)
    assert service["UpdateStatus"]["State"] == "rollback_completed"   # swarm's own rollback
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])]

    status = shipway("status", "--service", service_name, check=0).stdout
    assert f"image:     {releases['v1']}" in status
    assert "replicas:  1/1 running (1 on this image)" in status
    assert "update:    rollback_completed" in status
    assert f"previous:  {releases['v2']}" in status
    assert "deploy " not in status     # its label shipway.test is no deploy record


def make_certificates(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as DOCKER_CERT_PATH
    wants them (ca.pem, cert.pem, key.pem), plus the server's pair."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-days", "1", "-subj", "/CN=ca",
            "-keyout", "ca-key.pem", "-out", "ca.pem")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n"
                                    "extendedKeyUsage=serverAuth,clientAuth\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=client")):
        openssl("req", *key, "-subj", subject, "-keyout", f"{name}-key.pem",
                "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-out", f"{name}.pem")
    shutil.copy(folder / "client.pem", folder / "cert.pem")
    shutil.copy(folder / "client-key.pem", folder / "key.pem")


def test_docker_tls_settings_are_honoured(shipway, tmp_path):
    """DOCKER_HOST with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH: shipway reaches an engine that
    speaks only TLS and wants a client certificate, and is refused with the wrong CA."""
    good, other = tmp_path / "certs", tmp_path / "other"
    good.mkdir()
    other.mkdir()
    make_certificates(good)
    make_certificates(other)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(good / "ca.pem"))
    context.load_cert_chain(good / "server.pem", good / "server-key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    tap = EngineTap(tls=context)
    name = random_name("nosvc")
    try:
        env = {"DOCKER_HOST": tap.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(good)}
        answered = shipway("status", "--service", name, env=env, check=2)
        assert answered.stderr.strip() == (f"error: there is no service {name} (check "
                                           "--service and DOCKER_HOST)")   # the engine said so
        assert tap.requests("GET", f"/services/{name}")
        refused = shipway("status", "--service", name, check=1,
                          env={**env, "DOCKER_CERT_PATH": str(other)})
        assert refused.stderr.startswith(f"error: cannot reach the Docker Engine at {tap.url}")
        assert refused.stderr.count("\n") == 1
    finally:
        tap.close()


def test_deploy_waits_no_longer_than_its_timeout(shipway, releases, service_name, tmp_path):
    """An update swarm holds back (60 s between tasks) outlasts --timeout 4s: exit 1, one line
    that says so, in about 4 s, not 60."""
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".")
    args = ("--catalog", catalog, "--service", service_name)
    shipway("deploy", *args, "--image", releases["v1"], check=0)
    slow = shipway("deploy", *args, "--image", releases["v2"], "--update-delay", "60s",
                   "--timeout", "4s", check=1, timeout=50)
    last = slow.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: update of {service_name} to {releases['v2']} failed: "
                           "timed out after 4s: update state updating, "), last
    assert re.search(r"[01]/2 tasks running the new image", last), last
