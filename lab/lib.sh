# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this
# Shared helpers for lab/up, lab/down and lab/env.  Sourced, never executed.
#
# Everything the lab creates is recorded under the state dir, so that lab/down
# can remove exactly that and nothing else (marker files named *.by-lab).

# --- settings (all overridable from the environment) -------------------------
LAB_STATE="${SHIPWAY_LAB_DIR:-/var/lib/shipway-lab}"
LAB_REGISTRY_PORT="${SHIPWAY_LAB_REGISTRY_PORT:-5000}"
LAB_HTTP_PORT="${SHIPWAY_LAB_HTTP_PORT:-18080}"
LAB_ROUTES="${SHIPWAY_LAB_ROUTES:-hello}"
# Socket of the dockerd that lab/up starts when none is reachable.  A
# non-default one means a separate engine: lab/env exports DOCKER_HOST and
# that dockerd keeps its data and run dirs in the state dir, so it cannot
# collide with the machine's own (e.g. a second lab in a network namespace).
LAB_DEFAULT_SOCKET=/var/run/docker.sock
LAB_DOCKER_SOCKET="${SHIPWAY_LAB_DOCKER_SOCKET:-$LAB_DEFAULT_SOCKET}"
LAB_EXEC_ROOT=/var/run/docker
LAB_DOCKERD_ARGS=(--host "unix://$LAB_DOCKER_SOCKET" --pidfile "$LAB_STATE/dockerd.pid")
if [[ "$LAB_DOCKER_SOCKET" != "$LAB_DEFAULT_SOCKET" ]]; then
    LAB_EXEC_ROOT="$LAB_STATE/docker-run"
    LAB_DOCKERD_ARGS+=(--data-root "$LAB_STATE/docker" --exec-root "$LAB_EXEC_ROOT")
fi

LAB_REGISTRY="127.0.0.1:${LAB_REGISTRY_PORT}"
LAB_REGISTRY_USER=shipway
LAB_PASSWORD_FILE="$LAB_STATE/registry.password"
LAB_NETWORK=proxy
LAB_PROXY_SERVICE=shipway-proxy
LAB_PROXY_IMAGE="${LAB_REGISTRY}/shipway/haproxy:lab"
# Label put on everything the lab (or a lab user) creates in the swarm;
# lab/down removes labelled services only.
LAB_LABEL=shipway.lab

# Debian's client: /usr/local/bin/docker may be a newer client without buildx.
DOCKER_BIN="${SHIPWAY_DOCKER:-/usr/bin/docker}"

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# A non-default socket means every docker call of the lab talks to it.
if [[ "$LAB_DOCKER_SOCKET" != "$LAB_DEFAULT_SOCKET" ]]; then
    export DOCKER_HOST="unix://$LAB_DOCKER_SOCKET"
fi

# --- output -------------------------------------------------------------------
log()  { printf 'lab: %s\n' "$*" >&2; }
warn() { printf 'lab: WARNING: %s\n' "$*" >&2; }
die()  { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }

dk() { "$DOCKER_BIN" "$@"; }

# --- small utilities ------------------------------------------------------------

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2s until it succeeds or
# the deadline passes.  Bounded, so a broken daemon fails lab/up instead of
# hanging it, and no fixed sleeps that are too long on a fast machine.
wait_for() {
    local limit="$1" what="$2"; shift 2
    local deadline=$(( SECONDS + limit ))
    while ! "$@" >/dev/null 2>&1; do
        if (( SECONDS >= deadline )); then
            log "gave up waiting ${limit}s for: $what"
            return 1
        fi
        sleep 0.2
    done
}

# pid_running PIDFILE NAME: true if PIDFILE holds the pid of a live process
# whose command line contains NAME (guards against a recycled pid).
pid_running() {
    local pidfile="$1" name="$2" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(<"$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # a zombie has an empty cmdline and is as good as gone
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

# stop_pid PIDFILE NAME SECONDS: SIGTERM the recorded process, wait for it to
# exit (bounded), SIGKILL as a last resort.  Never kills by name.
stop_pid() {
    local pidfile="$1" name="$2" limit="$3" pid
    pid_running "$pidfile" "$name" || return 0
    pid="$(<"$pidfile")"
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! wait_for "$limit" "$name (pid $pid) to exit" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*Z' /proc/$pid/status"; then
        warn "$name (pid $pid) ignored SIGTERM for ${limit}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# spawn LOGFILE CMD...: start a daemon that outlives this script and the
# shell that ran it (own session, no terminal, output to LOGFILE).  fd 9 is
# the lab's lock: a daemon that inherited it would hold the lock for ever.
# Sets SPAWNED_PID (setsid and nohup exec, so it is the daemon's own pid).
spawn() {
    local logfile="$1"; shift
    setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
    SPAWNED_PID=$!
}

# alive PID: the process exists and is not a zombie (a daemon we spawned
# that died stays a zombie of ours until this script exits).
alive() {
    [[ -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

docker_reachable() { dk info >/dev/null 2>&1; }

swarm_state() { dk info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

# Something listens on PORT (any address)?  ss prints ADDR:PORT, e.g.
# 127.0.0.1:5000, *:18080, [::]:18080.
port_in_use() {
    local port="$1"
    ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q ":${port}\$"
}

# --- host networking left behind by a dockerd the lab started -----------------
# dockerd adds iptables chains, sets the FORWARD policy to DROP when it has to
# enable ip_forward, and creates bridges that outlive it.  lab/up records the
# state before it starts dockerd; this puts it back after dockerd has stopped.
restore_host_network() {
    local pre="$LAB_STATE/pre-dockerd"
    [[ -d "$pre" ]] || return 0
    local link
    for link in docker0 docker_gwbridge; do
        if ! grep -qx "$link" "$pre/links" 2>/dev/null && ip link show "$link" >/dev/null 2>&1; then
            ip link delete "$link" 2>/dev/null || warn "could not delete link $link"
        fi
    done
    if command -v iptables-save >/dev/null && ! grep -qi docker "$pre/iptables" 2>/dev/null; then
        # Drop only docker's rules and chains, keep anything anyone else added.
        local policy
        policy="$(sed -n 's/^:FORWARD \([A-Z]*\) .*/\1/p' "$pre/iptables" | head -n1)"
        iptables-save \
            | grep -vi docker \
            | sed "s/^:FORWARD [A-Z]* /:FORWARD ${policy:-ACCEPT} /" \
            | iptables-restore || warn "could not remove docker's iptables rules"
    fi
    if [[ -s "$pre/ip_forward" ]]; then
        cat "$pre/ip_forward" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    fi
}

record_host_network() {
    local pre="$LAB_STATE/pre-dockerd"
    mkdir -p "$pre"
    ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' >"$pre/links"
    if command -v iptables-save >/dev/null; then iptables-save >"$pre/iptables" 2>/dev/null || true; fi
    cat /proc/sys/net/ipv4/ip_forward >"$pre/ip_forward" 2>/dev/null || true
}
