"""HTTP checks of `deploy.analysis`: requests sent to the new release's tasks, and only to them.

The tasks' addresses are on the service's overlay network, which a Jenkins agent (where
shipway runs) does not reach. How the requests get there: a probe task on that network,
pinned to the node whose engine shipway talks to, and an exec into it per evaluation.

- The probe is a swarm service (`shipway-probe-<service>-<random>`, labelled
  `shipway.probe.service`) of one task: an image built here, on that engine, FROM scratch with
  a static busybox (this machine's /bin/busybox, or $SHIPWAY_PROBE_BUSYBOX: Debian's
  busybox-static) and a 30-line script; named by its image id, so its node runs it without a
  pull or a registry, and pinned with `node.id == <that node>` so that the node is the one
  that has the image. It sleeps, bounded by the deploy's longest life, and is removed when the
  analysis ends (a probe a killed deploy left is removed by the next one).
- Each evaluation of a check lists the service's tasks, keeps those running the new release
  (its image, desired and running), takes their addresses on the probe's network, and runs
  the script in the probe through the engine's exec (`docker exec`): busybox `nc` sends each
  task `requests` GETs of the path (HTTP/1.0, 5 s each), and the raw answers come back
  base64-encoded; which status and body they had is read here (pure: read_answer).

Why not the alternatives: an exec inside each new task's container (as health checks run)
reaches only containers of the engine shipway talks to (on a multi-node swarm, most tasks are
on other nodes, whose engines a Jenkins agent has no access to) and needs wget or curl in the
image; a job per evaluation costs a task start (1-2 s) and a trip through the log broker
each interval, where an exec costs about 0.1 s; sending through the service's published
port or a proxy cannot pick the new release's tasks. The probe's node must accept tasks (not
drained) and reach the overlay network: any swarm node does.
"""
import base64
import hashlib
import io
import re
import secrets
import struct
import tarfile
import time

from pipeline.api import engine
from pipeline.errors import EngineError, UsageError
from pipeline.neterrors import describe
from pipeline.swarm.spec import image_of, task_image

PROBE_LABEL = "shipway.probe.service"
BUSYBOX = "/bin/busybox"
READY_SECONDS = 60.0        # for the probe's task to run
REQUEST_SECONDS = 5         # each request, connect and answer
ANSWER_BYTES = 65536        # of each answer kept (status line, headers, the body's start)
# Every task of the release at once, each one's requests in turn; an answer is one line:
# `shipway-probe IP N BASE64` (nc's own complaint, if any, is in the answer).
SCRIPT = r"""#!/bin/busybox sh
# shipway's HTTP probe: GET PATH on PORT of each IP, N times; see pipeline/swarm/probe.py
path=$1 port=$2 n=$3
shift 3
for ip in "$@"; do
    (
        i=0
        while [ "$i" -lt "$n" ]; do
            i=$((i + 1))
            request='GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: shipway-probe\r\n'
            answer=$(printf "$request"'Connection: close\r\n\r\n' "$path" "$ip" \
                | /bin/busybox timeout @SECONDS@ /bin/busybox nc -w @SECONDS@ "$ip" "$port" 2>&1 \
                | /bin/busybox head -c @BYTES@ | /bin/busybox base64 -w 0)
            echo "shipway-probe $ip $i $answer"
        done
    ) &
done
wait
""".replace("@SECONDS@", str(REQUEST_SECONDS)).replace("@BYTES@", str(ANSWER_BYTES))
DOCKERFILE = (b'FROM scratch\nCOPY busybox /bin/busybox\nCOPY probe /bin/probe\n'
              b'ENTRYPOINT ["/bin/busybox", "sleep"]\nCMD ["3600"]\n')
_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


# --- pure: the answers -------------------------------------------------------------------
def static_elf(head):
    """True when `head` (a file's first bytes) is an ELF executable without an interpreter
    (PT_INTERP): it runs in a FROM scratch image."""
    if head[:4] != b"\x7fELF" or len(head) < 64:
        return False
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide:
        phoff, = struct.unpack_from(order + "Q", head, 32)
        size, count = struct.unpack_from(order + "HH", head, 54)
    else:
        phoff, = struct.unpack_from(order + "I", head, 28)
        size, count = struct.unpack_from(order + "HH", head, 42)
    for index in range(count):
        at = phoff + index * size
        if at + 4 > len(head):
            return False    # the headers lie beyond what was read: say no, not maybe
        kind, = struct.unpack_from(order + "I", head, at)
        if kind == 3:       # PT_INTERP: a dynamic loader
            return False
    return True


