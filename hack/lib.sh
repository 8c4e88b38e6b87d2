# shellcheck shell=bash
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

# need_port NAME PORT: die with a clear message if something else listens on 127.0.0.1:PORT
need_port() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
    die "$1: 127.0.0.1:$2 is already in use by another process (a distribution service such as docker-registry.service, etcd.service or containerd.service? stop it, or choose another port)"
  fi
}

apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "needs root to install: ${missing[*]}"
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
