"""The Jenkins items of a catalog group with `jenkins.repo` (pipeline/catalog/groups.py):
the monorepo's pipeline and the group's rollback button, rendered as a service's are
(pipeline/render.py: the same escaping, templates, job config and ownership marker).

    <folder>/<group>                   pipeline job: the group repo's `<group>.Jenkinsfile`
                                       (render_jenkinsfile): checkout, Build/Image/Push of
                                       each member the catalog builds, `deploy --group`
    <folder>/<group>-rollback          rollback picker (inline script, render_rollback):
                                       `releases --group --json`, an input, `rollback --group
                                       --to #SEQ` with who and why
    <folder>/<group>-rollback-<env>    instead, one per environment of a catalog with them

A name one of them shares with a service's job is refused (render._check_distinct).
"""
from __future__ import annotations  # `str | None` on Python 3.9

from dataclasses import dataclass, replace

from pipeline import delivery, render
from pipeline.catalog.keys import DEFAULTS
from pipeline.errors import CatalogError, UsageError

# Where the group's pipeline job finds its Jenkinsfile: its own name at the repository's root,
# beside the services' Jenkinsfiles of the same monorepo.
SCRIPT_SUFFIX = ".Jenkinsfile"
# What Build once hands the later environments' deploys: the push records of this build.
PUSHED_STASH = "shipway-pushed"


@dataclass(frozen=True)
class Build:
    """The stages that build one member's image: `shipway build` (only with a build command),
    `image` and `push` of catalog service `service`."""

    member: str
    service: str
    command: bool


def script_path(group):
    """The default script path of group `group`'s pipeline job: `<group>.Jenkinsfile`."""
    return group + SCRIPT_SUFFIX


def _jenkins(group):
    """The group's `jenkins:` (its defaults applied at load), or the defaults alone."""
    return group.jenkins or DEFAULTS["jenkins"]


def builds(catalog, name):
    """The members of group `name` whose image the catalog builds, in step order: a catalog
    service with `build` or `context`; for a stack file's group, the catalog service of the
    stack service's own name that builds the image the stack file names (what `deploy
    --group` takes then is that service's push, by that name). The others build nothing:
    the group deploys the catalog's or stack file's image."""
    group = catalog.group(name)
    members = catalog.members(name)
    out = []
    for member in group.members:
        source = members[member]
        if group.stack is not None:
            source = catalog.services.get(source["entry"])
            if source is None or source["image"] != members[member].get("image"):
                continue
        if source.get("build") or source.get("context"):
            out.append(Build(member, source["entry"], bool(source.get("build"))))
    return out


def _delivers(catalog, jenkins):
    return bool(catalog.environments) and bool(jenkins.get("deploy_branches"))


def _common(catalog, name):
    group = catalog.group(name)
    jenkins = _jenkins(group)
    return {
        "catalog_name": catalog.name,
        "group": name,
        "jenkins": jenkins,
        "credentials": jenkins.get("credentials"),
        "scm_credentials": jenkins.get("scm_credentials"),
        # One registry login for the group: every push and the deploy (which resolves every
        # member's digest with it) bind the group's jenkins.credentials.
        "push_bindings": delivery.credential_bindings(jenkins, prometheus=False),
        "deploy_bindings": delivery.credential_bindings(jenkins, prometheus=True),
        "agent": jenkins.get("agent", "any"),
        "timeout_minutes": jenkins.get("timeout_minutes", 30),
        "marker": render.xml_marker(catalog.name),
        "gated": _delivers(catalog, jenkins) and any(
            env.approval is not None for env in catalog.environments.values()),
    }


def notify_bindings(catalog, name, environment=None, event=None):
    """The withCredentials bindings of the webhooks a group deploy tells (in `environment`):
    each member's (`notify` entries with a Jenkins `credentials`), once each; with `event`,
    of those told that event only."""
    found = {}
    for settings in catalog.members(name, environment).values():
        for binding in delivery.notify_bindings(settings, event):
            found[(binding[1], binding[2]["variable"])] = binding
    return [found[key] for key in sorted(found)]


