"""docker-py's APIClient in the shape of pipeline/api/http.py's Client, so that engine.py and
logs.py have one code path: the public docker-py methods are docker-py's own (delegated); the
generic calls (get, get_bytes, post_json, post, delete, stream) are made of its private
helpers, here and nowhere else. Used for the hosts the stdlib client does not speak (ssh://),
and for a bare APIClient handed to engine functions (tests, tools)."""
import socket

from pipeline.api.http import DEFAULT


class SDKEngine:
    """An adapted docker-py APIClient (`.sdk`)."""

    def __init__(self, sdk):
        self.sdk = sdk

    def __getattr__(self, name):
        return getattr(self.sdk, name)   # inspect_service, tasks, create_config, ...

    def _kwargs(self, params, headers, timeout):
        kwargs = {"params": params or {}, "headers": headers or {}}
        if timeout is not DEFAULT:
            kwargs["timeout"] = timeout
        return kwargs

    def get(self, path, *args, params=None, headers=None, timeout=DEFAULT, versioned=True):
        url = self.sdk._url(path, *args, versioned_api=versioned)
        return self.sdk._result(self.sdk._get(url, **self._kwargs(params, headers, timeout)),
                                True)

    def get_bytes(self, path, *args, params=None, timeout=DEFAULT):
        response = self.sdk._get(self.sdk._url(path, *args),
                                 **self._kwargs(params, None, timeout))
        return self.sdk._result(response, binary=True)

    def post_json(self, path, *args, data=None, params=None, headers=None, timeout=DEFAULT):
        response = self.sdk._post_json(self.sdk._url(path, *args), data=data,
                                       **self._kwargs(params, headers, timeout))
        self.sdk._raise_for_status(response)
        return response.json() if response.content.strip() else None

    def post(self, path, *args, params=None, timeout=DEFAULT):
        response = self.sdk._post(self.sdk._url(path, *args),
                                  **self._kwargs(params, None, timeout))
        self.sdk._raise_for_status(response)
        return response.json() if response.content.strip() else None

    def delete(self, path, *args, params=None):
        self.sdk._raise_for_status(self.sdk._delete(self.sdk._url(path, *args),
                                                    params=params or {}))

    def stream(self, path, *args, params=None):
        response = self.sdk._get(self.sdk._url(path, *args), params=params or {},
                                 stream=True, timeout=None)
        try:
            self.sdk._raise_for_status(response)
        except BaseException:
            response.close()
            raise
        return _SDKStream(self.sdk, response)


class _SDKStream:
    """http.Stream's interface on a streamed requests response."""

    def __init__(self, sdk, response):
        self._sdk, self._response = sdk, response
        raw = sdk._get_raw_response_socket(response)
        self._socket = getattr(raw, "_sock", raw)   # a unix socket's SocketIO wraps it
        self.content_type = response.headers.get("Content-Type", "")

    def frames(self):
        return self._sdk._multiplexed_response_stream_helper(self._response)

    def lines(self):
        pending = b""
        for chunk in self._sdk._stream_helper(self._response, decode=False):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from (line + b"\n" for line in complete)
        if pending:
            yield pending

    def shutdown(self):
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        self._response.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def adapted(api):
    """`api` with the generic calls: itself when it has them, else docker-py's APIClient
    (or a stand-in for one) adapted."""
    return api if hasattr(api, "post_json") else SDKEngine(api)
