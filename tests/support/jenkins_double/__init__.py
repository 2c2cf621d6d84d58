"""A faithful Jenkins REST API double for tests (no real Jenkins needed).

Its fidelity is proved by unmodified python-jenkins and jenkins-job-builder
(tests/integration/test_jenkins_double.py), jenkinsapi and api4jenkins
(tests/integration/test_jenkins_clients.py) working against it. Like Jenkins it
stores a posted config.xml re-serialised (xstream.py), not as sent.
"""

from .double import JenkinsDouble
from .faults import Fault, RequestRecord
from .routes import ROUTES, Route

__all__ = ["JenkinsDouble", "Fault", "RequestRecord", "ROUTES", "Route"]
