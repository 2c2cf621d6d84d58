"""Catalogs for the unit tests: one entry written to a file, and the stack file with every key
(tests/fixtures/compose/full/docker-stack.yml) as a catalog entry takes it, for the catalog's
tests of reading it and the swarm's of converting it."""
import os

from pipeline import catalog

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "fixtures", "compose", "full")
ENVIRON = {"IMAGE": "127.0.0.1:5000/test/parity:1", "NET": "parity-net",
           "SECRET": "ext-secret", "CONFIG": "ext-config", "VOLUME": "ext-vol",
           "FROM_SHELL": "from the shell", "EMPTY_IN_FILE": "filled from the shell",
           "HOME": "/home/ops"}
SERVICES = ("full", "mesh", "short", "bare")   # the stack file's services


def load_fixture(service, environ=ENVIRON, **entry):
    """The catalog settings of a service taken from the fixture's stack file."""
    data = {"services": {service: {"compose": {"file": "docker-stack.yml", "service": service},
                                   **entry}}}
    return catalog.from_data(data, path=os.path.join(FIXTURE, "catalog.yml"),
                             environ=environ).service(service)


def entry_loader(tmp_path, entry, top=""):
    """(path, a function loading it) of a catalog whose service `web` is `entry` (flow YAML),
    after the top-level keys `top`."""
    path = tmp_path / "catalog.yml"
    path.write_text(f"{top}services:\n  web: {entry}\n")
    return str(path), lambda: catalog.load(str(path))
