"""A per-test HAProxy, run as a swarm service the way lab/up runs `shipway-proxy`.

The lab's proxy routes fixed names only (SHIPWAY_LAB_ROUTES, default `hello`), so a test with a
random service name runs its own: the lab's image (127.0.0.1:5000/shipway/haproxy:lab, local
only, never pulled; the SDK does not resolve images, like `--no-resolve-image`), with a config
rendered from the lab's own template (lab/haproxy/haproxy.cfg.tmpl, the same expansion as
lab/haproxy/pack) in a swarm config object mounted over the image's /etc/haproxy/haproxy.cfg.
Like the lab's: on the `proxy` network, `--endpoint-mode dnsrr`, its port published in host
mode (here a free random one), stop-first.

A route may be rendered without health checks (check=False): no `option httpchk`, no `check`
on the servers, so HAProxy sends traffic to whatever Docker's DNS lists. That is the control of
the zero-downtime measurement.

Also the few swarm helpers the control needs (a service created with the SDK, an image update
waited for like `docker service update --detach=false`).
"""
import os
import re
import secrets
import socket
import subprocess
import tempfile

from tests.support.poll import PollTimeout, poll_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "lab", "haproxy", "haproxy.cfg.tmpl")
IMAGE = "127.0.0.1:5000/shipway/haproxy:lab"
CONFIG_PATH = "/etc/haproxy/haproxy.cfg"     # what the image's ENTRYPOINT reads
HOST_HAPROXY = "/usr/sbin/haproxy"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def render(routes, template=TEMPLATE):
    """haproxy.cfg for `routes` ({service: check?} or [(service, check?)]), from the lab's
    template: blocks between `#@ROUTE` and `#@END` repeat per service with @SERVICE@ replaced.
    A route with check False gets no health checks."""
    routes = list(routes.items()) if isinstance(routes, dict) else list(routes)
    for service, _ in routes:
        if not _NAME.match(service):
            raise ValueError(f"bad service name for a route: {service!r}")
    with open(template, encoding="utf-8") as handle:
        lines = handle.read().splitlines(keepends=True)
    out, block, in_block = [], [], False
    for line in lines:
        if line.startswith("#@ROUTE"):
            in_block, block = True, []
        elif line.startswith("#@END"):
            in_block = False
            for service, check in routes:
                for raw in block:
                    text = raw.replace("@SERVICE@", service)
                    if not check:
                        if text.strip().startswith(("option httpchk", "http-check")):
                            continue
                        text = re.sub(r" check(?= |$)", "", text)
                    out.append(text)
        elif in_block:
            block.append(line)
        else:
            out.append(line)
    text = "".join(out)
    if in_block or any("@SERVICE@" in line for line in text.splitlines()
                       if not line.lstrip().startswith("#")):
        raise ValueError(f"{template}: unbalanced #@ROUTE/#@END markers")
    return text


