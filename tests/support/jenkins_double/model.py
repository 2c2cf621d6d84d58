"""Jenkins object model: the root, folders, jobs and builds.

All mutation happens under ``Jenkins.lock`` (held by the HTTP dispatcher for
a whole request and by the scheduler while it moves queue items), so the
classes here do no locking of their own.

Item names are looked up case-insensitively, as Jenkins keys its item maps
with a case-insensitive comparator: ``Foo`` blocks creating ``foo``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Iterable, Optional
from urllib.parse import quote

from . import config as cfg
from .errors import NotFound
from .exported import Exported, Prop

if TYPE_CHECKING:
    from .queue import Queue
    from .xstream import XStream

RESULT_COLORS = {"SUCCESS": "blue", "UNSTABLE": "yellow", "FAILURE": "red",
                 "ABORTED": "aborted", "NOT_BUILT": "notbuilt"}
PERMALINKS = ("lastBuild", "lastCompletedBuild", "lastFailedBuild",
              "lastStableBuild", "lastSuccessfulBuild", "lastUnstableBuild",
              "lastUnsuccessfulBuild")


def now_ms() -> int:
    """Milliseconds since the epoch, Jenkins' timestamp unit."""
    return int(time.time() * 1000)


class ItemGroup:
    """Shared behaviour of the root and folders: a case-insensitive item map."""

    def __init__(self) -> None:
        self.children: dict[str, "Item"] = {}

    def get_child(self, name: str) -> Optional["Item"]:
        """Return the child called ``name`` (case-insensitively), or None."""
        return self.children.get(name.lower())

    def items(self) -> list["Item"]:
        """Children sorted case-insensitively, the order ``jobs`` is exported in."""
        return [self.children[k] for k in sorted(self.children)]

    def add_child(self, item: "Item") -> None:
        """Attach ``item``; the caller has already checked the name is free."""
        self.children[item.name.lower()] = item

    def remove_child(self, item: "Item") -> None:
        """Detach ``item`` if it is still a child."""
        self.children.pop(item.name.lower(), None)

    def group_url(self) -> str:
        raise NotImplementedError

    def group_full_name(self) -> str:
        raise NotImplementedError


class View(Exported):
    """The ``All`` view every item group has (views are not otherwise modelled)."""

    jenkins_class = "hudson.model.AllView"

    def __init__(self, group: ItemGroup, name: str) -> None:
        self.group, self.name = group, name

    def exported(self) -> Iterable[Prop]:
        return (Prop("description", lambda: None),
                Prop("jobs", self.group.items),
                Prop("name", lambda: self.name, 999),
                Prop("property", lambda: []),
                Prop("url", self.group.group_url, 999))


class Jenkins(Exported, ItemGroup):
    """The controller (``hudson.model.Hudson``) and owner of all state."""

    jenkins_class = "hudson.model.Hudson"

    def __init__(self, base_url: str, num_executors: int = 2) -> None:
        ItemGroup.__init__(self)
        self.configured_url = base_url
        self._request = threading.local()
        self.num_executors = num_executors
        self.lock = threading.RLock()
        self.use_crumbs = True
        self.queue: "Queue"  # attached by Queue.__init__
        self.xstream: "XStream"  # attached by JenkinsDouble: how config.xml is stored
        self.scm_declarative = True
        self.view = View(self, "all")

    @property
    def base_url(self) -> str:
        """The root URL: from the request being served, else the one the double bound.

        Jenkins without a configured root URL builds every absolute URL (``url`` fields,
        ``Location``) from the request: scheme, Host (or X-Forwarded-Host), port
        (core Jenkins.getRootUrl -> getRootUrlFromRequest)."""
        return getattr(self._request, "url", None) or self.configured_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self.configured_url = url

    def serving(self, host: Optional[str], forwarded_host: Optional[str] = None,
                forwarded_proto: Optional[str] = None) -> None:
        """Make URLs for this thread's request from its headers (None: stop)."""
        host = forwarded_host or host
        self._request.url = (f"{forwarded_proto or 'http'}://{host}/"
                             if host and "/" not in host else None)

    def group_url(self) -> str:
        return self.base_url

    def group_full_name(self) -> str:
        return ""

    def exported(self) -> Iterable[Prop]:
        return (
            Prop("assignedLabels", lambda: [{"name": "built-in"}]),
            Prop("mode", lambda: "NORMAL"),
            Prop("nodeDescription",
                 lambda: "the Jenkins controller's built-in node"),
            Prop("nodeName", lambda: ""),
            Prop("numExecutors", lambda: self.num_executors),
            Prop("description", lambda: None),
            Prop("jobs", self.items),
            Prop("overallLoad", lambda: {}),
            Prop("primaryView", lambda: self.view),
            Prop("quietDownReason", lambda: None),
            Prop("quietingDown", lambda: False),
            Prop("slaveAgentPort", lambda: -1),
            Prop("unlabeledLoad",
                 lambda: {"_class": "jenkins.model.UnlabeledLoadStatistics"}),
            Prop("url", lambda: self.base_url),
            Prop("useCrumbs", lambda: self.use_crumbs),
            Prop("useSecurity", lambda: True),
            Prop("views", lambda: [self.view]),
        )

    def resolve(self, names: list[str]) -> "Item":
        """Find the item at ``job/a/job/b`` (names ``["a", "b"]``) or 404."""
        group: ItemGroup = self
        item: Optional[Item] = None
        for name in names:
            if not isinstance(group, ItemGroup):
                raise NotFound()
            item = group.get_child(name)
            if item is None:
                raise NotFound()
            group = item  # type: ignore[assignment]
        if item is None:
            raise NotFound()
        return item

    def resolve_group(self, names: list[str]) -> ItemGroup:
        """Find the item group (root or folder) at ``names`` or 404."""
        if not names:
            return self
        item = self.resolve(names)
        if not isinstance(item, ItemGroup):
            raise NotFound()
        return item

    def by_full_name(self, full_name: str) -> Optional["Item"]:
        """``getItemByFullName``: resolve ``a/b``, None when missing."""
        try:
            return self.resolve([p for p in full_name.split("/") if p])
        except NotFound:
            return None


