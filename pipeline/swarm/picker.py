"""The rollback picker: every recorded release as a line a person can read at 3 a.m., and the
release the picker offers first. Pure functions of the releases (newest first), the running
one and the time; `shipway releases --json` carries their answers, the rollback job only
shows them.

    #7  build 42  abc1234  2 h ago  by alice  ran 3 d

"Ran healthy", the default's rule, from what the records know:
  * shipway records a release only once its deploy converged (and, with deploy.analysis,
    passed its analysis): a release swarm or the analysis rolled back has no record;
  * a rollback from a release writes that on its record (Release.rolled_back), whoever
    pressed it: a release someone went back from did not run healthy, whatever it converged to.
So a release ran healthy when it is recorded and no rollback left it. The default is the
newest such release older than the running one (any release, when the service runs a spec no
record has) that would change something: not the running release's digest with its spec.

"ran 3 d" is how long a release ran: from when it was deployed, or a rollback went to it,
until the next deploy or rollback; the running one until now. A deploy the records do not
know (a failed one, a change by hand) ends nothing here, so an interval can run long.
"""
import calendar
import time

from pipeline.swarm import releases as history

MINUTE, HOUR, DAY = 60, 3600, 86400
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"     # what deploy_labels and the rollback labels write


def parse_time(text):
    """Epoch seconds of a recorded time (UTC, TIME_FORMAT), or None when it is not one."""
    try:
        return float(calendar.timegm(time.strptime(text or "", TIME_FORMAT)))
    except ValueError:
        return None


def format_time(seconds):
    """`seconds` since the epoch as a recorded time (TIME_FORMAT, UTC)."""
    return time.strftime(TIME_FORMAT, time.gmtime(seconds))


def span(seconds):
    """A duration as a person says it: 40 s, 12 min, 5 h, 3 d (rounded down; hours up to
    two days, so 36 h is not 1 d)."""
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * MINUTE:
        return f"{seconds // MINUTE} min"
    if seconds < 2 * DAY:
        return f"{seconds // HOUR} h"
    return f"{seconds // DAY} d"


def ago(then, now):
    """'2 h ago' ('just now' under 10 s, '' when the time is unknown)."""
    if then is None:
        return ""
    if now - then < 10:
        return "just now"
    return f"{span(now - then)} ago"


def _to_seq(text):
    """The release number a rollback label names ("#6" -> 6), or None."""
    text = (text or "").lstrip("#")
    return int(text) if text.isdigit() else None


def run_times(releases, running, now):
    """{seq: seconds it ran} of the releases whose run the records bound (see the module)."""
    events = []
    for release in releases:
        start = parse_time(release.created)
        if start is not None:
            events.append((start, release.seq))
        back = release.rolled_back or {}
        at, to = parse_time(back.get("at")), _to_seq(back.get("to"))
        if at is not None and to is not None:
            events.append((at, to))
    events.sort()
    ran = {}
    for i, (start, seq) in enumerate(events):
        if i + 1 < len(events):
            end = events[i + 1][0]
        elif running is not None and seq == running.seq:
            end = now
        else:
            continue   # the last one the records know, and not running: when it ended is unknown
        ran[seq] = ran.get(seq, 0.0) + max(0.0, end - start)
    return ran


def healthy(release):
    """True when the release ran healthy: recorded, and no rollback left it."""
    return not release.rolled_back


def default(releases, running, current_digest=None):
    """The release the picker offers first, or None: the one `shipway rollback` without
    --to goes to (history.choose): the newest release that ran healthy, older than the
    running one, other than what runs."""
    return history.choose(releases, running, current_digest=current_digest)


def line(release, now, ran=None, running=False):
    """`#7  build 42  abc1234  2 h ago  by alice  ran 3 d`, and `rolled back by bob` when a
    rollback left it; parts the record does not have are left out."""
    parts = [f"#{release.seq}"]
    if release.build_number:
        parts.append(f"build {release.build_number}")
    if release.commit:
        parts.append(release.commit[:7])
    when = ago(parse_time(release.created), now)
    if when:
        parts.append(when)
    if release.deployed_by:
        parts.append(f"by {release.deployed_by}")
    if ran is not None:
        parts.append(f"{'running' if running else 'ran'} {span(ran)}")
    back = release.rolled_back or {}
    if back:
        parts.append("rolled back" + (f" by {back['by']}" if back.get("by") else ""))
    return "  ".join(parts)


def entries(releases, running, now, current_digest=None):
    """The `releases --json` list: each release's summary with `running`, `healthy`, `ran`
    (seconds, or null), `choice` (its line) and `default` (true for the one the picker
    offers first, on one release at most)."""
    ran = run_times(releases, running, now)
    first = default(releases, running, current_digest)
    out = []
    for release in releases:
        is_running = running is not None and release.id == running.id
        seconds = ran.get(release.seq)
        out.append({**release.summary(), "running": is_running, "healthy": healthy(release),
                    "ran": None if seconds is None else round(seconds),
                    "choice": line(release, now, ran.get(release.seq), is_running),
                    "default": first is not None and release.id == first.id})
    return out
