"""The environment read in one place, and the per-run context every stage receives."""
import os
import pwd
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from pipeline.api import engine
from pipeline.console import redact
from pipeline.errors import EngineError, UsageError

# Environment variables shipway reads, in one table (name -> what it is for).
ENVIRONMENT = {
    "GIT_COMMIT": "commit being built (Jenkins git plugin)",
    "GIT_URL": "repository URL (Jenkins git plugin); credentials in it are stripped",
    "BRANCH_NAME": "branch (multibranch pipelines)",
    "GIT_BRANCH": "branch (git plugin)",
    "BUILD_NUMBER": "Jenkins build number",
    "BUILD_URL": "Jenkins build URL",
    "JOB_NAME": "Jenkins job name",
    "WORKSPACE": "Jenkins workspace: the default state dir is $WORKSPACE/.shipway",
    "SHIPWAY_STATE_DIR": "where stages hand results to later stages",
    "SHIPWAY_REGISTRY_USER": "registry user name",
    "SHIPWAY_REGISTRY_PASSWORD": "registry password (prefer _FILE)",
    "SHIPWAY_REGISTRY_PASSWORD_FILE": "file holding the registry password",
    "JENKINS_URL": "Jenkins to provision jobs on (shipway jobs)",
    "JENKINS_USER": "Jenkins user for shipway jobs",
    "JENKINS_TOKEN": "Jenkins API token (prefer _FILE)",
    "JENKINS_TOKEN_FILE": "file holding the Jenkins API token",
    "DOCKER_HOST": "Docker Engine address",
    "DOCKER_TLS_VERIFY": "verify the engine's TLS certificate",
    "DOCKER_CERT_PATH": "TLS client certificates",
    "DOCKER_CONFIG": "Docker config dir (per-build logins)",
    "SHIPWAY_LOCK_LEASE": "seconds the deploy lock outlives its last renewal (default 30)",
    "USER": "who holds the deploy lock outside Jenkins (user@host, with the pid)",
    "SHIPWAY_PROMETHEUS_USER": "Prometheus/Pushgateway user for deploy.analysis (basic auth)",
    "SHIPWAY_PROMETHEUS_PASSWORD": "Prometheus password (prefer _FILE)",
    "SHIPWAY_PROMETHEUS_PASSWORD_FILE": "file holding the Prometheus password",
    "SHIPWAY_PROMETHEUS_TOKEN": "Prometheus bearer token (prefer _FILE)",
    "SHIPWAY_PROMETHEUS_TOKEN_FILE": "file holding the Prometheus bearer token",
    "SHIPWAY_PUSHGATEWAY": "Pushgateway for deploy markers (else deploy.analysis.pushgateway)",
    "SHIPWAY_ENVIRONMENT": "the catalog environment a command acts on (else --environment)",
    "SHIPWAY_ACTOR": "who runs shipway, for release records (else BUILD_USER_ID, else USER, "
                     "else the login name)",
    "BUILD_USER_ID": "Jenkins user who started the build (build-user-vars plugin)",
    "SHIPWAY_APPROVED_BY": "who approved a promotion or pressed rollback (input's "
                           "submitterParameter)",
    "SHIPWAY_REASON": "why a rollback was pressed (the rollback job's reason)",
}
# Variables an environment may have its own value of, as NAME_<ENVIRONMENT>
# (DOCKER_CERT_PATH_PRODUCTION): what a Jenkins stage binds for that environment alone.
PER_ENVIRONMENT = ("DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "SHIPWAY_REGISTRY_USER",
                   "SHIPWAY_REGISTRY_PASSWORD", "SHIPWAY_REGISTRY_PASSWORD_FILE")
