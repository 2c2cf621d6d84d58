"""Per-request context handed to route handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .jobs import Build
from .model import Item, ItemGroup, Jenkins
from .plugins import PluginManager
from .queue import Queue, QueueItem
from .security import Security
from .web import Request


@dataclass
class App:
    """The double's shared state, as seen by handlers (use under ``root.lock``)."""

    root: Jenkins
    queue: Queue
    security: Security
    plugins: PluginManager
    version: str
    quiet_period: float


@dataclass
class Ctx:
    """A request plus the objects its URL resolved to.

    The dispatcher fills ``item``/``group``/``build``/``queue_item`` from the
    route's named groups (404 when they do not exist) before checking the
    route's permission, so handlers never see a missing object.
    """

    app: App
    req: Request
    item: Optional[Item] = None
    group: Optional[ItemGroup] = None
    build: Optional[Build] = None
    queue_item: Optional[QueueItem] = None
    view: Optional[str] = None
