"""The plan of `shipway promote` (pure): from what was read of the environment promoted from
(its service, tasks and release history, promote_read.Source), the release and digest the
environment promoted to deploys, the registry copy that comes first (if any), or a refusal.

A promotion carries forward what the source environment runs, tested, as its newest
release. It is refused (PromotionRefused, exit 1, nothing changed anywhere) when that is not
so, as the records and the spec say:

- no service there.
- mid-update (said first: during a deploy, and once swarm paused it, the spec names the new
  release, which is recorded only when it ends healthy): swarm says `paused`,
  `rollback_started` or `rollback_paused`; or not every task swarm wants running runs the
  spec's image (healthy). Swarm's `updating` alone is not: once every replica runs the
  spec's image it idles the update's last delay/monitor before it says `completed`, and
  `shipway deploy` has returned; a task swarm is stopping is on its way out.
- no release: the spec names no release shipway recorded (a deploy that did not end
  healthy records none; a service shipway never deployed), or its image is not that
  release's (changed outside shipway: `docker service update --image` keeps the labels).
- rolled back: what runs is an older release put back after a newer one failed or was taken
  back, so the newest thing the environment tested is not what runs:
  * swarm rolled its last update back (`rollback_completed`: the failure action
    `rollback`, or `docker service rollback`);
  * shipway rolled it back: a release newer than the running one is recorded (`shipway
    rollback` and the rollback button go back from it), or swarm's PreviousSpec is a
    shipway deploy newer (its shipway.deployed-at) than the running release and never
    recorded (its deploy failed and shipway restored the release before: a failed
    deploy.analysis does).
  These signs last until the next change of the service. The fix is a deploy to the source
  environment (of a fixed build), then the promotion.

Expected (`--expect-record`): the record a build's deploy or promote to the source wrote
names what that build put there and someone approved. A newer build (or a rollback) may
have changed the source while this build waited at its approval; the promotion is then
refused (a promotion carries what runs *now*, which is not what was approved) unless the
source's spec still names that digest, and that release when the record has one. A record
of another service or environment, of a dry run or of a deploy that did not end healthy is
bad input.

The copy: the target environment runs the image from its own repository (the catalog's
`image` there: the environment's `registry` replaces the repository's). When that is not
the repository the source runs it from, the image is copied by digest first, tagged with
the release's tag (else `sha256-<hex>`), so that the digest the target runs is the
source's.
"""
import ipaddress
import re
from dataclasses import dataclass
from typing import Optional

from pipeline import imageref
from pipeline.errors import PromotionRefused, UsageError
from pipeline.swarm import releases as history
from pipeline.swarm.replicas import desired_count, replica_slots
from pipeline.swarm.spec import LABEL_PREFIX, digest_of, image_of, task_image

MID_UPDATE = {"paused": "has its update paused", "rollback_started": "is being rolled back "
              "by swarm", "rollback_paused": "has its rollback paused"}
STUCK = ("paused", "rollback_paused")   # swarm goes no further by itself
DEPLOYED_AT = LABEL_PREFIX + "deployed-at"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Copy:
    """An image copied by digest from one registry to another (skopeo: pipeline/skopeo.py)."""

    source: str               # repo@sha256:... where the source environment pulls it
    destination: str          # repo:tag in the target environment's repository
    source_registry: str
    destination_registry: str

    def summary(self):
        """The copy as JSON-ready data."""
        return {"source": self.source, "destination": self.destination}


@dataclass(frozen=True)
class Promotion:
    """What a promotion deploys: release `release` (a releases.Release) of the source
    environment, its digest, from `repository` (the target's) with `tag`, after `copy`."""

    entry: str                # the catalog's service
    source: str               # environment names
    target: str
    source_name: str          # the swarm service in each
    target_name: str
    release: object
    digest: str
    repository: str
    tag: Optional[str]
    copy: Optional[Copy]
    expected: Optional["Expected"] = None   # checked: what this build put into `source`

    @property
    def image(self):
        """The pinned reference the target deploys: repository:tag@digest."""
        return imageref.pinned(self.repository, self.tag, self.digest)

    def lines(self):
        """What a dry run prints before the target's deploy plan."""
        first = (f"promote release #{self.release.seq} of {self.source_name} in {self.source} "
                 f"({self.release.image}) to {self.target_name} in {self.target}")
        if self.copy is None:
            return [first, f"no copy: {self.target} pulls {self.repository}, as {self.source} "
                           "does"]
        return [first, f"copy {self.copy.source} to {self.copy.destination} (the same digest)"]

    def summary(self):
        """The promotion as JSON-ready data."""
        return {"from": self.source, "to": self.target, "service": self.entry,
                "from_service": self.source_name, "to_service": self.target_name,
                "release": self.release.summary(), "digest": self.digest, "image": self.image,
                "copy": self.copy.summary() if self.copy else None,
                "expected": self.expected.summary() if self.expected else None}


