"""Hostile input, generated (hypothesis): catalogs thrown at the loader, argument vectors thrown
at every subcommand's parser. Never a traceback; bad input is one `error: ...` line, exit 2.

Everything runs in-process through `pipeline.cli.main` in an environment where nothing real
can be reached: DOCKER_HOST is a socket that does not exist, Jenkins is a loopback port bound
but never listening (connections are refused), PATH is an empty directory (`sh` for a build
cannot start), and every directory an argument may name for writing lies under a temporary
directory. So arguments that parse end at exit 1 ("cannot reach ..."), or 0 for `render`.
"""
import io
import os
import socket
import xml.etree.ElementTree as ET

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline import catalog, cli
from pipeline.catalog import compose_keys, keys
from pipeline.console import Console
from pipeline.errors import CatalogError
from pipeline.jobs import client as jobs_client

# SHIPWAY_HYPOTHESIS_SCALE=20 runs 20 times the examples (a deeper search, minutes long).
SCALE = int(os.environ.get("SHIPWAY_HYPOTHESIS_SCALE", "1"))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])
GOOD_CATALOG = """\
version: 1
name: demo
services:
  web:
    image: 127.0.0.1:5000/team/web
    build: make
    jenkins: {folder: team, repo: "https://git.example.com/web.git", credentials: reg}
    deploy:
      replicas: 2
      update: {order: start-first, delay: 1s}
"""
GOOD = yaml.safe_load(GOOD_CATALOG)


