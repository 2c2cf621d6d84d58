#!/bin/busybox sh
# shellcheck shell=dash disable=SC3028  # busybox ash has $RANDOM
# GET / of a release built with FAIL_PERCENT (see the Dockerfile): from FAIL_AFTER seconds
# after the container started, that share of requests gets a 500; the rest, and /health
# (a static file), stay fine.  A release that passes its health check but serves errors.
# httpd runs this for a directory URL without an index.html: /api/orders/ of a BROKEN_ROUTE=1
# release (see the Dockerfile), which answers 500 to every request
case "$REQUEST_URI" in
    /api/orders*)
        printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n'
        printf 'hello: this release broke /api/orders/\n'
        exit 0
        ;;
esac
read -r percent after </www/cgi-bin/fail
now=$(/bin/busybox date +%s)
if [ $((now - ${HELLO_STARTED:-0})) -ge "$after" ] && [ $((RANDOM % 100)) -lt "$percent" ]; then
    printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n'
    printf 'hello: this release fails %s%% of requests\n' "$percent"
    exit 0
fi
printf 'Content-Type: text/html\r\n\r\n'
/bin/busybox cat /www/cgi-bin/page.html
