"""pipeline/webhook.py against a real HTTP receiver on loopback (tests/support/webhooks.py):
a JSON POST, retried for what a retry can mend, never for another 4xx, bounded in time, and
every failure said in a few words of its own, never with the URL or Python's text."""
import socket
import time

import pytest

from pipeline import webhook
from tests.support.webhooks import Receiver, closed_port


@pytest.fixture
def receiver():
    with Receiver() as found:
        yield found


def test_a_post_is_json_with_shipway_as_its_agent(receiver):
    assert webhook.post(receiver.url("a"), {"event": "deployed", "text": "ünïcode"}) == ""
    ((path, headers, body),) = receiver.posts
    assert body == {"event": "deployed", "text": "ünïcode"}
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("shipway/")


def test_a_500_is_tried_three_times_then_said_in_one_line(receiver):
    receiver.fail("a", 500)
    why = webhook.post(receiver.url("a"), {"event": "failed"}, backoff=0.01)
    assert why == "HTTP 500: internal error"
    assert len(receiver.bodies("a")) == 3


@pytest.mark.parametrize("status, tries", [(400, 1), (404, 1), (429, 3), (503, 3)])
def test_only_what_a_retry_can_mend_is_retried(receiver, status, tries):
    receiver.fail("a", status)
    assert webhook.post(receiver.url("a"), {}, backoff=0.01).startswith(f"HTTP {status}")
    assert len(receiver.bodies("a")) == tries


def test_a_refused_connection_is_said_without_errno_or_url():
    url = f"http://127.0.0.1:{closed_port()}/hooks/sekrit"
    assert webhook.post(url, {}, backoff=0.01) == "connection refused"


def test_a_webhook_that_never_answers_is_bounded_in_time():
    with socket.socket() as silent:       # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks/x"
        started = time.monotonic()
        why = webhook.post(url, {}, total=1.5, attempt=0.5)
        took = time.monotonic() - started
    assert why == "no answer within 0.5s"
    assert took < 3.0, took


def test_a_host_that_does_not_resolve():
    assert webhook.post("http://shipway-no-such-host.invalid/hooks/x", {},
                        backoff=0.01) == "the host name does not resolve"
