"""`shipway status --environment all`: the service in every environment of the catalog, one
row each, in the catalog's (promotion) order.

The environments are asked at once, each on its own engine client (one thread each), and the
wait is bounded by the engine's request timeout: an environment that does not answer is a
row that says so, never a failure of the others. Exit 0 when every environment gave its
status (a service not deployed there is an answer), 1 when one did not.

`status.py` passes its reading in (`read(api, name)`: the status record, None when there is
no such service), so both print what one reading gives.
"""
import concurrent.futures
import time

from pipeline import catalog
from pipeline.api import engine
from pipeline.errors import EXIT_FAILED, ShipwayError, UsageError
from pipeline.stages import common

COLUMNS = ("ENVIRONMENT", "RELEASE", "IMAGE", "DIGEST", "COMMIT", "BUILD", "DEPLOYED", "BY",
           "REPLICAS", "UPDATE")
SHORT_DIGEST = 12   # hex digits, as `docker images` shortens ids
GAP = "  "


def run(ctx, args, read):
    """Print every environment's row (a table, or a JSON list with --json); the exit code."""
    targets = _targets(args)
    rows = gather([(env.name, service, _asker(ctx, env, service, read))
                   for env, service in targets], timeout=engine.API_TIMEOUT)
    if args.json:
        ctx.console.json(rows)
    else:
        for line in table(rows):
            ctx.console.result(line)
    silent = [row["environment"] for row in rows if not row["answered"]]
    if silent:
        # The table says which; this line says why the step fails (exit 1).
        ctx.console.event(f"{len(silent)} of {len(rows)} environments did not answer: "
                          f"{', '.join(silent)}")
        return EXIT_FAILED
    return 0


def _targets(args):
    """[(Environment, service name there)] in the catalog's order; bad input raised first."""
    if not args.catalog:
        raise UsageError(f"--environment {common.ALL_ENVIRONMENTS} needs the catalog that "
                         "defines the environments",
                         hint="pass --catalog FILE (its top-level 'environments:')")
    loaded = catalog.load(args.catalog)
    if not loaded.environments:
        raise UsageError(f"{args.catalog}: the catalog has no environments",
                         hint="add a top-level 'environments:' (docs/catalog.md), or leave "
                              "out --environment")
    return [(env, common.settings(args, loaded=loaded, environment=env.name)["name"])
            for env in loaded.environments.values()]


def _asker(ctx, environment, service, read):
    """What one thread runs: `service`'s row in `environment`, on that environment's own
    context (its engine, its certificate)."""
    def ask():
        return ask_row(ctx.for_environment(environment), environment.name, service, read)
    return ask


def ask_row(ctx, environment, service, read):
    """The row of `service` in `environment` (ctx: that environment's context): its status,
    `not deployed`, or why the engine gave no answer. `seconds`: how long it took."""
    started = time.monotonic()
    try:
        status = read(ctx.engine(), service)
    except ShipwayError as exc:
        # A docker_host that does not answer is bad input for a command on that environment
        # alone (its line names it); here the row names it, the engine's own line is enough.
        row = failed_row(environment, service, exc.context.get("engine_error", exc.message),
                         exc.hint)
    else:
        row = status_row(environment, service, status)
    row["seconds"] = round(time.monotonic() - started, 3)
    return row


def status_row(environment, service, status):
    """The row of an environment that answered: its status record, or not deployed."""
    if status is None:
        return {"environment": environment, "service": service, "ok": False, "answered": True,
                "error": f"not deployed (no service {service})"}
    return {"environment": environment, "ok": True, "answered": True, **status}


def failed_row(environment, service, error, hint=None):
    """The row of an environment whose engine did not give the service's status."""
    return {"environment": environment, "service": service, "ok": False, "answered": False,
            "error": error, "hint": hint}


def gather(jobs, timeout):
    """[row] of `jobs` ([(environment name, service name, ask)]), in their order, each
    ask() in a thread of its own; a job not done within `timeout` seconds is a row saying
    so (its thread, still waiting, ends on its own request timeout)."""
    if not jobs:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs),
                                                 thread_name_prefix="status")
    try:
        futures = [pool.submit(ask) for _, _, ask in jobs]
        concurrent.futures.wait(futures, timeout=timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [future.result() if future.done()
            else failed_row(name, service, f"no answer within {timeout:g}s")
            for (name, service, _), future in zip(jobs, futures)]


# --- the table: pure functions of the rows -----------------------------------------------

def cells(row):
    """The COLUMNS of an environment that answered with its status, as text."""
    release = row.get("release") or {}
    deploy = row.get("deploy") or {}
    image, _, digest = (row.get("image") or "").partition("@")
    algorithm, _, hexes = (digest or row.get("digest") or "").partition(":")
    replicas = row.get("replicas") or {}
    return [
        row["environment"],
        f"#{release['seq']}" if release else "-",
        image or "-",
        f"{algorithm}:{hexes[:SHORT_DIGEST]}" if hexes else "-",
        (release.get("commit") or deploy.get("commit") or "-")[:7],
        release.get("build_number") or deploy.get("build-number") or "-",
        release.get("created") or deploy.get("deployed-at") or "-",
        by_whom(release),
        f"{replicas.get('running', 0)}/{replicas.get('desired', 0)}",
        update_cell(row.get("update") or {}),
    ]


def by_whom(release):
    """Who deployed the release; for a promotion also who approved it and where from."""
    parts = [release.get("deployed_by") or "-"]
    if release.get("approved_by"):
        parts.append(f"approved by {release['approved_by']}")
    origin = release.get("promoted_from") or {}
    if origin.get("environment"):
        seq = f" #{origin['release']}" if origin.get("release") not in (None, "") else ""
        parts.append(f"from {origin['environment']}{seq}")
    return ", ".join(parts)


def update_cell(update):
    """The update state in a word or two (`status` for one environment says it all)."""
    state = update.get("state") or "none"
    if update.get("settled"):
        # Every replica runs the image: swarm only idles its last delay/monitor period.
        return f"{state} (done)"
    return state


def failure_text(row):
    """What the row of an environment without a status says after its name."""
    if row["answered"]:
        return row["error"]
    return f"unreachable: {row['error']}"


def table(rows):
    """The rows as aligned lines, a header first: a column is as wide as its widest cell;
    an environment without a status has its name, then what happened, across the rest."""
    grid = [list(COLUMNS)] + [cells(row) for row in rows if row["ok"]]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    widths[0] = max([widths[0]] + [len(row["environment"]) for row in rows])
    lines = [_line(COLUMNS, widths)]
    for row in rows:
        if row["ok"]:
            lines.append(_line(cells(row), widths))
        else:
            lines.append(row["environment"].ljust(widths[0]) + GAP + failure_text(row))
    return lines


def _line(values, widths):
    return GAP.join(value.ljust(width) for value, width in zip(values, widths)).rstrip()
