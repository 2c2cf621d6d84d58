"""`shipway image`: build the service's image (BuildKit where available, else the Docker SDK's
legacy builder), tag it, label it (OCI)."""
import os
import time

from pipeline import builders, imageref, state
from pipeline.api import engine
from pipeline.console import clean
from pipeline.errors import BuildError, UsageError
from pipeline.stages import common

OVERRIDES = [("image", "image"), ("context", "context"), ("dockerfile", "dockerfile"),
             ("build_args", "build_args"), ("builder", "builder")]


def add_arguments(parser):
    common.add_service_arguments(parser)
    parser.add_argument("--image", metavar="REPO", type=common.repository,
                        help="repository to tag, e.g. registry:5000/team/app")
    parser.add_argument("--context", metavar="DIR", type=os.path.abspath, help="build context")
    parser.add_argument("--dockerfile", metavar="FILE", help="Dockerfile, relative to the context")
    parser.add_argument("--build-arg", dest="build_args", metavar="KEY=VALUE",
                        type=common.key_value, action="append", default=[])
    parser.add_argument("--tag", dest="tags", metavar="TAG", action="append", default=[],
                        help="tag (repeatable); default: short GIT_COMMIT and BUILD_NUMBER")
    parser.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    parser.add_argument("--builder", choices=builders.BUILDERS,
                        help="auto (default): BuildKit through a docker client on PATH that has "
                             "it, else the SDK's legacy builder")


def default_tags(build):
    """Tags from the Jenkins environment: short commit and build number; else `latest`."""
    tags = [t for t in (build.short_commit, build.number) if t]
    return tags or ["latest"]


def oci_labels(settings, build, version):
    """org.opencontainers.image.* labels, so `docker inspect` says where an image came from."""
    labels = {
        "org.opencontainers.image.created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "org.opencontainers.image.title": settings["name"],
        "org.opencontainers.image.version": version,
    }
    if build.commit:
        labels["org.opencontainers.image.revision"] = build.commit
    if build.source:
        labels["org.opencontainers.image.source"] = build.source
    return labels


def run(ctx, args):
    settings = common.settings(args, OVERRIDES)
    repo = common.require(settings, "image", "--image")
    tags = [imageref.check_tag(t) for t in args.tags] or default_tags(ctx.build)
    context = common.path_of(settings, "context") or common.path_of(settings, "workdir", ".")
    dockerfile = settings.get("dockerfile") or "Dockerfile"
    if not os.path.isfile(os.path.join(context, dockerfile)):
        raise UsageError(f"no Dockerfile at {os.path.join(context, dockerfile)}",
                         hint="fix 'context'/'dockerfile' in the catalog or the flags")
    version = ctx.build.number or tags[0]
    labels = oci_labels(settings, ctx.build, version)
    builder, client = builders.choose(settings.get("builder") or "auto", ctx.environ)
    ctx.console.event(f"image {settings['name']}: building {repo}:{tags[0]} from {context} "
                      f"({builder})")
    if builder == "buildkit":
        image_id = builders.buildkit_build(client, ctx.environ, context, dockerfile,
                                           [f"{repo}:{t}" for t in tags],
                                           settings.get("build_args", {}), labels, args.no_cache,
                                           ctx.console)
    else:
        api = ctx.docker().api
        image_id = build_image(api, context, dockerfile, f"{repo}:{tags[0]}",
                               settings.get("build_args", {}), labels, args.no_cache,
                               ctx.console)
        tag_image(api, image_id, repo, tags[1:])
    ctx.console.event(f"image {settings['name']}: {image_id} tagged " +
                      ", ".join(f"{repo}:{t}" for t in tags))
    state.save(ctx.state_dir(args.state_dir), settings["name"], "image",
               {"repository": repo, "tags": tags, "image_id": image_id, "builder": builder})
    ctx.console.result(image_id)
    return 0


def build_image(api, context, dockerfile, tag, build_args, labels, no_cache, console):
    """Legacy-builder build through the SDK; returns the image id. Stream errors raise."""
    image_id = None
    try:
        for chunk in engine.build(api, path=context, dockerfile=dockerfile, tag=tag,
                                  buildargs=build_args, labels=labels, rm=True, forcerm=True,
                                  nocache=no_cache):
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                raise BuildError(f"image build failed: {clean(detail).strip()}")
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            text = chunk.get("stream", "").rstrip("\n")
            if text.strip():
                for line in text.splitlines():
                    console.event("| " + line)
    except engine.Refused as exc:
        raise BuildError(f"image build failed: {exc.detail}") from None
    if not image_id:
        raise BuildError("image build ended without an image id")
    return image_id


def tag_image(api, image_id, repo, tags):
    """Add the remaining tags to the built image (an engine that refuses one: EngineError)."""
    for tag in tags:
        with engine.engine_errors(f"tagging {image_id} as {repo}:{tag}"):
            engine.tag(api, image_id, repo, tag)
