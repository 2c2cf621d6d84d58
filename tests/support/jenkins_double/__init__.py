"""A faithful Jenkins REST API double for tests (no real Jenkins needed).

Its fidelity is proved by unmodified python-jenkins and jenkins-job-builder
working against it (tests/integration/test_jenkins_double.py).
"""

from .double import JenkinsDouble
from .faults import Fault, RequestRecord
from .routes import ROUTES, Route

__all__ = ["JenkinsDouble", "Fault", "RequestRecord", "ROUTES", "Route"]
