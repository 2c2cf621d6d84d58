"""Registry credentials: from the environment (Jenkins credentials binding) or the Docker config.

Credentials never touch argv or disk: they go to the engine in the X-Registry-Auth header,
which is how `docker push` and `--with-registry-auth` pass them too.
"""
from pipeline import imageref
from pipeline.api import engine


def auth_config(ctx, repository):
    """The auth dict for the registry of `repository`, or None for anonymous access."""
    registry = imageref.registry_of(repository)
    creds = ctx.registry_credentials()
    if creds:
        user, password = creds
        return {"username": user, "password": password, "serveraddress": registry}
    from docker import auth

    found = auth.resolve_authconfig(engine.auth_configs(ctx.docker().api), registry)
    if not found:
        return None
    # docker-py names the keys as in config.json; the engine wants these.
    return {key.lower(): value for key, value in found.items()
            if key.lower() in ("username", "password", "serveraddress", "identitytoken")}


def auth_header(config):
    """X-Registry-Auth value for an auth dict (None stays None)."""
    if not config:
        return None
    from docker import auth

    return auth.encode_header(config).decode("ascii")
