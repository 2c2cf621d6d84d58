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
from pipeline.api import engine
from pipeline.api.follow import Follower

SERVICE_LABEL = "com.docker.swarm.service.id"


class ContainerExits(Follower):
    """Follows the `die` events of one service's containers and calls `on_exit(container_id)`
    for each (see Follower).

    Best effort: if the stream cannot be opened or breaks, `alive` turns False and the
    watcher falls back to the task states swarm reports (as it would for another node)."""

    name = "shipway-container-exits"

    def __init__(self, api, service_id, since, on_exit):
        super().__init__(api, service_id, since)
        self.on_exit = on_exit
        self.node_id = None          # this engine's swarm node id, once the thread knows it
        self.alive = True

    def prepare(self):
        self.node_id = ((engine.info(self.api) or {}).get("Swarm") or {}).get("NodeID") or None

    def open(self):
        return engine.follow_events(self.api, self.since, {
            "type": "container", "event": "die",
            "label": f"{SERVICE_LABEL}={self.service_id}"})

    def read(self, stream):
        for event in stream:
            container = event.get("id") or (event.get("Actor") or {}).get("ID")
            if container and event.get("Action", event.get("status")) == "die":
                self.on_exit(container)

    def ended(self):
        self.alive = False
