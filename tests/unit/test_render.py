"""pipeline.render and `shipway render`: escaping, items, ownership marker, job XML, CLI."""
import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import markupsafe
import pytest

from pipeline import catalog, render
from pipeline.catalog import keys
from pipeline.cli import main
from pipeline.console import Console
from pipeline.errors import CatalogError, UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTILE = os.path.join(ROOT, "tests", "fixtures", "golden", "hostile", "catalog.yml")

# Values that must come out of every template exactly as they went in.
NASTY = ["it's", 'say "hi"', "back\\slash", "${env.HOME}", "$(id)", "`id`", "new\nline",
         "cr\rlf", "]]>", "&amp;", "<x/>", "tab\tx", "\\u0027", "\\\\u0027", "ünï €",
         "\x01bell"]


def make_catalog(services, name="demo"):
    return catalog.from_data({"version": 1, "name": name, "services": services}, "test.yml")


def service(folder=None, repo="https://git.example.com/x.git", **jenkins):
    settings = {"image": "127.0.0.1:5000/x"}
    if folder is not None:
        jenkins["folder"] = folder
    if repo is not None:
        jenkins["repo"] = repo
    settings["jenkins"] = jenkins
    return settings


# ---------------------------------------------------------------------------- escaping

@pytest.mark.parametrize("value", NASTY)
def test_groovy_string_is_one_line_single_quoted_without_unicode_escapes(value):
    literal = render.groovy_string(value)
    assert literal.startswith("'") and literal.endswith("'")
    assert "\n" not in literal and "\r" not in literal
    # Groovy decodes \uXXXX before lexing: the literal must not contain one of its own.
    body = literal[1:-1]
    i = 0
    while i < len(body):
        if body[i] == "\\":
            assert body[i + 1] in "\\'nrtbf01234567", body
            i += 2
        else:
            assert body[i] != "'"
            i += 1


def test_groovy_string_examples():
    assert render.groovy_string("a'b") == "'a\\'b'"
    assert render.groovy_string("a\\b") == "'a\\\\b'"
    assert render.groovy_string("${x}") == "'${x}'"
    assert render.groovy_string("a\nb") == "'a\\nb'"
    assert render.groovy_string("\x01") == "'\\001'"


def test_shell_quotes_each_word():
    assert render.shell(["shipway", "build", "--catalog", "a b's"]) == \
        "shipway build --catalog 'a b'\"'\"'s'"
    assert render.shell(["$(id)"]) == "'$(id)'"


@pytest.mark.parametrize("seconds, text", [(300.0, "300s"), (1.5, "1500ms"), (90, "90s"),
                                           (0.25, "250ms")])
