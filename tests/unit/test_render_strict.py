"""The template environment: StrictUndefined (a value a template needs and does not get is an
error, never an empty string in a rendered script) and autoescaping for config.xml only."""
import os

import jinja2
import jinja2.meta
import pytest

from pipeline import catalog, render, render_group

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
CATALOG = catalog.load(os.path.join(GOLDEN, "basic", "catalog.yml"))
SERVICE = "hello"
# The Jenkinsfile template has two layouts: without environments, and delivering through them.
ENVIRONMENTS = catalog.load(os.path.join(GOLDEN, "three-environments", "catalog.yml"))
PICKER = catalog.load(os.path.join(GOLDEN, "rollback-environments", "catalog.yml"))
GROUP = catalog.load(os.path.join(GOLDEN, "group", "catalog.yml"))
GROUP_ENVIRONMENTS = catalog.load(os.path.join(GOLDEN, "group-environments", "catalog.yml"))


def calls():
    """(template, the values the public render functions give it)."""
    values = render._common(CATALOG, CATALOG.service(SERVICE))
    return [
        ("Jenkinsfile.j2", render.jenkinsfile_values(CATALOG, SERVICE, "shipway.yml")),
        ("rollback.Jenkinsfile.j2", values),
        ("job-pipeline.xml.j2", {**values, "script_path": "Jenkinsfile", "description": "d"}),
        ("job-rollback.xml.j2", {**values, "script": "s", "description": "d",
                                 "parameters": True}),
        ("rollback-picker.Jenkinsfile.j2", render._picker_values(PICKER, "web", "production")),
        ("folder.xml.j2", {"folder": "demo", "description": "d", "marker": values["marker"]}),
        ("group.Jenkinsfile.j2", render_group.jenkinsfile_values(GROUP, "shop", "shipway.yml")),
        ("group-rollback.Jenkinsfile.j2", render_group.rollback_values(GROUP, "shop")),
    ]


def referenced(template):
    env = render._environment()
    source = env.loader.get_source(env, template)[0]
    return jinja2.meta.find_undeclared_variables(env.parse(source))


@pytest.mark.parametrize("template, values", calls(), ids=[c[0] for c in calls()])
def test_every_missing_value_is_an_error(template, values):
    layouts = [values]
    if template == "Jenkinsfile.j2":
        layouts.append(render.jenkinsfile_values(ENVIRONMENTS, "hello", "shipway.yml"))
    if template == "group.Jenkinsfile.j2":
        layouts.append(render_group.jenkinsfile_values(GROUP_ENVIRONMENTS, "shop", "shipway.yml"))
    if template == "group-rollback.Jenkinsfile.j2":
        layouts.append(render_group.rollback_values(GROUP_ENVIRONMENTS, "shop", "production"))
    for layout in layouts:
        render._render(template, **layout)    # complete: renders
    needed = referenced(template) - {"indent"}   # `indent` is set by a macro's caller
    assert needed, template
    for name in sorted(needed):
        failed = 0
        for layout in layouts:   # each value is needed by one of the layouts at least
            try:
                render._render(template, **{k: v for k, v in layout.items() if k != name})
            except jinja2.UndefinedError:
                failed += 1
        assert failed, f"{template} renders without {name}"


def test_a_missing_key_inside_a_mapping_is_an_error_too():
    env = render._environment()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ jenkins.repo }}").render(jenkins={})
    assert env.undefined is jinja2.StrictUndefined


def test_autoescape_is_on_for_config_xml_only():
    env = render._environment()
    assert all(env.autoescape(t) for t in
               ("job-pipeline.xml.j2", "job-rollback.xml.j2", "folder.xml.j2",
                "_job_common.xml.j2"))
    assert not any(env.autoescape(t) for t in
                   ("Jenkinsfile.j2", "rollback.Jenkinsfile.j2",
                    "rollback-picker.Jenkinsfile.j2", "group.Jenkinsfile.j2",
                    "group-rollback.Jenkinsfile.j2", "_pipeline.j2"))
    xml = env.get_template("folder.xml.j2").render(
        folder="f", description="<a & 'b'>", marker="[m]")
    assert "<a &" not in xml and "&lt;a &amp;" in xml
