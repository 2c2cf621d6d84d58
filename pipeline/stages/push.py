"""`shipway push`: push every tag of this build, retrying transient registry failures."""
import re

import tenacity

from pipeline import imageref, registry, state
from pipeline.api import auth as api_auth
from pipeline.api import engine
from pipeline.console import clean
from pipeline.errors import RegistryError
from pipeline.stages import common
from pipeline.stages.image import default_tags

OVERRIDES = [("image", "image")]
# Failures worth another attempt: the registry or the path to it hiccuped.
TRANSIENT = re.compile(r"\b50[0-4]\b|connection reset|connection refused|EOF|i/o timeout|"
                       r"timeout|TLS handshake|broken pipe|temporarily unavailable|"
                       r"Service Unavailable|Bad Gateway|toomanyrequests|429", re.I)
_DIGEST = re.compile(r"digest: (sha256:[a-f0-9]{64})")


def add_arguments(parser):
    common.add_service_arguments(parser)
    parser.add_argument("--image", metavar="REPO", type=common.repository,
                        help="repository to push (default: the catalog's image)")
    parser.add_argument("--tag", dest="tags", metavar="TAG", action="append", default=[],
                        help="tag to push (repeatable); default: every tag `shipway image` made")
    parser.add_argument("--attempts", type=common.count(1), default=4, metavar="N",
                        help="attempts per tag on transient failures (default 4)")
    parser.add_argument("--backoff", type=common.duration, default=1.0, metavar="DURATION",
                        help="first wait between attempts, doubled each time (default 1s)")


class TransientPushError(RegistryError):
    """A push failure that another attempt may get through."""


class PushAuthError(RegistryError):
    """The registry answered "unauthorized". Transient only if the credentials are good:
    after a failed /v2/ ping (a 503, say) the engine pushes without credentials."""


def credentials_accepted(api, auth):
    """Ask the engine to log in with `auth` (POST /auth): True when the registry accepts it."""
    if not auth or "password" not in auth:
        return False
    return api_auth.login_accepted(api, auth["username"], auth["password"],
                                   auth["serveraddress"])


def run(ctx, args):
    settings = common.settings(args, OVERRIDES)
    repo = common.require(settings, "image", "--image")
    state_dir = ctx.state_dir(args.state_dir)
    built = state.load(state_dir, settings["name"], "image",
                       shape={"repository": str, "tags": list})
    if args.tags:
        tags = [imageref.check_tag(t) for t in args.tags]
    elif built and built.get("repository") == repo:
        tags = built["tags"]
    else:
        tags = default_tags(ctx.build)
    auth = registry.auth_config(ctx, repo)
    api = ctx.docker().api
    digest = None
    for tag in tags:
        digest = push_with_retries(api, repo, tag, auth, ctx.console, args.attempts, args.backoff)
        ctx.console.event(f"push {settings['name']}: {repo}:{tag} -> {digest}")
    reference = f"{repo}@{digest}"
    state.save(state_dir, settings["name"], "push",
               {"repository": repo, "tags": tags, "digest": digest,
                "reference": imageref.pinned(repo, tags[0], digest)})
    ctx.console.result(reference)
    return 0


def push_with_retries(api, repo, tag, auth, console, attempts, backoff):
    """push_once, retried with exponential backoff on transient failures (each one logged)."""
    def log_retry(retry_state):
        exc = retry_state.outcome.exception()
        wait = retry_state.next_action.sleep
        console.event(f"push {repo}:{tag}: attempt {retry_state.attempt_number} failed "
                      f"({exc.message}); retrying in {wait:.1f}s")

    def worth_retrying(exc):
        if isinstance(exc, PushAuthError):
            return credentials_accepted(api, auth)
        return isinstance(exc, TransientPushError)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(worth_retrying),
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=backoff, max=30),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        return retrying(push_once, api, repo, tag, auth)
    except PushAuthError as exc:
        raise RegistryError(f"{exc.message} (for {repo}:{tag})",
                            hint="check SHIPWAY_REGISTRY_USER/PASSWORD or the Docker config "
                                 "login for this registry") from None
    except TransientPushError as exc:
        raise RegistryError(f"push of {repo}:{tag} failed after {attempts} attempts: "
                            f"{exc.message}", hint="check that the registry is up") from None


def push_once(api, repo, tag, auth):
    """One push; returns the manifest digest. The SDK does not raise on `errorDetail`: we do."""
    digest = None
    try:
        for chunk in engine.push(api, repo, tag, auth):
            if "errorDetail" in chunk or "error" in chunk:
                message = clean(chunk.get("errorDetail", {}).get("message")
                                or chunk.get("error", "")).strip()
                raise _classify(f"push failed: {message}", message)
            aux = chunk.get("aux") or {}
            if aux.get("Digest"):
                digest = aux["Digest"]
            match = _DIGEST.search(chunk.get("status", ""))
            if match and not digest:
                digest = match.group(1)
    except engine.Refused as exc:
        message = exc.detail
        if "No such image" in message or "does not exist" in message:
            raise RegistryError(f"no local image {repo}:{tag} to push",
                                hint="run `shipway image` first or pass the right --tag") from None
        raise _classify(f"push failed: {message}", message) from None
    except engine.Unreachable as exc:
        raise TransientPushError(f"lost the Docker Engine connection: {exc.text}") from None
    if not digest:
        raise TransientPushError("the push ended without a digest")
    return digest


def _classify(text, message):
    lowered = message.lower()
    if "unauthorized" in lowered or "authentication required" in lowered \
            or "no basic auth credentials" in lowered:
        return PushAuthError(text)
    if TRANSIENT.search(message):
        return TransientPushError(text)
    return RegistryError(text, hint="check the registry address and credentials")
