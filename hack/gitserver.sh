#!/usr/bin/env bash
# `git daemon` serving the bare repositories under $KILN_WORK/git on git://127.0.0.1:9418/<name>.git
# for the host and on git://10.244.0.1:9418/<name>.git (the node IP, on hack/node.sh's bridge) for
# pods (pushes enabled: it is a local test server).
#   hack/gitserver.sh start|stop|status|root
#   hack/gitserver.sh url [NAME]   the server (or repository NAME) as pods reach it
#
# One daemon listens on both addresses (--listen twice), not on 0.0.0.0: that would let anyone who
# reaches the machine push to it. The node IP exists only once hack/node.sh has made its bridge; a
# daemon started before listens on 127.0.0.1 alone, and the next `start` once the bridge is there
# restarts it on both.
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

PORT=${KILN_GIT_PORT:-9418}
ROOT=$KILN_WORK/git

start() {
  if running git-daemon && reachable 127.0.0.1 "$PORT" && { ! node_ip_up || reachable "$NODE_IP" "$PORT"; }; then
    log "git daemon already running"; return 0
  fi
  halt git-daemon
  need_port "git daemon" "$PORT"
  local listen=(--listen=127.0.0.1) where="git://127.0.0.1:$PORT/"
  if node_ip_up; then
    need_port "git daemon" "$PORT" "$NODE_IP"
    listen+=(--listen="$NODE_IP"); where+=" and git://$NODE_IP:$PORT/"
  else
    log "git daemon for pods: $BRIDGE does not carry $NODE_IP yet (hack/node.sh start); 127.0.0.1 only until the next start"
  fi
  mkdir -p "$ROOT"
  launch git-daemon git daemon --reuseaddr "${listen[@]}" --port="$PORT" --base-path="$ROOT" \
    --export-all --enable=receive-pack --informative-errors "$ROOT"
  wait_for "git daemon" git-daemon reachable 127.0.0.1 "$PORT"
  if node_ip_up; then wait_for "git daemon on $NODE_IP" git-daemon reachable "$NODE_IP" "$PORT"; fi
  log "git daemon on $where (repositories: $ROOT)"
}

case "${1:-}" in
  start) start ;;
  stop) halt git-daemon; log "git daemon stopped" ;;
  status) if running git-daemon; then echo "git-daemon running (pid $(cat "$RUN/git-daemon.pid"))"; else echo "git-daemon not running"; fi ;;
  root) echo "$ROOT" ;;
  url) echo "git://$NODE_IP:$PORT${2:+/$2.git}" ;;
  *) echo "usage: $0 start|stop|status|root|url [NAME]" >&2; exit 2 ;;
esac
