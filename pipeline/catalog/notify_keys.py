"""The catalog's `notify:`: webhooks told what a deploy did (format in docs/catalog.md). A
top-level list goes to every service; a service's own list (and an environment's, which
replaces the service's as every list does) comes after it. Sending is pipeline/notify.py's.

    notify:
      - webhook_env: OPS_SLACK_WEBHOOK   # the URL from this variable (credentials binding)
        credentials: ops-slack-webhook   # optional: the Jenkins secret text bound to it
        format: slack                    # json (default) | slack (Slack, Mattermost, Rocket.Chat)
        on: [failed, auto-rollback]      # default: every event
      - {webhook: https://hooks.example/deploys, format: json}

YAML 1.1 (PyYAML) reads a bare `on` key as the boolean true: in a notify entry, and only
there, that key is `on`.
"""
import re
from urllib.parse import urlsplit

from pipeline.catalog.schema import walk
from pipeline.catalog.values import choice
from pipeline.jobs import names

# In the order a deploy meets them; README "Notifications" says when each is sent.
EVENTS = ("started", "deployed", "failed", "auto-rollback", "rollback", "lock-waiting",
          "promoted", "approval-waiting", "group-failed")
FORMATS = ("json", "slack")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_webhook(value):
    """An http(s) URL with a host (it holds a token: a secret, never printed)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an http:// or https:// URL")
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port   # noqa: B018 (a port that is no number raises ValueError here)
    except ValueError:
        raise ValueError("must be an http:// or https:// URL with a host") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(
            c.isspace() for c in text):
        # The value itself is not repeated: it is a secret.
        raise ValueError("must be an http:// or https:// URL with a host")
    return text


def _variable(value):
    if not isinstance(value, str) or not _VARIABLE.match(value):
        raise ValueError("must be an environment variable name (letters, digits, '_')")
    return value


def _events(value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a list of events: {', '.join(EVENTS)}")
    for event in value:
        if event not in EVENTS:
            raise ValueError(f"must name events among {', '.join(EVENTS)} (got {event!r})")
    return list(dict.fromkeys(value))


ENTRY_SCHEMA = {
    "webhook": check_webhook,
    "webhook_env": _variable,
    "credentials": names.check_credentials_id,
    "format": choice(*FORMATS),
    "on": _events,
}


def _entry(item, fail, where):
    """One notify entry, checked, with its defaults."""
    if isinstance(item, dict) and True in item:
        if "on" in item:
            fail(f"{where}.on", "is given twice (`on` and a key YAML read as true)")
        # PyYAML reads `on:` as true (YAML 1.1's booleans): what a user wrote is `on`.
        item = {("on" if key is True else key): value for key, value in item.items()}
    entry = walk(ENTRY_SCHEMA, item, fail, where + ".",
                 null="needs a value") if isinstance(item, dict) else None
    if entry is None:
        fail(where, "must be a mapping with webhook or webhook_env, format and on")
    if ("webhook" in entry) == ("webhook_env" in entry):
        fail(where, "needs one of webhook (a URL) or webhook_env (the variable holding it)")
    if "credentials" in entry and "webhook_env" not in entry:
        fail(f"{where}.credentials", "binds a Jenkins secret text to webhook_env: give "
                                     "webhook_env too (the variable it sets)")
    return {"webhook": entry.get("webhook"), "webhook_env": entry.get("webhook_env"),
            "credentials": entry.get("credentials"), "format": entry.get("format", "json"),
            "on": entry.get("on", list(EVENTS))}


def read(value, fail, key="notify"):
    """The list of notify entries at `key` (a schema.Part check): each checked, with
    format json and every event by default."""
    if value is None:
        return []
    if not isinstance(value, list):
        fail(key, "must be a list of webhooks ({webhook_env: VAR, format: slack, on: [...]})")
    return [_entry(item, fail, f"{key}[{index}]") for index, item in enumerate(value)]
