"""Run the Jenkins double standalone.

    python -m tests.support.jenkins_double --port 8080 --user admin --token-file F

The API token is read from a file (never from argv, where ``ps`` shows it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .double import JenkinsDouble


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until SIGINT/SIGTERM; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.jenkins_double",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--token-file", required=True,
                        help="file holding the user's API token")
    parser.add_argument("--version", default="2.440.3", help="X-Jenkins version")
    parser.add_argument("--no-csrf", action="store_true",
                        help="disable crumbs (crumbIssuer answers 404)")
    parser.add_argument("--quiet-period", type=float, default=0.0)
    args = parser.parse_args(argv)
    with open(args.token_file, encoding="utf-8") as handle:
        token = handle.read().strip()
    if not token:
        parser.error(f"{args.token_file} is empty")
    double = JenkinsDouble(users={args.user: token}, version=args.version,
                           csrf=not args.no_csrf, quiet_period=args.quiet_period,
                           host=args.host, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with double:
        print(f"Jenkins double {args.version} listening on {double.url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
