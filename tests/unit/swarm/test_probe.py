"""HTTP checks' probe (pipeline/swarm/probe.py) without an engine: the answers as busybox nc
returns them through the probe script (recorded shapes), the targets from recorded tasks,
the verdict of a round, the static busybox the probe image needs."""
import base64

import pytest

from pipeline.errors import UsageError
from pipeline.swarm import probe

HTTP = {"path": "/api/orders/", "expect_status": 200, "requests": 2, "port": 8080}
OK = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
      b'{"orders": []}\n')
FAILED = (b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n"
          b"hello: this release broke /api/orders/\n")
# HAProxy's exporter answers an HTTP/1.0 request chunked
CHUNKED = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
           b"5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n")
REFUSED = b"nc: can't connect to remote host (10.0.1.7): Connection refused\n"


def line(ip, n, raw):
    return f"shipway-probe {ip} {n} {base64.b64encode(raw).decode()}"


def test_answers_are_read_from_the_scripts_lines():
    out = "\n".join([line("10.0.1.7", 1, OK), line("10.0.1.8", 1, FAILED),
                     "shipway-probe 10.0.1.7 2 ", "noise"])
    answers = probe.parse_output(out)
    assert answers == {"10.0.1.7": [OK, b""], "10.0.1.8": [FAILED]}


@pytest.mark.parametrize("raw,status,body,problem", [
    (OK, 200, '{"orders": []}\n', ""),
    (FAILED, 500, "hello: this release broke /api/orders/\n", ""),
    (CHUNKED, 200, "hello world!", ""),
    (REFUSED, None, "", "connection refused"),
    (b"", None, "", "no answer within 5s"),
    (b"SSH-2.0-OpenSSH\r\n", None, "", "SSH-2.0-OpenSSH"),
])
def test_read_answer(raw, status, body, problem):
    assert probe.read_answer(raw) == (status, body, problem)


def test_a_round_fails_on_any_request_that_did_not_get_what_it_expects():
    targets = [(1, "10.0.1.7"), (2, "10.0.1.8")]
    answers = {"10.0.1.7": [OK, OK], "10.0.1.8": [OK, OK]}
    assert probe.judge_answers(HTTP, targets, answers) == (
        0, "4 requests to 2 tasks: all answered 200")
    answers["10.0.1.8"] = [FAILED]          # one answer, one missing
    assert probe.judge_answers(HTTP, targets, answers) == (
        2, "2 of 4 requests to 2 tasks failed (task 2 at 10.0.1.8: HTTP 500, expected 200)")
    wanting = {**HTTP, "body_contains": "orders", "requests": 1}
    assert probe.judge_answers(wanting, [(1, "10.0.1.7")], {"10.0.1.7": [CHUNKED]}) == (
        1, "1 of 1 requests to 1 task failed (task 1 at 10.0.1.7: HTTP 200 without 'orders' "
           "in its body)")
    assert probe.judge_answers(wanting, [(1, "10.0.1.7")], {"10.0.1.7": [REFUSED]})[1].endswith(
        "(task 1 at 10.0.1.7: connection refused)")


def _task(tid, slot, image, state="running", desired="running", net="n1", ip="10.0.1.7"):
    return {"ID": tid, "Slot": slot, "DesiredState": desired, "Status": {"State": state},
            "Spec": {"ContainerSpec": {"Image": image}},
            "NetworksAttachments": [{"Network": {"ID": "ingress"}, "Addresses": ["10.255.0.9/16"]},
                                    {"Network": {"ID": net}, "Addresses": [f"{ip}/24"]}]}


def test_only_the_new_releases_running_tasks_are_asked_on_the_probes_network():
    tasks = [_task("a", 2, "r:v2", ip="10.0.1.8"), _task("b", 1, "r:v1", ip="10.0.1.3"),
             _task("c", 1, "r:v2", ip="10.0.1.7"),
             _task("d", 3, "r:v2", state="starting", ip="10.0.1.9"),
             _task("e", 4, "r:v2", desired="shutdown", ip="10.0.1.10"),
             _task("f", 5, "r:v2", net="other", ip="10.0.2.2")]
    assert probe.targets_of(tasks, "r:v2", "n1") == [(1, "10.0.1.7"), (2, "10.0.1.8")]


def test_the_probe_needs_a_static_busybox(tmp_path):
    assert probe.busybox_path({}) == "/bin/busybox" or pytest.skip("no busybox-static here")
    dynamic = tmp_path / "sh"
    dynamic.write_bytes(open("/bin/sh", "rb").read())
    with pytest.raises(UsageError, match="not a statically linked executable"):
        probe.busybox_path({"SHIPWAY_PROBE_BUSYBOX": str(dynamic)})
    with pytest.raises(UsageError, match="cannot read .*/none: No such file"):
        probe.busybox_path({"SHIPWAY_PROBE_BUSYBOX": str(tmp_path / "none")})
    assert not probe.static_elf(b"#!/bin/sh\n" + b"\0" * 64)
