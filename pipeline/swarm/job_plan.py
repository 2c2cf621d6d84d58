"""What a deploy does with a job service (pure): run it, run it again, wait for the run that
goes on, or nothing.

Any write of a job service's spec runs the job again (swarm bumps its JobIteration on every
update, see jobrun.py), so for a job "what would the deploy write" and "does the job run
again" are one question:
- a new service, or a spec that changes (the image, env, secrets, a label of the catalog's...):
  the write runs it, and the deploy waits for that run;
- the same spec, shipway's own labels aside (another build of the same digest: its build
  number and URL are bookkeeping, not a reason to run a migration twice), and
  - its current run completed: nothing is written, unless the deploy asks to run jobs again
    (`--rerun-jobs`): `unchanged: job ... completed on this digest at ...`;
  - its current run failed: that is a change that is needed, the spec is written again with
    TaskTemplate.ForceUpdate + 1 (what `docker service update --force` does) and the new run
    is waited for; so is a completed run with `--rerun-jobs`;
  - its current run still goes on (a deploy that timed out left it running): nothing is
    written and that run is waited for; `--rerun-jobs` does not start a second run beside it.
"""
from pipeline.swarm import jobrun
from pipeline.swarm import plan as planner
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.spec import LABEL_PREFIX
from pipeline.swarm.writes import UpdateService

FORCE = ("TaskTemplate", "ForceUpdate")


def bookkeeping(path):
    """True for a field a deploy writes for its own records (shipway's labels)."""
    return len(path) == 2 and path[0] == "Labels" and str(path[1]).startswith(LABEL_PREFIX)


def settle(name, plan, current, tasks, rerun, replan):
    """The plan of job service `name` from plan.plan_deploy's `plan` (its expectation is
    still a service's): `current` the service as read (None: it is created), `tasks` its
    tasks, `rerun` whether the deploy runs jobs again that completed, `replan(extra)` the
    deploy's plan with the fields `extra` added (to write the same spec again)."""
    image = plan.expect.image
    if current is None:
        plan.expect = Expectation(image, Follow.JOB, iteration=0)
        plan.job = f"job {name}: runs once it is created"
        return plan
    run = jobrun.run_of(current, tasks)
    if any(not bookkeeping(change.path) for change in plan.changes):
        return _runs(plan, run, f"job {name}: its spec changes, so swarm runs it again")
    if run.state == "running":
        return _unchanged(plan, Expectation(image, Follow.JOB, iteration=run.iteration),
                          f"job {name} is running (iteration {run.iteration}, "
                          f"{run.completed}/{run.wanted} tasks completed): waiting for this "
                          "run")
    if run.state == "completed" and not rerun:
        return _unchanged(plan, planner.Done(image, run),
                          f"unchanged: job {name} completed on this digest at {run.finished} "
                          f"(iteration {run.iteration}; --rerun-jobs runs it again)")
    why = ("asked with --rerun-jobs" if run.state == "completed" else
           f"its last run, iteration {run.iteration}, failed: {run.reason}")
    again = replan({FORCE: (planner.get(current["Spec"], FORCE) or 0) + 1})
    return _runs(again, run, f"job {name}: runs again on the same spec ({why})")


def _runs(plan, run, line):
    """`plan` writes the spec: the write starts the run after `run`, which is waited for."""
    plan.expect = Expectation(plan.expect.image, Follow.JOB, iteration=run.iteration + 1)
    plan.job = f"{line} (iteration {run.iteration + 1})"
    return plan


def _unchanged(plan, expect, line):
    """No write of the service (shipway's new labels are not written either: the spec keeps
    those of the deploy that made the run)."""
    return planner.Plan(planner.Action.UNCHANGED, None, [],
                        [w for w in plan.writes if not isinstance(w, UpdateService)],
                        expect, plan.managed, notes=plan.notes, job=line)
