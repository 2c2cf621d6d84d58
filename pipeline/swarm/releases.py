"""Release history, stored in the swarm itself as config objects.

Swarm keeps one PreviousSpec, which a rollback swaps with the current spec. shipway keeps more:
every successful deploy records a release (digest, image, commit, build, time and the full
service spec it applied) as a swarm config object labelled with the service. Configs live in the
managers' Raft store, so the history survives a manager failover and needs no database.

The service spec carries the id of the release it runs (label `shipway.release`), so after
swarm's automatic rollback, which restores the previous spec with its labels, the running
release is still known.

A record's content never changes (swarm lets only a config's labels change): a rollback from a
release puts when, by whom, why and to which release on that release's record as labels
(shipway.release.rolled-back-*), which `history` reads back as `Release.rolled_back`.
"""
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field, fields

from pipeline.api import engine
from pipeline.errors import EngineError, UsageError
from pipeline.swarm.spec import LABEL_PREFIX, PROVENANCE_LABELS, digest_of, image_of

RELEASE_LABEL = "shipway.release"            # on the service spec: id of the running release
CONFIG_SERVICE = "shipway.release.service"   # on each config: which service
CONFIG_SEQ = "shipway.release.seq"           # on each config: 1, 2, 3, ...
CONFIG_ID = "shipway.release.id"             # on each config: the id the spec label names
ROLLED_BACK = "shipway.release.rolled-back-"  # on a config: at, by, reason, to (a rollback)
ROLLED_BACK_KEYS = ("at", "by", "reason", "to")
NAME_LIMIT = 64                              # swarm's limit on config names
RECORD_ATTEMPTS = 5


def new_id():
    """A fresh release id for a deploy's spec label."""
    return secrets.token_hex(6)


@dataclass
class Release:
    """One recorded release of a service."""

    seq: int
    id: str
    service: str
    image: str
    digest: str
    commit: str = ""
    build_number: str = ""
    build_url: str = ""
    job: str = ""
    created: str = ""
    spec: dict = field(default_factory=dict)
    config_id: str = ""
    # Paths of the spec fields this release's deploy took from the catalog: a later deploy
    # puts those the catalog no longer sets back to the engine's default (plan.py).
    managed: list = field(default_factory=list)
    deployed_by: str = ""     # who ran the deploy (context.BuildInfo.user)
    approved_by: str = ""     # who approved it at a gate (a promotion)
    # a promotion's origin: {"environment": ..., "release": SEQ, "digest": ...}; {} otherwise
    promoted_from: dict = field(default_factory=dict)
    # The last rollback from this release, from its record's labels: {at, by, reason, to}.
    rolled_back: dict = field(default_factory=dict)

    def matches(self, ref):
        """True when `ref` names this release: #seq, build number, commit or digest (prefix)."""
        ref = ref.strip()
        if not ref:
            return False
        if ref.lstrip("#") == str(self.seq) and ref.startswith("#"):
            return True
        if ref == self.build_number:
            return True
        if len(ref) >= 7 and self.commit.startswith(ref):
            return True
        digest = self.digest or ""
        bare = digest.split(":", 1)[-1]
        return len(ref) >= 12 and (digest.startswith(ref) or bare.startswith(ref))

    def summary(self):
        """The release as JSON-ready data, without the (long) spec."""
        return {"seq": self.seq, "id": self.id, "image": self.image, "digest": self.digest,
                "commit": self.commit, "build_number": self.build_number,
                "build_url": self.build_url, "job": self.job, "created": self.created,
                "deployed_by": self.deployed_by, "approved_by": self.approved_by,
                "promoted_from": dict(self.promoted_from),
                "rolled_back": dict(self.rolled_back) or None}


def provenance(labels):
    """(deployed_by, approved_by, promoted_from) as a spec's provenance labels say them."""
    values = {key: labels.get(LABEL_PREFIX + key, "") for key in PROVENANCE_LABELS}
    origin = {key: values[f"promoted-from.{key}"] for key in ("environment", "release", "digest")}
    if origin["release"].isdigit():
        origin["release"] = int(origin["release"])
    return (values["deployed-by"], values["approved-by"],
            origin if origin["environment"] else {})


def config_name(service, seq):
    """`shipway-release-<service>-<seq>`, hashed when that is longer than swarm allows."""
    name = f"shipway-release-{service}-{seq}"
    if len(name) > NAME_LIMIT:
        digest = hashlib.sha1(service.encode()).hexdigest()[:10]
        name = f"shipway-release-{service[:NAME_LIMIT - 30]}-{digest}-{seq}"
    return name


