# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this
# Shared settings and helpers of the multi-node lab (lab/multinode/up, down, node).
# Sourced, never executed.  Builds on lab/lib.sh for the small utilities (log, wait_for,
# pid_running, stop_pid, spawn, alive); nothing here touches the single-node lab's state.
#
# Layout (everything the multi-node lab makes is named here, so down removes exactly that):
#   network namespaces  shipway-mn-hub (the bridge "br0"), shipway-mn-<node> per node
#   veths               swmn0 (root namespace, 10.210.0.1/24) <-> up0 in the hub;
#                       eth0 in each node <-> <node> in the hub
#   cgroups             <every cgroup hierarchy>/shipway-mn/  (daemons/<node>: dockerd,
#                       containerd and shims; <node>/: that node's containers)
#   processes           one dockerd (+ its containerd) per node, one docker-registry
#   files and mounts    $MN_STATE only (data roots, exec roots, sockets, logs)

# shellcheck source=lab/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

log()  { printf 'lab(multi): %s\n' "$*" >&2; }
warn() { printf 'lab(multi): WARNING: %s\n' "$*" >&2; }
die()  { printf 'lab(multi): ERROR: %s\n' "$*" >&2; exit 1; }
# Exit status 3: this machine cannot run the lab (no network namespaces, veth, bridge,
# vxlan, ...).  Tests skip on it with the message as the reason.
unsupported() { printf 'lab(multi): UNSUPPORTED: %s\n' "$*" >&2; exit 3; }

MN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MN_STATE="${SHIPWAY_LAB_MULTI_DIR:-/var/lib/shipway-lab-multi}"
MN_PREFIX=shipway-mn                 # namespaces and the cgroup
MN_HUB="$MN_PREFIX-hub"
MN_ROOT_VETH=swmn0                   # root-namespace end of the hub link
MN_SUBNET_PREFIX=10.210.0            # the lab's bridge: .1 root, .11.. managers, .21.. workers
MN_HUB_IP="$MN_SUBNET_PREFIX.1"
MN_REGISTRY_PORT="${SHIPWAY_LAB_MULTI_REGISTRY_PORT:-5001}"
MN_REGISTRY="$MN_HUB_IP:$MN_REGISTRY_PORT"
MN_REGISTRY_USER=shipway
MN_PASSWORD_FILE="$MN_STATE/registry.password"
MN_HTTP_PORT="${SHIPWAY_LAB_MULTI_HTTP_PORT:-18080}"
MN_ROUTES="${SHIPWAY_LAB_ROUTES:-hello}"
MN_NETWORK=proxy
MN_PROXY_SERVICE=shipway-proxy
MN_PROXY_IMAGE="$MN_REGISTRY/shipway/haproxy:lab"
MN_SWARM_POOL=10.222.0.0/16          # overlay networks of the lab's swarm
MN_LOCAL_POOL=10.221.0.0/16          # docker_gwbridge and other local networks, per node
# Node heartbeat: a node that stops answering is marked down after ~3 periods (default
# 5s; shorter so that a lost node's tasks move within seconds).
MN_HEARTBEAT="${SHIPWAY_LAB_MULTI_HEARTBEAT:-2s}"

# Nodes: "name ip role index" lines in $MN_STATE/nodes, written by up from --nodes M+W.
mn_nodes() { [[ -r "$MN_STATE/nodes" ]] && awk '{print $1}' "$MN_STATE/nodes"; }
mn_node_field() {  # NODE FIELD(2=ip 3=role 4=index)
    awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$MN_STATE/nodes"
}
mn_ns()     { echo "$MN_PREFIX-$1"; }
mn_sock()   { echo "$MN_STATE/$1.sock"; }
mn_dir()    { echo "$MN_STATE/$1"; }
mn_pidfile() { echo "$MN_STATE/$1/dockerd.pid"; }
mn_dk()     { local node="$1"; shift; "$DOCKER_BIN" -H "unix://$(mn_sock "$node")" "$@"; }
mn_first_manager() { awk '$3 == "manager" { print $1; exit }' "$MN_STATE/nodes"; }

