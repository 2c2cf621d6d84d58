"""A FROM-scratch image holding busybox that sleeps: a service to mount things into, built
locally from Debian's busybox-static (no image can be pulled here)."""
import io
import tarfile

DOCKERFILE = b'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "sleep", "600"]\n'


def build_sleeper(client, tag):
    """Build the image as `tag` with the docker-py `client`; its /bin/busybox runs commands
    (`exec_run(["/bin/busybox", "sha256sum", PATH])`)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add("/bin/busybox", "busybox")
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(DOCKERFILE)
        tar.addfile(info, io.BytesIO(DOCKERFILE))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return tag
