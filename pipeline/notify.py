"""Notifications: what a deploy, promotion or rollback did, posted to the catalog's webhooks
(`notify:`, pipeline/catalog/notify_keys.py).

Each stage builds one Notifier from the service's settings and the context (notifier(), or
for_group()) and hands it down, as it hands down the deploy marker; the Notifier is called
with an event and the fields that event knows. The body of an event is decided here, purely
(event_body, slack_body, outcome_event: tested from recorded records); webhook.py sends it.

A webhook that fails is one line and never a failed deploy. Its URL is a secret (it holds the
webhook's token): registered with the context's masking when the Notifier is built, and
named in lines only as `webhook N (FORMAT)`, N its place in the service's list.
"""
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from pipeline import __version__, webhook
from pipeline.catalog.notify_keys import EVENTS, check_webhook
from pipeline.console import clean

# Every JSON body has each of these keys ("" when the event does not know it).
FIELDS = ("event", "text", "at", "service", "swarm_service", "environment", "group",
          "members", "command", "action", "release", "image", "digest", "commit", "build_number",
          "build_url",
          "job", "by", "approved_by", "from_environment", "from_release", "reason",
          "task_error", "running_image", "approve_url", "shipway")
# What a group event's `members` says of each member: the release that waits (or ran).
MEMBER_KEYS = ("image", "digest", "release")
# The attachment colour of each event: Slack, Mattermost and Rocket.Chat all take hex.
COLORS = {"started": "#439fe0", "deployed": "#2eb886", "promoted": "#2eb886",
          "rollback": "#daa038", "lock-waiting": "#daa038", "approval-waiting": "#439fe0",
          "failed": "#a30200", "auto-rollback": "#a30200", "group-failed": "#a30200"}
# What goes on after a webhook failed, by the command that sends.
GOES_ON = {"deploy": "the deploy", "promote": "the promotion", "rollback": "the rollback",
           "group": "the group release", "notify": "the build"}
_SUCCESS = {"deploy": "deployed", "promote": "promoted", "rollback": "rollback"}
_SLACK_FIELDS = (("Group", "group", True), ("Service", "service", True),
                 ("Environment", "environment", True),
                 ("Release", "release", True), ("By", "by", True),
                 ("Commit", "commit", True), ("Approved by", "approved_by", True),
                 ("Image", "image", False), ("Reason", "reason", False),
                 ("Task error", "task_error", False), ("Runs now", "running_image", False))


# --- bodies (pure) ---------------------------------------------------------------------
def event_body(event, fields):
    """The JSON body of `event`: FIELDS, each from `fields` or "", and its one-line text."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    body = {key: "" if fields.get(key) is None else str(fields.get(key, "")) for key in FIELDS}
    body.update(event=event, shipway=__version__, members=_members(fields.get("members")))
    if not body["at"]:
        body["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body["text"] = text_of(body)
    return body


def _members(members):
    """A group event's `members` (member -> {image, digest, release}, each text), or ""."""
    if not members:
        return ""
    return {str(member): {key: str(found.get(key) or "") for key in MEMBER_KEYS}
            for member, found in members.items()}


def text_of(body):
    """The one line a person reads: what happened to which service (or to which group, in
    an event of the group as a whole), and why."""
    who = body["service"] or (f"group {body['group']}" if body["group"] else "")
    where = who + (f" in {body['environment']}" if body["environment"] else "")
    image = _short(body["image"])
    release = f" as release {body['release']}" if body["release"] else ""
    build = f" (build {body['build_number']})" if body["build_number"] else ""
    by = f" by {body['by']}" if body["by"] else ""
    reason = body["reason"] + (f"; task error: {body['task_error']}"
                               if body["task_error"] else "") + (
        f"; it runs {_short(body['running_image'])}" if body["running_image"] else "")
    source = f"release {body['from_release']} of {body['from_environment']}"
    lines = {
        "started": (f"{where}: promoting {source} ({image}){build}{by}"
                    if body["command"] == "promote"
                    else f"{where}: deploying {image}{build}{by}"),
        "deployed": (f"{where}: already runs {image}{release}{build}"
                     if body["action"] == "unchanged"
                     else f"{where}: deployed {image}{release}{build}"),
        "promoted": f"{where}: promoted {source} ({image}){release}{build}",
        "failed": f"{where}: {body['command'] or 'deploy'} of {image or '-'} "
                  f"failed: {reason}",
        "auto-rollback": f"{where}: {image} rolled back automatically: {reason}",
        "rollback": f"{where}: rolled back to {image}"
                    + (f" (release {body['release']})" if body["release"] else "") + by
                    + (f": {reason}" if reason else ""),
        "lock-waiting": f"{where}: {body['command'] or 'deploy'} waits for the deploy lock "
                        f"({reason})",
        "approval-waiting": f"{where}: waiting for approval{build}: {reason}",
        "group-failed": f"group {body['group']}: {reason}",
    }
    return " ".join(clean(lines[body["event"]]).split())


