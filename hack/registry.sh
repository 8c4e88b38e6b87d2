#!/usr/bin/env bash
# Debian's docker-registry on 127.0.0.1:5000, filesystem storage under $KILN_WORK/registry.
#   hack/registry.sh start|stop|status
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

ADDR=${KILN_REGISTRY:-127.0.0.1:5000}
DIR=$KILN_WORK/registry

start() {
  command -v docker-registry >/dev/null || die "docker-registry missing: run 'make setup'"
  if running registry && curl -sf "http://$ADDR/v2/" >/dev/null; then log "registry already running on $ADDR"; return 0; fi
  halt registry
  need_port registry "${ADDR##*:}"
  mkdir -p "$DIR/data"
  cat >"$DIR/config.yml" <<CFG
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $DIR/data}
  delete: {enabled: true}
http:
  addr: $ADDR
CFG
  launch registry docker-registry serve "$DIR/config.yml"
  wait_for "registry" registry curl -sf "http://$ADDR/v2/"
  log "registry on http://$ADDR (data: $DIR/data)"
}

case "${1:-}" in
  start) start ;;
  stop) halt registry; log "registry stopped" ;;
  status) if running registry; then echo "registry running (pid $(cat "$RUN/registry.pid"))"; else echo "registry not running"; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