class World:
    """The temporary directory and environment every generated run uses."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "empty-bin"))
        os.makedirs(os.path.join(root, "ws"))
        self.catalog = self.write("good.yml", GOOD_CATALOG)
        self.write("bad-state/web.push.json", "[1, 2]")
        self.write("bad-state/web.image.json", '{"repository": ')
        self.write("junk-state/web.push.json", '{"reference": 7}')
        self.write("junk-state/web.image.json", '{"repository": "127.0.0.1:5000/team/web", '
                                                '"tags": {"a": 1}}')
        self.write("creds", "admin:" + "t" * 32)
        self.write("creds-bad", "no colon here")
        # Bound, never listening: every connection to it is refused at once, and no other
        # process can start listening there while the tests run.
        self.jenkins = socket.socket()
        self.jenkins.bind(("127.0.0.1", 0))
        jenkins_url = "http://127.0.0.1:%d/" % self.jenkins.getsockname()[1]
        self.jenkins_url = jenkins_url
        self.environ = {
            "DOCKER_HOST": f"unix://{root}/no-engine.sock",
            "PATH": os.path.join(root, "empty-bin"),
            "HOME": root,
            "WORKSPACE": os.path.join(root, "ws"),
            "JENKINS_URL": jenkins_url,
            "JENKINS_USER": "admin",
            "JENKINS_TOKEN": "t" * 32,
        }

    def write(self, name, text):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "wb" if isinstance(text, bytes) else "w"
        with open(path, mode) as handle:
            handle.write(text)
        return path

    def run(self, argv):
        """(exit code, stdout, stderr) of `shipway argv`; any exception fails the test."""
        out, err = io.StringIO(), io.StringIO()
        try:
            code = cli.main(list(argv), environ=self.environ, console=Console(out, err))
        except BaseException as exc:  # noqa: BLE001 - a test: anything escaping is the bug
            pytest.fail(f"shipway {argv!r} raised {exc!r}")
        return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs_client, "BACKOFF_INITIAL", 0.0)
        patch.setattr(jobs_client, "BACKOFF_MAX", 0.0)
        made = World(str(tmp_path_factory.mktemp("hostile")))
        cwd = os.getcwd()
        os.chdir(os.path.join(made.root, "ws"))  # relative paths land in the sandbox
        try:
            yield made
        finally:
            os.chdir(cwd)
            made.jenkins.close()


def assert_one_error_line(code, err, argv):
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, \
        f"shipway {argv!r} exited {code} with stderr {err!r}"
    assert len(err.splitlines()) == 1, f"shipway {argv!r}: {err!r} splits into lines"


# ---------------------------------------------------------------------------- values

# Text as argv can carry it: no NUL (exec refuses it); anything else, surrogates included
# (undecodable argv bytes arrive as lone surrogates).
ARG_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=40)
ODD_STRINGS = st.sampled_from([
    "", " ", "-", "--", "x\ny", "a\rb", "\x1b[31mred", "it's", 'say "hi"', "${HOME}", "$(id)",
    "`id`", "back\\slash", "]]>", "&amp;", "<x/>", "\u2028", "\x85", "\ufeff", "ünï €",
    "\udcff", "nan", "inf", "-inf", "1e400", "-1", "0", "99999999999999999999999",
    "1.5", "0x10", "٣", "１", "K=V", "=V", "K=", "a=b=c", "80:8080", "80:8080/udp", "0:0",
    "99999:1", "1s", "500ms", "1m30s", "1h", "10000000h", "-1s", "s", "web", "Web", "web_1",
    "-web", "a" * 64, "r/x", "r/x:1", "127.0.0.1:5000/x:tag", "R/X",
    "127.0.0.1:5000/x@sha256:" + "a" * 64, "x@sha256:short", "/", ".", "..", "/dev/null",
    "previous", "#1", "#0", "#-1", "sha256:", "jenkinsfile", "rollback", "job-config",
    "sync", "diff", "list", "http://[::1", "ftp://x/", "http://u:p@127.0.0.1:1/",
])
VALUES = st.one_of(ODD_STRINGS, ARG_TEXT)


def sandbox_paths(world):
    """Values for options that name something to write: only ever under the sandbox."""
    fixed = [world.root + "/" + name for name in
             ("out", "good.yml", "bad-state", "junk-state", "no/such/dir", "empty-bin",
              "creds")]
    made_up = ARG_TEXT.filter(lambda t: ".." not in t).map(lambda t: world.root + "/w/" + t)
    return st.one_of(st.sampled_from(fixed), made_up)


def read_paths(world):
    """Values for options that name something to read."""
    fixed = [world.catalog, world.root + "/creds", world.root + "/creds-bad", world.root,
             world.root + "/missing.yml", "/dev/null", "/proc/self/status"]
    return st.one_of(st.sampled_from(fixed), VALUES)


# ---------------------------------------------------------------------------- parsers

def _options(parser):
    """[(option string, takes a value, dest, choices)] of one argparse parser."""
    found = []
    for action in parser._actions:  # argparse has no public listing of its actions
        if not action.option_strings or action.dest == "help":
            continue
        found.append((action.option_strings[-1], action.nargs != 0, action.dest,
                      tuple(action.choices or ())))
    return found


def _subparsers(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return {}


def command_table():
    """{(stage, sub-command or None): (positionals before options, options)} for every entry
    of pipeline.cli.STAGES: `jobs` by action, `render` by what it renders."""
    table = {}
    for stage in cli.STAGES:
        stage_parser = _subparsers(cli.build_parser(stage))[stage]
        actions = _subparsers(stage_parser)
        if actions:  # jobs sync|diff|list
            for name, sub in actions.items():
                table[(stage, name)] = ([name], _options(sub))
            continue
        positional = [a for a in stage_parser._actions if not a.option_strings]
        if positional:  # render jenkinsfile|rollback|job-config
            for choice in positional[0].choices:
                table[(stage, choice)] = ([choice], _options(stage_parser))
        else:
            table[(stage, None)] = ([], _options(stage_parser))
    return table


COMMANDS = command_table()
WRITES = {"state_dir", "output_dir"}
READS = {"catalog", "credentials_file", "workdir", "context"}


# Values each option accepts, so that most runs get past parsing into the stage itself.
PLAUSIBLE = {
    "service": ["web"], "image": ["127.0.0.1:5000/team/web", "127.0.0.1:5000/team/web:v1"],
    "replicas": ["2"], "keep_releases": ["3"], "attempts": ["2"], "workers": ["2"],
    "retries": ["2"], "env": ["K=V"], "labels": ["team=a"], "build_args": ["V=1"],
    "ports": ["18080:8080"], "tags": ["v1"], "to": ["#1", "previous"], "networks": ["proxy"],
    "command": ["make"], "dockerfile": ["Dockerfile"], "catalog_path": ["ci/shipway.yml"],
    "script_path": ["Jenkinsfile"], "timeout": ["1s", "5"], "backoff": ["1s"],
}
PLAUSIBLE_SUFFIX = {"_parallelism": ["1"], "_delay": ["1s"], "_monitor": ["2s"],
                    "_max_failure_ratio": ["0.5"], "stop_grace_period": ["1s"]}


def plausible(dest, choices, world):
    if choices:
        return list(choices)
    if dest == "jenkins_url":
        return [world.jenkins_url]
    if dest == "state_dir":
        return [world.root + "/bad-state", world.root + "/junk-state", world.root + "/out"]
    for suffix, values in PLAUSIBLE_SUFFIX.items():
        if dest.endswith(suffix):
            return values
    return PLAUSIBLE.get(dest, [])


@st.composite
def argument_vectors(draw, world):
    """A stage, its sub-command, some of its options with odd values, and stray words."""
    key = draw(st.sampled_from(sorted(COMMANDS, key=str)))
    head, options = COMMANDS[key]
    argv = [key[0]] + (head if draw(st.booleans()) or not head else [draw(VALUES)])
    if draw(st.integers(0, 3)) == 0:
        argv.insert(0, "--timestamps")
    # Most runs name a service and the good catalog, so parsing gets past the basics.
    if draw(st.integers(0, 3)):
        argv += ["--service", "web" if draw(st.integers(0, 3)) else draw(VALUES)]
    if draw(st.integers(0, 3)):
        argv += ["--catalog", world.catalog if draw(st.integers(0, 3)) else
                 draw(read_paths(world))]
    for option, takes_value, dest, choices in draw(st.lists(st.sampled_from(options),
                                                            max_size=5)):
        argv.append(option)
        if not takes_value:
            continue
        good = plausible(dest, choices, world)
        if draw(st.integers(0, 9)) == 0:
            continue  # an option missing its value
        if good and draw(st.integers(0, 3)):
            argv.append(draw(st.sampled_from(good)))
        elif dest in WRITES:
            argv.append(draw(sandbox_paths(world)))
        elif dest in READS:
            argv.append(draw(read_paths(world)))
        else:
            argv.append(draw(VALUES))
    if draw(st.integers(0, 3)) == 0:
        argv += draw(st.lists(VALUES, min_size=1, max_size=2))
    # Help and version print and exit 0 by design: not what this test is about.
    assume(not any(a.startswith(("-h", "--h", "--v")) for a in argv))
    return argv


# ---------------------------------------------------------------------------- CLI property

EXIT_1_CAUSES = ("cannot reach the Docker Engine", "cannot start the build command",
                 "Jenkins at ")


@settings(max_examples=150 * SCALE, **SETTINGS)
@given(data=st.data())
def test_generated_arguments_never_crash(world, data):
    argv = data.draw(argument_vectors(world))
    code, out, err = world.run(argv)
    assert code in (0, 1, 2), (argv, code, err)
    if code == 2:
        assert_one_error_line(code, err, argv)
        assert out == "", argv   # nothing done, nothing reported
    elif code == 1:
        # Only the environment may stop input that parsed: no engine, no shell, no Jenkins.
        errors = [line for line in (err + out).splitlines()
                  if line.startswith(("error: ", "failed "))]
        assert errors and all(any(c in line for c in EXIT_1_CAUSES) for line in errors), \
            (argv, out, err)
    else:
        # only render succeeds offline, and notify (it needs no engine; its webhooks are
        # never a failure)
        assert {"render", "notify"} & set(argv[:2]), (argv, out, err)


def test_the_table_covers_every_stage_and_sub_command():
    assert {stage for stage, _ in COMMANDS} == set(cli.STAGES)
    assert {sub for stage, sub in COMMANDS if stage == "jobs"} == {"sync", "diff", "list"}
    assert {sub for stage, sub in COMMANDS if stage == "render"} == {
        "jenkinsfile", "rollback", "job-config"}


# ---------------------------------------------------------------------------- catalogs

KNOWN_KEYS = sorted({*keys.TOP_LEVEL,
                     *keys.SERVICE_SCHEMA, *keys.JENKINS_SCHEMA, *keys.RUN_SCHEMA,
                     *compose_keys.KEYS, *compose_keys.DEPLOY_KEYS, *compose_keys.UPDATE_KEYS,
                     *compose_keys.PORT_KEYS, *compose_keys.VOLUME_KEYS, "aliases", "external"})
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2 ** 70, 2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), ODD_STRINGS,
    st.text(st.characters(max_codepoint=0x3f), max_size=10),   # controls and punctuation
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.sampled_from(["web", "api", "x"]),
                 st.text(max_size=12), st.integers(), st.booleans(), st.none())
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)


def _paths(node, prefix=()):
    """Every key path in a nested mapping (lists included by index)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


