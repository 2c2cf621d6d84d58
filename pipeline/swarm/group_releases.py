"""Group releases, recorded in the swarm as config objects (as a service's releases are):
which release of each member a group release made. `rollback --group` returns every member
to the group release before the running one; the running one is the newest whose members
all run the releases it names, so pressing it twice goes two back.
"""
import json
import time
from base64 import b64decode
from dataclasses import dataclass, field

from pipeline.api import engine
from pipeline.errors import EngineError
from pipeline.swarm.releases import NAME_LIMIT, RECORD_ATTEMPTS, config_name

GROUP_LABEL = "shipway.group.name"   # on each config: which group
GROUP_SEQ = "shipway.group.seq"      # on each config: 1, 2, 3, ...


@dataclass
class GroupRelease:
    """One recorded group release: member -> {service, release_id, seq, image}."""

    seq: int
    group: str
    members: dict = field(default_factory=dict)
    created: str = ""
    build_number: str = ""
    build_url: str = ""
    commit: str = ""
    deployed_by: str = ""
    config_id: str = ""

    def summary(self):
        """JSON-ready, as `releases --group --json` prints it."""
        return {"seq": self.seq, "group": self.group, "members": self.members,
                "created": self.created, "build_number": self.build_number,
                "build_url": self.build_url, "commit": self.commit,
                "deployed_by": self.deployed_by}

    def runs(self, running_ids):
        """True when every member runs the release this group release made
        (`running_ids`: member -> the release id its service runs; jobs are not asked)."""
        return all(running_ids.get(member) == entry["release_id"]
                   for member, entry in self.members.items() if not entry.get("job"))


def _name(group, seq):
    return config_name(f"group-{group}", seq)[:NAME_LIMIT]


def history(api, group):
    """The group's releases, newest first."""
    found = []
    for config in engine.list_configs(api, {GROUP_LABEL: group}):
        data = config["Spec"].get("Data")
        raw = engine.config_data(api, config["ID"]) if data is None else b64decode(data)
        record = json.loads(raw)
        found.append(GroupRelease(config_id=config["ID"], **{
            k: v for k, v in record.items() if k in GroupRelease.__dataclass_fields__}))
    return sorted(found, key=lambda r: r.seq, reverse=True)


def running(releases, running_ids):
    """The newest group release every member still runs, or None."""
    return next((r for r in releases if r.runs(running_ids)), None)


def record(api, group, members, build, existing=None):
    """Record a group release of `members` (member -> {service, release_id, seq, image,
    job}); `build`: context.BuildInfo. Its number is after the newest; one another run took
    meanwhile moves it on."""
    existing = history(api, group) if existing is None else existing
    seq = (existing[0].seq if existing else 0) + 1
    for _ in range(RECORD_ATTEMPTS):
        release = GroupRelease(seq=seq, group=group, members=members,
                               created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               build_number=build.number, build_url=build.url,
                               commit=build.commit, deployed_by=build.user)
        config_id = engine.create_config(api, _name(group, seq),
                                         json.dumps(release.summary()).encode(),
                                         {GROUP_LABEL: group, GROUP_SEQ: str(seq)})
        if config_id is not None:
            release.config_id = config_id
            return release
        seq += 1
    raise EngineError(f"cannot record the group release: {RECORD_ATTEMPTS} numbers taken")


def prune(api, releases, keep, running_release=None):
    """Remove all but the newest `keep` group releases (never the running one)."""
    for release in releases[keep:]:
        if running_release is None or release.seq != running_release.seq:
            engine.remove_config(api, release.config_id)


def remove_all(api, group):
    """Remove every group release record of `group` (when its members are removed); the
    releases removed."""
    releases = history(api, group)
    for release in releases:
        engine.remove_config(api, release.config_id)
    return releases
