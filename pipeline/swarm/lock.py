"""The deploy lock: one changer of a service at a time, held in the swarm itself.

Why a swarm config object `shipway-lock-<service>`: configs live in the managers' Raft store,
which every shipway run already talks to, so there is no other store to run, and the lock
survives a manager failover as the release history does. Creating a config is atomic across
the swarm: a second create of the name gets 409, which is the "taken" answer. The holder,
when it was taken, the command and the lease are its labels.

Why a lease renewed by the holder: a SIGKILLed shipway or a lost Jenkins agent cannot release
anything. The holder updates the config's labels every lease/3 from a background thread; the
update names the version it read, so it is a compare-and-swap (only labels may change on a
config). A lock nobody renewed for a lease has expired, and a waiter may break it.

Why expiry is judged on the leader's clock, not the holder's: Meta.UpdatedAt is stamped by
the leader at each renewal; a waiter compares it with the leader's "now" seen through
`LeaderClock` (a lower bound: the leader's time is never taken for later than it is), and in
any case with the time it has itself watched the version stand still. Machine clocks that
disagree can only make a waiter wait longer, never break a live lock.

Released however the command ends: the `with held(...)` block's finally removes the config
(by id: a lock that was broken and taken by someone else is never removed), and SIGTERM (a
Jenkins abort) is turned into an exception from before the first attempt to take it, so the
finally runs.
"""
import contextlib
import getpass
import hashlib
import os
import secrets
import signal
import socket
import threading
import time

from pipeline.api import engine
from pipeline.errors import ShipwayError
from pipeline.swarm.replicas import LeaderClock
from pipeline.units import parse_timestamp

PREFIX = "shipway.lock."
SERVICE, HOLDER, COMMAND, TAKEN, LEASE, TOKEN, RENEWALS = (
    PREFIX + k for k in ("service", "holder", "command", "taken", "lease", "token", "renewals"))
NAME_LIMIT = 64            # swarm's limit on config names
DEFAULT_LEASE = 30.0       # seconds without a renewal after which a lock has expired
POLL = 0.5                 # how often a waiter looks again
EXIT_TERMINATED = 143      # 128 + SIGTERM, what a shell reports


class LockError(ShipwayError):
    """Another command holds the service's lock and did not let go in time."""


class Terminated(ShipwayError):
    """SIGTERM arrived (a Jenkins abort) while the lock was held; raised to release it."""

    exit_code = EXIT_TERMINATED


def config_name(service):
    """`shipway-lock-<service>`, hashed when that is longer than swarm allows."""
    name = f"shipway-lock-{service}"
    if len(name) > NAME_LIMIT:
        digest = hashlib.sha1(service.encode()).hexdigest()[:10]
        name = f"shipway-lock-{service[:NAME_LIMIT - 24]}-{digest}"
    return name


def holder_of(environ, build):
    """Who takes the lock: the Jenkins job and build URL, else user@host and pid."""
    if build.job or build.url:
        number = f" #{build.number}" if build.number else ""
        return f"{build.job or 'jenkins'}{number} {build.url}".strip()
    user = environ.get("USER") or environ.get("LOGNAME")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def lease_seconds(environ):
    """SHIPWAY_LOCK_LEASE (seconds), else DEFAULT_LEASE."""
    try:
        value = float(environ.get("SHIPWAY_LOCK_LEASE") or DEFAULT_LEASE)
    except ValueError:
        value = DEFAULT_LEASE
    return max(value, 1.0)


def describe(config, now=None):
    """What a lock config says: holder, command, taken (ISO), age, lease; JSON-ready."""
    labels = config["Spec"].get("Labels") or {}
    taken = labels.get(TAKEN, "")
    stamp = parse_timestamp(taken)
    now = time.time() if now is None else now
    return {"holder": labels.get(HOLDER, "?"), "command": labels.get(COMMAND, "?"),
            "taken": taken, "age": round(now - stamp, 1) if stamp else None,
            "lease": float(labels.get(LEASE) or DEFAULT_LEASE), "id": config["ID"],
            "renewed": config.get("UpdatedAt", "")}


def line(info):
    """'deploy by jenkins/hello #12 https://... since 12:00:01Z (40s ago)'."""
    age = f" ({info['age']:.0f}s ago)" if info.get("age") is not None else ""
    return f"{info['command']} by {info['holder']} since {info['taken'] or '?'}{age}"


def current(api, service):
    """The lock of `service` as `describe` gives it, or None when it is free."""
    config = engine.inspect_config(api, config_name(service))
    return describe(config) if config else None


def unlock(api, service):
    """Break the lock of `service`: the description of the lock removed, or None if free."""
    config = engine.inspect_config(api, config_name(service))
    if config is None or not engine.remove_config(api, config["ID"]):
        return None
    return describe(config)


