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

# --- steps both labs share (lab/up and lab/multinode/up) ----------------------------------

# lab_ensure_packages PACKAGE...: install the missing ones.  On a systemd machine some
# packages start a system service of their own (the registry on :5000, Prometheus on
# :9090, the Pushgateway on :9091); the lab runs its own instead, so a service this
# install started is stopped again.
lab_ensure_packages() {
    local missing=() p
    for p in "$@"; do
        [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
    done
    if (( ${#missing[@]} == 0 )); then
        log "packages: all present"
        return
    fi
    log "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    for p in docker-registry prometheus prometheus-pushgateway; do
        if [[ " ${missing[*]} " == *" $p "* ]] && command -v systemctl >/dev/null \
            && systemctl is-active --quiet "$p" 2>/dev/null; then
            log "packages: stopping the $p system service the install started"
            systemctl disable --now "$p" >/dev/null 2>&1 || true
        fi
    done
}

# lab_registry_secrets STATE USER PASSWORD_FILE: the registry password (made once and
# kept: tests and pipelines read it from the file), its htpasswd and the registry's http
# secret, all in STATE.  Returns 0 when the htpasswd file was (re)written.
lab_registry_secrets() {
    local state="$1" user="$2" pwfile="$3" htpasswd_file="$1/registry.htpasswd" wrote=1
    if [[ ! -s "$pwfile" ]]; then
        (umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$pwfile")
        log "registry: generated a password in $pwfile"
    fi
    chmod 0600 "$pwfile"
    # htpasswd -i reads the password from stdin (never argv); -B = bcrypt, the only hash
    # distribution accepts.  -v checks an existing file the same way.
    if ! htpasswd -vi "$htpasswd_file" "$user" <"$pwfile" >/dev/null 2>&1; then
        (umask 077; htpasswd -iBc "$htpasswd_file" "$user" <"$pwfile" >/dev/null 2>&1)
        wrote=0
    fi
    if [[ ! -s "$state/registry.secret" ]]; then
        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$state/registry.secret")
    fi
    return "$wrote"
}

# lab_registry_config STATE ADDR NAME REALM COMMENT: the registry's config on stdout.
# distribution 2.8 accepts htpasswd auth over plain HTTP (401 without, 200 with
# credentials); docker treats 127.0.0.0/8 as insecure, the multi-node lab's engines are
# told so: no TLS needed.
lab_registry_config() {
    local state="$1" addr="$2" name="$3" realm="$4" comment="$5"
    cat <<EOCONFIG
# $comment
version: 0.1
log:
  level: info
  fields: {service: $name}
storage:
  filesystem:
    rootdirectory: $state/registry-data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $addr
  secret: $(<"$state/registry.secret")
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: $realm
    path: $state/registry.htpasswd
EOCONFIG
}

lab_registry_up() {   # ADDR: /v2/ without credentials answers 401
    [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$1/v2/" || true)" == 401 ]]
}

lab_registry_login_ok() {   # ADDR USER PASSWORD_FILE: /v2/ with the credentials answers 200
    # curl -K - reads the credentials from stdin: the password never shows in argv
    local code
    code="$(printf 'user = "%s:%s"\n' "$2" "$(<"$3")" \
        | curl -s -K - -o /dev/null -m 2 -w '%{http_code}' "http://$1/v2/" || true)"
    [[ "$code" == 200 ]]
}

# lab_proxy_image DOCKER_FN CONTEXT ROUTES IMAGE PORT: pack and build the proxy image with
# DOCKER_FN (dk, or a node's client); prints the spec label the service must carry (image
# content + port).  With an unchanged context the build is a cache hit, same id.
lab_proxy_image() {
    local docker_fn="$1" ctx="$2" routes="$3" image="$4" port="$5" id
    "$LAB_DIR/haproxy/pack" "$ctx" "$routes"
    "$docker_fn" build -q -t "$image" "$ctx" >/dev/null
    id="$("$docker_fn" image inspect --format '{{.Id}}' "$image")"
    echo "${id#sha256:}-$port"
}

# --- Prometheus and the Pushgateway (Debian packages, loopback) -------------------------
# Both run as processes of the lab (pidfiles in the state dir, data there too), on ports
# chosen once: the first free one from the default up, kept in STATE/<name>.port.
lab_port_for() {   # STATE NAME DEFAULT: the port NAME uses (chosen once, kept)
    local file="$1/$2.port" port="$3"
    if [[ -s "$file" ]]; then
        cat "$file"
        return
    fi
    while port_in_use "$port"; do port=$(( port + 1 )); done
    echo "$port" >"$file"
    echo "$port"
}

lab_http_ok() {   # URL: answers 200
    [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true)" == 200 ]]
}

# lab_ensure_pushgateway STATE [FIRST_PORT]: prometheus-pushgateway on 127.0.0.1, keeping
# its metrics in STATE (Debian's build would default to /var/lib/prometheus, shared).
lab_ensure_pushgateway() {
    local state="$1" pidfile="$1/pushgateway.pid" port
    port="$(lab_port_for "$state" pushgateway "${2:-19091}")"
    if pid_running "$pidfile" prometheus-pushgateway && lab_http_ok "http://127.0.0.1:$port/-/ready"; then
        log "pushgateway: running on 127.0.0.1:$port (pid $(<"$pidfile"))"
        return
    fi
    stop_pid "$pidfile" prometheus-pushgateway 10
    port_in_use "$port" && die "port $port (the Pushgateway's) is taken; remove $state/pushgateway.port to pick another"
    spawn "$state/pushgateway.log" /usr/bin/prometheus-pushgateway "--web.listen-address=127.0.0.1:$port" \
        "--persistence.file=$state/pushgateway.data"
    echo "$SPAWNED_PID" >"$pidfile"
    wait_for 20 "the Pushgateway to be ready" lab_http_ok "http://127.0.0.1:$port/-/ready" \
        || { tail -n 5 "$state/pushgateway.log" >&2; die "the Pushgateway did not come up; see $state/pushgateway.log"; }
    log "pushgateway: started on 127.0.0.1:$port (pid $(<"$pidfile"))"
}

# lab_ensure_prometheus STATE PROXY_ADDR [FIRST_PORT]: Prometheus on 127.0.0.1 scraping the
# lab proxy's HAProxy exporter (PROXY_ADDR host:port, path /_lab/metrics) and the
# Pushgateway (run lab_ensure_pushgateway first) every 2s.
lab_ensure_prometheus() {
    local state="$1" proxy="$2" pidfile="$1/prometheus.pid" config="$1/prometheus.yml" new port
    port="$(lab_port_for "$state" prometheus "${3:-19090}")"
    new="$(cat <<EOCONFIG
# Written by lab/up: the lab's Prometheus (Debian package), for deploy.analysis and markers.
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: haproxy
    metrics_path: /_lab/metrics
    static_configs: [{targets: ["$proxy"]}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$(<"$state/pushgateway.port")"]}]
EOCONFIG
)"
    local changed=0
    if [[ ! -f "$config" || "$(<"$config")" != "$new" ]]; then
        printf '%s\n' "$new" >"$config"
        changed=1
    fi
    if pid_running "$pidfile" "prometheus --config.file" && (( changed == 0 )) \
        && lab_http_ok "http://127.0.0.1:$port/-/ready"; then
        log "prometheus: running on 127.0.0.1:$port (pid $(<"$pidfile"))"
        return
    fi
    stop_pid "$pidfile" "prometheus --config.file" 20
    port_in_use "$port" && die "port $port (Prometheus's) is taken; remove $state/prometheus.port to pick another"
    mkdir -p "$state/prometheus-data"
    spawn "$state/prometheus.log" /usr/bin/prometheus "--config.file=$config" \
        "--storage.tsdb.path=$state/prometheus-data" "--storage.tsdb.retention.time=2d" \
        "--web.listen-address=127.0.0.1:$port"
    echo "$SPAWNED_PID" >"$pidfile"
    wait_for 30 "Prometheus to be ready" lab_http_ok "http://127.0.0.1:$port/-/ready" \
        || { tail -n 5 "$state/prometheus.log" >&2; die "Prometheus did not come up; see $state/prometheus.log"; }
    log "prometheus: started on 127.0.0.1:$port (pid $(<"$pidfile")), scraping $proxy"
}

# lab_stop_monitoring STATE: stop the Prometheus and Pushgateway lab/up started.
lab_stop_monitoring() {
    if pid_running "$1/prometheus.pid" "prometheus --config.file"; then
        stop_pid "$1/prometheus.pid" "prometheus --config.file" 20
        log "prometheus: stopped"
    fi
    if pid_running "$1/pushgateway.pid" prometheus-pushgateway; then
        stop_pid "$1/pushgateway.pid" prometheus-pushgateway 10
        log "pushgateway: stopped"
    fi
    rm -f "$1/prometheus.pid" "$1/pushgateway.pid"
}
