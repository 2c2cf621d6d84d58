"""The docker-py APIClient methods the swarm commands call, on the generic calls of
pipeline/api/http.py's Client: same names, same arguments, same requests, same documents
(docker/api/service.py, swarm.py, config.py, secret.py, container.py, image.py, network.py).
"""
import base64
import json


def convert_filters(filters):
    """Filters as docker-py's utils.convert_filters encodes them: JSON of lists of strings."""
    result = {}
    for key, value in filters.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, list):
            value = [value]
        result[key] = [item if isinstance(item, str) else str(item) for item in value]
    return json.dumps(result)


def _filters(filters):
    return {"filters": convert_filters(filters)} if filters else {}


def _encoded(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode("utf-8")
                            ).decode("ascii")


class EngineCalls:
    """Mixin: needs get, get_bytes, post_json, post, delete (see http.Client)."""

    # services and tasks
    def inspect_service(self, service, insert_defaults=None):
        params = {} if insert_defaults is None else {"insertDefaults": insert_defaults}
        return self.get("/services/{0}", service, params=params)

    def remove_service(self, service):
        self.delete("/services/{0}", service)
        return True

    def tasks(self, filters=None):
        return self.get("/tasks", params=_filters(filters))

    def inspect_task(self, task):
        return self.get("/tasks/{0}", task)

    # nodes and networks
    def nodes(self, filters=None):
        return self.get("/nodes", params=_filters(filters))

    def inspect_node(self, node_id):
        return self.get("/nodes/{0}", node_id)

    def inspect_network(self, net_id, verbose=None, scope=None):
        return self.get("/networks/{0}", net_id, params={"verbose": verbose, "scope": scope})

    # configs and secrets (twins in the Engine and in docker-py)
    def configs(self, filters=None):
        return self.get("/configs", params=_filters(filters))

    def inspect_config(self, id):  # noqa: A002 (docker-py's argument name)
        return self.get("/configs/{0}", id)

    def create_config(self, name, data, labels=None, templating=None):
        return self.post_json("/configs/create", data={
            "Data": _encoded(data), "Name": name, "Labels": labels, "Templating": templating})

    def remove_config(self, id):  # noqa: A002
        self.delete("/configs/{0}", id)
        return True

    def secrets(self, filters=None):
        return self.get("/secrets", params=_filters(filters))

    def inspect_secret(self, id):  # noqa: A002
        return self.get("/secrets/{0}", id)

    def create_secret(self, name, data, labels=None, driver=None):
        body = {"Data": _encoded(data), "Name": name, "Labels": labels}
        if driver is not None:
            body["Driver"] = driver
        return self.post_json("/secrets/create", data=body)

    def remove_secret(self, id):  # noqa: A002
        self.delete("/secrets/{0}", id)
        return True

    # containers (forensics, waits on old containers)
    def inspect_container(self, container):
        return self.get("/containers/{0}/json", container)

    def logs(self, container, stdout=True, stderr=True, timestamps=False, tail="all"):
        """The container's log, not streamed: frames demultiplexed unless it is a TTY
        container's raw stream (the Content-Type says so; docker-py inspects the container)."""
        if tail != "all" and (not isinstance(tail, int) or tail < 0):
            tail = "all"
        params = {"stderr": stderr and 1 or 0, "stdout": stdout and 1 or 0,
                  "timestamps": timestamps and 1 or 0, "follow": 0, "tail": tail}
        _, body, content_type = self.request("GET", "/containers/{0}/logs", (container,),
                                             params)
        return body if "raw-stream" in content_type else demux(body)

    def wait(self, container, timeout=None, condition=None):
        params = {} if condition is None else {"condition": condition}
        return self.post("/containers/{0}/wait", container, params=params, timeout=timeout)

    # registry
    def inspect_distribution(self, image, auth_config=None):
        """GET /distribution/{image}/json; `auth_config` goes in X-Registry-Auth. Without
        one no header is sent: shipway resolves the Docker config's login itself
        (pipeline/registry.py), where docker-py would read it again."""
        from pipeline.api.auth import encode_header

        headers = {"X-Registry-Auth": encode_header(auth_config)} if auth_config else {}
        return self.get("/distribution/{0}/json", image, headers=headers)

    def version(self, api_version=True):
        return self.get("/version", versioned=api_version)

    def info(self):
        return self.get("/info")


def demux(data):
    """The payload of a multiplexed (non-TTY) log: 8-byte frame headers removed; `data`
    itself when it does not start as a multiplexed stream."""
    out, at = bytearray(), 0
    while at + 8 <= len(data) and data[at] in (0, 1, 2):
        size = int.from_bytes(data[at + 4:at + 8], "big")
        out += data[at + 8:at + 8 + size]
        at += 8 + size
    return bytes(out) if at else data
