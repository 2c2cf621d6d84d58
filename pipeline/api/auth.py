"""Registry logins: the Docker config's (read with docker-py's docker.auth), X-Registry-Auth
headers and the engine's login check (pipeline/registry.py decides which credentials to use).
"""
import json
import os
import tempfile

from docker import auth

from pipeline.api.errors import EngineCallError, call

NO_LOGIN = "no-login.invalid"  # the only "registry" a Docker config without logins has
_ENGINE_KEYS = ("username", "password", "serveraddress", "identitytoken")


def use_config_dir(api, config_dir):
    """Make the client's logins those of `config_dir`/config.json (DOCKER_CONFIG), with the
    client's public `reload_config`.

    docker-py reads DOCKER_CONFIG from os.environ; honour the mapping we were given. A
    per-build config dir without a config.json means no login: docker-py would fall back to
    ~/.docker/config.json, the agent's shared login, which the build did not ask for. It falls
    back from an empty config too (it reloads the default files when it finds no login, for a
    build, a push or a registry lookup without credentials), so "no login" is a config whose
    one login is for a registry that is not there, read from a file of its own.
    """
    path = os.path.join(config_dir, "config.json")
    if os.path.isfile(path):
        api.reload_config(path)
        return
    with tempfile.TemporaryDirectory(prefix="shipway-no-login-") as empty:
        path = os.path.join(empty, "config.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"auths": {NO_LOGIN: {}}}, handle)
        api.reload_config(path)


def environ_login(environ, registry):
    """The auth dict (keyed as the engine wants it; None when it holds none) that the Docker
    config docker-py's client would load for `environ` holds for `registry`:
    DOCKER_CONFIG/config.json (none there: no login, see use_config_dir), else docker-py's
    default search (DOCKER_CONFIG of the process, ~/.docker/config.json, ~/.dockercfg)."""
    config_dir = environ.get("DOCKER_CONFIG")
    if config_dir:
        path = os.path.join(config_dir, "config.json")
        if not os.path.isfile(path):
            return None
        return _engine_keys(auth.resolve_authconfig(auth.load_config(path), registry))
    return _engine_keys(auth.resolve_authconfig(auth.load_config(), registry))


def _engine_keys(found):
    if not found:
        return None
    # docker-py names the keys as in config.json; the engine wants these.
    return {key.lower(): value for key, value in found.items() if key.lower() in _ENGINE_KEYS}


def encode_header(config):
    """X-Registry-Auth value (str) for an auth dict (docker.auth.encode_header's bytes)."""
    return auth.encode_header(config).decode("ascii")


def login_accepted(api, username, password, registry):
    """Ask the engine to log in (POST /auth): True when the registry accepts the credentials,
    False when it refuses them or the engine cannot ask it."""
    try:
        call(api.login, username, password, registry=registry, reauth=True)
    except EngineCallError:
        return False
    return True