FULL = yaml.safe_load("""
version: 1
name: full
defaults: {deploy: {rollback_config: {failure_action: pause}}}
services:
  web:
    image: 127.0.0.1:5000/team/web
    build: make
    workdir: web
    context: web
    dockerfile: Dockerfile
    build_args: {VERSION: "1.0"}
    jenkins: {folder: a/b, repo: "https://git.example.com/web.git", branch: main,
              deploy_branches: [main], credentials: reg, agent: any, timeout_minutes: 30}
    environment: {GREETING: hello, EMPTY: }
    labels: [a=b]
    command: serve --port 80
    entrypoint: [/bin/app]
    healthcheck: {test: check, interval: 5s, retries: 3}
    extra_hosts: ["db:10.0.0.1"]
    cap_add: [NET_ADMIN]
    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}
    logging: {driver: json-file, options: {max-size: 1m}}
    volumes: ["data:/data", {type: bind, source: ./x, target: /x, bind: {propagation: rshared}}]
    secrets: [pw, {source: pw, target: t, mode: 0400}]
    networks: {front: {aliases: [w]}}
    ports: ["80:8080", {target: 8080, published: 18080, protocol: tcp, mode: host}]
    stop_grace_period: 2s
    deploy:
      replicas: 2
      labels: {team: demo}
      endpoint_mode: vip
      placement: {constraints: [node.role==manager], preferences: [{spread: node.id}]}
      resources: {limits: {cpus: "0.5", memory: 64m, pids: 9}}
      restart_policy: {condition: any, delay: 1s}
      timeout: 300s
      with_registry_auth: true
      keep_releases: 10
      update_config: {parallelism: 1, delay: 1s, order: start-first, failure_action: rollback,
               monitor: 5s, max_failure_ratio: 0}
      rollback_config: {parallelism: 1, delay: 0s, order: start-first, failure_action: pause,
                 monitor: 5s, max_failure_ratio: 0}
secrets: {pw: {environment: PW}}
networks: {front: {name: proxy}}
""")
FULL_PATHS = [p for p in _paths(FULL) if p]


