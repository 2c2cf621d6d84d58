"""The Engine calls docker-py's APIClient has no method for, made with the request-level
methods it inherits from requests.Session (`api.get`, `api.post`).

Which calls: a write of a whole raw ServiceSpec (create, update, `rollback=previous`), a
config's label update at a version, a task's logs (the swarm's log broker), and a service's
logs followed until the watching thread closes them. The URL is built from the client's
public `base_url` and `api_version` with the path arguments quoted as docker-py's own
methods quote them; an error status is raised as docker-py raises it
(`docker.errors.create_api_error_from_http_exception`), then translated (errors.py).
"""
import struct
import urllib.parse

import docker.errors
import docker.types
import requests.exceptions

from pipeline.api.errors import translated


def url(api, path, *args):
    """The versioned URL of `path` (a format) with its arguments quoted (safe="/:")."""
    quoted = path.format(*(urllib.parse.quote(arg, safe="/:") for arg in args))
    return f"{api.base_url}/v{api.api_version}{quoted}"


def _checked(response):
    """`response`, or docker-py's APIError (NotFound for 404) for an error status."""
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        response.close()
        docker.errors.create_api_error_from_http_exception(exc)   # raises
    return response


def post_json(api, path, *args, body, params=None, headers=None):
    """POST a JSON document (top-level None values left out, as docker-py sends its own);
    the JSON answer, None when the engine sent none. Raises errors.py's classes."""
    body = {key: value for key, value in body.items() if value is not None}
    with translated():
        response = _checked(api.post(url(api, path, *args), json=body, params=params,
                                     headers=headers, timeout=api.timeout))
    return response.json() if response.content.strip() else None


def frames(response):
    """The payloads of a multiplexed (non-TTY) log stream as they arrive, frame by frame
    (an 8-byte header: stream, three zero bytes, the payload's size), read from the response
    as docker-py's own log calls read it. (Engines before API 1.42 label every log stream
    raw, so the Content-Type cannot tell a TTY's; shipway's services have none.)"""
    while True:
        header = response.raw.read(8)
        if len(header) < 8:
            return
        _, size = struct.unpack(">BxxxL", header)
        if size:
            data = response.raw.read(size)
            if not data:
                return
            yield data


def get_logs(api, path, *args, params, timeout):
    """GET a log (not followed): its payload bytes. Raises errors.py's classes."""
    with translated():
        response = _checked(api.get(url(api, path, *args), params=params, stream=True,
                                    timeout=timeout))
        with response:
            return b"".join(frames(response))


def follow_logs(api, path, *args, params):
    """GET a followed log: a docker.types.CancellableStream of its payloads, whose close()
    from another thread ends the reading at once (it shuts the socket down, waking the reader
    blocked in recv). No read timeout: a quiet service sends nothing for long, where
    docker-py's default would break the stream after 60 s. Raises errors.py's classes."""
    with translated():
        response = _checked(api.get(url(api, path, *args), params=params, stream=True,
                                    timeout=None))
    return docker.types.CancellableStream(frames(response), response)
