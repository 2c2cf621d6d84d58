"""Jenkinsfiles and Jenkins job config.xml rendered from the catalog (jinja2 templates).

What is rendered, per service with a `jenkins.repo`:
  * a pipeline job "<folder>/<service>" that checks the service repo out and runs the
    Jenkinsfile committed there (`render_jenkinsfile` writes that file);
  * a rollback job "<folder>/<service>-rollback" whose script is inline (`render_rollback`);
  * every folder level above them.
A service without `jenkins.repo` gets no jobs: there is nothing for a pipeline job to check out.

Every item's description ends with the ownership marker `[shipway-catalog=<catalog name>]`,
so job provisioning only ever changes or deletes items its own catalog created.

Values from the catalog stay data in every output: Groovy literals are single-quoted and
escaped (`groovy_string`), shell words are quoted before they become Groovy literals
(`shell` then `groovy_string`), and the XML templates are autoescaped.
"""
from __future__ import annotations  # `str | None` on Python 3.9

import functools
import os
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import jinja2
from markupsafe import Markup

from pipeline import delivery
from pipeline.errors import CatalogError, UsageError

OWNER_MARKER = "shipway-catalog"
# Where the rendered Jenkinsfile expects the catalog, relative to the service repo's root.
DEFAULT_CATALOG_PATH = "shipway.yml"
# Where the pipeline job finds the Jenkinsfile in the service repo.
DEFAULT_SCRIPT_PATH = "Jenkinsfile"
# The optional parameter of the rollback job; "previous" means: the release before this one.
ROLLBACK_DEFAULT = "previous"
KINDS = ("pipeline", "rollback")

# Catalog names may carry upper case and '_' like service names (engine rule).
_MARKER_RE = re.compile(r"\[" + re.escape(OWNER_MARKER) + r"=([A-Za-z0-9][A-Za-z0-9_-]*)\]")


@dataclass(frozen=True)
class JobItem:
    """One Jenkins item the catalog wants: its full "/"-separated name, kind and config.xml."""

    path: str          # "demo" (folder), "demo/hello", "demo/hello-rollback"
    kind: str          # "folder" | "pipeline" | "rollback"
    service: str | None
    config_xml: str
    group: str | None = None   # a catalog group's job (pipeline/render_group.py)

    def describe(self):
        """`the rollback job of group shop`, `a folder`: what the item is, for a line."""
        if self.kind == "folder":
            return "a folder"
        owner = f"group {self.group}" if self.group else f"service {self.service}"
        return f"the {self.kind} job of {owner}"


# ---------------------------------------------------------------------------- escaping filters

def groovy_string(value):
    """`value` as a single-quoted Groovy literal: no interpolation, every character literal.

    Backslash and quote are escaped, control characters become \\n, \\t... or octal escapes.
    Never \\uXXXX: Groovy 2 (the one Jenkins runs) decodes those before it lexes, so an
    escaped quote would end the literal. Doubling every backslash of the value keeps a
    `\\u0027` in the value from becoming one. Other characters pass as they are (UTF-8).
    """
    out = ["'"]
    for char in str(value):
        if char in _GROOVY_ESCAPES:
            out.append(_GROOVY_ESCAPES[char])
        elif char < " ":
            out.append("\\%03o" % ord(char))
        else:
            out.append(char)
    out.append("'")
    return "".join(out)


_GROOVY_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                   "\b": "\\b", "\f": "\\f"}


def shell(words):
    """A list of words as one POSIX shell command line, every word quoted as needed."""
    return " ".join(shlex.quote(str(word)) for word in words)


def xml_text(value):
    """`value` escaped for XML character data: & < > (quotes need no escaping there), and the
    characters an XML 1.1 parser (Jenkins reads config.xml as 1.1) would not keep as they are:
    C1 controls must be character references there, and U+0085/U+2028 would become newlines.
    """
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Markup(_XML11_UNSAFE.sub(lambda m: f"&#x{ord(m.group()):X};", text))


# Characters XML 1.1 rewrites or accepts only as references (see xml_text).
_XML11_UNSAFE = re.compile("[\x7f-\x9f\u2028]")


def _xml_unsafe(text):
    """True when `text` cannot be config.xml character data as it is (autoescaped templates):
    C0 controls (XML 1.0 refuses them, a CR comes back as LF) and what XML 1.1 rewrites."""
    return any(ord(c) < 32 for c in text) or bool(_XML11_UNSAFE.search(text))