def waiting_bindings(catalog, name, environment):
    """The bindings of the webhooks `shipway notify --group` tells approval-waiting before
    `environment`'s approval (what some member in it notifies), or None when none listens."""
    members = catalog.members(name, environment).values()
    if not any(delivery.listens(settings, delivery.WAITING) for settings in members):
        return None
    return notify_bindings(catalog, name, environment, delivery.WAITING)


def jenkinsfile_values(catalog, name, catalog_path):
    """What group.Jenkinsfile.j2 renders: the common values, each member's build, and with
    the catalog's environments (where the group deploys from some branch) a deploy to each,
    a later one after its approval; every deploy binds its members' webhooks too, and the
    stage before an approval some member's webhooks are told of ends with `shipway notify
    --group` of approval-waiting."""
    values = _common(catalog, name)
    base = ["--catalog", catalog_path, "--group", name]
    targets = delivery.announced(
        [replace(t, bindings=t.bindings + notify_bindings(catalog, name, t.environment))
         for t in delivery.group_targets(catalog, name, base, values["jenkins"])],
        base, lambda environment: waiting_bindings(catalog, name, environment)) \
        if _delivers(catalog, values["jenkins"]) else []
    values["deploy_bindings"] = values["deploy_bindings"] + notify_bindings(catalog, name)
    built = [{"member": b.member, "command": b.command,
              "base": ["--catalog", catalog_path, "--service", b.service]}
             for b in builds(catalog, name)]
    return {**values, "catalog_path": catalog_path, "base": base, "builds": built,
            "targets": targets, "stash": delivery.STASH, "approved_by": delivery.APPROVED_BY,
            "pushed": PUSHED_STASH if built and len(targets) > 1 else None}


def render_jenkinsfile(catalog, name, *, catalog_path=render.DEFAULT_CATALOG_PATH):
    """The declarative Jenkinsfile of group `name`, to commit to its repository as
    `<group>.Jenkinsfile`; `catalog_path`: the catalog's path in that repository."""
    if not catalog_path:
        raise UsageError("the catalog path inside the group's repository must not be empty",
                         hint="pass --catalog-path, e.g. shipway.yml")
    return render._render("group.Jenkinsfile.j2", **jenkinsfile_values(catalog, name,
                                                                        catalog_path))


def rollback_values(catalog, name, environment=None,
                    catalog_path=render.DEFAULT_CATALOG_PATH):
    """What group-rollback.Jenkinsfile.j2 renders: the group in `environment` (its
    certificate and the group's registry login bound under that environment's variables;
    its approval submitter answers the question), or on the agent's engine; the members'
    webhooks' credentials bound around the rollback, which tells them."""
    values = _common(catalog, name)
    _check_repo(catalog, name, values["jenkins"])
    env = catalog.environment(environment) if environment is not None else None
    suffix = env.variable_suffix if env else ""
    engine = delivery.cert_binding(env) if env else []
    where = ["--environment", env.name] if env else []
    base = ["--catalog", catalog_path, "--group", name, *where]
    return {**values, "environment": env.name if env else None,
            "job_name": group_job_path(catalog, name, "rollback", environment)
            .rpartition("/")[2],
            "releases": ["shipway", "releases", *base, "--json"],
            "rollback": ["shipway", "rollback", *base, "--json"],
            "submitter": env.approval.submitter if env and env.approval else None,
            "tls": delivery.TLS_VARIABLE + suffix if env and env.credentials else None,
            "engine_bindings": engine,
            # the webhooks too: rollback --group tells each member's (`rollback`)
            "rollback_bindings": engine + delivery.credential_bindings(
                values["jenkins"], prometheus=True, suffix=suffix)
            + notify_bindings(catalog, name, environment)}


def render_rollback(catalog, name, environment=None, *,
                    catalog_path=render.DEFAULT_CATALOG_PATH):
    """The inline script of group `name`'s rollback job (in `environment`); it checks the
    group's repository out and reads the catalog at `catalog_path` there."""
    if not catalog_path:
        raise UsageError("the catalog path inside the group's repository must not be empty",
                         hint="pass --catalog-path, e.g. shipway.yml")
    return render._render("group-rollback.Jenkinsfile.j2",
                          **rollback_values(catalog, name, environment, catalog_path))