# Secrets shipway reads from the environment, and where the files holding them are: never
# passed on to commands it runs (the build command, the docker client).
SECRET_VARIABLES = ("SHIPWAY_REGISTRY_PASSWORD", "SHIPWAY_REGISTRY_PASSWORD_FILE",
                    "JENKINS_TOKEN", "JENKINS_TOKEN_FILE",
                    "SHIPWAY_PROMETHEUS_PASSWORD", "SHIPWAY_PROMETHEUS_PASSWORD_FILE",
                    "SHIPWAY_PROMETHEUS_TOKEN", "SHIPWAY_PROMETHEUS_TOKEN_FILE")


_SECRET_PREFIXES = tuple(name + "_" for name in SECRET_VARIABLES)


def environment_variable(name, environment):
    """`DOCKER_CERT_PATH_PRODUCTION`: the name of variable `name` for `environment` alone."""
    return f"{name}_{environment.upper().replace('-', '_')}"


def environment_environ(environ, environment, docker_host=None):
    """`environ` as a command acting on `environment` sees it: its own values of the
    PER_ENVIRONMENT variables over the plain ones, and DOCKER_HOST its engine's."""
    env = dict(environ)
    for name in PER_ENVIRONMENT:
        own = environ.get(environment_variable(name, environment))
        if own is not None:
            env[name] = own
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return env


def without_secrets(environ):
    """`environ` minus SECRET_VARIABLES, and GIT_URL without the credentials a checkout may
    have left in it: the environment for a command shipway runs."""
    env = {k: v for k, v in environ.items()
           if k not in SECRET_VARIABLES and not k.startswith(_SECRET_PREFIXES)}
    if env.get("GIT_URL"):
        env["GIT_URL"] = _strip_userinfo(env["GIT_URL"])
    return env


def secret_values(environ):
    """The secret values shipway knows (SECRET_VARIABLES, and the files the _FILE ones name):
    what must never appear in output it collects, such as a failed task's logs."""
    values = []
    # An environment's own password variables (SHIPWAY_REGISTRY_PASSWORD_FILE_PRODUCTION).
    names = [name for name in environ
             if name in SECRET_VARIABLES or any(name.startswith(secret + "_")
                                                 and name[len(secret) + 1:].isupper()
                                                 for secret in SECRET_VARIABLES)]
    for name in names:
        value = environ.get(name)
        if value and "_FILE" in name:
            try:
                with open(value, encoding="utf-8") as handle:
                    value = handle.read().strip()
            except OSError:
                continue
        if value:
            values.append(value)
    return values