def history(api, service):
    """The service's releases, newest first."""
    found = []
    for config in engine.list_configs(api, {CONFIG_SERVICE: service}):
        data = config["Spec"].get("Data")
        # older engines leave Data out of the list: ask for the one config
        found.append(from_config(config, None if data is not None
                                 else engine.config_data(api, config["ID"])))
    return sorted(found, key=lambda r: r.seq, reverse=True)


def from_config(config, data=None):
    """The Release a record (a config as the Engine lists it) holds; `data`: its content
    when the listing left it out."""
    record = json.loads(data if data is not None else base64.b64decode(config["Spec"]["Data"]))
    # A newer shipway may record more; a rollback is in the labels, not the content.
    known = {f.name for f in fields(Release)} - {"rolled_back", "config_id"}
    return Release(config_id=config["ID"],
                   rolled_back=rolled_back_of(config["Spec"].get("Labels")),
                   **{k: v for k, v in record.items() if k in known})


def running_release(releases, service_spec):
    """The release the service spec says it runs (None when it names none we have)."""
    wanted = ((service_spec or {}).get("Labels") or {}).get(RELEASE_LABEL)
    return next((r for r in releases if wanted and r.id == wanted), None)


def record(api, service, spec, existing=None, managed=(), seq=None):
    """Store the release `spec` (as applied and running) unless it is recorded already.

    What it records comes from the spec itself: its image and the deploy labels
    (shipway.commit, shipway.build-number, ...) written by the deploy that applied it.
    `managed`: the fields the deploy took from the catalog. `seq`: the number to record it
    under (default: after the newest); 0 is the spec from before shipway's first deploy.
    """
    labels = spec.get("Labels") or {}
    release_id = labels.get(RELEASE_LABEL)
    if not release_id:
        return None  # not applied by shipway: nothing to name it by
    meta = {key: labels.get(LABEL_PREFIX + key, "")
            for key in ("commit", "build-number", "build-url", "job", "deployed-at")}
    if existing is None:
        existing = history(api, service)
    for release in existing:
        if release.id == release_id:
            return release
    fixed = seq is not None
    if not fixed:
        seq = (existing[0].seq if existing else 0) + 1
    managed = [list(path) for path in managed]
    image = image_of(spec)
    for _ in range(RECORD_ATTEMPTS):
        deployed_by, approved_by, promoted_from = provenance(labels)
        release = Release(seq=seq, id=release_id, service=service, image=image,
                          deployed_by=deployed_by, approved_by=approved_by,
                          promoted_from=promoted_from,
                          digest=digest_of(image) or "", commit=meta["commit"],
                          build_number=meta["build-number"], build_url=meta["build-url"],
                          job=meta["job"], spec=spec, managed=managed,
                          created=meta["deployed-at"] or time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                       time.gmtime()))
        data = {k: v for k, v in release.summary().items() if k != "rolled_back"}
        data.update(service=service, spec=spec, managed=managed)
        config_labels = {CONFIG_SERVICE: service, CONFIG_SEQ: str(seq), CONFIG_ID: release_id}
        config_id = engine.create_config(api, config_name(service, seq),
                                         json.dumps(data).encode(), config_labels)
        if config_id is not None:
            release.config_id = config_id
            return release
        if fixed:
            raise EngineError(f"cannot record the release: config {config_name(service, seq)} "
                              "exists already")
        seq += 1  # a concurrent deploy took this number
    raise EngineError(f"cannot record the release: {RECORD_ATTEMPTS} numbers taken in a row")


def rolled_back_of(labels):
    """{at, by, reason, to} of the rollback a record's labels tell of ({} for none)."""
    labels = labels or {}
    found = {key: labels[ROLLED_BACK + key] for key in ROLLED_BACK_KEYS
             if ROLLED_BACK + key in labels}
    return found if "at" in found else {}


def rolled_back_labels(at, by, reason, to):
    """The labels a rollback puts on the record of the release it left (see rolled_back_of):
    every key, so a later rollback from the same release leaves no stale reason behind."""
    return {ROLLED_BACK + "at": at, ROLLED_BACK + "by": by or "",
            ROLLED_BACK + "reason": reason or "", ROLLED_BACK + "to": to}