def parse_output(text):
    """{ip: [raw answer bytes, ...]} of the probe script's output."""
    answers = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) < 3 or parts[0] != "shipway-probe":
            continue
        encoded = parts[3] if len(parts) > 3 else ""
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raw = b""
        answers.setdefault(parts[1], []).append(raw)
    return answers


def _dechunked(body):
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return out + rest    # not chunks after all: what came
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def read_answer(raw):
    """(status or None, body text, problem) of one raw answer: its status line and body
    (chunks joined); without an HTTP answer, what went wrong in a few words."""
    if not raw:
        return None, "", f"no answer within {REQUEST_SECONDS}s"
    found = _STATUS.match(raw)
    if not found:
        # busybox nc: "nc: can't connect to remote host (10.0.1.5): Connection refused"
        said = raw.decode("utf-8", "replace").strip().splitlines()[0]
        return None, "", describe(said.rsplit(": ", 1)[-1][:200]) or "no HTTP answer"
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunked(body)
    return int(found.group(1)), body.decode("utf-8", "replace"), ""


def judge_answers(http, targets, answers):
    """(failed requests, detail) of one round: `http` the check's request, `targets`
    [(slot, ip)] the tasks asked, `answers` parse_output's. A request that got no answer
    line counts as failed."""
    expect, text = http["expect_status"], http.get("body_contains")
    failed, first, total = 0, "", 0
    for slot, ip in targets:
        got = answers.get(ip, [])
        got += [b""] * (http["requests"] - len(got))
        for raw in got:
            total += 1
            status, body, problem = read_answer(raw)
            if status is not None and status != expect:
                problem = f"HTTP {status}, expected {expect}"
            elif status is not None and text is not None and text not in body:
                problem = f"HTTP {status} without {text!r} in its body"
            if problem:
                failed += 1
                first = first or f"task {slot} at {ip}: {problem}"
    tasks = f"{len(targets)} task{'s' if len(targets) != 1 else ''}"
    if failed:
        return failed, f"{failed} of {total} requests to {tasks} failed ({first})"
    want = f"{expect}" + (f" with {text!r}" if text is not None else "")
    return 0, f"{total} request{'s' if total != 1 else ''} to {tasks}: all answered {want}"


def targets_of(tasks, image, network_id):
    """[(slot, ip)] of the tasks running `image` (desired and running), by their address on
    the network `network_id`."""
    found = []
    for task in tasks:
        if task.get("DesiredState") != "running" or task["Status"]["State"] != "running" \
                or task_image(task) != image:
            continue
        for attached in task.get("NetworksAttachments") or []:
            if (attached.get("Network") or {}).get("ID") == network_id and \
                    attached.get("Addresses"):
                found.append((task.get("Slot") or "-", attached["Addresses"][0].split("/")[0]))
    return sorted(found, key=lambda t: str(t[0]))


# --- the probe task ----------------------------------------------------------------------
def busybox_path(environ):
    """The static busybox the probe image is built from; UsageError when there is none
    (before anything changes)."""
    path = (environ or {}).get("SHIPWAY_PROBE_BUSYBOX") or BUSYBOX
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError as exc:
        raise UsageError(f"HTTP checks need a static busybox to build their probe: cannot "
                         f"read {path}: {exc.strerror}",
                         hint="apt-get install busybox-static, or set "
                              "SHIPWAY_PROBE_BUSYBOX") from None
    if not static_elf(head):
        raise UsageError(f"HTTP checks need a static busybox to build their probe: {path} is "
                         "not a statically linked executable",
                         hint="apt-get install busybox-static, or set SHIPWAY_PROBE_BUSYBOX")
    return path