def group_job_path(catalog, name, kind, environment=None):
    """The full Jenkins name of group `name`'s job of `kind`: `<folder>/<group>`,
    `<folder>/<group>-rollback`, or in an environment `<folder>/<group>-rollback-<env>`."""
    folder = _jenkins(catalog.group(name)).get("folder") or ""
    job = name if kind == "pipeline" else f"{name}-rollback" + (
        f"-{environment}" if environment else "")
    return f"{folder}/{job}" if folder else job


def render_job_config(catalog, name, kind, *, script=None, environment=None,
                      catalog_path=render.DEFAULT_CATALOG_PATH):
    """config.xml of group `name`'s pipeline job (checking out its repo and running
    `script`, default `<group>.Jenkinsfile`) or rollback job (`kind`; in `environment`,
    reading the catalog at `catalog_path` of the group's repository)."""
    values = _common(catalog, name)
    if kind == "pipeline":
        _check_repo(catalog, name, values["jenkins"])
        path = script if script is not None else script_path(name)
        if render._xml_unsafe(str(path)):
            raise UsageError(f"the script path {path!r} must not contain control "
                             "characters (it goes into config.xml)", hint="e.g. Jenkinsfile")
        return render._render("job-pipeline.xml.j2", script_path=path,
                              description=f"Builds, pushes and deploys group {name} "
                                          "(shipway).", **values)
    if kind == "rollback":
        where = f" in {environment}" if environment else ""
        return render._render("job-rollback.xml.j2",
                              script=render_rollback(catalog, name, environment,
                                                     catalog_path=catalog_path),
                              description=f"Rolls group {name} back{where} to a group release "
                                          "you pick (shipway).", parameters=False, **values)
    raise UsageError(f"unknown job kind {kind!r}", hint=f"use one of: {', '.join(render.KINDS)}")


def _check_repo(catalog, name, jenkins):
    """Both the pipeline and the rollback job check the group's repository out (the
    rollback reads the group's members in the catalog): it must be there, and config.xml
    and Groovy must carry its URL and branch as they are."""
    if not jenkins.get("repo"):
        raise CatalogError(f"group {name}: its jobs need jenkins.repo (the repository they "
                           "check out)", path=catalog.path, key=f"groups.{name}.jenkins.repo")
    for key in ("repo", "branch"):
        if render._xml_unsafe(str(jenkins.get(key) or "")):
            raise CatalogError(f"group {name}: must not contain control characters (it goes "
                               "into config.xml)", path=catalog.path,
                               key=f"groups.{name}.jenkins.{key}")


def managed_groups(catalog):
    """Names of the groups that get Jenkins jobs (those with a jenkins.repo), sorted."""
    return sorted(name for name, group in catalog.groups.items()
                  if group.jenkins.get("repo"))


def group_items(catalog, name, *, script=None, catalog_path=render.DEFAULT_CATALOG_PATH):
    """The JobItems of group `name`: its pipeline job and its rollback job(s)."""
    envs = list(catalog.environments) or [None]
    items = [render.JobItem(group_job_path(catalog, name, "pipeline"), "pipeline", None,
                            render_job_config(catalog, name, "pipeline", script=script),
                            group=name)]
    return items + [render.JobItem(
        group_job_path(catalog, name, "rollback", env), "rollback", None,
        render_job_config(catalog, name, "rollback", environment=env,
                          catalog_path=catalog_path), group=name) for env in envs]


def desired_items(catalog):
    """Every item the catalog wants in Jenkins: its services' (render.desired_items) and,
    after them, each group's with a jenkins.repo, groups sorted by name; a group's job at a
    service's job's name is bad input."""
    extra = [item for name in managed_groups(catalog) for item in group_items(catalog, name)]
    return render.desired_items(catalog, extra=extra)
