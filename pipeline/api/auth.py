"""Registry logins: the Docker config's (read with docker-py's docker.auth), X-Registry-Auth
headers and the engine's login check (pipeline/registry.py decides which credentials to use).

docker.auth is imported only when a login must come from a Docker config that exists: docker
imports requests and the rest of docker-py, which the swarm commands otherwise never load.
"""
import os

NO_LOGIN = "no-login.invalid"  # the only "registry" a Docker config without logins has
_ENGINE_KEYS = ("username", "password", "serveraddress", "identitytoken")


def use_config_dir(api, config_dir):
    """Make the client's logins those of `config_dir`/config.json (DOCKER_CONFIG).

    docker-py reads DOCKER_CONFIG from os.environ; honour the mapping we were given. A
    per-build config dir without a config.json means no login: docker-py would fall back to
    ~/.docker/config.json, the agent's shared login, which the build did not ask for. An empty
    AuthConfig is no help: docker-py reloads the files when it finds one empty
    (auth.get_config_header), so "no login" is a login for a registry that is not there.
    """
    from docker import auth

    path = os.path.join(config_dir, "config.json")
    api._auth_configs = (auth.load_config(path) if os.path.isfile(path)
                         else auth.AuthConfig({"auths": {NO_LOGIN: {}}}))


def environ_login(environ, registry):
    """The auth dict (keyed as the engine wants it; None when it holds none) that the Docker
    config docker-py's client would load for `environ` holds for `registry`:
    DOCKER_CONFIG/config.json (none there: no login, see use_config_dir), else docker-py's
    default search (DOCKER_CONFIG of the process, ~/.docker/config.json, ~/.dockercfg).
    Without any such file: None, and docker-py is not imported."""
    config_dir = environ.get("DOCKER_CONFIG")
    if config_dir:
        path = os.path.join(config_dir, "config.json")
        if not os.path.isfile(path):
            return None
        candidates = [path]
    else:
        home = os.path.expanduser("~")
        candidates = [os.path.join(home, ".docker", "config.json"),
                      os.path.join(home, ".dockercfg")]
        if os.environ.get("DOCKER_CONFIG"):
            candidates.insert(0, os.path.join(os.environ["DOCKER_CONFIG"], "config.json"))
        if not any(os.path.isfile(c) for c in candidates):
            return None
    from docker import auth

    return _engine_keys(auth.resolve_authconfig(
        auth.load_config(candidates[0] if config_dir else None), registry))


def _engine_keys(found):
    if not found:
        return None
    # docker-py names the keys as in config.json; the engine wants these.
    return {key.lower(): value for key, value in found.items() if key.lower() in _ENGINE_KEYS}


def encode_header(config):
    """X-Registry-Auth value (str) for an auth dict: base64url of its JSON, the bytes
    docker.auth.encode_header makes (no docker-py needed)."""
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(config).encode("ascii")).decode("ascii")


def login_accepted(api, username, password, registry):
    """Ask the engine to log in (POST /auth): True when the registry accepts the credentials,
    False on any refusal or failure to ask."""
    import requests
    from docker.errors import APIError

    try:
        api.login(username, password, registry=registry, reauth=True)
    except (APIError, requests.exceptions.RequestException):
        return False
    return True
