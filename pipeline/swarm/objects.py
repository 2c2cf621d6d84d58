"""Swarm secrets and configs named after their content, so they rotate with releases.

Swarm objects are immutable and a service refers to them by id. So an object whose content comes
from a file or from an environment variable (for a secret, the one Jenkins credentials binding
sets) is created under a name made of its service, its name and a short hash of its content:
`<service>_<name>_<hash>`. New content is a new name, hence a new object and a service update
that points at it; the old spec, kept in a release record or in swarm's PreviousSpec, still
points at the old object, so a rollback restores the old content. The same content is the same
name, so a repeated deploy reuses what exists and changes nothing.

Flow for a deploy: `plan()` each kind (pure: reads the files and the environment, raises a
UsageError before anything is created), `ensure()` each kind (creates what is missing, returns
the references the spec needs), and after release pruning `collect_garbage()` with every spec
still kept. Objects shipway created carry the labels below; only those are ever removed.
`external` objects are looked up, never created, labelled or removed.

Sharing: two services whose definitions give one name and one content (a `name:` of the user's,
or `a_b`+`c` and `a`+`b_c`) share one object, labelled with the service that created it. The
Engine refuses to remove an object any service's current spec uses, but the other service's
release records and PreviousSpec are not seen by this service's collection.

A secret's value never leaves this module but in the Engine's create request body: it is not in
any repr, report line, exception or label. Its name does not hold a plain hash of it either: a
short unsalted sha256 of a weak password, printed in a Jenkins log, would let anyone confirm a
guess offline. Secret names use an HMAC keyed with a random key kept in the swarm itself (config
`shipway-object-key`, readable only through the manager API, which can read secrets anyway).
Config contents are not secret: their names use the plain sha256, which anyone can check with
`sha256sum`.
"""
import hashlib
import hmac
import os
import re
import secrets as random
from dataclasses import dataclass, field

from pipeline.api import engine
from pipeline.errors import EngineError, UsageError

SERVICE_LABEL = "shipway.object.service"  # on each object shipway created: which service
KIND_LABEL = "shipway.object.kind"        # secret | config
SOURCE_LABEL = "shipway.object.source"    # the name the service's definitions give it
KEY_CONFIG = "shipway-object-key"         # the config holding the key of secret names
KEY_LABEL = "shipway.object.key"
KINDS = ("secret", "config")
NAME_LIMIT = 64                           # swarm's limit on secret and config names
HASH_LENGTH = 10
TAG_LENGTH = 8                            # hash of a prefix that had to be shortened
# The Engine refuses empty objects and these sizes ("less than 512000 bytes").
SIZE_LIMIT = {"secret": 512000, "config": 1024000}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_VALID = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")  # the Engine's check


