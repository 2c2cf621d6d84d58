"""Unit tests for the Jenkins double's build log endpoints (console.py): what
``logText/progressiveText`` and ``progressiveHtml`` send, as Stapler's
``LargeText.doProgressText`` does. No sockets, no executor threads: builds are made
in the model and requests go straight through ``server.process``.
"""

from __future__ import annotations

import base64

import pytest

from tests.support.jenkins_double import JenkinsDouble
from tests.support.jenkins_double.console import crlf, parse_start, progressive_slice
from tests.support.jenkins_double.errors import ServerError
from tests.support.jenkins_double.jobs import Build
from tests.support.jenkins_double.server import process

PIPELINE_XML = "<flow-definition><description>d</description></flow-definition>"
LOG = "Started by user admin\nstep <1> & more\nFinished: SUCCESS\n"


@pytest.fixture
def double():
    jd = JenkinsDouble(users={"admin": "t0k"}, crumb_exempt_api_tokens=True)
    jd.seed("p", PIPELINE_XML)
    return jd


def _build(jd, console, building):
    job = jd.get_item("p")
    build = Build(job, len(job.builds) + 1, 1, [])
    build.console, build.building = console, building
    job.builds[build.number] = build
    return build


def _get(jd, path, method="GET", body=b"", ctype=None):
    headers = {"authorization": "Basic " + base64.b64encode(b"admin:t0k").decode()}
    if ctype:
        headers["content-type"] = ctype
    return process(jd.app, method, "/" + path, headers, body)


def _headers(response):
    return dict(response.headers)


# -- the pure parts ----------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [(None, 0), ("0", 0), ("17", 17), ("+5", 5),
                                          ("-3", -3), ("9223372036854775807", 2 ** 63 - 1)])
def test_start_is_read_as_long_parse_long_does(raw, expected):
    assert parse_start(raw) == expected


@pytest.mark.parametrize("raw", ["", "x", "1.5", " 1", "1_0", "9223372036854775808", "0x10"])
def test_a_start_long_parse_long_refuses_is_a_500(raw):
    with pytest.raises(ServerError) as refused:
        parse_start(raw)
    assert refused.value.message == f'java.lang.NumberFormatException: For input string: "{raw}"'


def test_a_complete_log_is_sent_from_start_to_its_end():
    assert progressive_slice(b"ab\ncd", 0, True) == (b"ab\ncd", 5)
    assert progressive_slice(b"ab\ncd", 4, True) == (b"d", 5)
    assert progressive_slice(b"ab\ncd", 5, True) == (b"", 5)
    assert progressive_slice(b"ab\ncd", 6, True) == (b"ab\ncd", 5)  # rolled over: from 0


def test_a_running_log_is_sent_in_whole_lines():
    # The half-written "cd" waits: X-Text-Size points at its start.
    assert progressive_slice(b"ab\ncd", 0, False) == (b"ab\n", 3)
    assert progressive_slice(b"ab\ncd", 3, False) == (b"", 3)
    assert progressive_slice(b"ab\rcd\r\n", 0, False) == (b"ab\rcd\r\n", 7)  # CR ends one too
    many = b"x\n" * 10_005
    assert progressive_slice(many, 0, False) == (b"x\n" * 10_000, 20_000)


def test_a_negative_start_fails_the_seek():
    with pytest.raises(ServerError, match="Negative seek offset"):
        progressive_slice(b"ab\n", -1, True)


def test_lf_goes_out_as_crlf_and_crlf_stays():
    assert crlf("a\nb\r\nc\rd\n\n") == "a\r\nb\r\nc\rd\r\n\r\n"


# -- through the filter chain --------------------------------------------------------

def test_progressive_text_of_a_running_build(double):
    _build(double, "Started by user admin\nhalf a li", building=True)
    first = _get(double, "job/p/1/logText/progressiveText")
    assert first.status == 200 and first.content_type == "text/plain;charset=UTF-8"
    assert first.body == b"Started by user admin\r\n"
    assert _headers(first)["X-Text-Size"] == "22" and _headers(first)["X-More-Data"] == "true"
    again = _get(double, "job/p/lastBuild/logText/progressiveText?start=22")
    assert again.body == b"" and _headers(again)["X-Text-Size"] == "22"


def test_progressive_text_of_a_finished_build_has_no_more_data(double):
    _build(double, LOG, building=False)
    rest = _get(double, "job/p/1/logText/progressiveText?start=22")
    assert rest.body == b"step <1> & more\r\nFinished: SUCCESS\r\n"
    assert _headers(rest)["X-Text-Size"] == str(len(LOG)) and "X-More-Data" not in _headers(rest)
    beyond = _get(double, f"job/p/1/logText/progressiveText?start={len(LOG) + 9}")
    assert beyond.body == crlf(LOG).encode()


def test_progressive_text_takes_a_posted_form_and_refuses_a_bad_start(double):
    _build(double, LOG, building=False)
    posted = _get(double, "job/p/1/logText/progressiveText", "POST", b"start=22",
                  "application/x-www-form-urlencoded")
    assert posted.status == 200 and posted.body.startswith(b"step")
    for bad in ("abc", "", "-1"):
        assert _get(double, f"job/p/1/logText/progressiveText?start={bad}").status == 500
    assert _get(double, "job/p/2/logText/progressiveText").status == 404


def test_progressive_html_escapes_and_hands_back_an_annotator_state(double):
    _build(double, LOG, building=True)
    page = _get(double, "job/p/1/logText/progressiveHtml?start=22")
    assert page.content_type == "text/html;charset=UTF-8"
    assert page.body == b"step &lt;1&gt; &amp; more\r\nFinished: SUCCESS\r\n"
    assert _headers(page)["X-More-Data"] == "true"
    assert base64.b64decode(_headers(page)["X-ConsoleAnnotator"])
