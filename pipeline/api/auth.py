"""Registry logins as docker-py holds them: the client's Docker config, X-Registry-Auth headers
and the engine's login check (pipeline/registry.py decides which credentials to use)."""
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


def auth_configs(api):
    """The registry logins the client loaded (its Docker config)."""
    return api._auth_configs


def config_login(api, registry):
    """The auth dict the client's Docker config holds for `registry`, keyed as the engine
    wants it; None when it holds none."""
    from docker import auth

    found = auth.resolve_authconfig(auth_configs(api), registry)
    if not found:
        return None
    # docker-py names the keys as in config.json; the engine wants these.
    return {key.lower(): value for key, value in found.items() if key.lower() in _ENGINE_KEYS}


def encode_header(config):
    """X-Registry-Auth value (str) for an auth dict."""
    from docker import auth

    return auth.encode_header(config).decode("ascii")


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