class Sealed:
    """Content kept out of every repr, str and JSON dump; `reveal()` is the one way out."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def reveal(self):
        return self._value

    def __repr__(self):
        return f"<{len(self._value)} bytes, not shown>"

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, Sealed) and hmac.compare_digest(self._value, other._value)

    __hash__ = None


@dataclass
class Wanted:
    """One secret or config a service needs, as planned: what to name it and where from."""

    kind: str                 # secret | config
    service: str
    source: str               # the name the service's secrets:/configs: entries use
    name: str                 # the swarm object's name
    origin: str               # "file PATH", "environment VAR" or "external"
    external: bool = False
    labels: dict = field(default_factory=dict)
    content: Sealed = field(default=None, repr=False, compare=False)
    templating: str = None    # a template driver (`golang`): the engine renders the content

    def summary(self):
        """JSON-ready, for a dry-run: everything but the content."""
        return {"kind": self.kind, "source": self.source, "name": self.name,
                "origin": self.origin, "external": self.external,
                **({"template_driver": self.templating} if self.templating else {})}


def content_digest(content, key=None):
    """sha256 of `content` (bytes) in hex, or HMAC-sha256 with `key` when one is given."""
    if key:
        return hmac.new(key, content, hashlib.sha256).hexdigest()
    return hashlib.sha256(content).hexdigest()


def name_from(prefix, digest):
    """`<prefix>_<digest[:10]>`, valid for swarm. A prefix with characters swarm refuses, or
    too long for 64 characters, is cleaned and cut, and a hash of the original prefix is added
    so that two prefixes never end up the same."""
    safe = _UNSAFE.sub("-", prefix).lstrip("_.-") or "x"
    room = NAME_LIMIT - 1 - HASH_LENGTH
    if safe != prefix or len(safe) > room:
        tag = hashlib.sha256(prefix.encode("utf-8", "surrogateescape")).hexdigest()[:TAG_LENGTH]
        safe = f"{safe[:room - 1 - TAG_LENGTH]}-{tag}"
    return f"{safe}_{digest[:HASH_LENGTH]}"


def object_name(service, name, content, key=None):
    """`<service>_<name>_<short hash of content>` (see name_from and content_digest)."""
    return name_from(f"{service}_{name}", content_digest(content, key))


def is_valid_name(name):
    """True when the Engine accepts `name` for a secret or config."""
    return len(name) <= NAME_LIMIT and bool(_VALID.match(name))


def plan(service, kind, definitions, used_names, base_dir, environ, key=None, labels=None):
    """The objects of `kind` that the names in `used_names` need, in that order (pure).

    `definitions`: the top-level `secrets:` or `configs:` mapping, normalised: {name: {"file":
    PATH} | {"environment": VAR} | {"external": True, "name": REAL} | {"name": REAL, "file":
    PATH}, each optionally with "labels"}. PATH is relative to `base_dir`; VAR is read from
    `environ`. With "name" and a source, REAL replaces `<service>_<name>` in the object's name.
    `key` (from naming_key()) is required for secrets; `labels` go on every object made (a
    stack's namespace label, as stack deploy labels its objects). Raises UsageError, one line
    naming the object and the fix, for an undefined name, a missing or unreadable file, an
    unset or empty variable, an object too large; nothing has been created then.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown object kind {kind!r}")
    if kind == "secret" and not key:
        raise ValueError("secret names need the naming key: pass key=naming_key(api)")
    wanted = []
    for source in dict.fromkeys(used_names):
        definition = (definitions or {}).get(source)
        if definition is None:
            raise UsageError(f"{kind} {source!r} is used by service {service} but not defined",
                             hint=f"add it under the top-level `{kind}s:` with `file:`, "
                                  "`environment:` or `external: true`")
        if not isinstance(definition, dict):
            raise UsageError(f"{kind} {source!r}: the definition must be a map",
                             hint="give `file:`, `environment:` or `external: true`")
        item = _plan_one(service, kind, source, definition, base_dir, environ, key)
        if not item.external:
            item.labels.update(labels or {})
        wanted.append(item)
    return wanted


def _plan_one(service, kind, source, definition, base_dir, environ, key):
    what = f"{kind} {source!r}"
    labels = _labels(what, definition.get("labels"))
    sources = [k for k in ("file", "environment") if definition.get(k) not in (None, "")]
    external = definition.get("external")
    if isinstance(external, dict):  # the compose 3.0-3.4 form, `external: {name: REAL}`
        definition = {**definition, "name": external.get("name") or definition.get("name")}
    if external:
        if sources:
            raise UsageError(f"{what} is external and has `{sources[0]}:` too",
                             hint="an external object exists already: drop one of the two")
        real = definition.get("name") or source
        return Wanted(kind, service, source, real, "external", external=True)
    if len(sources) != 1:
        raise UsageError(f"{what} needs exactly one source, has "
                         f"{' and '.join(sources) or 'none'}",
                         hint="give `file:`, `environment:` or `external: true`")
    if sources == ["file"]:
        path = str(definition["file"])
        content = _read_file(what, path, base_dir)
        origin = f"file {path}"
    else:
        var = str(definition["environment"])
        value = environ.get(var)
        if value is None:
            raise UsageError(f"{what}: environment variable {var} is not set",
                             hint=f"bind the Jenkins credential to {var} (withCredentials) "
                                  "or export it")
        content = value.encode("utf-8", "surrogateescape")
        origin = f"environment {var}"
    if not content:
        raise UsageError(f"{what}: {origin} is empty", hint=f"swarm refuses an empty {kind}")
    if len(content) >= SIZE_LIMIT[kind]:
        raise UsageError(f"{what}: {origin} holds {len(content)} bytes",
                         hint=f"swarm takes a {kind} of less than {SIZE_LIMIT[kind]} bytes")
    templating = definition.get("template_driver") or None
    # A template is another object than the same text taken as it is: another name.
    named = content + b"\0template_driver=" + templating.encode() if templating else content
    digest = content_digest(named, key if kind == "secret" else None)
    prefix = definition.get("name") or f"{service}_{source}"
    labels.update({SERVICE_LABEL: service, KIND_LABEL: kind, SOURCE_LABEL: source})
    return Wanted(kind, service, source, name_from(prefix, digest), origin,
                  labels=labels, content=Sealed(content), templating=templating)


def _labels(what, labels):
    if not labels:
        return {}
    if isinstance(labels, (list, tuple)):
        labels = dict(str(item).partition("=")[::2] for item in labels)
    if not isinstance(labels, dict):
        raise UsageError(f"{what}: `labels` must be a map or a list of key=value")
    bad = sorted(k for k in labels if str(k).startswith("shipway.object."))
    if bad:
        raise UsageError(f"{what}: label {bad[0]} is shipway's own",
                         hint="use another label name")
    return {str(k): str(v) for k, v in labels.items()}


def _read_file(what, path, base_dir):
    full = os.path.join(base_dir, path)
    try:
        with open(full, "rb") as handle:
            return handle.read(max(SIZE_LIMIT.values()) + 1)
    except FileNotFoundError:
        raise UsageError(f"{what}: file {path} not found (in {base_dir})",
                         hint="create it or fix `file:` (relative to the catalog)") from None
    except IsADirectoryError:
        raise UsageError(f"{what}: {path} is a directory", hint="`file:` names a file") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path}: {exc.strerror}",
                         hint="check the file's permissions") from None


