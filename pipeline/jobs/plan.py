"""Compare what the catalog renders with what Jenkins holds: a plan of actions.

Pure functions over data already fetched (no I/O), so every rule is table-tested.

Ownership rules, because several catalogs and people share one Jenkins:
* an item is ours when its description carries `[shipway-catalog=<our name>]`;
* a job at one of our paths that is not ours is never overwritten (a failure naming the
  owner) unless `adopt` and it carries no marker at all;
* a folder at one of our paths that is not ours is used as it is: folders are shared;
* prune deletes only items that are ours and no longer rendered, and a folder only when
  everything inside it goes too (Jenkins deletes a folder with all its contents).
"""
from dataclasses import dataclass

from pipeline.jobs import xmlnorm

CREATE, UPDATE, UNCHANGED, DELETE, FAIL, ORPHAN = (
    "create", "update", "unchanged", "delete", "fail", "orphan")
DRIFT = "drift: the live config differs from the catalog's"
LEFTOVER = "no longer in the catalog"


@dataclass
class Action:
    """One thing to do (or not) for one item path."""

    op: str                  # CREATE UPDATE UNCHANGED DELETE FAIL ORPHAN
    path: str
    kind: str                # catalog items: folder|pipeline|rollback; others: folder|job
    desired: str = None      # rendered config.xml (catalog items)
    live: str = None         # live config.xml (items that exist and were read)
    reason: str = ""         # why: drift, not owned, ...
    owner: str = None        # the catalog named by the live item's marker
    service: str = None
    group: str = None        # a catalog group's job

    @property
    def depth(self):
        return self.path.count("/")

    def state(self, ours):
        """For `jobs list`: missing, present, drifted, owned-by-other, orphaned or error."""
        if self.op == CREATE:
            return "missing"
        if self.op in (ORPHAN, DELETE):
            return "orphaned"
        if self.live is None:
            return "error"
        if self.owner != ours:
            return "owned-by-other"
        if self.op == FAIL:
            return "error"
        return "drifted" if self.op == UPDATE else "present"

    def diff(self):
        """Unified diff of normalised XML, live -> rendered ("" when there is nothing to show)."""
        if self.desired is None:
            return ""
        return xmlnorm.unified_diff(self.live, self.desired, self.path)


def parent_of(path):
    """"a/b/c" -> "a/b"; "" for an item at the root."""
    return path.rpartition("/")[0]


def prune_candidates(live_items, desired_paths, marker):
    """Paths of live items that are not rendered but whose description carries `marker`.

    The description comes from the item listing; the config is read afterwards to confirm.
    """
    return sorted(path for path, item in live_items.items()
                  if path not in desired_paths and marker in (item.description or ""))


def make_plan(desired, live_items, configs, errors, *, catalog_name, owner_of,
              prune=False, adopt=False):
    """The actions, parents before children for catalog items, children first for deletes.

    desired:    JobItems (path, kind, service, config_xml), parents before children
    live_items: {path: LiveItem} of everything listed in Jenkins
    configs:    {path: config.xml} read for existing catalog items and prune candidates
    errors:     {path: message} for configs that could not be read
    owner_of:   config.xml -> catalog name of its marker, or None
    """
    actions = [_for_desired(item, live_items, configs, errors, catalog_name, owner_of, adopt)
               for item in desired]
    desired_paths = {item.path for item in desired}
    actions += _for_leftovers(live_items, configs, errors, desired_paths, catalog_name,
                              owner_of, prune)
    return actions


def _for_desired(item, live_items, configs, errors, ours, owner_of, adopt):
    action = Action(UNCHANGED, item.path, item.kind, desired=item.config_xml,
                    service=item.service, group=getattr(item, "group", None))
    if item.path not in live_items and item.path not in configs:
        action.op, action.reason = CREATE, "missing"
        return action
    if item.path in errors:
        action.op, action.reason = FAIL, errors[item.path]
        return action
    live = configs.get(item.path)
    if live is None:
        # Listed a moment ago, gone when its config was read: create it again.
        action.op, action.reason = CREATE, "missing"
        return action
    action.live = live
    action.owner = owner_of(live)
    try:
        # Each side parsed once: the key gives the root tag and the comparison below.
        live_key, wanted_key = xmlnorm.fingerprint(live), xmlnorm.fingerprint(item.config_xml)
    except xmlnorm.XmlError as exc:
        action.op, action.reason = FAIL, f"{item.path}: {exc}"
        return action
    live_tag, wanted_tag = live_key[0], wanted_key[0]
    if live_tag != wanted_tag:
        # Jenkins refuses a config.xml that changes an item's type; say so up front.
        action.op = FAIL
        action.reason = (f"{item.path} is a <{live_tag}> in Jenkins but the catalog renders "
                         f"a <{wanted_tag}>: delete or rename it in Jenkins first")
        return action
    if action.owner != ours:
        if item.kind == "folder":
            # Shared folder (made by hand or by another catalog): use it, leave it be.
            action.reason = f"folder kept as it is ({_owned_by(action.owner)})"
            return action
        if action.owner is not None or not adopt:
            action.op = FAIL
            hint = "" if action.owner is not None else "; pass --adopt to take it over"
            action.reason = f"{item.path} exists and is {_owned_by(action.owner)}: " \
                            f"not overwritten{hint}"
            return action
        action.reason = "adopted (had no ownership marker)"
    if live_key == wanted_key:
        return action
    action.op = UPDATE
    action.reason = action.reason or DRIFT
    # Reconfiguring replaces the whole item: keep what Jenkins added to it by itself.
    action.desired = xmlnorm.with_jenkins_actions(item.config_xml, live)
    return action


def _owned_by(owner):
    return f"owned by catalog {owner!r}" if owner else "not marked as any catalog's"


def _for_leftovers(live_items, configs, errors, desired_paths, ours, owner_of, prune):
    """Delete (or report) items that are ours but no longer rendered; children first."""
    owned = {}
    failed = []
    for path in sorted(set(configs) | set(errors)):
        if path in desired_paths:
            continue
        if path in errors:
            failed.append(Action(FAIL, path, _kind(live_items, path), reason=errors[path]))
            continue
        config = configs[path]
        if config is None:
            continue  # gone since it was listed
        try:
            owner = owner_of(config)
        except xmlnorm.XmlError:  # pragma: no cover - owner_of parses leniently
            owner = None
        if owner == ours:
            owned[path] = Action(DELETE if prune else ORPHAN, path, _kind(live_items, path),
                                 live=config, owner=owner, reason=LEFTOVER)
    for path, action in owned.items():
        inside = [other for other in live_items if other.startswith(path + "/")]
        keep = [other for other in inside if other not in owned]
        if keep:
            # Deleting the folder would take these with it.
            action.op = ORPHAN
            action.reason = (f"folder not pruned: it still holds {len(keep)} item(s) this "
                             f"catalog does not own, e.g. {sorted(keep)[0]}")
    ordered = sorted(owned.values(), key=lambda a: (-a.depth, a.path))
    return failed + ordered


def _kind(live_items, path):
    item = live_items.get(path)
    return "folder" if item is not None and item.is_group else "job"


def counts(actions):
    """{"created": n, "updated": n, "unchanged": n, "pruned": n, "failed": n} of a plan."""
    table = {CREATE: "created", UPDATE: "updated", UNCHANGED: "unchanged", DELETE: "pruned",
             FAIL: "failed"}
    out = dict.fromkeys(table.values(), 0)
    for action in actions:
        if action.op in table:
            out[table[action.op]] += 1
    return out
