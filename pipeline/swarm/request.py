"""What a deploy asks of the engine: the stage turns its arguments, settings and context into
one `DeployRequest`; nothing below the stage takes the context."""
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional


@dataclass(frozen=True)
class DeployRequest:
    """Everything a deploy of service `name` needs, decided before the engine is read.

    service: the stack-file keys (the catalog's with the flags' over them); catalog_keys: the
    catalog's own keys, which say which fields it sets (None: no catalog, so nothing goes back
    to a default); catalog: the catalog's path, for the errors that name a key in it;
    source_catalog: a catalog entry (a new service gets shipway's create defaults) rather
    than a stack file's; compose_service: the stack file's service name (the network alias);
    stack: the stack it is deployed in (compose.stack, or a group's stack), which names its
    volumes and networks unless the service carries a stack's label (stack.namespace).
    image: pinned (repo:tag@sha256:...); platforms: its platforms as the registry lists them
    (None: not asked). environ: for env_file, `KEY` with no value and secret sources.
    rerun_jobs: a job service whose spec already ran to completion runs again (job_plan.py)."""

    name: str
    image: str
    service: dict
    platforms: Optional[list] = None
    catalog_keys: Optional[dict] = None
    catalog: Optional[str] = None
    source_catalog: bool = True
    compose_service: Optional[str] = None
    stack: Optional[str] = None
    definitions: dict = field(default_factory=dict)
    base_dir: str = "."
    environ: Mapping = field(default_factory=dict)
    timeout: float = 300.0
    keep_releases: int = 10
    build: object = None                  # context.BuildInfo
    # spec.PROVENANCE_LABELS keys -> values: who deployed, approved, where it was promoted from
    provenance: Mapping = field(default_factory=dict)
    registry_auth: Optional[str] = None   # the X-Registry-Auth header for the nodes
    dry_run: bool = False
    rerun_jobs: bool = False
    report: Callable = print
