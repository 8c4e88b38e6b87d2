# shellcheck shell=bash disable=SC2034  # its variables are for the scripts that source it
# Shared pieces of the hack/ scripts: where state lives, and start/stop by PID file.
#
# Every piece of runtime state lives under one work dir, $KILN_WORK (default /tmp/kiln);
# slow builds are cached under $KILN_CACHE (default ~/.cache/kiln), keyed by version.

KILN_WORK=${KILN_WORK:-/tmp/kiln}
KILN_CACHE=${KILN_CACHE:-$HOME/.cache/kiln}
KUBE_VERSION=v1.20.2
# The Debian source version the control plane is built from: the cache key. The one tested is
# pinned; when the archive has moved on (a security update), `build` uses the archive's version
# and records it in `current`, which later runs read.
KUBE_DEB_PINNED=1.20.5+really1.20.2-1.1+deb12u1
if [ -z "${KUBE_DEB_VERSION:-}" ]; then
  KUBE_DEB_VERSION=$KUBE_DEB_PINNED
  if [ ! -d "$KILN_CACHE/kubernetes-$KUBE_VERSION/$KUBE_DEB_VERSION/bin" ] \
     && [ -f "$KILN_CACHE/kubernetes-$KUBE_VERSION/current" ]; then
    KUBE_DEB_VERSION=$(cat "$KILN_CACHE/kubernetes-$KUBE_VERSION/current")
  fi
fi
KUBE_BIN=$KILN_CACHE/kubernetes-$KUBE_VERSION/$KUBE_DEB_VERSION/bin
# The node's network (hack/node.sh): a bridge of our own whose gateway address is the node IP. Pods
# sit on the bridge, so the node IP is how they reach the host's servers (registry, git daemon):
# those listen on 127.0.0.1 for the host and on the node IP for pods, never on other interfaces.
POD_CIDR=${KILN_POD_CIDR:-10.244.0.0/24}
BRIDGE=kiln0
NODE_IP=$(echo "$POD_CIDR" | awk -F'[./]' '{print $1"."$2"."$3"."$4+1}')
# the registry as the host (tests, skopeo, containerd) reaches it; pods use $NODE_IP and its port
REGISTRY=${KILN_REGISTRY:-127.0.0.1:5000}
LOGS=$KILN_WORK/logs
RUN=$KILN_WORK/run
mkdir -p "$LOGS" "$RUN"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# running NAME: the process recorded in $RUN/NAME.pid is alive and is still the one launched (its
# start time matches), not an unrelated process that got the PID after a reboot (/tmp survives)
running() {
  local pid
  [ -f "$RUN/$1.pid" ] || return 1
  pid=$(cat "$RUN/$1.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  [ "$(start_time "$pid")" = "$(cat "$RUN/$1.start" 2>/dev/null)" ]
}

# start_time PID: the process's start time in clock ticks since boot, plus the boot id
start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) } # the command name may hold spaces; fields after it are fixed
  echo "$(cat /proc/sys/kernel/random/boot_id) $(echo "$stat" | awk '{print $20}')"
}

# launch NAME cmd...: start detached (own session, so a test runner's signals do not reach it), record the PID
launch() {
  local name=$1; shift
  nohup setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  start_time $! >"$RUN/$name.start"
}

# halt NAME...: stop exactly the processes recorded by launch, TERM then KILL after 10 s
halt() {
  local n pid pids=()
  for n in "$@"; do
    if ! running "$n"; then rm -f "$RUN/$n.pid" "$RUN/$n.start"; continue; fi
    pid=$(cat "$RUN/$n.pid"); rm -f "$RUN/$n.pid" "$RUN/$n.start"
    kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || continue 2; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# wait_for WHAT NAME cmd...: poll cmd for up to 60 s while process NAME stays alive
wait_for() {
  local what=$1 name=$2; shift 2
  for _ in $(seq 600); do
    "$@" >/dev/null 2>&1 && return 0
    running "$name" || { tail -20 "$LOGS/$name.log" >&2; die "$what: $name exited (log: $LOGS/$name.log)"; }
    sleep 0.1
  done
  tail -20 "$LOGS/$name.log" >&2
  die "$what: not ready after 60 s (log: $LOGS/$name.log)"
}

# reachable HOST PORT: something accepts TCP connections there
reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# need_port NAME PORT [HOST]: die with a clear message if something else listens on HOST:PORT
# (default 127.0.0.1)
need_port() {
  local host=${3:-127.0.0.1}
  if reachable "$host" "$2"; then
    die "$1: $host:$2 is already in use by another process (a distribution service such as docker-registry.service, etcd.service or containerd.service? stop it, or choose another port)"
  fi
}

# node_ip_up: the node's bridge carries the node IP, so a server can bind it (hack/node.sh start
# adds it, stop removes the bridge; a socket bound to it survives that and serves again once the
# address is back, so a running server need not restart with the node)
node_ip_up() { ip -o -4 addr show dev "$BRIDGE" 2>/dev/null | grep " $NODE_IP/" >/dev/null; }

apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "needs root to install: ${missing[*]}"
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