class Lock:
    """One held lock: its config, the renewal thread, the release."""

    def __init__(self, api, service, holder, command, lease, report):
        self.api, self.service, self.report = api, service, report
        self.holder, self.command, self.lease = holder, command, lease
        self.token = secrets.token_hex(8)
        self.config_id = None
        self.lost = ""                 # why the lock is no longer ours, once it is not
        self._stop = threading.Event()
        self._thread = None

    def _labels(self, renewals):
        return {SERVICE: self.service, HOLDER: self.holder, COMMAND: self.command,
                TAKEN: self.taken, LEASE: f"{self.lease:g}", TOKEN: self.token,
                RENEWALS: str(renewals)}

    def try_take(self):
        """One attempt; True when the lock is ours now."""
        self.taken = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        # The data says the same as the labels: `docker config inspect --pretty` shows it.
        data = f"{self.command} by {self.holder} since {self.taken}\n".encode()
        self.config_id = engine.create_config(self.api, config_name(self.service), data,
                                              self._labels(0))
        return self.config_id is not None

    def start_renewing(self):
        self._thread = threading.Thread(target=self._renew, name="shipway-lock", daemon=True)
        self._thread.start()

    def _renew(self):
        renewals, failing = 0, False
        while not self._stop.wait(self.lease / 3):
            try:
                config = engine.inspect_config(self.api, self.config_id)
                if config is None or (config["Spec"].get("Labels") or {}).get(TOKEN) != self.token:
                    self._lose("it was removed (shipway unlock, or it expired)")
                    return
                renewals += 1
                if not engine.update_config_labels(self.api, config, self._labels(renewals)):
                    self._lose("it was removed while being renewed")
                    return
                if failing:
                    self.report("lock: renewed again")
                failing = False
            except ShipwayError as exc:
                # An engine that does not answer (a manager restarting): say so once, try
                # again; the lease covers the gap, or the lock expires as it should.
                if not failing:
                    self.report(f"lock: could not renew it ({exc.message}); trying again "
                                f"every {self.lease / 3:g}s")
                failing = True

    def _lose(self, why):
        self.lost = why
        self.report(f"lock: service {self.service}'s lock is no longer ours: {why}; "
                    "carrying on, but another command may change the service now")

    def release(self):
        """Stop renewing and remove the config, only if it is still ours (removed by id)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.config_id and not self.lost:
            try:
                engine.remove_config(self.api, self.config_id)
            except ShipwayError as exc:
                # Never let the release hide how the command itself ended.
                self.report(f"lock: could not release it ({exc.message}); it expires "
                            f"{self.lease:g}s after its last renewal")


def _expired(config, clock, first_seen):
    """True when nobody renewed `config` for its lease: by the leader's clock (lower bound),
    or by the time this waiter has itself seen its version stand still."""
    lease = float((config["Spec"].get("Labels") or {}).get(LEASE) or DEFAULT_LEASE)
    version, since = first_seen
    if config["Version"]["Index"] == version and time.monotonic() - since > lease:
        return True
    renewed = clock.local(parse_timestamp(config.get("UpdatedAt")))
    return renewed is not None and time.time() - renewed > lease


def _probe_leader_clock(api, service, clock):
    """Learn the leader's "now" once, from the CreatedAt of a throw-away config: so a
    waiter that comes long after a holder died can judge its lease at once, instead of
    watching the version stand still for a whole lease first."""
    name = f"shipway-lock-probe-{secrets.token_hex(6)}"
    try:
        config_id = engine.create_config(api, name, b"probe\n", {SERVICE: service})
        if config_id:
            clock.observe([engine.inspect_config(api, config_id) or {}], time.time())
            engine.remove_config(api, config_id)
    except ShipwayError:
        pass  # the version watch alone still judges the lease


@contextlib.contextmanager
def held(api, service, *, holder, command, timeout, report, lease=DEFAULT_LEASE,
         before_wait=None):
    """Hold service's lock for the block: wait for it up to `timeout` seconds (printing who
    holds it), break it once it expired, raise LockError naming the holder when time is up.
    before_wait(info): called once when the lock is found held by another (`describe`'s
    info), before the first wait."""
    lock = Lock(api, service, holder, command, lease, report)
    # SIGTERM becomes an exception before the first attempt, not once the lock is taken:
    # an abort that comes between the take and the block would otherwise leave the lock to
    # expire; one while waiting ends the wait (release() removes only a lock it took).
    previous = _on_sigterm(lock)
    try:
        _take(lock, timeout, before_wait)
        lock.start_renewing()
        yield lock
    finally:
        _restore_sigterm(previous)
        lock.release()


def _take(lock, timeout, before_wait):
    """Wait until `lock` is taken (see held)."""
    api, service, report = lock.api, lock.service, lock.report
    deadline = time.monotonic() + timeout
    clock = LeaderClock()
    seen = {}                     # config id -> (version, monotonic time first seen at it)
    told = None
    while not lock.try_take():
        read_at = time.time()
        config = engine.inspect_config(api, config_name(service))
        if config is None:
            continue              # released between our create and our read: try again
        clock.observe([config], read_at)
        if not seen:
            _probe_leader_clock(api, service, clock)
        info = describe(config)
        version = config["Version"]["Index"]
        if seen.get(config["ID"], (None,))[0] != version:
            seen[config["ID"]] = (version, time.monotonic())
        if _expired(config, clock, seen[config["ID"]]):
            # By id: if another waiter broke it and took it meanwhile, this finds nothing.
            if engine.remove_config(api, config["ID"]):
                report(f"lock: broke the expired lock of service {service} ({line(info)}, "
                       f"not renewed for {info['lease']:g}s)")
            continue
        if told != config["ID"]:
            told = config["ID"]
            report(f"lock: service {service} is locked ({line(info)}); waiting up to "
                   f"{timeout:.0f}s")
            if before_wait is not None:
                before_wait(info)
                before_wait = None
        if time.monotonic() >= deadline:
            raise LockError(f"service {service} is locked: {line(info)}; waited {timeout:.0f}s",
                            hint="try again when it is done, or break the lock if that "
                            f"command is dead: shipway unlock --service {service}",
                            service=service, lock=info, waited=round(timeout, 1))
        time.sleep(POLL)


def _on_sigterm(lock):
    """Turn SIGTERM into Terminated from here on, so `finally` releases `lock` if it was
    taken (only the main thread may install a handler); the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminated(signum, frame):
        what = "the lock was released" if lock.config_id else "it was waiting for the lock"
        raise Terminated(f"terminated by SIGTERM (an aborted build?); {what}",
                         hint="the service may be mid-update: `shipway status` says what runs")
    return signal.signal(signal.SIGTERM, terminated)


def _restore_sigterm(previous):
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