def label(api, release, labels):
    """Put `labels` on `release`'s record, keeping its others (swarm lets a config's labels
    change, nothing else). True when written; False when the record is gone (pruned)."""
    for _ in range(RECORD_ATTEMPTS):
        config = engine.inspect_config(api, release.config_id)
        if config is None:
            return False
        merged = {**(config["Spec"].get("Labels") or {}), **labels}
        if engine.update_config_labels(api, config, merged):
            return True
    raise EngineError(f"cannot label release #{release.seq}: its record changed "
                      f"{RECORD_ATTEMPTS} times in a row while shipway wrote it")


def prune(api, service, keep, running=None, existing=None):
    """Remove all but the newest `keep` releases (never the running one); returns the removed.
    `existing`: the history as listed before `running` was recorded (saves listing again)."""
    if existing is None:
        releases = history(api, service)
    else:
        releases = sorted([r for r in existing if running is None or r.id != running.id]
                          + ([running] if running is not None else []),
                          key=lambda r: r.seq, reverse=True)
    removed = []
    for release in releases[keep:]:
        if running is not None and release.id == running.id:
            continue
        engine.remove_config(api, release.config_id)
        removed.append(release)
    return removed


def remove_all(api, service):
    """Remove every release record of `service` (when shipway removes the service)."""
    releases = history(api, service)
    for release in releases:
        engine.remove_config(api, release.config_id)
    return releases


def choice(release):
    """'#7 repo:v2@sha256:0a1b2c3d4e5f (build 12, commit 1a2b3c4)': enough to pick it by."""
    image = release.image.split("@", 1)[0] if "@" in release.image else release.image
    digest = (release.digest or "").split(":", 1)[-1][:12]
    extra = ", ".join(part for part in (release.build_number and f"build {release.build_number}",
                                        release.commit and f"commit {release.commit[:7]}")
                      if part)
    return f"#{release.seq} {image}" + (f"@sha256:{digest}" if digest else "") + \
        (f" ({extra})" if extra else "")


def choose(releases, running, to=None, current_digest=None):
    """The release a rollback goes to: `to` when given, else the newest one before the
    running one that ran healthy.

    Pressing rollback twice goes two releases back: the restored spec carries its own release
    id, so the next rollback starts from there. Passed over: releases a rollback left (a
    person or the group went back from them: they did not run healthy, whatever they
    converged to; `--to` still picks them), and older releases of the very digest that runs
    now with the same spec apart from shipway's labels (a redeploy of the same build): going
    back means another build, or another spec of it (a secret rotated, env changed). The
    rollback picker offers the same release first (picker.default).
    """
    if to:
        for release in releases:
            if release.matches(to):
                return release
        known = "; ".join(choice(r) for r in releases[:5]) or "none"
        raise UsageError(f"no release matches {to!r} (newest: {known})",
                         hint="pass --to #SEQ, a build number, a commit or a digest; "
                              "see `shipway releases`")
    older = [r for r in releases if not r.rolled_back and (running is None
                                                           or r.seq < running.seq)]
    digest = running.digest if running is not None else current_digest

    def other(release):
        if not digest or release.digest != digest:
            return True
        return running is not None and _without_own_labels(release.spec) != \
            _without_own_labels(running.spec)
    return next((r for r in older if other(r)), None)


def _without_own_labels(spec):
    """`spec` without the shipway.* labels a redeploy of the same build changes."""
    labels = {k: v for k, v in ((spec or {}).get("Labels") or {}).items()
              if not k.startswith(LABEL_PREFIX)}
    return {**(spec or {}), "Labels": labels}


def before_shipway(service, releases, running):
    """(spec, description) of swarm's PreviousSpec when a rollback from the oldest recorded
    release should restore it, else None.

    That is the spec from before shipway's first deploy of an adopted service (no shipway
    release label), or one of a release no longer recorded (pruned) that runs another image.
    Release #0, such a restored spec, is the floor: nothing goes back from it.
    """
    previous = (service or {}).get("PreviousSpec")
    if not previous or running is None or running.seq <= 0 or not releases:
        return None
    if running.seq != min(r.seq for r in releases):
        return None
    label = (previous.get("Labels") or {}).get(RELEASE_LABEL)
    if label and any(r.id == label for r in releases):
        return None
    if not label:
        return previous, "the spec before shipway's first deploy"
    if image_of(previous) != image_of(service["Spec"]):
        return previous, "swarm's previous spec (a release no longer recorded)"
    return None