def _short(image):
    """An image reference with its digest cut to 12 hex digits (the JSON keeps it whole)."""
    repo, sep, digest = image.rpartition("@sha256:")
    return f"{repo}@sha256:{digest[:12]}" if sep else image


def group_waiting_reason(members, submitter=""):
    """`reason` of a group's approval-waiting: each member's image that waits (its digest cut
    to 12 hex digits; the JSON's `members` keeps it whole), `this build` for one whose image
    this workspace does not know, and who may approve."""
    known = [(member, found.get("image")) for member, found in members.items()]
    what = ", ".join(f"{member} {_short(image) if image else '(this build)'}"
                     for member, image in known) if any(image for _, image in known) \
        else "this build"
    return f"approve the deploy of {what}" + (f" (submitter: {submitter})" if submitter
                                              else "")


def slack_body(body):
    """A Slack incoming-webhook message of `body` that Mattermost and Rocket.Chat take as
    well: `text`, and one attachment (fallback, color, title and title_link, fields with
    title/value/short), the fields all three render."""
    attachment = {"fallback": _escape(body["text"]), "color": COLORS[body["event"]],
                  "fields": [{"title": title, "value": _escape(
                      body[key][:12] if key == "commit" else body[key]), "short": short}
                             for title, key, short in _SLACK_FIELDS if body[key]]
                  + [{"title": _escape(member), "value": _escape(found["image"] or "this build"),
                      "short": False} for member, found in (body["members"] or {}).items()]}
    if body["build_number"] or body["job"]:
        attachment["title"] = _escape(" ".join(
            part for part in (body["job"], f"#{body['build_number']}"
                              if body["build_number"] else "") if part))
        if body["build_url"]:
            attachment["title_link"] = body["approve_url"] or body["build_url"]
    return {"text": _escape(body["text"]), "attachments": [attachment]}


