"""The multi-node lab (lab/multinode) as the tests and the bench see it.

`lab/up --nodes 3+1` writes its settings to /var/lib/shipway-lab-multi/env and its node list
("name ip role index" lines) to .../nodes. Each node is a dockerd with its own unix socket; the
swarm's managers are m1..m3, the worker w1; the registry listens on the lab's bridge and logs
every request with the address of the node that made it. Faults go through lab/multinode/node
(kill, start, disconnect, connect): by pid and by the node's own link, nothing else.

Only the lab's own sockets, its bridge (10.210.0.0/24) and loopback are ever contacted.
"""
import functools
import os
import re
import subprocess
import time

from tests.support.poll import PollTimeout, poll_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATE = os.environ.get("SHIPWAY_LAB_MULTI_DIR", "/var/lib/shipway-lab-multi")
NODE_SCRIPT = os.path.join(ROOT, "lab", "multinode", "node")
# A line of the registry's access log: who (node address) fetched what, and the answer.
_ACCESS = re.compile(r'^(?P<ip>[0-9.]+) - \S* \[[^]]+\] "(?P<method>[A-Z]+) (?P<uri>\S+) '
                     r'[^"]*" (?P<status>\d{3}) ')


class MultiLab:
    """Settings, nodes and fault actions of the multi-node lab (read from its state dir)."""

    def __init__(self, state=STATE):
        self.state = state
        self.env = {}
        with open(os.path.join(state, "env"), encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    self.env[key] = value
        self.nodes = {}      # name -> (ip, role)
        with open(os.path.join(state, "nodes"), encoding="utf-8") as handle:
            for line in handle:
                name, ip, role, _ = line.split()
                self.nodes[name] = (ip, role)
        self._clients = {}

    # --- what is where -------------------------------------------------------------------
    @property
    def managers(self):
        return [n for n, (_, role) in self.nodes.items() if role == "manager"]

    @property
    def workers(self):
        return [n for n, (_, role) in self.nodes.items() if role == "worker"]

    def ip(self, node):
        return self.nodes[node][0]

    def socket(self, node):
        return f"unix://{self.state}/{node}.sock"

    def client(self, node):
        """A docker.DockerClient on NODE's own engine (cached)."""
        import docker

        if node not in self._clients:
            # a fixed API version: the client is made without asking the engine, which may
            # be the one a test just killed (20.10 speaks 1.41; newer engines accept it)
            self._clients[node] = docker.DockerClient(base_url=self.socket(node),
                                                      version="1.41", timeout=30)
        return self._clients[node]

    def close(self):
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def up(self, node):
        """NODE's dockerd answers."""
        import docker
        import requests

        try:
            return bool(self.client(node).ping())
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False

    def manager(self, exclude=()):
        """A manager that answers and is part of a swarm with a leader: its client."""
        import docker
        import requests

        for node in self.managers:
            if node in exclude:
                continue
            try:
                nodes = self.client(node).api.nodes(filters={"role": "manager"})
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                continue
            if any((n.get("ManagerStatus") or {}).get("Leader") for n in nodes):
                return self.client(node)
        raise RuntimeError(f"no manager with a leader among {self.managers} (excluding {exclude})")

    def leader(self, exclude=()):
        """The hostname of the raft leader, as a live manager sees it."""
        for entry in self.manager(exclude).api.nodes(filters={"role": "manager"}):
            if (entry.get("ManagerStatus") or {}).get("Leader"):
                return entry["Description"]["Hostname"]
        raise RuntimeError("no leader")

    def node_states(self, exclude=()):
        """hostname -> (Status.State, ManagerStatus.Reachability or '') as a live manager sees."""
        return {n["Description"]["Hostname"]:
                (n["Status"]["State"], (n.get("ManagerStatus") or {}).get("Reachability", ""))
                for n in self.manager(exclude).api.nodes()}

    def healthy(self):
        """Every node ready, every manager reachable, a leader."""
        try:
            states = self.node_states()
        except RuntimeError:
            return False
        return len(states) == len(self.nodes) and all(
            state == "ready" and reach in ("", "reachable") for state, reach in states.values())

    # --- faults ----------------------------------------------------------------------------
    def act(self, action, node=""):
        """lab/multinode/node ACTION NODE (kill, start, stop, disconnect, connect)."""
        proc = subprocess.run([NODE_SCRIPT, action, *([node] if node else [])],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"lab/multinode/node {action} {node}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def restore(self, timeout=120.0):
        """Every node back: links up, dockerds started, the swarm healthy again (bounded)."""
        for node in self.nodes:
            self.act("connect", node)
            if not self.up(node):
                self.act("start", node)
        wait_for(self.healthy, timeout, "every node ready and every manager reachable")

    def proxy_up(self):
        """The lab's HAProxy (shipway-proxy, on the proxy node) answers its health URI."""
        from tests.support.load import get

        address, port = self.env["SHIPWAY_LAB_PROXY"].split("//", 1)[1].split(":")
        return get(int(port), "proxy.lab.localhost", "/_lab/proxy-health", timeout=1.0,
                   address=address)[0] == 200

    def remove_images(self, repository, timeout=30.0):
        """Every node's images of `repository`, once the containers of removed services that
        still use them are gone (bounded; lab/down takes whatever is left)."""
        import docker

        def removed(api):
            left = 0
            for image in api.images(name=repository):
                try:
                    api.remove_image(image["Id"], force=True)
                except docker.errors.APIError:
                    left += 1       # a stopping container still uses it
            return not left

        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if not self.up(node):
                continue
            try:
                poll_until(functools.partial(removed, self.client(node).api),
                           max(0.0, deadline - time.monotonic()),
                           f"{node}'s images of {repository} removed", interval=0.5)
            except PollTimeout:
                pass                # bounded on purpose: lab/down takes whatever is left

    # --- what runs where -------------------------------------------------------------------
    def running_tasks(self, service, exclude=()):
        """[(node hostname, image of the task spec)] for the service's running tasks."""
        api = self.manager(exclude).api
        names = {n["ID"]: n["Description"]["Hostname"] for n in api.nodes()}
        tasks = api.tasks(filters={"service": service, "desired-state": "running"})
        return sorted((names.get(t.get("NodeID"), "?"), t["Spec"]["ContainerSpec"]["Image"])
                      for t in tasks if t["Status"]["State"] == "running")

    def container_digests(self, service, nodes=None):
        """node -> sorted repo digests of the images the service's running containers on that
        node were created from, asked of each node's own engine (what really runs there)."""
        found = {}
        for node in nodes or self.nodes:
            api = self.client(node).api
            for container in api.containers(
                    filters={"label": f"com.docker.swarm.service.name={service}",
                             "status": "running"}):
                image = api.inspect_image(container["ImageID"])
                found.setdefault(node, []).extend(
                    d.rsplit("@", 1)[1] for d in image.get("RepoDigests", []))
        return {node: sorted(set(digests)) for node, digests in found.items()}

    def registry_fetches(self, repository, reference):
        """Node addresses that fetched the manifest `reference` (a digest) of `repository`
        with an answer 200. The registry asks for a login on every request (htpasswd), so a
        200 means the request carried valid credentials."""
        uri = f"/v2/{repository}/manifests/{reference}"
        fetched = set()
        with open(os.path.join(self.state, "registry.log"), encoding="utf-8",
                  errors="replace") as handle:
            for line in handle:
                match = _ACCESS.match(line)
                if match and match["uri"] == uri and match["method"] == "GET" \
                        and match["status"] == "200":
                    fetched.add(match["ip"])
        return fetched


def wait_for(predicate, timeout, what, interval=0.5):
    """Poll predicate() until true; PollTimeout (a TimeoutError) naming `what` after `timeout`
    seconds. A RuntimeError from predicate (no manager with a leader, yet) counts as not yet.
    tests/support/poll.py's poll_until with this module's defaults; returns None."""
    poll_until(predicate, timeout, what, interval, retry_on=(RuntimeError,))


def unsupported_reason():
    """Why this machine cannot run the multi-node lab, when lab/test found it cannot."""
    return os.environ.get("SHIPWAY_MULTINODE_UNSUPPORTED", "")
