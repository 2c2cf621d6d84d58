"""Measuring helpers of figures 4 and 5 that bench/_lib.py does not have.

`run_measured` runs one command and returns its wall time and its own peak memory; `rotate`
is _lib.alternate for more than two contestants (A B C A B C ...).

Peak memory is the child's max RSS as wait4(2) reports it, read by GNU time (/usr/bin/time,
Debian package `time`), a 1 MB process. Not by this process: Linux counts in a child's max
RSS the memory of the process it was forked (or vforked) from, so a child of this Python
process would never show less than this process's own size.
"""
import os
import signal
import subprocess
import tempfile
import threading
import time

import _lib

GNU_TIME = "/usr/bin/time"


def run_measured(cmd, env, *, timeout=600, cwd=None, check=True):
    """Run `cmd`; returns {"seconds", "max_rss_mb", "code", "stdout", "stderr"}.

    Wall time includes the launch of GNU time (about 1 ms, the same for every command).
    Without GNU time, max RSS comes from os.wait4 here and is an upper bound (see above),
    flagged by "rss_upper_bound".
    """
    with tempfile.NamedTemporaryFile("r", prefix="bench-rss-") as rss:
        if os.access(GNU_TIME, os.X_OK):
            start = time.perf_counter()
            done = subprocess.run([GNU_TIME, "-f", "%M", "-o", rss.name, *cmd], env=env,
                                  cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout)
            seconds = time.perf_counter() - start
            # The last line is the KB figure (a "Command exited with..." line may precede it).
            lines = rss.read().split()
            kilobytes = int(lines[-1]) if lines and lines[-1].isdigit() else 0
            code, out, err, upper = done.returncode, done.stdout, done.stderr, False
        else:
            seconds, kilobytes, code, out, err = _wait4(cmd, env, cwd, timeout)
            upper = True
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if check and code != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} ... exited {code}:\n"
                           f"{stdout[-2000:]}\n{stderr[-3000:]}")
    record = {"seconds": seconds, "max_rss_mb": round(kilobytes / 1024, 1), "code": code,
              "stdout": stdout, "stderr": stderr}
    if upper:
        record["rss_upper_bound"] = True
    return record


def _wait4(cmd, env, cwd, timeout):
    """Run `cmd` and reap it with os.wait4: (seconds, max RSS KB, code, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        timer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return seconds, usage.ru_maxrss, proc.returncode, out.read(), err.read()


def rotate(rounds, contestants, *, before=None):
    """A B C A B C ...: `contestants` is [(name, fn(i))]; returns {name: [results]}.

    `before(i, name)` runs untimed before each run (to put its subject where the run expects).
    """
    results = {name: [] for name, _fn in contestants}
    for i in range(max(1, rounds)):
        for name, fn in contestants:
            if before:
                before(i, name)
            results[name].append(fn(i))
            _lib.log(f"round {i + 1}/{rounds}: {name} {_show(results[name][-1])}")
    return results


def _show(result):
    extra = "".join(f" {key}={result[key]}" for key in ("reads", "writes", "max_rss_mb")
                    if key in result)
    return f"{result['seconds']:.3f}s{extra}"
