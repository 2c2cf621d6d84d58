"""One root exception; typed errors carry their context and their exit code.

Only `pipeline.cli.main` prints an error and exits: library code raises.
"""

EXIT_FAILED = 1   # the stage ran and failed
EXIT_USAGE = 2    # bad input or usage: nothing was changed
EXIT_PAUSED = 3   # analysis was inconclusive and paused the update: a person decides


class ShipwayError(Exception):
    """Root of every error shipway raises on purpose.

    `message` is one line naming the problem; `hint` (optional) says what to do about it.
    """

    exit_code = EXIT_FAILED
    label = "error"   # how main() begins its line

    def __init__(self, message, *, hint=None, **context):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def __str__(self):
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(ShipwayError):
    """Bad command-line input or a missing setting: exit 2, nothing changed."""

    exit_code = EXIT_USAGE


class CatalogError(UsageError):
    """The service catalog is unreadable or invalid; names the file, the service and the key."""

    def __init__(self, message, *, path, service=None, key=None, hint=None):
        # A stack file's own text (a key with a line break in it) may reach the message:
        # the error is still one line.
        message = message.replace("\r", "\\r").replace("\n", "\\n")
        where = [str(path)]
        if service is not None:
            where.append(f"service {service!r}")
        if key is not None:
            where.append(f"key {key!r}")
        super().__init__(f"{': '.join(where)}: {message}", hint=hint,
                         path=path, service=service, key=key)


class EngineError(ShipwayError):
    """The Docker Engine could not be reached or refused a request."""


class RegistryError(ShipwayError):
    """The registry refused or failed a push or a digest lookup."""


class BuildError(ShipwayError):
    """A source build or an image build failed."""

    def __init__(self, message, *, returncode=None, hint=None):
        super().__init__(message, hint=hint, returncode=returncode)
        self.returncode = returncode
        if returncode and 0 < returncode < 126:
            # `shipway build` exits with the build command's own status, as `sh` would.
            self.exit_code = returncode


class DeployError(ShipwayError):
    """A deploy or rollback did not end with the desired spec running healthy."""

    def __init__(self, message, *, service=None, running_image=None, task_error=None, hint=None):
        if hint is None and service:
            # What to do next is the same for every failed rollout: look, then decide.
            hint = (f"see `shipway status --service {service}` for what runs now, and any "
                    "`forensics:` lines above for what failed tasks printed")
        super().__init__(message, hint=hint, service=service,
                         running_image=running_image, task_error=task_error)
        self.service = service
        self.running_image = running_image
        self.task_error = task_error


class NothingToRollBack(ShipwayError):
    """The service has no earlier spec or release to return to; nothing was changed."""

    def __init__(self, message, *, hint=None, **context):
        # Every error carries a hint (README); this one's is the same wherever it is raised.
        super().__init__(message, hint=hint or "see `shipway releases` for what is "
                         "recorded; `shipway deploy --image REF` puts any pushed image back",
                         **context)


class JenkinsError(ShipwayError):
    """Jenkins could not be reached, refused the credentials or a request."""


class PromotionRefused(ShipwayError):
    """What runs in the environment promoted from is not a release to promote (none, one
    mid-update, one rolled back); nothing was changed anywhere."""


class AnalysisPaused(ShipwayError):
    """An inconclusive analysis (on_inconclusive: pause) left the update where it is: exit 3,
    so a pipeline can ask a person; `shipway continue` or `shipway rollback` finishes it."""

    exit_code = EXIT_PAUSED
    label = "paused"
