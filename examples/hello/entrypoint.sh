#!/bin/busybox sh
# shellcheck shell=dash
# PID 1 of the hello image.  busybox httpd installs no SIGTERM handler, and
# the kernel drops unhandled signals sent to PID 1, so `docker stop` would wait
# out the whole grace period.  Run httpd as a child instead and forward
# SIGTERM/SIGINT to it: the container stops at once.
stopping=
# A CRASH=1 build (see the Dockerfile) dies at start, as an app missing its settings would.
if [ -e /crash ]; then
    echo "hello: starting with settings: ${HELLO_SETTINGS:-none}"
    echo "hello: fatal: no configuration found (this image was built with CRASH=1)" >&2
    exit 3
fi
trap 'stopping=1; kill -TERM "$pid" 2>/dev/null' TERM INT
# when the container started: a FAIL_AFTER release's CGI (index.cgi) counts from here
HELLO_STARTED=$(/bin/busybox date +%s)
export HELLO_STARTED
/bin/busybox httpd -f -p 8080 -h /www &
pid=$!
# wait returns early when a trapped signal arrives; wait again to reap httpd
wait "$pid"
status=$?
wait "$pid" 2>/dev/null
# a requested stop is a clean exit, anything else is httpd's own status
[ -n "$stopping" ] && exit 0
exit "$status"
