"""The exits of a service's containers on this engine, as the engine announces them.

When swarm stops an old task, the container's process exits and the engine emits the
container's `die` event at once; only after that does the engine release the container's
network and mounts and mark it stopped (0.1-0.15 s later here), which is when
`POST /containers/{id}/wait?condition=not-running` returns, and the agent reports the task
`shutdown` later still. So while a deploy or rollback waits for the old tasks to be gone, one
connection follows GET /events (type container, event die, the service's label, since the
watch started, so an exit before the stream opened is replayed too) and tells the watcher
each exit the moment the engine has it. Events are per engine: containers on other nodes are
judged by their tasks (see `node_id`).
"""
import threading

SERVICE_LABEL = "com.docker.swarm.service.id"
SINCE_SLACK = 5          # seconds before the watch started that events are replayed from


class ContainerExits:
    """Follows the `die` events of one service's containers in a daemon thread and calls
    `on_exit(container_id)` for each.

    Best effort: if the stream cannot be opened or breaks, `alive` turns False and the
    watcher falls back to the task states swarm reports (as it would for another node)."""

    def __init__(self, api, service_id, since, on_exit):
        self.api, self.service_id, self.on_exit = api, service_id, on_exit
        self.since = int(since) - SINCE_SLACK
        self.node_id = None          # this engine's swarm node id, once the thread knows it
        self.alive = True
        self._stream = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="shipway-container-exits")

    def start(self):
        """Open the stream in the background; returns self."""
        self._thread.start()
        return self

    def close(self):
        """Stop following: the stream's close shuts its connection down, which wakes the
        reading thread at once."""
        self._closed = True
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass   # already closed by the other side

    def _run(self):
        # Any failure ends the follow quietly, including the read error that close() causes
        # from the other thread: this thread only ever speeds a wait up, it never fails one.
        try:
            self.node_id = (self.api.info().get("Swarm") or {}).get("NodeID") or None
            self._stream = self.api.events(
                since=self.since, decode=True,
                filters={"type": "container", "event": "die",
                         "label": f"{SERVICE_LABEL}={self.service_id}"})
            if self._closed:
                self._stream.close()
                return
            for event in self._stream:
                container = event.get("id") or (event.get("Actor") or {}).get("ID")
                if container and event.get("Action", event.get("status")) == "die":
                    self.on_exit(container)
        except Exception:
            pass
        finally:
            self.alive = False