def naming_key(api, report=None, create=True):
    """The swarm's key for secret names, created (random, 32 bytes) the first time; with
    create=False (a dry run) None when there is none yet: then every secret is a new one.

    Removing the key config is harmless: the next deploy makes another, gives the same secrets
    new names (a rolling update of each service that uses them), and the old ones are
    collected with the releases that name them.
    """
    found = engine.find_object(api, "config", KEY_CONFIG)
    if found is None and not create:
        return None
    if found is None:
        made = engine.create_object(api, "config", KEY_CONFIG, random.token_hex(32).encode(),
                                    {KEY_LABEL: "1"})
        if made and report:
            report(f"created config {KEY_CONFIG} (the key of secret names)")
        found = engine.find_object(api, "config", KEY_CONFIG)
        if found is None:
            raise EngineError(f"cannot create config {KEY_CONFIG}: it vanished after creation")
    key = engine.config_data(api, found["ID"])
    if not key:
        raise EngineError(f"config {KEY_CONFIG} is empty",
                          hint=f"remove it (`docker config rm {KEY_CONFIG}`): the next deploy "
                               "makes a new one (and new names for the same secrets)")
    return key


def ensure(api, wanted, report):
    """Make every object in `wanted` (one kind, as plan() returned it) exist; returns the
    references a spec needs, {source: {"Name": name, "ID": id}}.

    External objects are looked up first, so a missing one stops the deploy before anything is
    created. An object of the same name exists already when its content is the same: it is
    reused (a config's content is checked; a secret's cannot be read back).
    """
    if len({item.kind for item in wanted}) > 1:
        raise ValueError("ensure() takes the objects of one kind (one plan() result)")
    report = report or (lambda line: None)
    refs = {}
    for item in wanted:
        if item.external:
            found = engine.find_object(api, item.kind, item.name)
            if found is None:
                raise UsageError(f"external {item.kind} {item.name!r} (for {item.source!r}) "
                                 "does not exist",
                                 hint=f"create it (`docker {item.kind} create {item.name} "
                                      "FILE`) or define it with `file:`")
            refs[item.source] = {"Name": item.name, "ID": found["ID"]}
    for item in wanted:
        if not item.external:
            refs[item.source] = {"Name": item.name, "ID": _ensure_one(api, item, report)}
    return refs