def test_duration_arg(seconds, text):
    from pipeline.units import parse_duration

    assert render.duration_arg(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_xml_text_escapes_markup_only():
    assert str(render.xml_text("a & b <c> ]]> 'q' \"d\"")) == \
        "a &amp; b &lt;c&gt; ]]&gt; 'q' \"d\""


def test_the_help_parser_imports_neither_render_nor_jinja2():
    """render imports jinja2 at module level (a required dependency); the parser `shipway
    --help` prints imports no stage module, so neither comes with it."""
    code = ("import sys; import pipeline.cli; pipeline.cli.build_parser(); "
            "print('pipeline.render' in sys.modules, 'jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False False"
    code = "import sys; import pipeline.render; print('jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"


# ---------------------------------------------------------------------------- items

def test_desired_items_order_and_names():
    cat = make_catalog({
        "web": service("team/front"),
        "api": service("team"),
        "solo": service(),
        "deep": service("team/front/x"),
        "other": service("ops"),
    })
    items = render.desired_items(cat)
    assert [(i.path, i.kind, i.service) for i in items] == [
        ("ops", "folder", None),
        ("team", "folder", None),
        ("team/front", "folder", None),
        ("team/front/x", "folder", None),
        ("team/api", "pipeline", "api"),
        ("team/api-rollback", "rollback", "api"),
        ("team/front/x/deep", "pipeline", "deep"),
        ("team/front/x/deep-rollback", "rollback", "deep"),
        ("ops/other", "pipeline", "other"),
        ("ops/other-rollback", "rollback", "other"),
        ("solo", "pipeline", "solo"),
        ("solo-rollback", "rollback", "solo"),
        ("team/front/web", "pipeline", "web"),
        ("team/front/web-rollback", "rollback", "web"),
    ]
    for item in items:
        assert isinstance(item, render.JobItem)
        assert render.owner_of(item.config_xml) == "demo"
    with pytest.raises(AttributeError):
        items[0].path = "x"  # frozen


def test_parents_come_before_children():
    cat = make_catalog({"a": service("z/y/x"), "b": service("a/b")})
    seen = set()
    for item in render.desired_items(cat):
        parent = item.path.rpartition("/")[0]
        assert not parent or parent in seen
        seen.add(item.path)


def test_service_without_repo_gets_no_jobs():
    cat = make_catalog({"managed": service("f"), "local": service("g", repo=None)})
    assert [i.path for i in render.desired_items(cat)] == ["f", "f/managed", "f/managed-rollback"]
    assert render.managed_services(cat) == ["managed"]
    with pytest.raises(CatalogError, match="jenkins.repo"):
        render.render_job_config(cat, "local", "pipeline")
    # The rollback job needs no repo: it can still be rendered on its own.
    assert "<sandbox>true</sandbox>" in render.render_job_config(cat, "local", "rollback")


def test_folder_levels():
    assert render.folder_levels("") == []
    assert render.folder_levels("a/b/c") == ["a", "a/b", "a/b/c"]


def test_unknown_service_and_kind():
    cat = make_catalog({"hello": service()})
    with pytest.raises(CatalogError, match="no service 'nope'"):
        render.render_jenkinsfile(cat, "nope")
    with pytest.raises(UsageError, match="unknown job kind"):
        render.render_job_config(cat, "hello", "folder")


def test_empty_catalog_path_is_refused():
    cat = make_catalog({"hello": service()})
    with pytest.raises(UsageError):
        render.render_jenkinsfile(cat, "hello", catalog_path="")


# ---------------------------------------------------------------------------- ownership marker

def test_owner_of():
    cat = make_catalog({"hello": service("demo")}, name="team-a")
    xml = render.render_folder_config(cat, "demo")
    assert render.xml_marker("team-a") == "[shipway-catalog=team-a]"
    assert render.owner_of(xml) == "team-a"
    assert render.owner_of(xml.encode("utf-8")) == "team-a"
    assert render.owner_of("<project><description>by hand</description></project>") is None
    assert render.owner_of("<project><description/></project>") is None
    assert render.owner_of("<project/>") is None
    assert render.owner_of("not xml <") is None
    # Only the item's own description counts, not a nested one (a parameter's, say).
    nested = ("<flow-definition><description>mine</description><properties><p>"
              "<description>[shipway-catalog=other]</description></p></properties>"
              "</flow-definition>")
    assert render.owner_of(nested) is None
    # Jenkins writes XML 1.1 declarations; entities in the description are decoded.
    assert render.owner_of("<?xml version='1.1' encoding='UTF-8'?>\n<project><description>"
                           "text &amp; more\n[shipway-catalog=x1]</description></project>") == "x1"


def test_description_ends_with_marker_line():
    cat = make_catalog({"hello": service("demo")})
    for item in render.desired_items(cat):
        text = ET.fromstring(item.config_xml.encode()).find("description").text
        assert text.splitlines()[-1] == "[shipway-catalog=demo]"


# ---------------------------------------------------------------------------- job XML

def _root(xml):
    assert xml.startswith("<?xml version='1.1' encoding='UTF-8'?>\n")
    return ET.fromstring(xml.encode("utf-8"))


def test_pipeline_job_xml():
    cat = make_catalog({"hello": service("demo", branch="release", credentials="c")})
    root = _root(render.render_job_config(cat, "hello", "pipeline", script_path="ci/Jenkinsfile"))
    assert root.tag == "flow-definition"
    definition = root.find("definition")
    assert definition.get("class") == "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"
    scm = definition.find("scm")
    assert scm.get("class") == "hudson.plugins.git.GitSCM"
    assert scm.find("userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url").text == \
        "https://git.example.com/x.git"
    assert scm.find("branches/hudson.plugins.git.BranchSpec/name").text == "*/release"
    assert scm.find("extensions/hudson.plugins.git.extensions.impl.LocalBranch/localBranch") \
        .text == "**"
    assert definition.find("scriptPath").text == "ci/Jenkinsfile"
    assert definition.find("lightweight").text == "true"
    strategy = root.find("properties/jenkins.model.BuildDiscarderProperty/strategy")
    assert strategy.find("numToKeep").text == "30"


def test_rollback_job_xml_holds_the_script():
    cat = make_catalog({"hello": service("demo", credentials="c")})
    root = _root(render.render_job_config(cat, "hello", "rollback"))
    definition = root.find("definition")
    assert definition.get("class") == "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"
    assert definition.find("script").text == render.render_rollback(cat, "hello")
    assert definition.find("sandbox").text == "true"
    parameter = root.find("properties/hudson.model.ParametersDefinitionProperty/"
                          "parameterDefinitions/hudson.model.StringParameterDefinition")
    assert parameter.find("name").text == "RELEASE"
    assert parameter.find("defaultValue").text == "previous"


def test_folder_xml():
    cat = make_catalog({"hello": service("a/b")})
    root = _root(render.render_folder_config(cat, "a/b"))
    assert root.tag == "com.cloudbees.hudson.plugins.folder.Folder"
    assert root.find("folderViews/views/hudson.model.AllView/name").text == "All"


# ---------------------------------------------------------------------------- hostile values

def test_hostile_catalog_renders_parseable_xml_and_round_trips():
    cat = catalog.load(HOSTILE)
    settings = cat.services["evil"]
    items = render.desired_items(cat)
    assert [i.path for i in items] == ["x.y", "x.y/a_b-c", "x.y/a_b-c/evil",
                                       "x.y/a_b-c/evil-rollback"]
    for item in items:
        root = _root(item.config_xml)
        assert render.owner_of(item.config_xml) == "hostile"
        if item.kind == "pipeline":
            scm = root.find("definition/scm")
            url = scm.find("userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url")
            assert url.text == settings["jenkins"]["repo"]
            name = scm.find("branches/hudson.plugins.git.BranchSpec/name")
            assert name.text == "*/" + settings["jenkins"]["branch"]
        if item.kind == "rollback":
            script = root.find("definition/script").text
            assert script == render.render_rollback(cat, "evil")
            assert "]]>" in script and "&amp;" in script   # raw, as the Groovy source has them
    jenkinsfile = render.render_jenkinsfile(cat, "evil")
    for branch in settings["jenkins"]["deploy_branches"]:
        assert f"branch {render.groovy_string(branch)}\n" in jenkinsfile
    credentials = render.groovy_string(settings["jenkins"]["credentials"])
    assert f"credentialsId: {credentials}," in jenkinsfile
    assert f"label {render.groovy_string(settings['jenkins']['agent'])}" in jenkinsfile


@pytest.mark.parametrize("value", NASTY)
def test_every_nasty_value_survives_the_rollback_job_xml(value):
    cat = make_catalog({"hello": service("demo", credentials=value, agent=value,
                                         deploy_branches=[value])})
    xml = render.render_job_config(cat, "hello", "rollback")
    script = _root(xml).find("definition/script").text
    assert script == render.render_rollback(cat, "hello")
    assert render.groovy_string(value) in script


@pytest.mark.parametrize("value", [v for v in NASTY if not any(ord(c) < 32 for c in v)])
def test_every_nasty_value_survives_the_pipeline_job_xml(value):
    cat = make_catalog({"hello": service("demo", repo=value, branch=value)})
    root = _root(render.render_job_config(cat, "hello", "pipeline"))
    scm = root.find("definition/scm")
    assert scm.find("userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url").text == value
    assert scm.find("branches/hudson.plugins.git.BranchSpec/name").text == "*/" + value


@pytest.mark.parametrize("key", ["repo", "branch"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x01b"])
def test_control_characters_are_refused_where_xml_cannot_keep_them(key, bad):
    cat = make_catalog({"hello": service("demo", **{key: bad})})
    with pytest.raises(CatalogError, match=f"jenkins.{key}"):
        render.render_job_config(cat, "hello", "pipeline")


def test_no_credentials_means_no_with_credentials():
    cat = make_catalog({"hello": service()})
    assert "withCredentials" not in render.render_jenkinsfile(cat, "hello")
    assert "withCredentials" not in render.render_rollback(cat, "hello")


def test_jenkinsfile_options_and_stages():
    cat = make_catalog({"hello": service(credentials="c", timeout_minutes=12,
                                         deploy_branches=["main", "rel/*"])})
    text = render.render_jenkinsfile(cat, "hello", catalog_path="ci/cat.yml")
    for needle in ("disableConcurrentBuilds()", "buildDiscarder(logRotator(numToKeepStr: '30'))",
                   "timeout(time: 12, unit: 'MINUTES')", "checkout scm",
                   "stage('Build')", "stage('Image')", "stage('Push')", "stage('Deploy')",
                   "branch 'main'", "branch 'rel/*'", "agent any",
                   "sh 'shipway build --catalog ci/cat.yml --service hello'",
                   "--json > shipway-deploy.json'", "--json > shipway-status.json || true'",
                   "archiveArtifacts"):
        assert needle in text, needle
    # The secret never appears as Groovy: only shipway reads it, from its environment.
    assert "SHIPWAY_REGISTRY_PASSWORD" not in text.replace(
        "passwordVariable: 'SHIPWAY_REGISTRY_PASSWORD'", "")
    # No timestamps(): Declarative refuses the whole script without the Timestamper plugin.
    code = [line for line in text.splitlines() if not line.strip().startswith("//")]
    assert not any("timestamps" in line for line in code)


def test_no_deploy_branches_means_no_deploy_stage():
    cat = make_catalog({"hello": service(deploy_branches=[])})
    text = render.render_jenkinsfile(cat, "hello")
    assert "stage('Deploy')" not in text and "never deploys" in text


# ---------------------------------------------------------------------------- CLI

def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ={}, console=Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def test_cli_jenkinsfile_to_stdout():
    code, out, err = _cli(["render", "jenkinsfile", "--catalog", HOSTILE, "--service", "evil",
                           "--catalog-path", "ci/shipway.yml"])
    assert code == 0, err
    cat = catalog.load(HOSTILE)
    assert out == render.render_jenkinsfile(cat, "evil", catalog_path="ci/shipway.yml")


def test_cli_job_config_to_directory(tmp_path):
    code, out, err = _cli(["render", "job-config", "--catalog", HOSTILE, "--service", "evil",
                           "-o", str(tmp_path / "jobs")])
    assert code == 0, err
    names = sorted(os.listdir(tmp_path / "jobs"))
    assert names == ["evil-rollback.config.xml", "evil.config.xml",
                     "folder-x.y-a_b-c.config.xml", "folder-x.y.config.xml"]
    assert sorted(os.path.basename(p) for p in out.split()) == names


def test_cli_job_config_to_stdout_separates_files():
    code, out, _ = _cli(["render", "job-config", "--catalog", HOSTILE, "--service", "evil"])
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("==> ")] == [
        "==> folder-x.y.config.xml <==", "==> folder-x.y-a_b-c.config.xml <==",
        "==> evil.config.xml <==", "==> evil-rollback.config.xml <=="]


def test_cli_rollback_file(tmp_path):
    code, out, _ = _cli(["render", "rollback", "--catalog", HOSTILE, "--service", "evil",
                         "-o", str(tmp_path)])
    assert code == 0
    assert out.strip() == str(tmp_path / "rollback.Jenkinsfile")


@pytest.mark.parametrize("argv, message", [
    (["render", "jenkinsfile", "--catalog", HOSTILE, "--service", "nope"], "no service"),
    (["render", "rollback", "--catalog", HOSTILE, "--service", "evil", "--catalog-path", "x"],
     "--catalog-path"),
    (["render", "jenkinsfile", "--catalog", HOSTILE, "--service", "evil", "--script-path", "x"],
     "--script-path"),
    (["render", "bogus", "--catalog", HOSTILE, "--service", "evil"], "invalid choice"),
    (["render", "jenkinsfile", "--catalog", "/nonexistent.yml", "--service", "x"],
     "cannot read"),
])
def test_cli_usage_errors_exit_2(argv, message):
    code, _, err = _cli(argv)
    assert code == 2
    assert message in err


# ---------------------------------------------------------------------------- every field

def _field_paths(schema, prefix=""):
    """Dotted paths of every leaf of a catalog schema (list items as `key[]`)."""
    for key, rule in schema.items():
        if isinstance(rule, dict):
            yield from _field_paths(rule, f"{prefix}{key}.")
        elif isinstance(rule, list):
            yield from _field_paths(rule[0], f"{prefix}{key}[].")
        else:
            yield f"{prefix}{key}"


# shipway's own keys (the compose keys are sent to the Engine, never rendered).
FIELDS = sorted(_field_paths({**keys.SERVICE_SCHEMA, "deploy": keys.RUN_SCHEMA}))
# The fields that reach a rendered Jenkinsfile or config.xml, and how. Every other field is
# used at run time only (a path, a command, the service spec sent to the Engine as JSON): it
# must leave every rendered file as it is. test_every_field_is_classified keeps this true.
RENDERED = {"jenkins.repo": "xml", "jenkins.branch": "xml", "jenkins.credentials": "groovy",
            "jenkins.scm_credentials": "xml",
            "jenkins.prometheus_credentials": "groovy", "jenkins.prometheus_token": "groovy",
            "jenkins.agent": "groovy", "jenkins.deploy_branches": "groovy",
            "jenkins.timeout_minutes": "number", "deploy.timeout": "number"}
BENIGN = "benign-value-17"   # stands where a hostile value goes, for the comparison


def _place(path, value):
    """A service entry with `value` at dotted `path` (lists and maps wrap it as needed)."""
    entry = {"image": "127.0.0.1:5000/x",
             "jenkins": {"folder": "f", "repo": "https://git.example.com/x.git",
                         "credentials": "c", "agent": "a", "deploy_branches": ["main"]}}
    if path == "image":
        entry["image"] = value
        return entry
    node = entry
    *parents, leaf = path.replace("[]", "").split(".")
    for part in parents:
        if part == "ports":
            node["ports"] = [{"target": 80}]
            node = node["ports"][0]
        else:
            node = node.setdefault(part, {})
    rule = _rule(path)
    if rule is keys.string_list:
        value = [value]
    elif rule is keys.string_map:
        value = {"K": value}
    node[leaf] = value
    return entry


def _rule(path):
    node = {**keys.SERVICE_SCHEMA, "deploy": keys.RUN_SCHEMA}
    for part in path.split("."):
        node = node[part.replace("[]", "")]
        if isinstance(node, list):
            node = node[0]
    return node


def _rendered(cat):
    """Every file `render` makes for service s: Jenkinsfile, rollback script, job configs."""
    files = {"Jenkinsfile": render.render_jenkinsfile(cat, "s"),
             "rollback": render.render_rollback(cat, "s")}
    for item in render.desired_items(cat):
        files[item.path] = item.config_xml
    return files


@pytest.mark.parametrize("value", NASTY)
def test_hostile_catalog_and_service_names_are_refused(value):
    """Both reach rendered files unescaped (job names, comments, the ownership marker), so
    the loader lets through only [a-z0-9-]."""
    with pytest.raises(CatalogError, match="key 'name'"):
        make_catalog({"s": service()}, name=value)
    with pytest.raises(CatalogError, match="service names are"):
        make_catalog({value: service()})


def test_every_field_is_classified():
    assert set(RENDERED) <= set(FIELDS)
    assert len(FIELDS) >= 15   # the walk found the whole schema (of shipway's own keys)


@pytest.mark.parametrize("path", FIELDS)
def test_every_catalog_field_takes_hostile_values_as_data_or_refuses_them(path):
    """For each NASTY value in field `path`: the loader refuses it naming the field, or every
    rendered file is the one rendered with a benign value in its place, the value swapped
    in escaped form only: it stays data (Groovy literal, XML text) and changes no structure."""
    baseline = None
    for value in NASTY + ["${x}'\"\\\n]]>&amp;<y/>"]:
        try:
            cat = make_catalog({"s": _place(path, value)})
        except CatalogError as exc:
            assert exc.context["key"].replace("[0]", "") == path.replace("[]", ""), exc
            assert "\n" not in str(exc)
            continue
        try:
            files = _rendered(cat)
        except CatalogError as exc:   # refused where it would go into config.xml
            assert RENDERED.get(path) == "xml" and exc.context["key"] == path, exc
            continue
        if baseline is None:
            baseline = _rendered(make_catalog({"s": _place(path, BENIGN)}))
        for name, text in files.items():
            # A folder name Jenkins accepts is part of the item paths, nothing else.
            name = name.replace(value, BENIGN) if path == "jenkins.folder" else name
            if name != "Jenkinsfile" and name != "rollback":
                _root(text)   # parses
            swapped = text
            for form in (lambda v: str(render.xml_text(render.groovy_string(v))),
                         lambda v: str(markupsafe.escape(v)),   # jinja2's autoescape
                         render.groovy_string):
                swapped = swapped.replace(form(value), form(BENIGN))
            assert swapped == baseline[name], (path, value, name)
            if path not in RENDERED:
                assert text == baseline[name], (path, value, name)
