#!/usr/bin/env bash
# Debian's docker-registry on 127.0.0.1:5000 for the host (tests, skopeo, containerd) and on the node
# IP (10.244.0.1:5000, the address on hack/node.sh's bridge) for pods, filesystem storage under
# $KILN_WORK/registry.
#   hack/registry.sh start|stop|status
#   hack/registry.sh address   the registry as pods reach it (host:port for image references)
#
# Why two processes: docker-registry's http.addr takes one address, and 0.0.0.0 would offer an
# unauthenticated registry that anyone may push to and delete from on every interface of the
# machine. So one registry serves 127.0.0.1 and a second one the node IP, a host-only address that
# only this node's pods (and the host) reach; both serve the same storage directory, which holds all
# their state (no cache configured, the same upload secret), so an image pushed through one is
# there through the other at once. The node IP exists only once hack/node.sh has made its bridge:
# before that, `start` starts the loopback one alone, and node.sh's start (which calls this after
# making the bridge) the other.
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

ADDR=$REGISTRY
POD_ADDR=$NODE_IP:${REGISTRY##*:}
DIR=$KILN_WORK/registry

# serve NAME ADDR: one registry process named NAME on ADDR, unless it already answers there
serve() {
  local name=$1 addr=$2
  if running "$name" && curl -sf "http://$addr/v2/" >/dev/null; then log "$name already running on $addr"; return 0; fi
  halt "$name"
  need_port "$name" "${addr##*:}" "${addr%:*}"
  cat >"$DIR/$name.yml" <<CFG
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $DIR/data}
  delete: {enabled: true}
http:
  addr: $addr
  # shared by both processes, so either can finish an upload the other started
  secret: kiln-local-registry
CFG
  launch "$name" docker-registry serve "$DIR/$name.yml"
  wait_for "$name" "$name" curl -sf "http://$addr/v2/"
  log "$name on http://$addr (data: $DIR/data)"
}

start() {
  command -v docker-registry >/dev/null || die "docker-registry missing: run 'make setup'"
  mkdir -p "$DIR/data"
  serve registry "$ADDR"
  if node_ip_up; then
    serve registry-pod "$POD_ADDR"
  elif running registry-pod; then
    log "registry-pod running on $POD_ADDR (serves again when hack/node.sh start brings $BRIDGE back)"
  else
    log "registry for pods: $BRIDGE does not carry $NODE_IP yet; hack/node.sh start starts it on $POD_ADDR"
  fi
}

status() {
  local n
  for n in registry registry-pod; do
    if running "$n"; then echo "$n running (pid $(cat "$RUN/$n.pid"))"; else echo "$n not running"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) halt registry registry-pod; log "registry stopped" ;;
  status) status ;;
  address) echo "$POD_ADDR" ;;
  *) echo "usage: $0 start|stop|status|address" >&2; exit 2 ;;
esac
