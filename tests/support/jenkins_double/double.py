"""``JenkinsDouble``: the public face of the Jenkins REST API double."""

from __future__ import annotations

import secrets
import threading
from typing import Iterable, Optional, Sequence

from . import config as cfg
from .context import App
from .errors import HttpError
from .faults import FaultInjector, RequestLog, RequestRecord
from .handlers_items import new_item, parse_for
from .jobs import Job
from .model import Item, ItemGroup, Jenkins
from .plugins import PluginManager
from .queue import BuildHook, Queue, default_build
from .security import Security
from .server import JenkinsHTTPServer, make_server, shutdown
from .xstream import XStream, version_tuple


class JenkinsDouble:
    """An in-process HTTP server behaving like Jenkins for python-jenkins and JJB.

    Example::

        with JenkinsDouble(users={"admin": token}) as double:
            server = jenkins.Jenkins(double.url, "admin", token)

    Builds run through ``on_build(job_path, config_xml, params) ->
    (result, console[, description])`` on an executor thread.
    """

    def __init__(self, users: Optional[dict[str, str]] = None,
                 version: str = "2.440.3", *,
                 readonly_users: Iterable[str] = (),
                 csrf: bool = True,
                 crumb_exempt_api_tokens: Optional[bool] = None,
                 anonymous_read: bool = False,
                 quiet_period: float = 0.0,
                 num_executors: int = 2,
                 plugins: Optional[Sequence[tuple]] = None,
                 scm_declarative: bool = True,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        """Configure the double; nothing listens until :meth:`start`.

        ``users`` maps user name -> API token (default: ``admin`` with a
        random token, see :attr:`users`); ``readonly_users`` are names from
        ``users`` limited to Overall/Read + Job/Read; ``csrf=False`` turns
        crumbs off (``crumbIssuer`` then 404s); ``quiet_period`` is the
        default build delay in seconds (Jenkins' default is 5, ours 0);
        ``plugins`` overrides the installed plugin list with
        ``(shortName, longName, version, deps)`` rows.
        ``crumb_exempt_api_tokens``: whether a POST authenticated with an API token
        needs no crumb (core ``ApiCrumbExclusion``, Jenkins 2.96+); default: as the
        ``version`` does. ``False`` makes the double as strict as an older Jenkins.
        ``scm_declarative``: whether a pipeline job whose Jenkinsfile comes from SCM
        counts as declarative when it builds (the double cannot read the repo).
        """
        if crumb_exempt_api_tokens is None:
            crumb_exempt_api_tokens = version_tuple(version) >= (2, 96)
        self.users = dict(users) if users is not None else {
            "admin": secrets.token_hex(16)}
        self.version = version
        self.host, self.port = host, port
        self.session_id = secrets.token_hex(4)
        #: ``fn(job_path, config_xml, params) -> (result, console[, description])``
        self.on_build: BuildHook = default_build
        self.faults = FaultInjector()
        self.log = RequestLog()
        root = Jenkins(f"http://{host}:{port}/", num_executors)
        root.use_crumbs = csrf
        root.xstream = XStream(version, lambda name: self.app.plugins.version_of(name))
        root.scm_declarative = scm_declarative
        queue = Queue(root, lambda: self.on_build)
        security = Security(self.users, readonly_users, csrf, anonymous_read,
                            crumb_exempt_api_tokens)
        self.app = App(root, queue, security, PluginManager(plugins), version,
                       quiet_period)
        self._server: Optional[JenkinsHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ----------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL with trailing slash, e.g. ``http://127.0.0.1:41234/``."""
        return self.app.root.base_url

    def start(self) -> "JenkinsDouble":
        """Bind (port 0 = any free port), serve in a thread, start the queue."""
        if self._server is not None:
            return self
        self._server = make_server(self.host, self.port, self)
        self.port = self._server.server_address[1]
        with self.app.root.lock:
            self.app.root.base_url = f"http://{self.host}:{self.port}/"
        # A short poll interval keeps stop() fast (shutdown waits for one poll).
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True, name="jenkins-double-http")
        self._thread.start()
        self.app.queue.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and stop the queue."""
        shutdown(self._server)
        self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.app.queue.stop()

    def restart(self) -> None:
        """Restart on the same port keeping items and builds, like a controller
        restart: web sessions (hence crumbs) are dropped and ``X-Jenkins-Session``
        changes, so clients holding a crumb get 403 until they fetch a new one."""
        self.stop()
        self.app.security.drop_sessions()
        self.session_id = secrets.token_hex(4)
        self.start()

    def __enter__(self) -> "JenkinsDouble":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- request log --------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """Copy of the request log: ``(method, path, status)`` tuples."""
        return self.log.snapshot()

    def count(self, kind: Optional[str] = None, path_regex: Optional[str] = None) -> int:
        """Number of requests served: all, ``"reads"`` (non-POST) or ``"writes"`` (POST)."""
        return self.log.count(kind, path_regex)

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.log.clear()

    # -- state inspection and seeding (bypass HTTP) --------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no build is queued or running; False on timeout."""
        queue = self.app.queue
        with queue.cond:
            return queue.cond.wait_for(queue.idle, timeout)

    def item_names(self) -> list[str]:
        """Full names of all items, depth-first, sorted like ``jobs``."""
        names: list[str] = []

        def walk(group: ItemGroup) -> None:
            for item in group.items():
                names.append(item.full_name)
                if isinstance(item, ItemGroup):
                    walk(item)

        with self.app.root.lock:
            walk(self.app.root)
        return names

    def item_class(self, full_name: str) -> Optional[str]:
        """Java class of an item (``_class``), None when it does not exist."""
        with self.app.root.lock:
            item = self.app.root.by_full_name(full_name)
            return None if item is None else item.jenkins_class

    def config_xml(self, full_name: str) -> Optional[str]:
        """Stored config.xml of an item, None when it does not exist."""
        with self.app.root.lock:
            item = self.app.root.by_full_name(full_name)
            return None if item is None else item.config_xml

    def builds(self, full_name: str) -> list[dict]:
        """Builds of a job, oldest first: number, result, building, description,
        params, console."""
        with self.app.root.lock:
            job = self.app.root.by_full_name(full_name)
            if not isinstance(job, Job):
                return []
            return [{"number": b.number, "result": b.result, "building": b.building,
                     "description": b.description, "params": b.params(),
                     "console": b.console}
                    for b in reversed(job.newest_first())]

    def seed(self, full_name: str, config_xml: str) -> None:
        """Create an item directly; its parent folder must exist.

        Raises ValueError with Jenkins' message for invalid input.
        """
        *parents, name = full_name.split("/")
        with self.app.root.lock:
            try:
                group = self.app.root.resolve_group(parents)
                name = cfg.check_good_name(name)
                if group.get_child(name) is not None:
                    raise ValueError(f"{full_name} already exists")
                parsed = parse_for(self.app, config_xml.encode("utf-8"))
            except HttpError as error:
                raise ValueError(f"{full_name}: {error.message}") from None
            new_item(self.app, group, name, config_xml, parsed)

    def get_item(self, full_name: str) -> Optional[Item]:
        """The live model object (use under ``app.root.lock`` if the server runs)."""
        return self.app.root.by_full_name(full_name)
