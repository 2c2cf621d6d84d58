"""A group release decided from what was read: the steps in order, what each member ran
before the group (where a failing step takes it back to), and which group release
`rollback --group` goes to. Pure: no engine here (pipeline/swarm/group.py carries it out).
"""
from dataclasses import dataclass
from typing import Optional

from pipeline.errors import NothingToRollBack
from pipeline.swarm import picker


@dataclass(frozen=True)
class MemberReading:
    """One member as read before the group release."""

    member: str                  # its name in the group (catalog or stack file)
    service: str                 # the swarm service
    exists: bool = False
    running_seq: Optional[int] = None    # the recorded release its spec runs
    running_id: str = ""
    image: str = ""              # what its spec runs now ("" when there is no service)
    job: bool = False

    def describe(self):
        """`#3 repo:v2@sha256:...`, `no service`: what it runs, for a line."""
        if not self.exists:
            return "no service"
        return (f"#{self.running_seq} " if self.running_seq is not None else "") + self.image


@dataclass(frozen=True)
class Undo:
    """What puts one member back where it was before the group release."""

    member: str
    service: str
    action: str                  # rollback | remove | keep
    to: Optional[int] = None     # the release to roll back to (rollback)
    why: str = ""

    def line(self):
        """The console line saying what it does."""
        if self.action == "rollback":
            return f"{self.member}: back to release #{self.to}"
        if self.action == "remove":
            return f"{self.member}: removed ({self.why})"
        return f"{self.member}: left as it is ({self.why})"


def plan_lines(group, readings, images):
    """The dry run of a group release: each step, each member from what it runs to what it
    will run (`images`: member -> the pinned image)."""
    lines = [f"group {group.name}: {len(group.steps)} steps, on failure: {group.on_failure}"]
    for index, step in enumerate(group.steps):
        lines.append(f"{step.label(index)}{' (a job: runs to completion)' if step.job else ''}")
        for member in step.services:
            lines.append(f"  {member} ({readings[member].service}): "
                         f"{readings[member].describe()} -> {images[member]}")
    return lines


def undo(changed, readings):
    """Where a failing group release takes the members it changed (`changed`: in the order
    they changed): newest first, each back to the release it ran before the group. A job is
    not undone (its run happened: the release a later group release makes runs it again); a
    service the group created is removed (it ran nothing before); one that ran a spec no
    release recorded is left, said so."""
    out = []
    for member in reversed(changed):
        before = readings[member]
        if before.job:
            out.append(Undo(member, before.service, "keep", why="a job's run is not undone"))
        elif not before.exists:
            out.append(Undo(member, before.service, "remove",
                            why="the group release created it"))
        elif before.running_seq is None:
            out.append(Undo(member, before.service, "keep",
                            why="it ran a spec no release recorded"))
        else:
            out.append(Undo(member, before.service, "rollback", to=before.running_seq))
    return out


def running_release(releases, readings):
    """The newest group release every member still runs, or None."""
    running_ids = {m: r.running_id for m, r in readings.items()}
    return next((r for r in releases if r.runs(running_ids)), None)


def _goal(group, releases, current, to):
    """The group release a rollback goes to: number `to` (any recorded one), else the one
    before `current` (the newest recorded when none runs)."""
    if to is not None:
        picked = next((r for r in releases if r.seq == to), None)
        if picked is None:
            known = ", ".join(f"#{r.seq}" for r in releases) or "none"
            raise NothingToRollBack(f"group {group.name}: no group release #{to} is recorded "
                                    f"(recorded: {known}); nothing was changed")
        return picked
    older = [r for r in releases if current is None or r.seq < current.seq]
    if not older:
        where = f"group release #{current.seq} runs" if current else "no group release runs"
        raise NothingToRollBack(f"group {group.name}: {where} and none is older; "
                                "nothing was changed")
    return older[0]


def plan_rollback(group, releases, readings, to=None):
    """(the group release to go back to, the Undo of each member, newest step first) for
    `rollback --group`: group release number `to`, else the group release before the running
    one (the newest every member runs), or, when none runs (a member was deployed alone
    since), the newest recorded. Raises NothingToRollBack when there is none to go to."""
    target = _goal(group, releases, running_release(releases, readings), to)
    order = [m for step in reversed(group.steps) for m in reversed(step.services)]
    undos = []
    for member in order:
        entry = target.members.get(member)
        reading = readings[member]
        if entry is None:
            undos.append(Undo(member, reading.service, "keep",
                              why=f"not in group release #{target.seq}"))
        elif entry.get("job"):
            undos.append(Undo(member, reading.service, "keep", why="a job's run is not undone"))
        elif reading.running_id == entry["release_id"]:
            undos.append(Undo(member, reading.service, "keep",
                              why=f"runs release #{entry['seq']} already"))
        else:
            undos.append(Undo(member, reading.service, "rollback", to=entry["seq"]))
    return target, undos


def default_goal(group, releases, readings):
    """The group release `rollback --group` without --to goes to, or None."""
    try:
        return _goal(group, releases, running_release(releases, readings), None)
    except NothingToRollBack:
        return None


def release_line(release, now, running=False):
    """`#3  build 42  abc1234  2 h ago  by alice  migrate #4, api #7, web #6`: a group
    release as the rollback picker offers it (the service picker's line, with what each
    member ran in it); parts the record does not have are left out."""
    parts = [f"#{release.seq}"]
    if release.build_number:
        parts.append(f"build {release.build_number}")
    if release.commit:
        parts.append(release.commit[:7])
    when = picker.ago(picker.parse_time(release.created), now)
    if when:
        parts.append(when)
    if release.deployed_by:
        parts.append(f"by {release.deployed_by}")
    if running:
        parts.append("running")
    parts.append(", ".join(f"{m} #{e.get('seq')}" for m, e in release.members.items()))
    return "  ".join(parts)


def entries(group, releases, readings, now):
    """The `releases --group --json` list, newest first: each group release's summary with
    `running`, `choice` (its line) and `default` (the one `rollback --group` goes to without
    --to, which the rollback job offers first; on one at most)."""
    current = running_release(releases, readings)
    goal = default_goal(group, releases, readings)
    out = []
    for release in releases:
        is_running = current is not None and release.seq == current.seq
        out.append({**release.summary(), "running": is_running,
                    "choice": release_line(release, now, is_running),
                    "default": goal is not None and release.seq == goal.seq})
    return out


def left_behind(stack, running, members):
    """The services of `stack` that run (`running`: their names) but that no member of the
    group is any more (`members`: the members' swarm names), sorted: what `--prune` removes
    and a deploy without it names."""
    return sorted(set(running) - set(members))
