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


# A job: prints LINES lines (`line 1`, ...), then the md5 of SECRET_FILE if set, sleeps SLEEP
# seconds if set, and exits EXIT_CODE (all from its environment). busybox is called by name:
# the image has no applet links.
JOB_SCRIPT = b"""i=1
while [ "$i" -le "${LINES:-3}" ]; do echo "line $i"; i=$((i + 1)); done
if [ -n "$SECRET_FILE" ]; then
    echo "secret md5 $(/bin/busybox md5sum < "$SECRET_FILE" | /bin/busybox cut -d ' ' -f 1)"
fi
if [ -n "$SLEEP" ]; then /bin/busybox sleep "$SLEEP"; fi
exit "${EXIT_CODE:-0}"
"""


def build_job(client, tag, variant="1"):
    """Build the job image as `tag` (`variant` goes into a label: another variant is another
    digest of the same job)."""
    dockerfile = (b"FROM scratch\nCOPY busybox /bin/busybox\nCOPY job.sh /job.sh\n"
                  b"LABEL shipway.test.variant=" + variant.encode() + b"\n"
                  b'CMD ["/bin/busybox", "sh", "/job.sh"]\n')
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add("/bin/busybox", "busybox")
        for name, data in (("Dockerfile", dockerfile), ("job.sh", JOB_SCRIPT)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return tag
