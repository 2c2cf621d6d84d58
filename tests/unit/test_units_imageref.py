"""Durations and image references."""
import pytest

from pipeline import imageref
from pipeline.units import parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("5s", 5), ("500ms", 0.5), ("1m30s", 90), ("2h", 7200), (3, 3), ("1.5", 1.5), ("0s", 0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 s", "five", "-1", "5x", True, -2])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("ref, parts", [
    ("nginx", ("nginx", None, None)),
    ("127.0.0.1:5000/team/app:1.2", ("127.0.0.1:5000/team/app", "1.2", None)),
    (f"reg.example.com/app@{DIGEST}", ("reg.example.com/app", None, DIGEST)),
    (f"localhost:5000/app:v1@{DIGEST}", ("localhost:5000/app", "v1", DIGEST)),
])
def test_split(ref, parts):
    assert imageref.split(ref) == parts


@pytest.mark.parametrize("bad", ["UPPER/app", "app:", "app@sha256:short", "a b", "", ":tag",
                                 "app:-tag"])
def test_bad_references(bad):
    with pytest.raises(ValueError):
        imageref.split(bad)


@pytest.mark.parametrize("repo, registry", [
    ("127.0.0.1:5000/x", "127.0.0.1:5000"), ("localhost/x", "localhost"),
    ("team/app", "docker.io"), ("app", "docker.io"), ("reg.io/a/b", "reg.io"),
])
def test_registry_of(repo, registry):
    assert imageref.registry_of(repo) == registry


def test_pinned():
    assert imageref.pinned("r/x", "1", DIGEST) == f"r/x:1@{DIGEST}"
    assert imageref.pinned("r/x", None, DIGEST) == f"r/x@{DIGEST}"