# Every cgroup hierarchy mounted (v1: one per controller set; v2: the unified one).
mn_cgroup_roots() {
    awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | sort -u
}

# The processes in the lab's cgroups (any hierarchy), one pid a line.
mn_cgroup_pids() {
    local root
    for root in $(mn_cgroup_roots); do
        [[ -d "$root/$MN_PREFIX" ]] || continue
        find "$root/$MN_PREFIX" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -un
}

# The dockerd of NODE answers on its socket.
mn_node_up() { mn_dk "$1" info --format '{{.ID}}' >/dev/null 2>&1; }

# Memory of the lab's daemons and containers: RSS summed over every process in its
# cgroups, plus the registry (MB).
mn_memory_mb() {
    local pids total=0 pid rss
    pids="$(mn_cgroup_pids; [[ -s "$MN_STATE/registry.pid" ]] && cat "$MN_STATE/registry.pid")"
    for pid in $pids; do
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        total=$(( total + ${rss:-0} ))
    done
    echo $(( total / 1024 ))
}

# Start NODE's dockerd in its namespace (does not wait).  Its own data root, exec root,
# socket, pidfile, cgroup parent, bridge and address pools; the registry on the hub is
# insecure (plain HTTP) for it.
mn_start_daemon() {
    local node="$1" ip idx dir ctr_pidfile
    ip="$(mn_node_field "$node" 2)"; idx="$(mn_node_field "$node" 4)"; dir="$(mn_dir "$node")"
    mkdir -p "$dir/data" "$dir/run"
    # A dockerd that was killed leaves its pidfile (dockerd refuses to start over a live
    # one, and a recycled pid could look live), and its containerd's.
    pid_running "$(mn_pidfile "$node")" dockerd && return 0
    rm -f "$(mn_pidfile "$node")"
    ctr_pidfile="$dir/run/containerd/containerd.pid"
    if [[ -e "$ctr_pidfile" ]] && ! pid_running "$ctr_pidfile" containerd; then rm -f "$ctr_pidfile"; fi
    # an empty config file: the host's /etc/docker/daemon.json is not this node's
    [[ -f "$dir/daemon.json" ]] || echo '{}' >"$dir/daemon.json"
    local args=(
        --config-file "$dir/daemon.json"
        --host "unix://$(mn_sock "$node")"
        --data-root "$dir/data" --exec-root "$dir/run" --pidfile "$(mn_pidfile "$node")"
        --cgroup-parent "/$MN_PREFIX/$node"
        --bip "10.220.$idx.1/24"
        --default-address-pool "base=$MN_LOCAL_POOL,size=24"
        --insecure-registry "$MN_REGISTRY"
        --swarm-default-advertise-addr "$ip"
        --log-level warn
    )
    # nsenter --net only (not `ip netns exec`, which remounts /sys and hides the cgroups);
    # unshare --uts for the node's own hostname.  Both exec, so the pid is dockerd's.  The
    # shell joins the lab's cgroup first: dockerd, its containerd and the shims stay there.
    # The script is single-quoted on purpose: $1, $@ and $$ are the inner sh's; the cgroup.procs
    # paths (no spaces) are split on purpose into one argument each.
    # shellcheck disable=SC2016,SC2046
    spawn "$dir/dockerd.log" nsenter --net="/run/netns/$(mn_ns "$node")" -- \
        unshare --uts -- sh -c 'hostname "$1"; shift; for f in "$@"; do case $f in --) shift; break;; esac; echo $$ >"$f" 2>/dev/null; shift; done; exec /usr/sbin/dockerd "$@"' \
        sh "$node" $(mn_cgroup_procs_files "daemons/$node") -- "${args[@]}"
}

# cgroup.procs files of the lab's cgroup REL in the hierarchies a daemon joins (created).
mn_cgroup_procs_files() {
    local rel="$1" root
    for root in $(mn_cgroup_roots); do
        if [[ -e "$root/cgroup.controllers" || "$root" == */memory || "$root" == */pids \
              || "$root" == */systemd ]]; then
            mkdir -p "$root/$MN_PREFIX/$rel" && echo "$root/$MN_PREFIX/$rel/cgroup.procs"
        fi
    done
}