def redacted(data, secrets):
    """`data` (JSON-ready: dicts, lists, strings) with every secret value in it, as
    secret_values() gives them, replaced by ***: for records written to files, which the
    console's masking does not see."""
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {key: redacted(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [redacted(value, secrets) for value in data]
    return data


@dataclass(frozen=True)
class BuildInfo:
    """What the CI system says about this build (empty strings outside Jenkins)."""

    commit: str = ""
    source: str = ""
    branch: str = ""
    number: str = ""
    url: str = ""
    job: str = ""
    user: str = ""    # who runs it: SHIPWAY_ACTOR, else Jenkins' BUILD_USER_ID, else USER

    @property
    def short_commit(self):
        return self.commit[:7]


def _login_name():
    """The account shipway runs as, when the environment names none (a container, cron,
    `sudo -i` leave USER unset): a release record still says who."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def _strip_userinfo(url):
    """https://user:token@host/x -> https://host/x: a token must not end up in a label."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    if "@" in url and "://" not in url:  # scp-like git@host:x keeps its user, it is no secret
        return url
    return url


@dataclass
class Context:
    """Everything a stage needs that is not its own arguments. Built once by main()."""

    environ: dict
    console: object
    build: BuildInfo = field(default_factory=BuildInfo)
    environment: object = None   # the catalog Environment it acts on (None: DOCKER_HOST's)
    _docker: object = field(default=None, repr=False)
    _connecting: object = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ=None, console=None):
        """Read the environment once (tests pass their own mapping)."""
        env = dict(os.environ if environ is None else environ)
        branch = env.get("BRANCH_NAME") or env.get("GIT_BRANCH", "")
        build = BuildInfo(
            commit=env.get("GIT_COMMIT", ""),
            source=_strip_userinfo(env.get("GIT_URL", "")),
            branch=branch.split("/", 1)[1] if branch.startswith("origin/") else branch,
            number=env.get("BUILD_NUMBER", ""),
            url=env.get("BUILD_URL", ""),
            job=env.get("JOB_NAME", ""),
            user=env.get("SHIPWAY_ACTOR") or env.get("BUILD_USER_ID") or env.get("USER")
            or env.get("LOGNAME") or _login_name(),
        )
        if console is not None:
            console.secrets = tuple(secret_values(env))
        return cls(environ=env, console=console, build=build)

    def for_environment(self, environment):
        """This context acting on `environment` (a catalog Environment): its engine, its
        registry login, its client certificate; connected on first use, as docker()."""
        environ = environment_environ(self.environ, environment.name, environment.docker_host)
        return Context(environ=environ, console=self.console, build=self.build,
                       environment=environment)

    def hide(self, values):
        """Mask `values` too: secrets shipway meets after it started (a webhook URL from
        the catalog, or from the variable the catalog names), in every line the console
        writes from now on and in secrets()."""
        if self.console is not None:
            known = tuple(getattr(self.console, "secrets", ()))
            self.console.secrets = known + tuple(v for v in values if v and v not in known)

    def secrets(self):
        """Every secret value known: the environment's (secret_values) and those hide()
        added; what a record written to a file is redacted of."""
        return secret_values(self.environ) + list(getattr(self.console, "secrets", ()))

    def state_dir(self, override=None):
        """Where a stage leaves its result for the next stage of the same build."""
        if override:
            return override
        if self.environ.get("SHIPWAY_STATE_DIR"):
            return self.environ["SHIPWAY_STATE_DIR"]
        return os.path.join(self.environ.get("WORKSPACE") or os.getcwd(), ".shipway")

    def registry_credentials(self):
        """(user, password) from the environment, or None to use the Docker config."""
        user = self.environ.get("SHIPWAY_REGISTRY_USER")
        password = self.environ.get("SHIPWAY_REGISTRY_PASSWORD")
        path = self.environ.get("SHIPWAY_REGISTRY_PASSWORD_FILE")
        if path and password is None:
            try:
                with open(path, encoding="utf-8") as handle:
                    password = handle.read().strip()
            except OSError as exc:
                raise UsageError(f"cannot read SHIPWAY_REGISTRY_PASSWORD_FILE: {exc.strerror}",
                                 hint="point it at a readable file holding only the password"
                                 ) from None
        if (user is None) != (password is None):
            raise UsageError("registry user and password must be given together",
                             hint="set SHIPWAY_REGISTRY_USER and SHIPWAY_REGISTRY_PASSWORD(_FILE)")
        return (user, password) if user is not None else None

    def engine(self):
        """The Engine client of every command: docker-py's low-level APIClient, the one of
        docker() (one connection pool; honours DOCKER_HOST, DOCKER_TLS_VERIFY,
        DOCKER_CERT_PATH, DOCKER_CONFIG)."""
        return self.docker().api

    def docker(self):
        """docker-py's DockerClient (`from_env` reads the variables above), connected on
        first use; safe from two threads (a deploy's first callers are)."""
        with self._connecting:
            if self._docker is None:
                self._docker = self._connect()
        return self._docker

    def _connect(self):
        try:
            return engine.connect(self.environ)
        except EngineError as exc:
            if self.environment is None:
                raise
            # A catalog's docker_host that does not answer is the catalog's (or the
            # certificate's) to fix: bad input, named with its environment.
            # `engine_error`: the engine's own line, for a report that names the environment
            # itself (status --environment all).
            raise UsageError(f"environment {self.environment.name!r}: {exc.message}",
                             hint=exc.hint, engine_error=exc.message) from None