class Item(Exported):
    """An AbstractItem: named, configured by config.xml, living in a group."""

    def __init__(self, root: Jenkins, parent: ItemGroup, name: str,
                 config_xml: str, parsed: cfg.ParsedConfig) -> None:
        self.root, self.parent, self.name = root, parent, name
        self.item_type = parsed.item_type
        self.jenkins_class = parsed.item_type.java_class
        self.config_xml = config_xml
        self.apply_config(config_xml, parsed)

    def apply_config(self, config_xml: str, parsed: cfg.ParsedConfig) -> None:
        """Take the settings of a new config.xml (type already checked)."""
        self.config_xml = config_xml
        self.description = parsed.description
        self.display_name = parsed.display_name

    @property
    def full_name(self) -> str:
        """``folder/job`` as python-jenkins' ``fullname``."""
        prefix = self.parent.group_full_name()
        return f"{prefix}/{self.name}" if prefix else self.name

    @property
    def url(self) -> str:
        """Absolute URL with trailing slash, ``.../job/a/job/b/``."""
        return f"{self.parent.group_url()}job/{quote(self.name)}/"

    @property
    def full_display_name(self) -> str:
        """Display names joined with `` » `` as Jenkins does."""
        own = self.display_name or self.name
        parent = self.parent
        if isinstance(parent, Item):
            return f"{parent.full_display_name} » {own}"
        return own

    def exported(self) -> Iterable[Prop]:
        return (Prop("actions", lambda: []),
                Prop("description", lambda: self.description),
                Prop("displayName", lambda: self.display_name or self.name),
                Prop("displayNameOrNull", lambda: self.display_name),
                Prop("fullDisplayName", lambda: self.full_display_name),
                Prop("fullName", lambda: self.full_name),
                Prop("name", lambda: self.name, 999),
                Prop("url", lambda: self.url, 999))

    def on_deleted(self) -> None:
        """Hook for subclasses: cancel queue items and the like."""


class Folder(Item, ItemGroup):
    """``com.cloudbees.hudson.plugins.folder.Folder``."""

    def __init__(self, *args, **kwargs) -> None:
        ItemGroup.__init__(self)
        Item.__init__(self, *args, **kwargs)
        self.view = View(self, "All")

    def group_url(self) -> str:
        return self.url

    def group_full_name(self) -> str:
        return self.full_name

    def exported(self) -> Iterable[Prop]:
        return (*Item.exported(self),
                Prop("healthReport", lambda: []),
                Prop("jobs", self.items),
                Prop("primaryView", lambda: self.view),
                Prop("views", lambda: [self.view]))

    def on_deleted(self) -> None:
        for child in list(self.children.values()):
            child.on_deleted()