def xml_marker(catalog_name):
    """The ownership marker line for `catalog_name`."""
    return f"[{OWNER_MARKER}={catalog_name}]"


def with_credentials(bindings, indent):
    """The opening `withCredentials([...]) {` of `bindings` (delivery.credential_bindings()),
    at `indent`, every id a Groovy literal; a binding with several variables has each
    further argument aligned under the first, one with one variable is one line."""
    opener = f"{indent}withCredentials(["
    calls = []
    for i, (symbol, credentials_id, variables) in enumerate(bindings):
        start = opener if i == 0 else " " * len(opener)
        column = " " * (len(start) + len(symbol) + 1)
        arguments = [f"credentialsId: {groovy_string(credentials_id)}"] + [
            f"{key}: {groovy_string(value)}" for key, value in variables.items()]
        separator = ", " if len(variables) == 1 else ",\n" + column
        calls.append(f"{start}{symbol}({separator.join(arguments)})")
    return ",\n".join(calls) + "]) {"


def duration_arg(seconds):
    """Seconds (a float from the catalog) as a --timeout argument shipway parses back."""
    millis = round(float(seconds) * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


# ---------------------------------------------------------------------------- environment

def _loader():
    """The templates next to this package in a source tree (`templates/`, what setup.cfg
    maps to pipeline.templates), else the installed pipeline.templates. Without the first,
    `python -m pipeline` in a checkout renders with whatever tree is pip-installed (an
    editable install of another checkout resolves pipeline.templates to its own files)."""
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "templates")
    if os.path.isfile(os.path.join(source, "Jenkinsfile.j2")):
        return jinja2.FileSystemLoader(source)
    return jinja2.PackageLoader("pipeline.templates", ".")