class Prober:
    """The probe of one deploy's HTTP checks: `start(spec)` once the release is written,
    `measure(check)` per evaluation, `close()` at the end (a probe.Prober is what
    analysis.Judge asks of HTTP checks). lifetime: seconds the probe task lives at most."""

    def __init__(self, api, service, report, busybox, lifetime):
        self.api = api
        self.service = service
        self.report = report
        self.busybox = busybox
        self.lifetime = lifetime
        self.image = None         # the release's image: only its tasks are asked
        self.network = None       # the overlay network's id the probe is on
        self.probe_id = None      # the probe service's id
        self.container = None     # the probe task's container, once it runs
        self.problem = ""         # why there is no probe (each evaluation fails with it)

    def start(self, spec):
        """Make the probe for the release `spec` runs (the service's spec as written)."""
        self.image = image_of(spec)
        try:
            self._sweep()
            nets = ((spec or {}).get("TaskTemplate") or {}).get("Networks") or []
            if not nets:
                self.problem = ("the service is on no overlay network (networks:), so an "
                                "HTTP check cannot reach its tasks")
                return
            network = engine.inspect_network(self.api, nets[0]["Target"])
            if network is None:
                self.problem = f"network {nets[0]['Target']} is gone"
                return
            self.network = network["Id"]
            self.probe_id = self._create(network)
        except EngineError as exc:
            self.problem = f"cannot start the probe: {exc.message}"

    def _sweep(self):
        """Remove the probes a killed deploy of this service left."""
        for old in engine.list_services(self.api, {PROBE_LABEL: self.service}):
            engine.remove_service(self.api, old["ID"])

    def _image(self):
        """The probe image's id: built on this engine once per busybox and script."""
        with open(self.busybox, "rb") as handle:
            binary = handle.read()
        digest = hashlib.sha256(binary + SCRIPT.encode() + DOCKERFILE).hexdigest()[:16]
        name = f"shipway-probe:{digest}"
        found = engine.inspect_image(self.api, name)
        if found is not None:
            return found["Id"]
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for member, data, mode in (("busybox", binary, 0o755),
                                       ("probe", SCRIPT.encode(), 0o755),
                                       ("Dockerfile", DOCKERFILE, 0o644)):
                info = tarfile.TarInfo(member)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        image_id = engine.build_context(self.api, context, {"shipway.probe": digest})
        engine.tag(self.api, image_id, "shipway-probe", digest)
        return image_id

    def _create(self, network):
        node = ((engine.info(self.api) or {}).get("Swarm") or {}).get("NodeID")
        name = f"shipway-probe-{self.service[:30]}-{secrets.token_hex(3)}"
        spec = {"Name": name, "Labels": {PROBE_LABEL: self.service},
                "TaskTemplate": {
                    # by id: the node runs the image it has, with no pull and no registry
                    "ContainerSpec": {"Image": self._image(), "Args": [f"{self.lifetime:.0f}"],
                                      "Labels": {PROBE_LABEL: self.service}},
                    "Placement": {"Constraints": [f"node.id=={node}"]},
                    "RestartPolicy": {"Condition": "none"},
                    "Networks": [{"Target": network["Id"]}]},
                "Mode": {"Replicated": {"Replicas": 1}}}
        probe_id = engine.create_service(self.api, spec)
        self.report(f"analysis: probe {name} for the HTTP checks, on network "
                    f"{network['Name']}")
        return probe_id

    def _ready(self):
        """The probe's container id, once its task runs (bounded); raises EngineError."""
        deadline = time.monotonic() + READY_SECONDS
        while self.container is None:
            tasks = engine.list_tasks(self.api, self.probe_id)
            for task in tasks:
                state = task["Status"]["State"]
                if state == "running":
                    self.container = task["Status"]["ContainerStatus"]["ContainerID"]
                elif state in ("failed", "rejected"):
                    status = task["Status"]
                    raise EngineError(f"the probe task {state}: "
                                      f"{status.get('Err') or status.get('Message')}")
            if self.container is None and time.monotonic() > deadline:
                why = "; ".join(t["Status"].get("Err") or t["Status"]["State"] for t in tasks)
                raise EngineError(f"the probe did not run within {READY_SECONDS:g}s "
                                  f"({why or 'no task'}): is the node drained?")
            if self.container is None:
                time.sleep(0.2)
        return self.container

    def measure(self, check):
        """(failed requests or None when no task of the release runs, detail, error) of one
        round of `check`'s requests."""
        if self.problem:
            return None, "", self.problem
        http = check["http"]
        try:
            container = self._ready()
            targets = targets_of(engine.list_tasks(self.api, self.service), self.image,
                                 self.network)
            if not targets:
                return None, "", ""
            argv = ["/bin/busybox", "sh", "/bin/probe", http["path"], str(http["port"]),
                    str(http["requests"]), *[ip for _, ip in targets]]
            _, out, _ = engine.exec_in(self.api, container, argv)
        except EngineError as exc:
            return None, "", f"probe: {exc.message}"
        failed, detail = judge_answers(http, targets, parse_output(out.decode("utf-8",
                                                                              "replace")))
        return failed, detail, ""

    def close(self):
        """Remove the probe (a probe that is gone already is fine)."""
        if self.probe_id is None:
            return
        try:
            engine.remove_service(self.api, self.probe_id)
        except EngineError as exc:
            self.report(f"analysis: the probe was not removed ({exc.message}); the next "
                        "deploy of the service removes it")
        self.probe_id = self.container = None


def prober(api, settings, environ, report, lifetime):
    """The Prober of a deploy whose analysis has HTTP checks (its busybox checked now,
    before anything changes)."""
    return Prober(api, settings["name"], report, busybox_path(environ), lifetime)