def _replace(node, path, value):
    if len(path) == 1:
        node[path[0]] = value
    else:
        _replace(node[path[0]], path[1:], value)


@st.composite
def mutated_catalogs(draw):
    """The full catalog with one to three of its values (or subtrees) replaced by junk."""
    import copy

    doc = copy.deepcopy(FULL)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(FULL_PATHS))
        try:
            _replace(doc, path, draw(JUNK))
        except (KeyError, IndexError, TypeError):
            pass   # an earlier replacement removed the place
    if draw(st.booleans()):
        place = draw(st.sampled_from([p for p in _paths(doc) if p]))
        try:
            node = doc
            for part in place[:-1]:
                node = node[part]
            if isinstance(node, dict):
                node[draw(KEYS)] = draw(JUNK)   # an unknown (or repeated) key
        except (KeyError, IndexError, TypeError):
            pass
    return doc


def _dump(doc):
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


YAML_TEXT = st.one_of(
    mutated_catalogs().map(_dump),
    JUNK.map(_dump),
    st.dictionaries(st.sampled_from(["services", "version", "name", "defaults", "x"]), JUNK,
                    max_size=4).map(_dump),
    st.text(max_size=200),
    st.sampled_from([
        "services: {web: &a {image: r/x, networks: [*a]}}",   # recursive alias
        "a: &a [*a]\nservices: {}",
        "services: {web: {image: r/x, build: !!binary aGk=}}",
        "services: {web: {image: r/x, deploy: {replicas: !!float 1e400}}}",
        "services: {web: {image: r/x, deploy: {timeout: 2001-13-01}}}",
        "services: {web: {image: !!python/name:os.system }}",
        "services: {web: {image: r/x}}\nservices: {web: {image: r/y}}",
        "services:\n  web:\n\timage: r/x",
        "services: {web: {image: r/x, jenkins: {repo: \"\\0\"}}}",
        "services: {web: {image: r/x, ports: [{target: 99999999999}]}}",
        "services: {web: {image: r/x, ports: ['1-99999999999999:1']}}",
        "services: {web: {image: r/x, healthcheck: {test: [CMD, *a]}, x: &a [*a]}}",
        "%YAML 9.9\n---\nservices: {}",
        "--- a\n--- b",
        "[" * 500,          # deep enough for a RecursionError in PyYAML
        "{a: " * 200,
    ]),
)
DOCUMENTS = st.one_of(YAML_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.binary(max_size=200))


