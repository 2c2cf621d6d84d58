"""A per-test Prometheus and Pushgateway: Debian's binaries, on loopback, free ports.

    with PrometheusServer(targets={"haproxy": "127.0.0.1:PORT"}) as prom:
        prom.url                      # http://127.0.0.1:NNNN
        prom.wait_for('up{job="haproxy"} == 1')

    with PrometheusServer(targets={}, login=("ops", "pw")) as prom:    # basic auth required

Scrapes every second (the analysis tests run 1 s intervals). The Prometheus is the real one,
the HAProxy it scrapes is the real exporter (`/_lab/metrics`, lab/haproxy/haproxy.cfg.tmpl):
only the process is the test's own, so tests with random service names stay independent.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request

from tests.support.poll import poll_until
from tests.support.proxy import free_port

PROMETHEUS = "/usr/bin/prometheus"
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
METRICS_PATH = "/_lab/metrics"


def available():
    """Why the Debian binaries cannot be used here, or "" when they can."""
    missing = [p for p in (PROMETHEUS, PUSHGATEWAY) if not os.access(p, os.X_OK)]
    return f"missing {', '.join(missing)} (apt-get install prometheus prometheus-pushgateway)" \
        if missing else ""


def _get(url, timeout=2.0, login=None):
    request = urllib.request.Request(url)
    if login:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def web_config(directory, login):
    """A --web.config.file (exporter-toolkit) asking for basic auth with `login` (user,
    password): the password as a bcrypt hash, made by htpasswd from its stdin."""
    user, password = login
    line = subprocess.run(["htpasswd", "-niB", "-C", "4", user], input=password, text=True,
                          capture_output=True, check=True).stdout.strip()
    path = os.path.join(directory, "web.yml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"basic_auth_users": {user: line.split(":", 1)[1]}}, handle)   # JSON is YAML
    return path


class _Process:
    name = "process"

    def __init__(self, login=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix=f"shipway-{self.name}-")
        self.proc = None
        self.login = login

    def _start(self, argv, ready_path, timeout=30.0):
        if self.login:
            argv = [*argv, f"--web.config.file={web_config(self.dir, self.login)}"]
        log = open(os.path.join(self.dir, "log"), "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log()}")
            return _get(self.url + ready_path, login=self.login)[0] == 200
        poll_until(ready, timeout, f"{self.name} on {self.url} ready", 0.2,
                   retry_on=(OSError,))
        return self

    def log(self):
        with open(os.path.join(self.dir, "log"), encoding="utf-8", errors="replace") as handle:
            return handle.read()[-2000:]

    def stop(self):
        """Stop the process we started (by its own handle) and remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class PushgatewayServer(_Process):
    """Debian's prometheus-pushgateway on a free loopback port, in memory only."""

    name = "pushgateway"

    def start(self):
        # --persistence.file= : Debian's build defaults to /var/lib/prometheus/pushgateway.data,
        # which every gateway started with the default would share
        return self._start([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{self.port}",
                            "--persistence.file="], "/-/ready")

    def metrics(self):
        return _get(self.url + "/metrics", login=self.login)[1].decode()


class PrometheusServer(_Process):
    """Debian's prometheus scraping `targets` ({job: "host:port"}; a job named pushgateway
    keeps the pushed labels) every second."""

    name = "prometheus"

    def __init__(self, targets, login=None):
        super().__init__(login)
        self.targets = dict(targets)

    def config(self):
        jobs = []
        for job, target in self.targets.items():
            entry = {"job_name": job, "static_configs": [{"targets": [target]}]}
            if job == "pushgateway":
                entry["honor_labels"] = True
            else:
                entry["metrics_path"] = METRICS_PATH
            jobs.append(entry)
        return {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms",
                           "evaluation_interval": "1s"}, "scrape_configs": jobs}

    def start(self):
        path = os.path.join(self.dir, "prometheus.yml")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.config(), handle)   # JSON is YAML
        return self._start([PROMETHEUS, f"--config.file={path}",
                            f"--storage.tsdb.path={self.dir}/data",
                            f"--web.listen-address=127.0.0.1:{self.port}",
                            "--storage.tsdb.retention.time=1h"], "/-/ready")

    def query(self, promql):
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        return json.loads(_get(url, login=self.login)[1])["data"]["result"]

    def wait_for(self, promql, timeout=30.0):
        """Until `promql` returns a series (e.g. the first scrape of a target)."""
        return poll_until(lambda: self.query(promql), timeout, f"{promql!r} returning data",
                          0.2, retry_on=(OSError,))