@functools.lru_cache(maxsize=None)
def _environment():
    env = jinja2.Environment(
        loader=_loader(),
        undefined=jinja2.StrictUndefined,
        # Only the config.xml templates are escaped: a Jenkinsfile is not HTML.
        autoescape=jinja2.select_autoescape(enabled_extensions=("xml.j2",),
                                            default_for_string=False, default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(groovy_string=groovy_string, shell=shell, duration_arg=duration_arg,
                       xml_text=xml_text, with_credentials=with_credentials)
    return env


def _render(template, **values):
    return _environment().get_template(template).render(**values)


# ---------------------------------------------------------------------------- settings

def _folder_of(settings):
    return settings.get("jenkins", {}).get("folder") or ""


def job_path(settings, kind):
    """The full Jenkins name of a service's job of `kind` ("pipeline" or "rollback"); in a
    catalog with environments, a rollback job per environment: "<entry>-rollback-<env>"."""
    if kind == "rollback" and settings.get("environment"):
        name = f"{settings['entry']}-rollback-{settings['environment']}"
    else:
        name = settings["name"] + ("-rollback" if kind == "rollback" else "")
    folder = _folder_of(settings)
    return f"{folder}/{name}" if folder else name


def _common(catalog, settings):
    jenkins = settings["jenkins"]
    return {
        "catalog_name": catalog.name,
        "service": settings["name"],
        "jenkins": jenkins,
        "deploy": settings["deploy"],
        "credentials": jenkins.get("credentials"),
        "scm_credentials": jenkins.get("scm_credentials"),
        "push_bindings": delivery.credential_bindings(jenkins, prometheus=False),
        # deploy and rollback send notifications: their webhooks' credentials too
        "deploy_bindings": delivery.credential_bindings(jenkins, prometheus=True)
        + delivery.notify_bindings(settings),
        "agent": jenkins.get("agent", "any"),
        "timeout_minutes": jenkins.get("timeout_minutes", 30),
        "marker": xml_marker(catalog.name),
        "rollback_default": ROLLBACK_DEFAULT,
        # A gate before an environment: builds run concurrently (a build waiting for an
        # approval must not hold back the next commit), in the Jenkinsfile and its job.
        "gated": _delivers(catalog, settings) and any(
            env.approval is not None for env in catalog.environments.values()),
    }


# ---------------------------------------------------------------------------- public API

def render_jenkinsfile(catalog, service, *, catalog_path=DEFAULT_CATALOG_PATH):
    """The declarative Jenkinsfile of `service`, to commit to the service repo.

    `catalog_path` is where the catalog sits in that repo, relative to its root: the script
    passes it to every `shipway` call.
    """
    if not catalog_path:
        raise UsageError("the catalog path inside the service repo must not be empty",
                         hint="pass --catalog-path, e.g. shipway.yml")
    return _render("Jenkinsfile.j2", **jenkinsfile_values(catalog, service, catalog_path))


def jenkinsfile_values(catalog, service, catalog_path):
    """What Jenkinsfile.j2 renders: the common values, and with the catalog's environments
    (on a service that deploys) the stages that deliver the build through them."""
    settings = catalog.service(service)
    values = _common(catalog, settings)
    base = ["--catalog", catalog_path, "--service", service]
    targets = delivery.targets(catalog, service, base) if _delivers(catalog, settings) else []
    return {**values, "catalog_path": catalog_path, "targets": targets,
            "stash": delivery.STASH, "approved_by": delivery.APPROVED_BY,
            "pause": delivery.pause_of(settings, base)}


def _delivers(catalog, settings):
    """True when the service's pipeline goes through the catalog's environments: it has
    some, and the service deploys from some branch."""
    return bool(catalog.environments) and bool(settings["jenkins"].get("deploy_branches"))


def render_rollback(catalog, service, environment=None):
    """The inline script of the rollback job of `service` (no checkout, no catalog needed);
    in `environment` (a catalog with environments), the rollback picker there."""
    if environment is None:
        return _render("rollback.Jenkinsfile.j2", **_common(catalog, catalog.service(service)))
    return _render("rollback-picker.Jenkinsfile.j2", **_picker_values(catalog, service,
                                                                      environment))


# Docker Commons' dockerCert binding (DockerServerCredentialsBinding): a directory holding
# the client certificate, key and CA, where the docker CLI and docker-py look for them. A
# rollback job acts on one environment with no catalog: the plain variable, not _<ENV>.
ENGINE_VARIABLES = {"variable": delivery.CERT_VARIABLE}


def _picker_values(catalog, service, environment):
    """What the rollback picker of `service` in `environment` renders from: the service's
    settings there, and the environment's engine (its address and client certificate are
    rendered in: the job has no catalog) and approval submitter, who may also roll back."""
    settings = catalog.service(service, environment)
    env = catalog.environment(environment)
    engine = [("dockerCert", env.credentials, ENGINE_VARIABLES)] if env.credentials else []
    values = _common(catalog, settings)
    return {**values, "entry": settings.get("entry") or service, "environment": env.name,
            "job_name": job_path(settings, "rollback").rpartition("/")[2],
            "docker_host": env.docker_host, "engine_credentials": env.credentials,
            "submitter": env.approval.submitter if env.approval else None,
            "engine_bindings": engine, "rollback_bindings": engine + values["deploy_bindings"]}


def render_job_config(catalog, service, kind, *, script_path=DEFAULT_SCRIPT_PATH,
                      environment=None):
    """config.xml of the service's pipeline job or rollback job (`kind`; in `environment`,
    that environment's rollback picker: no build parameters, the picker asks)."""
    settings = catalog.service(service)
    values = _common(catalog, settings)
    if kind == "pipeline":
        if not settings["jenkins"].get("repo"):
            raise CatalogError("a pipeline job needs jenkins.repo (the repo it checks out)",
                               path=catalog.path, service=service, key="jenkins.repo")
        for key in ("repo", "branch"):
            # Both land in config.xml text, where XML 1.0 parsers refuse or rewrite control
            # characters (a CR comes back as LF): refuse them rather than change the value.
            if _xml_unsafe(str(settings["jenkins"].get(key) or "")):
                raise CatalogError("must not contain control characters (it goes into "
                                   "config.xml)", path=catalog.path, service=service,
                                   key=f"jenkins.{key}")
        if _xml_unsafe(str(script_path)):
            raise UsageError(f"the script path {script_path!r} must not contain control "
                             "characters (it goes into config.xml)", hint="e.g. Jenkinsfile")
        return _render("job-pipeline.xml.j2", script_path=script_path,
                       description=f"Builds, pushes and deploys {service} (shipway).", **values)
    if kind == "rollback" and environment is not None:
        return _render("job-rollback.xml.j2",
                       script=render_rollback(catalog, service, environment),
                       description=f"Rolls {service} back in {environment} to a release you "
                                   "pick (shipway).", parameters=False, **values)
    if kind == "rollback":
        return _render("job-rollback.xml.j2", script=render_rollback(catalog, service),
                       description=f"Rolls {service} back to its previous release (shipway).",
                       parameters=True, **values)
    raise UsageError(f"unknown job kind {kind!r}", hint=f"use one of: {', '.join(KINDS)}")


def render_folder_config(catalog, folder_path):
    """config.xml of the folder `folder_path` ("a" or "a/b"), owned by the catalog."""
    return _render("folder.xml.j2", folder=folder_path,
                   description=f"Jobs of the shipway catalog {catalog.name}.",
                   marker=xml_marker(catalog.name))


def managed_services(catalog):
    """Names of the services that get Jenkins jobs (those with a jenkins.repo), sorted."""
    return sorted(name for name, settings in catalog.services.items()
                  if settings.get("jenkins", {}).get("repo"))


def folder_levels(folder):
    """"a/b/c" -> ["a", "a/b", "a/b/c"]; "" -> []."""
    parts = [p for p in folder.split("/") if p]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def desired_items(catalog, *, script_path=DEFAULT_SCRIPT_PATH, extra=()):
    """Every item the catalog wants in Jenkins: folders (parents first), then each service's
    pipeline and rollback job, services sorted by name, then the `extra` jobs (its groups':
    render_group.desired_items gives them)."""
    jobs = []
    for name in managed_services(catalog):
        jobs.append(JobItem(job_path(catalog.services[name], "pipeline"), "pipeline", name,
                            render_job_config(catalog, name, "pipeline",
                                              script_path=script_path)))
        jobs += rollback_items(catalog, name)
    jobs += list(extra)
    # Every folder a job sits in (an environment may name its own jenkins.folder).
    folders = {level for job in jobs for level in folder_levels(job.path.rpartition("/")[0])}
    items = [JobItem(path, "folder", None, render_folder_config(catalog, path))
             for path in sorted(folders, key=lambda p: (p.count("/"), p))] + jobs
    _check_distinct(catalog, items)
    return items


def rollback_items(catalog, service):
    """The rollback jobs of `service`: one, or one per environment of a catalog with them
    (each binds only its own environment's engine and registry credentials, and its input
    takes that environment's approval submitter)."""
    if not catalog.environments:
        return [JobItem(job_path(catalog.services[service], "rollback"), "rollback", service,
                        render_job_config(catalog, service, "rollback"))]
    return [JobItem(job_path(catalog.service(service, env), "rollback"), "rollback", service,
                    render_job_config(catalog, service, "rollback", environment=env))
            for env in catalog.environments]


def _check_distinct(catalog, items):
    """Refuse two items Jenkins would see as one: it compares item names without regard to
    case (core Jenkins.items and cloudbees-folder AbstractFolder.items are maps ordered by
    String.CASE_INSENSITIVE_ORDER), so `Shop/web` and `shop/web` are the same job, and a
    service `web-rollback` would be the rollback job of `web`. A group's job at a service's
    job's name is refused the same way, naming both."""
    seen = {}
    for item in items:
        key = item.path.lower()
        if key in seen:  # folders come once each, so any repeat is two items in one
            first = seen[key]
            if item.group or first.group:
                raise CatalogError(
                    f"{item.describe()} and {first.describe()} would be one Jenkins item, "
                    f"{item.path!r} (Jenkins compares names without regard to case)",
                    path=catalog.path,
                    hint="rename the group, or give it another jenkins.folder")
            raise CatalogError(
                f"Jenkins would hold {item.path!r} ({item.kind}) and {first.path!r} "
                f"({first.kind}) as one item: it compares names without regard to case",
                path=catalog.path, service=item.service or first.service,
                key="jenkins.folder" if item.kind == "folder" else None,
                hint="rename the service or its jenkins.folder")
        seen[key] = item


def owner_of(config_xml):
    """The catalog name in the ownership marker of an item's <description>, or None.

    Only the root element's own <description> counts (a parameter's description does not).
    XML that does not parse counts as not owned: provisioning then leaves the item alone.
    """
    try:
        root = ET.fromstring(config_xml.encode("utf-8") if isinstance(config_xml, str)
                             else config_xml)
    except ET.ParseError:
        return None
    description = root.find("description")
    if description is None or not description.text:
        return None
    found = _MARKER_RE.findall(description.text)
    return found[-1] if found else None
