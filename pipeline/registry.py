"""Registry credentials: from the environment (Jenkins credentials binding) or the Docker config.

Credentials never touch argv or disk: they go to the engine in the X-Registry-Auth header,
which is how `docker push` and `--with-registry-auth` pass them too.
"""
from pipeline import imageref
from pipeline.api import auth as api_auth


def auth_config(ctx, repository):
    """The auth dict for the registry of `repository`, or None for anonymous access."""
    registry = imageref.registry_of(repository)
    creds = ctx.registry_credentials()
    if creds:
        user, password = creds
        return {"username": user, "password": password, "serveraddress": registry}
    # The login the Docker config holds for that registry, as docker-py's client loads it.
    return api_auth.environ_login(ctx.environ, registry)


def auth_header(config):
    """X-Registry-Auth value for an auth dict (None stays None)."""
    if not config:
        return None
    return api_auth.encode_header(config)