def _escape(text):
    """Slack's three control characters: text from a task's error can hold `<!channel>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rendered(fmt, body):
    """What is posted to a webhook of format `fmt`."""
    return slack_body(body) if fmt == "slack" else body


def outcome_event(command, summary, why="", rolled_back=False):
    """(event, fields) of a deploy, promotion or rollback that ran, from its record
    (apply.Result.summary()): its success event; else `auto-rollback` when swarm
    (rollback_completed) or the analysis (`rolled_back`) put the release before back,
    `failed` when not, with why (default: the record's reason), the task's error and what
    runs now."""
    release = summary.get("release") or {}
    fields = {"release": f"#{release['seq']}" if release.get("seq") is not None else "",
              "image": summary.get("image", ""), "digest": summary.get("digest", ""),
              "action": summary.get("action", "")}
    if summary.get("ok"):
        return _SUCCESS.get(command, "deployed"), fields
    back = command != "rollback" and (
        rolled_back or summary.get("update_state") == "rollback_completed")
    if back:
        fields["release"] = ""   # the release it tried was not recorded
    return ("auto-rollback" if back else "failed"), {
        **fields, "reason": why or summary.get("reason", ""),
        "task_error": summary.get("task_error", ""),
        "running_image": summary.get("running_image", "")}


# --- the notifier ----------------------------------------------------------------------
@dataclass(frozen=True)
class Hook:
    """One webhook of the service's list: where it posts (None: nothing to post to, and
    `problem` says why), in what format, for which events."""

    index: int
    format: str
    on: tuple
    url: Optional[str] = None
    problem: str = ""

    @property
    def label(self):
        return f"webhook {self.index} ({self.format})"


def hooks_of(entries, environ):
    """The Hooks of the settings' `notify` entries, each URL from the catalog or from the
    variable it names (pure)."""
    hooks = []
    for index, entry in enumerate(entries, 1):
        url, problem = entry.get("webhook"), ""
        variable = entry.get("webhook_env")
        if variable:
            url = environ.get(variable) or None
            if url is None:
                problem = f"${variable} is not set"
            else:
                try:
                    url = check_webhook(url)
                except ValueError:
                    url, problem = None, f"${variable} does not hold an http(s) URL"
        hooks.append(Hook(index, entry.get("format", "json"), tuple(entry.get("on") or EVENTS),
                          url, problem))
    return hooks


def secrets_of(hooks):
    """The values to mask: each URL, and its path and query (the token's part of it) when
    they are more than a slash or two."""
    found = []
    for hook in hooks:
        if hook.url:
            parts = urlsplit(hook.url)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            found += [hook.url] + ([tail] if len(tail.strip("/")) >= 6 else [])
    return found


class Notifier:
    """Posts events to a service's webhooks: `notifier(event, **fields)`; every event
    carries `base` (the service, its environment, the build, who) under its own fields."""

    def __init__(self, hooks, base, report, post=webhook.post):
        self.hooks = list(hooks)
        self.base = dict(base)
        self.report = report
        self.post = post
        self._told = set()     # hooks whose problem was said once

    def __bool__(self):
        return bool(self.hooks)

    def __call__(self, event, **fields):
        hooks = [hook for hook in self.hooks if event in hook.on]
        if not hooks:
            return
        body = event_body(event, {**self.base, **fields})
        goes_on = GOES_ON.get(body["command"], "shipway")
        sent = []
        for hook in hooks:
            if hook.url is None:
                if hook.index not in self._told:
                    self._told.add(hook.index)
                    self.report(f"notify: {hook.label}: {hook.problem}; not sent")
                continue
            why = self.post(hook.url, rendered(hook.format, body))
            if why:
                self.report(f"notify: {hook.label} failed: {why}; {goes_on} goes on")
            else:
                sent.append(hook.label)
        if sent:
            self.report(f"notify: {event} sent to {', '.join(sent)}")

    def outcome(self, result, **fields):
        """The event of an apply.Result that ran (deploy, promote, rollback); `fields` fill
        what the result does not say (a rollback's reason, given by hand)."""
        outcome = result.outcome
        why = ""
        if outcome is not None and outcome.update_message:
            why = f"{outcome.reason} ({outcome.update_message})"
        event, found = outcome_event(self.base.get("command", "deploy"), result.summary(),
                                     why, bool(getattr(outcome, "rolled_back", False)))
        self(event, **{**fields, **found})


def approve_url(build):
    """The build's input page, where a Jenkins approval is answered ("" without a build URL)."""
    url = build.url
    return (url if url.endswith("/") else url + "/") + "input/" if url else ""


def base_fields(settings, build, command, **extra):
    """What every event of a command on service `settings` carries (build: BuildInfo)."""
    return {"service": settings.get("entry") or settings.get("name", ""),
            "swarm_service": settings.get("name", ""),
            "environment": settings.get("environment") or "", "command": command,
            "commit": build.commit, "build_number": build.number, "build_url": build.url,
            "job": build.job, "by": build.user, **extra}


def notifier(settings, ctx, command="deploy", **extra):
    """The Notifier of a command on service `settings` through context `ctx`: its webhooks'
    URLs masked from here on (ctx.hide)."""
    hooks = hooks_of(settings.get("notify") or [], ctx.environ)
    ctx.hide(secrets_of(hooks))
    return Notifier(hooks, base_fields(settings, ctx.build, command, **extra), ctx.console.event)


def for_group(members, ctx, group, environment=None, command="group"):
    """The Notifier of a group release (or of `command` on the group as a whole): every
    webhook some member notifies, once each."""
    entries, seen = [], set()
    for settings in members:
        for entry in settings.get("notify") or []:
            key = (entry.get("webhook"), entry.get("webhook_env"), entry.get("format"),
                   tuple(entry.get("on") or ()))
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    return notifier({"entry": "", "name": "", "environment": environment, "notify": entries},
                    ctx, command, group=group)
