"""lab/up --nodes 3+1 and lab/down --nodes 3+1 themselves: a second up changes nothing, down
removes every process, mount, namespace, cgroup and veth the multi-node lab made and nothing
else (the single-node lab keeps running), and up brings it back.

Cost: about 25 s (a down and an up of the multi-node lab). Leaves the lab up, as it found it.
"""
import os
import subprocess

import pytest

from tests.integration.conftest import ROOT
from tests.support.multinode import STATE, MultiLab, unsupported_reason

pytestmark = [pytest.mark.integration, pytest.mark.multinode]

PREFIX = "shipway-mn"      # lab/multinode/lib.sh MN_PREFIX: namespaces and cgroups
ROOT_VETH = "swmn0"


def lab(script, *args):
    """lab/SCRIPT ARGS..., which must succeed."""
    proc = subprocess.run([os.path.join(ROOT, "lab", script), *args], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"lab/{script} {' '.join(args)}: {proc.stderr}"
    return proc


def host_state():
    """What the lab can make on this machine, seen from outside: namespaces, links (not
    docker's per-container veths, which other tests add and remove), mounts under the state
    dir and /run/netns, cgroups at the top of every hierarchy, processes naming the state dir."""
    netns = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    links = sorted(name for name in os.listdir("/sys/class/net") if not name.startswith("veth"))
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        mounts = sorted(line.split()[4] for line in handle
                        if line.split()[4].startswith((STATE, "/run/netns")))
    cgroups = []
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        roots = {line.split()[1] for line in handle if line.split()[2] in ("cgroup", "cgroup2")}
    for root in roots:
        cgroups += [os.path.join(root, d) for d in os.listdir(root)
                    if os.path.isdir(os.path.join(root, d))]
    processes = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if STATE in cmdline or f"{PREFIX}-" in cmdline:
            processes.append(cmdline.strip())
    return {"netns": netns, "links": links, "mounts": mounts, "cgroups": sorted(cgroups),
            "processes": sorted(processes)}


def ours(state):
    """The part of a host_state() that is the multi-node lab's."""
    return {"netns": [n for n in state["netns"] if n.startswith(PREFIX)],
            "links": [n for n in state["links"] if n == ROOT_VETH],
            "mounts": [m for m in state["mounts"]
                       if m.startswith((STATE, f"/run/netns/{PREFIX}-"))],
            "cgroups": [c for c in state["cgroups"] if os.path.basename(c) == PREFIX],
            "processes": state["processes"]}


def others(state):
    """The rest: what the lab must leave alone."""
    mine = ours(state)
    return {k: [v for v in values if v not in mine[k]] for k, values in state.items()
            if k not in ("processes", "mounts")}


def test_up_again_changes_nothing_down_removes_all_it_made_and_nothing_else():
    if unsupported_reason():
        pytest.skip(f"this machine cannot run the multi-node lab: {unsupported_reason()}")
    if not os.path.exists(os.path.join(STATE, "env")) \
            and os.environ.get("SHIPWAY_REQUIRE_LAB") != "1":
        pytest.skip("the multi-node lab is not up: run lab/up --nodes 3+1")
    lab("up", "--nodes", "3+1")
    up = host_state()
    assert len(ours(up)["netns"]) == 5 and ours(up)["links"] == [ROOT_VETH], ours(up)
    assert ours(up)["cgroups"] and ours(up)["processes"], ours(up)

    # idempotent: a second up checks and changes nothing
    again = lab("up", "--nodes", "3+1")
    for word in ("started", "initialised", "created", "joined"):
        assert word not in again.stderr, again.stderr
    assert ours(host_state()) == ours(up)

    # down: nothing of the lab's left, everything else as it was, the single-node lab running
    lab("down", "--nodes", "3+1")
    down = host_state()
    assert ours(down) == {"netns": [], "links": [], "mounts": [], "cgroups": [],
                          "processes": []}, ours(down)
    assert others(down) == others(up)
    assert not os.path.exists(STATE)
    single = subprocess.run(["/usr/bin/docker", "info", "--format",
                             "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True,
                            timeout=60)
    assert single.stdout.strip() == "active", single.stderr
    lab("down", "--nodes", "3+1")                   # idempotent too

    # and back, for whatever runs next
    lab("up", "--nodes", "3+1")
    assert MultiLab().healthy()