def _ensure_one(api, item, report):
    found = engine.find_object(api, item.kind, item.name)
    if found is None:
        object_id = engine.create_object(api, item.kind, item.name, item.content.reveal(),
                                         item.labels, templating=item.templating)
        if object_id:
            report(f"created {item.kind} {item.name} for {item.source!r} from {item.origin}")
            return object_id
        found = engine.find_object(api, item.kind, item.name)  # a concurrent run created it
        if found is None:
            raise EngineError(f"cannot create {item.kind} {item.name}: the engine says it "
                              "exists but does not list it")
    if item.kind == "config" and engine.config_data(api, found["ID"]) != item.content.reveal():
        raise EngineError(f"config {item.name} exists with other content",
                          hint=f"remove it (`docker config rm {item.name}`) and deploy again")
    report(f"{item.kind} {item.name} for {item.source!r} exists: reused")
    return found["ID"]


def references(kind, specs):
    """The ids and names of the `kind` objects the service specs refer to."""
    refs = set()
    for spec in specs:
        container = ((spec or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        for entry in container.get("Secrets" if kind == "secret" else "Configs") or []:
            refs.update(entry.get(f"{kind.capitalize()}{what}") for what in ("ID", "Name"))
        if kind == "config":  # a Windows credential spec may name a config too
            credential = (container.get("Privileges") or {}).get("CredentialSpec") or {}
            refs.add(credential.get("Config"))
    refs.discard(None)
    refs.discard("")
    return refs


def unreferenced(kind, objects, service, specs):
    """The objects (as the Engine lists them) that shipway made for `service` and that no spec
    in `specs` refers to, by id or name (pure). Unlabelled objects are never among them."""
    used = references(kind, specs)
    found = []
    for obj in objects:
        labels = obj.get("Spec", {}).get("Labels") or {}
        if labels.get(SERVICE_LABEL) != service or labels.get(KIND_LABEL) != kind:
            continue
        if obj["ID"] in used or obj["Spec"]["Name"] in used:
            continue
        found.append(obj)
    return sorted(found, key=lambda obj: obj["Spec"]["Name"])


def collect_garbage(api, service, specs, report, dry_run=False):
    """Remove the secrets and configs shipway made for `service` that no spec in `specs`
    refers to; returns [(kind, name)] removed (or, with dry_run, that would be).

    `specs`: every spec that may run again, the kept releases', the running one and swarm's
    PreviousSpec (the Engine refuses to remove an object the current spec of any service uses,
    but not one only a PreviousSpec or a release record names). An object still in use (by
    another service) is skipped without a word: the next collection takes it.
    """
    removed = []
    for kind in KINDS:
        listed = engine.list_objects(api, kind, {SERVICE_LABEL: service, KIND_LABEL: kind})
        for obj in unreferenced(kind, listed, service, specs):
            name = obj["Spec"]["Name"]
            if not dry_run:
                if engine.remove_object(api, kind, obj["ID"]) != "removed":
                    continue
                if report:
                    report(f"removed {kind} {name}: no kept release uses it")
            removed.append((kind, name))
    return removed


def remove_all(api, service, report=None, dry_run=False):
    """For `shipway remove`, after the service is gone: remove every secret and config shipway
    made for it that no other service uses; returns [(kind, name)]."""
    return collect_garbage(api, service, [], report, dry_run=dry_run)
