"""`shipway render`: a service's (or a group's) Jenkinsfile, rollback script or job config.xml,
from the catalog.

    shipway render jenkinsfile --catalog FILE --service S|--group G [--catalog-path P] [-o DIR]
    shipway render rollback    --catalog FILE --service S|--group G [-o DIR]
    shipway render job-config  --catalog FILE --service S|--group G [--script-path P] [-o DIR]

With -o the files get fixed names in DIR (`Jenkinsfile`, `rollback.Jenkinsfile`,
`<service>.config.xml`, `<service>-rollback.config.xml`, `folder-<a-b>.config.xml`; in a
catalog with environments a rollback picker per environment: `rollback-<env>.Jenkinsfile`,
`<service>-rollback-<env>.config.xml`; for a group `<group>.Jenkinsfile`,
`<group>-rollback[-<env>].Jenkinsfile`, `<group>.config.xml`,
`<group>-rollback[-<env>].config.xml`) and their
paths are printed; without it the content goes to stdout, several files each after a
`==> NAME <==` line.
"""
import os

from pipeline import catalog, render, render_group
from pipeline.errors import UsageError

WHAT = ("jenkinsfile", "rollback", "job-config")


def add_arguments(parser):
    parser.add_argument("what", choices=WHAT, help="what to render")
    parser.add_argument("--catalog", metavar="FILE", required=True, help="service catalog (YAML)")
    parser.add_argument("--service", metavar="NAME", help="service name")
    # Not `group`: main() sends a command with args.group to the group commands.
    parser.add_argument("--group", metavar="NAME", dest="group_name",
                        help="a catalog group with jenkins: its pipeline and rollback job "
                             "instead of a service's")
    parser.add_argument("-o", "--output-dir", metavar="DIR",
                        help="write the files into DIR (created) instead of printing them")
    parser.add_argument("--catalog-path", metavar="PATH", default=None,
                        help="jenkinsfile (with --group, every kind): the catalog's path "
                             "inside the repository, relative to its root (default shipway.yml)")
    parser.add_argument("--script-path", metavar="PATH", default=None,
                        help="job-config: where the pipeline job finds the Jenkinsfile in the "
                             "service repo (default Jenkinsfile)")


def folder_file_name(folder_path):
    """File name of a folder's config.xml: "a/b" -> "folder-a-b.config.xml"."""
    return f"folder-{folder_path.replace('/', '-')}.config.xml"


def rendered_files(cat, args):
    """[(file name, content)] for `args.what`, in the order they are written."""
    if getattr(args, "group_name", None):
        return group_files(cat, args)
    service = args.service
    if args.what == "jenkinsfile":
        path = args.catalog_path if args.catalog_path is not None else render.DEFAULT_CATALOG_PATH
        return [("Jenkinsfile", render.render_jenkinsfile(cat, service, catalog_path=path))]
    if args.what == "rollback":
        if cat.environments:   # one rollback picker per environment
            return [(f"rollback-{env}.Jenkinsfile", render.render_rollback(cat, service, env))
                    for env in cat.environments]
        return [("rollback.Jenkinsfile", render.render_rollback(cat, service))]
    script = args.script_path if args.script_path is not None else render.DEFAULT_SCRIPT_PATH
    if not script:
        raise UsageError("--script-path must not be empty", hint="e.g. Jenkinsfile")
    settings = cat.service(service)
    jobs = [render.JobItem(render.job_path(settings, "pipeline"), "pipeline", service,
                           render.render_job_config(cat, service, "pipeline",
                                                    script_path=script))]
    jobs += render.rollback_items(cat, service)
    return _job_files(cat, jobs)


def group_files(cat, args):
    """[(file name, content)] of group `args.group_name` for `args.what`."""
    name = args.group_name
    cat.group(name)   # an unknown group names those there are
    # Both of a group's jobs check its repository out and pass the catalog there to shipway.
    path = args.catalog_path if args.catalog_path is not None else render.DEFAULT_CATALOG_PATH
    if args.what == "jenkinsfile":
        return [(render_group.script_path(name),
                 render_group.render_jenkinsfile(cat, name, catalog_path=path))]
    if args.what == "rollback":
        return [(f"{name}-rollback{'-' + env if env else ''}.Jenkinsfile",
                 render_group.render_rollback(cat, name, env, catalog_path=path))
                for env in list(cat.environments) or [None]]
    if args.script_path is not None and not args.script_path:
        raise UsageError("--script-path must not be empty",
                         hint=f"e.g. {render_group.script_path(name)}")
    return _job_files(cat, render_group.group_items(cat, name, script=args.script_path,
                                                    catalog_path=path))


def _job_files(cat, jobs):
    """The folders' and `jobs`' config.xml files, folders first (parents before children)."""
    folders = []
    for job in jobs:
        folders += [f for f in render.folder_levels(job.path.rpartition("/")[0])
                    if f not in folders]
    files = [(folder_file_name(f), render.render_folder_config(cat, f)) for f in folders]
    return files + [(f"{job.path.rpartition('/')[2]}.config.xml", job.config_xml)
                    for job in jobs]


def _write(directory, files):
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror}",
                         hint="pass -o with a writable directory") from None
    written = []
    for name, content in files:
        target = os.path.join(directory, name)
        try:
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(content)
        except OSError as exc:
            raise UsageError(f"cannot write {target}: {exc.strerror}",
                             hint="pass -o with a writable directory") from None
        written.append(target)
    return written


def run(ctx, args):
    if bool(args.service) == bool(args.group_name):
        raise UsageError("shipway render: give --service NAME or --group NAME, one of the two",
                         hint="see shipway render --help")
    if args.catalog_path is not None and args.what != "jenkinsfile" and not args.group_name:
        raise UsageError("--catalog-path only applies to `render jenkinsfile` (and, for a "
                         "group, to its rollback job too)")
    if args.script_path is not None and args.what != "job-config":
        raise UsageError("--script-path only applies to `render job-config`")
    files = rendered_files(catalog.load(args.catalog), args)
    if args.output_dir:
        for target in _write(args.output_dir, files):
            ctx.console.result(target)
        return 0
    if len(files) == 1:
        ctx.console.out.write(files[0][1])
    else:
        for i, (name, content) in enumerate(files):
            ctx.console.out.write(("\n" if i else "") + f"==> {name} <==\n{content}")
    ctx.console.out.flush()
    return 0