def check_config(text):
    """Parse the config with the host's haproxy (as lab/haproxy/pack does), if there is one."""
    if not os.path.exists(HOST_HAPROXY):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as handle:
        handle.write(text)
    try:
        proc = subprocess.run([HOST_HAPROXY, "-c", "-q", "-f", handle.name],
                              capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(handle.name)
    if proc.returncode != 0:
        raise ValueError(f"haproxy rejects the rendered config: {proc.stderr.strip()}")


def free_port():
    """A TCP port nothing listens on now (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def service_problems(client, service):
    """The errors of the service's failed tasks, newest first (for failure messages)."""
    tasks = client.api.tasks(filters={"service": service})
    tasks.sort(key=lambda t: t["Status"].get("Timestamp", ""), reverse=True)
    return [f"{t['Status']['State']}: {t['Status'].get('Err') or t['Status'].get('Message')}"
            for t in tasks if t["Status"]["State"] in ("failed", "rejected")][:3]


def running_tasks(client, service, image=None):
    """Tasks of `service` running (healthy, where there is a health check) [on `image`]."""
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    return [t for t in tasks if t["Status"]["State"] == "running"
            and (image is None or t["Spec"]["ContainerSpec"]["Image"] == image)]


def wait_running(client, service, replicas, image=None, timeout=60.0):
    """Until exactly `replicas` tasks of `service` run [`image`] and no other is meant to."""
    def settled():
        live = client.api.tasks(filters={"service": service, "desired-state": "running"})
        return len(running_tasks(client, service, image)) == replicas and len(live) == replicas

    poll_until(settled, timeout, lambda: f"service {service} to run {replicas} task(s) "
               f"({service_problems(client, service)})")


def update_image(client, service, image, timeout=90.0):
    """Point `service` at `image` and wait for swarm's rolling update to complete (the
    SDK's `docker service update --detach=false`): UpdateStatus `completed`, every replica
    running the new image. The rest of the spec is left as it is."""
    current = client.api.inspect_service(service)
    template = current["Spec"]["TaskTemplate"]
    template["ContainerSpec"]["Image"] = image
    client.api.update_service(current["ID"], current["Version"]["Index"],
                              task_template=template, fetch_current_spec=True)
    replicas = current["Spec"]["Mode"]["Replicated"]["Replicas"]

    def state():
        status = client.api.inspect_service(service).get("UpdateStatus") or {}
        state = status.get("State")
        if state in ("paused", "rollback_started", "rollback_completed", "rollback_paused"):
            raise RuntimeError(f"update of {service} to {image}: {state} "
                               f"({status.get('Message', '')})")
        return state

    poll_until(state, timeout, f"the update of {service} to {image} to complete",
               until=lambda state: state == "completed")
    wait_running(client, service, replicas, image, timeout=timeout)


def create_plain_service(client, name, image, *, network="proxy", replicas=1,
                         order="stop-first", labels=None, timeout=60.0):
    """A service made with the SDK, no health check (the image's HEALTHCHECK is switched off),
    updates in `order`, one task at a time; waits until its tasks run."""
    import docker

    client.services.create(
        image, name=name, networks=[network],
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        mode=docker.types.ServiceMode("replicated", replicas=replicas),
        healthcheck=docker.types.Healthcheck(test=["NONE"]),
        update_config=docker.types.UpdateConfig(parallelism=1, delay=0, order=order,
                                                failure_action="pause", monitor=1_000_000_000),
        stop_grace_period=1_000_000_000,
        labels=dict(labels or {}))
    wait_running(client, name, replicas, timeout=timeout)


def remove_service(client, name, timeout=30.0, wait=True):
    """Remove the service if it is there; with `wait`, wait (bounded) until its containers
    are gone too."""
    import docker

    try:
        client.services.get(name).remove()
    except docker.errors.NotFound:
        return
    if not wait:
        return
    try:
        poll_until(lambda: not client.containers.list(
            all=True, filters={"label": f"com.docker.swarm.service.name={name}"}),
            timeout, f"the containers of {name} to go")
    except PollTimeout:
        pass        # bounded on purpose: the caller's cleanup goes on


class SwarmProxy:
    """HAProxy as a swarm service routing `<service>.lab.localhost` for `routes`.

        with SwarmProxy(docker_client, {"svc-1234": True, "ctl-5678": False}) as proxy:
            proxy.port        # on 127.0.0.1, host mode
    """

    def __init__(self, client, routes, *, network="proxy", image=IMAGE, name=None,
                 labels=None, address="127.0.0.1", constraints=None):
        self.client = client
        self.routes = dict(routes)
        self.network = network
        self.image = image
        self.name = name or f"proxy-{secrets.token_hex(4)}"
        self.labels = {"shipway.test": "true", **(labels or {})}
        self.port = None
        self.config_id = None
        # where its host-mode port is reached: loopback, or (multi-node lab) the node that
        # `constraints` pin it to, which must have `image` already (it is never pulled)
        self.address = address
        self.constraints = list(constraints or [])
        self.text = render(self.routes)

    @staticmethod
    def host(service):
        return f"{service}.lab.localhost"

    def start(self, timeout=60.0):
        import docker

        check_config(self.text)
        config = self.client.configs.create(name=f"{self.name}-cfg", data=self.text.encode(),
                                            labels=self.labels)
        self.config_id = config.id
        self.port = free_port()
        self.client.services.create(
            self.image, name=self.name, networks=[self.network],
            endpoint_spec=docker.types.EndpointSpec(
                mode="dnsrr", ports=[{"Protocol": "tcp", "PublishedPort": self.port,
                                      "TargetPort": 80, "PublishMode": "host"}]),
            mode=docker.types.ServiceMode("replicated", replicas=1),
            configs=[docker.types.ConfigReference(config.id, f"{self.name}-cfg",
                                                  filename=CONFIG_PATH)],
            restart_policy=docker.types.RestartPolicy(condition="any", delay=1_000_000_000,
                                                      max_attempts=3),
            update_config=docker.types.UpdateConfig(order="stop-first"),
            stop_grace_period=5_000_000_000,
            constraints=self.constraints or None,
            labels=self.labels)
        self.wait_healthy(timeout)
        return self

    def healthy(self):
        from tests.support.load import get

        status, _, _ = get(self.port, "proxy.lab.localhost", "/_lab/proxy-health", timeout=1.0,
                           address=self.address)
        return status == 200

    def wait_healthy(self, timeout=60.0):
        poll_until(self.healthy, timeout, lambda: f"proxy {self.name} on {self.address}:"
                   f"{self.port} to answer ({service_problems(self.client, self.name)})")

    def wait_routed(self, service, predicate=None, timeout=60.0):
        """Poll GET / for `service` through the proxy until 200 [and predicate(version)]."""
        from tests.support.load import wait_until

        return wait_until(self.port, self.host(service),
                          lambda status, version, error: status == 200 and (
                              predicate is None or predicate(version)), timeout=timeout,
                          address=self.address)

    def remove(self):
        """Remove the service, then its config (which swarm keeps while a service uses it)."""
        import docker

        remove_service(self.client, self.name, wait=False)
        if self.config_id:
            def removed():
                try:
                    self.client.api.remove_config(self.config_id)
                except docker.errors.NotFound:
                    pass
                return True

            try:        # an APIError: still in use for a moment
                poll_until(removed, 15, f"config {self.config_id} removed",
                           retry_on=(docker.errors.APIError,))
            except PollTimeout:
                pass    # bounded on purpose, as remove_service
            self.config_id = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *exc):
        self.remove()