@dataclass(frozen=True)
class Expected:
    """What a build put into the environment promoted from, as the record its deploy or
    promote there wrote says (--expect-record): the promotion goes ahead only while the
    environment still runs it."""

    path: str                 # the record file, for messages
    digest: str
    seq: Optional[int]        # its release there, when the record has one
    release_id: Optional[str]
    verb: str                 # what the build did there: 'deployed' or 'promoted'

    def describe(self):
        """'release #7 (sha256:0123456789ab...)', or the digest alone without a release."""
        return _described(self.seq, self.digest)

    def summary(self):
        """What was checked, as JSON-ready data."""
        return {"record": self.path, "release": self.seq, "digest": self.digest}


def _described(seq, digest):
    short = digest[:len("sha256:") + 12] + "..."
    return f"release #{seq} ({short})" if seq is not None else short


def expected(record, path, source, name):
    """The Expected of `record` (the JSON object in file `path`) for environment `source`,
    whose service is `name`. UsageError (bad input) when it is not the record of a deploy or
    promote there that ended healthy: another service or environment, a dry run, a failure,
    or no digest."""
    verb = "promoted" if isinstance(record.get("promotion"), dict) else "deployed"

    def bad(problem):
        return UsageError(f"--expect-record {path}: {problem}", hint=record_hint(source))
    if not isinstance(record.get("digest"), str) or not DIGEST.match(record["digest"]) \
            or not isinstance(record.get("service"), str):
        raise bad("not the record of a deploy or promote (no service and digest in it)")
    if record.get("dry_run"):
        raise bad("the record of a dry run, which put nothing there")
    if record.get("ok") is not True:
        raise bad(f"the record of a deploy that did not end healthy in {record['service']}")
    where = record.get("environment") or (record.get("promotion") or {}).get("to")
    if record["service"] != name or (where and where != source):
        other = f"{record['service']} in {where}" if where else record["service"]
        raise bad(f"the record of {other}, not of {name} in {source}")
    release = record.get("release")
    if release is None:
        return Expected(path, record["digest"], None, None, verb)
    if not isinstance(release, dict) or type(release.get("seq")) is not int \
            or not isinstance(release.get("id"), str) or not release["id"]:
        raise bad("its release is not a release record (no seq and id in it)")
    return Expected(path, record["digest"], release["seq"], release["id"], verb)


def record_hint(source):
    """What to pass as --expect-record instead of a file that is not such a record."""
    return (f"pass the file this build's deploy or promote to {source} wrote with --json "
            f"(or its .shipway/<service>.{source}.deploy.json or .promote.json)")


def plan(entry, source, target, reading, repository, target_name, expected=None):
    """The Promotion of service `entry` from environment `source` (read: `reading`, a
    promote_read.Source) to `target`, whose service `target_name` pulls from `repository`
    (None: the source's). `expected` (an Expected, or None): what this build put into
    `source`, refused when that no longer runs there. Raises PromotionRefused."""
    if expected is not None:
        still_runs(source, reading, expected)
    release = promotable(entry, source, reading)
    source_repo, tag, digest = imageref.split(release.image)
    if not digest:
        raise PromotionRefused(f"{source} runs release #{release.seq} of {entry} as "
                               f"{release.image}, which names no digest to promote",
                               hint=f"deploy it to {source} with shipway deploy (it pins "
                                    "the digest), then promote")
    repository = repository or source_repo
    copy = None
    if repository != source_repo:
        tag = tag or "sha256-" + digest.split(":", 1)[1]
        copy = Copy(f"{source_repo}@{digest}", f"{repository}:{tag}",
                    imageref.registry_of(source_repo), imageref.registry_of(repository))
    return Promotion(entry, source, target, reading.name, target_name, release, digest,
                     repository, tag, copy, expected)


def still_runs(source, reading, expected):
    """Refuses (PromotionRefused) when the spec of the service in `source` does not name
    `expected`'s digest, and its release when it has one: a newer build or a rollback
    changed it since (the rules of what may be promoted at all: promotable)."""
    service = reading.service
    if service is None:
        return   # promotable: there is no service there
    spec = service["Spec"]
    image = image_of(spec)
    digest = digest_of(image)
    running = history.running_release(reading.releases, spec)
    if digest == expected.digest and (expected.release_id is None or (
            running is not None and running.id == expected.release_id)):
        return
    if running is not None and running.image == image:
        now = _described(running.seq, running.digest or digest or "")
    else:   # a deploy under way (its release is recorded once healthy), or outside shipway
        now = (f"{_described(None, digest)} (no release recorded for it)" if digest
               else f"{image} (no digest)")
    raise PromotionRefused(
        f"{source} runs {now}, not {expected.describe()} that this build {expected.verb} "
        "there: a newer build or a rollback changed it; nothing was changed",
        hint=f"what was approved no longer runs in {source}: promote the build that put it "
             f"there, after its own approval, or run this build again")


