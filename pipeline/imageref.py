"""Image references: validation and splitting, after distribution's reference grammar."""
import re

from pipeline.errors import UsageError

# distribution/reference: domain (optional), path components, tag, digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REPO = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
_REFERENCE = re.compile(rf"^(?P<repo>{_REPO})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_TAG_ONLY = re.compile(rf"^{_TAG}$")


def split(reference):
    """(repository, tag or None, digest or None); ValueError when it is not a reference."""
    match = _REFERENCE.match(reference or "")
    if not match or len(reference) > 255:
        raise ValueError(f"not a valid image reference: {reference!r}")
    repo = match.group("repo")
    first = repo.split("/", 1)[0]
    if "/" in repo and registry_of(repo) == "docker.io" and not re.match(f"^{_COMPONENT}$", first):
        # Not a registry host (no '.', ':' or localhost), so a path component: lower case only.
        raise ValueError(f"not a valid image reference: {reference!r} "
                         "(repository names are lower case)")
    return repo, match.group("tag"), match.group("digest")


def check_repository(value):
    """A repository with no tag or digest (what the catalog's `image` holds)."""
    repo, tag, digest = split(value)
    if tag or digest:
        raise ValueError(f"{value!r} must be a repository without tag or digest, e.g. {repo}")
    return repo


def check_tag(value):
    """A tag as Docker accepts it."""
    if not _TAG_ONLY.match(value or ""):
        raise UsageError(f"not a valid image tag: {value!r}",
                         hint="tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -")
    return value


def registry_of(repository):
    """The registry host a repository lives on (docker.io when it names none)."""
    first, sep, _ = repository.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def pinned(repository, tag, digest):
    """`repo:tag@sha256:...` as the docker CLI pins service images."""
    name = f"{repository}:{tag}" if tag else repository
    return f"{name}@{digest}"


def on_registry(repository, registry):
    """`repository` moved to `registry` (its path kept): where an environment whose nodes
    pull from their own registry finds the same image. `registry` None: unchanged."""
    if not registry:
        return repository
    first, sep, rest = repository.partition("/")
    path = rest if sep and registry_of(repository) == first else repository
    return f"{registry}/{path}"


def check_registry(value):
    """A registry host as image references name it: `host[:port]`."""
    if not isinstance(value, str) or not re.fullmatch(_DOMAIN, value) \
            or registry_of(f"{value}/x") != value:
        raise ValueError(f"{value!r} is not a registry host (e.g. registry.example:5000)")
    return value