@settings(max_examples=80 * SCALE, **SETTINGS)
@given(data=DOCUMENTS)
def test_generated_catalogs_load_or_fail_in_one_line(world, data):
    path = world.write("generated.yml", data)
    try:
        loaded = catalog.load(path)
    except CatalogError as exc:
        assert exc.exit_code == 2
        assert str(exc).startswith(path + ": ")
        return
    # Accepted: every service renders, its job XML parses, and the CLI agrees.
    for name in loaded.services:
        argv = ["render", "job-config", "--catalog", path, "--service", name]
        code, out, err = world.run(argv)
        if code == 2:
            assert_one_error_line(code, err, argv)   # e.g. a repo that XML cannot carry
            continue
        assert code == 0, (argv, err)
        for chunk in out.split("==> ")[1:]:
            ET.fromstring(chunk.split(" <==\n", 1)[1].encode("utf-8"))
        for what in ("jenkinsfile", "rollback"):
            code, _, err = world.run(["render", what, "--catalog", path, "--service", name])
            assert code == 0, (what, err)


@settings(max_examples=40 * SCALE, **SETTINGS)
@given(doc=mutated_catalogs(), stage=st.sampled_from(["build", "status", "deploy"]))
def test_refused_catalogs_name_the_key_in_one_line(world, doc, stage):
    path = world.write("mutated.yml", _dump(doc))
    argv = [stage, "--catalog", path, "--service", "web"]
    code, out, err = world.run(argv)
    if code == 2:
        assert_one_error_line(code, err, argv)
        if err.startswith(f"error: {path}: "):   # the catalog's fault: say where
            assert ": key " in err or ": service " in err, err
    else:
        assert code == 1 and any(c in err for c in EXIT_1_CAUSES), (argv, err)


def test_control_characters_in_arguments_stay_on_one_line(world):
    for argv in (["status", "--service", "web", "x\ny"],
                 ["status", "--service", "web", "--catalog", "a\nb\u2028c"],
                 ["render", "rollback\n", "--catalog", world.catalog, "--service", "web"]):
        code, _, err = world.run(argv)
        assert code == 2
        assert_one_error_line(code, err, argv)


# ---------------------------------------------------------------------------- stack files

STACK = yaml.safe_load(open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures",
                                         "compose", "full", "docker-stack.yml"),
                            encoding="utf-8"))
STACK_PATHS = [p for p in _paths(STACK) if p]


@st.composite
def mutated_stack_files(draw):
    """The full stack file with one to three values (or subtrees) replaced by junk."""
    import copy

    doc = copy.deepcopy(STACK)
    for _ in range(draw(st.integers(1, 3))):
        try:
            _replace(doc, draw(st.sampled_from(STACK_PATHS)), draw(JUNK))
        except (KeyError, IndexError, TypeError):
            pass
    return doc


@settings(max_examples=60 * SCALE, **SETTINGS)
@given(doc=mutated_stack_files(), service=st.sampled_from(["full", "mesh"]))
def test_generated_stack_files_load_or_fail_in_one_line(world, doc, service):
    stack = world.write("docker-stack.yml", _dump(doc).encode("utf-8", "surrogatepass"))
    path = world.write("catalog.yml", f"services:\n  {service}:\n    compose: "
                                      f"{{file: docker-stack.yml, service: {service}}}\n".encode())
    environ = {"IMAGE": "r/x:1", "NET": "n", "SECRET": "s", "CONFIG": "c", "VOLUME": "v"}
    try:
        catalog.from_data(yaml.safe_load(open(path, encoding="utf-8")), path=path,
                          environ=environ)
    except CatalogError as exc:
        assert exc.exit_code == 2
        assert str(exc).startswith((path + ": ", stack + ": ")), exc
        assert "\n" not in str(exc)