def promotable(entry, source, reading):
    """The release the source environment runs, if it may be promoted; else
    PromotionRefused naming why and what to do (the rules: this module's docstring)."""
    service, name = reading.service, reading.name
    again = f"deploy to {source} first (shipway deploy --environment {source} --service {entry})"
    if service is None:
        raise PromotionRefused(f"{source} runs no release of {entry}: there is no service "
                               f"{name} there", hint=again)
    spec = service["Spec"]
    image = image_of(spec)
    # Mid-update first: during a deploy (and once swarm paused it) the spec names the new
    # release, recorded only when it ends healthy.
    busy = mid_update(service, reading.tasks, image)
    if busy:
        state = (service.get("UpdateStatus") or {}).get("State")
        hint = (f"swarm waits for someone: deploy to {source} again or roll it back (shipway "
                f"rollback --environment {source} --service {entry}), then promote"
                if state in STUCK else
                f"wait until it is done (shipway status --environment {source} --service "
                f"{entry}) and promote again")
        raise PromotionRefused(f"{source} is mid-update: service {name} {busy}", hint=hint)
    running = history.running_release(reading.releases, spec)
    if running is None or running.image != image:
        why = (f"that is not release #{running.seq}'s image (changed outside shipway)"
               if running is not None else "that is not a release shipway recorded (a deploy "
               "that did not end healthy records none)")
        raise PromotionRefused(f"{source} runs no shipway release of {entry}: service {name} "
                               f"runs {image}, and {why}", hint=again)
    back = rolled_back(service, reading.releases, running)
    if back:
        raise PromotionRefused(f"{source} runs release #{running.seq} of {entry} after a "
                               f"rollback: {back}",
                               hint=f"deploy a fixed build to {source} and promote that: a "
                                    f"promotion carries forward what {source} runs as its "
                                    "newest release")
    return running


def mid_update(service, tasks, image):
    """Why the service is mid-update ('is updating: 1 of 2 replicas run IMAGE'), or ''."""
    update = service.get("UpdateStatus") or {}
    state, message = update.get("State", ""), update.get("Message", "")
    said = f" ({message})" if message else ""
    if state in MID_UPDATE:
        return MID_UPDATE[state] + said
    # The tasks swarm wants running; one it is stopping (an old release's container takes
    # a few seconds to go after the update is done) is on its way out, not a change to come.
    live = [t for t in tasks if t.get("DesiredState") == "running"]
    wanted = desired_count(service["Spec"], live)
    serving = len(replica_slots(live, image))
    others = sum(1 for t in live if task_image(t) != image)
    if serving == wanted and not others:
        return ""   # done; swarm may still say `updating` while it idles its last delay
    doing = "is updating" if state == "updating" else "is not converged"
    return (f"{doing}: {serving} of {wanted} replicas run {image}"
            + (f", {others} task{'s' if others > 1 else ''} of another image"
               if others else ""))


def rolled_back(service, releases, running):
    """How the running release came back after a newer one ('swarm rolled back its last
    update (...)'), or '' when it is the newest thing deployed."""
    update = service.get("UpdateStatus") or {}
    if update.get("State") == "rollback_completed":
        message = update.get("Message", "")
        return "swarm rolled back its last update" + (f" ({message})" if message else "")
    newer = [r for r in releases if r.seq > running.seq]
    if newer:
        return (f"release #{newer[0].seq} ({newer[0].image}) is newer and was rolled back "
                f"(to #{running.seq})")
    previous = service.get("PreviousSpec") or {}
    labels = previous.get("Labels") or {}
    other = labels.get(history.RELEASE_LABEL)
    if other and other != running.id and not any(r.id == other for r in releases) \
            and labels.get(DEPLOYED_AT, "") > (running.created or ""):
        return (f"a newer deploy of {image_of(previous)} (at {labels[DEPLOYED_AT]}) did not "
                "end healthy, and shipway put this release back")
    return ""


def registry_host(registry):
    """The host part of `registry` (host[:port], [v6]:port)."""
    if registry.startswith("["):
        return registry[1:].split("]", 1)[0]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def insecure(config, registry, addresses):
    """True when an engine whose RegistryConfig (GET /info) is `config` talks to
    `registry` without TLS verification (plain HTTP allowed): the registry's own entry in
    IndexConfigs says so, else one of its `addresses` (what the host resolves to) is in
    InsecureRegistryCIDRs (127.0.0.0/8 by default), as the engine decides."""
    index = (config.get("IndexConfigs") or {}).get(registry)
    if index is not None:
        return not index.get("Secure", True)
    networks = []
    for cidr in config.get("InsecureRegistryCIDRs") or ():
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    for address in addresses:
        try:
            found = ipaddress.ip_address(address)
        except ValueError:
            continue
        if any(found in network for network in networks):
            return True
    return False
