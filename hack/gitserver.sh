#!/usr/bin/env bash
# `git daemon` serving the bare repositories under $KILN_WORK/git on git://127.0.0.1:9418/<name>.git
# (pushes enabled: it is a local test server).
#   hack/gitserver.sh start|stop|status|root
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

PORT=${KILN_GIT_PORT:-9418}
ROOT=$KILN_WORK/git

start() {
  if running git-daemon && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then log "git daemon already running"; return 0; fi
  halt git-daemon
  need_port "git daemon" "$PORT"
  mkdir -p "$ROOT"
  launch git-daemon git daemon --reuseaddr --listen=127.0.0.1 --port="$PORT" --base-path="$ROOT" \
    --export-all --enable=receive-pack --informative-errors "$ROOT"
  wait_for "git daemon" git-daemon bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
  log "git daemon on git://127.0.0.1:$PORT/ (repositories: $ROOT)"
}

case "${1:-}" in
  start) start ;;
  stop) halt git-daemon; log "git daemon stopped" ;;
  status) if running git-daemon; then echo "git-daemon running (pid $(cat "$RUN/git-daemon.pid"))"; else echo "git-daemon not running"; fi ;;
  root) echo "$ROOT" ;;
  *) echo "usage: $0 start|stop|status|root" >&2; exit 2 ;;
esac
