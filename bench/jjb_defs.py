"""The benchmark catalog of figure 4, and the same jobs as jenkins-job-builder definitions.

`bench_catalog(n)` is a shipway catalog of `n` services spread over team folders under one
top folder. `jjb_jobs(catalog)` turns a loaded catalog into what a JJB user would write for
the same Jenkins items: each folder (`project-type: folder`), each service's pipeline job
(SCM Jenkinsfile from the service's repo and branch, local branch, lightweight checkout) and
its rollback job (the inline script `shipway render rollback` makes, sandboxed, with the
RELEASE parameter), with the same descriptions, build discarder and no concurrent builds.
The item paths come from `pipeline.render`, so both tools provision the same job set.
"""
from pipeline import render

TOP = "bench"
NAME = "bench"
PER_TEAM = 10


def bench_catalog(services, *, changed=None, variant=0):
    """Catalog YAML text: `services` services, `PER_TEAM` to a folder `bench/team-NN`.

    The service `changed` (an index) gets the settings of `variant` (0 or 1): another repo
    URL (its pipeline job changes) and another agent (its rollback job's script changes).
    """
    lines = ["version: 1", f"name: {NAME}", "services:"]
    for i in range(services):
        name = f"svc-{i:04d}"
        repo = f"https://git.example.com/bench/{name}.git"
        agent = "any"
        if i == changed and variant:
            repo, agent = f"https://git.example.com/bench/{name}-moved.git", "docker"
        lines += [f"  {name}:",
                  f"    image: 127.0.0.1:5000/bench/{name}",
                  f"    jenkins: {{folder: {TOP}/team-{i // PER_TEAM:02d}, repo: '{repo}', "
                  f"agent: {agent}, credentials: lab-registry}}"]
    return "\n".join(lines) + "\n"


def _folder_description(catalog):
    return f"Jobs of the shipway catalog {catalog.name}.\n{render.xml_marker(catalog.name)}"


def _job_common(description):
    return {
        "description": description,
        "concurrent": False,   # DisableConcurrentBuildsJobProperty on a pipeline job
        "properties": [{"build-discarder": {"num-to-keep": 30}}],
    }


def jjb_jobs(catalog):
    """The JJB job definitions (a list of {"job": {...}}) of the catalog's Jenkins items."""
    marker = render.xml_marker(catalog.name)
    jobs = []
    folders = set()
    for name in render.managed_services(catalog):
        folders.update(render.folder_levels(catalog.services[name]["jenkins"].get("folder")
                                            or ""))
    for path in sorted(folders, key=lambda p: (p.count("/"), p)):
        jobs.append({"job": {"name": path, "project-type": "folder",
                             "description": _folder_description(catalog)}})
    for name in render.managed_services(catalog):
        settings = catalog.services[name]
        jenkins = settings["jenkins"]
        pipeline = {
            "name": render.job_path(settings, "pipeline"), "project-type": "pipeline",
            **_job_common(f"Builds, pushes and deploys {name} (shipway).\n{marker}"),
            "pipeline-scm": {
                "scm": [{"git": {"url": jenkins["repo"],
                                 "branches": [f"*/{jenkins.get('branch') or 'main'}"],
                                 "local-branch": "**"}}],
                "script-path": render.DEFAULT_SCRIPT_PATH,
                "lightweight-checkout": True,
            },
        }
        rollback = {
            "name": render.job_path(settings, "rollback"), "project-type": "pipeline",
            **_job_common(f"Rolls {name} back to its previous release (shipway).\n{marker}"),
            "parameters": [{"string": {
                "name": "RELEASE", "default": render.ROLLBACK_DEFAULT, "trim": True,
                "description": f'Release to return to: "{render.ROLLBACK_DEFAULT}" for the '
                               "one before the running one, or a release reference"}}],
            "sandbox": True,
            # JJB runs str.format over job strings: braces are doubled to stay braces.
            "dsl": render.render_rollback(catalog, name).replace("{", "{{").replace("}", "}}"),
        }
        jobs += [{"job": pipeline}, {"job": rollback}]
    return jobs


def jjb_yaml(catalog):
    """`jjb_jobs` as the YAML file `jenkins-jobs update` reads."""
    import yaml

    return yaml.safe_dump(jjb_jobs(catalog), sort_keys=False, width=100)
