#!/usr/bin/env bash
# `make demo`: push to image on this machine, as a platform team's user would see it.
#
#   hack/demo.sh run      bring up the local stack (control plane, node, registry, git server), start
#                         the operator and the webhook receiver, create tenant `demo` with Repository
#                         `app` bound to the bare repository demo/app.git on the git server and the
#                         seed's two BuildRules, push a commit to main and to release-v1 (its
#                         post-receive hook delivers a signed GitHub push to the receiver), follow
#                         both builds with the CLI and print the images with the digests read back
#                         from the registry. Run it again: new commits, new builds.
#   hack/demo.sh stop     stop the operator and the receiver it started (`make down` stops the rest)
#   hack/demo.sh status   whether they run
#
# The operator and receiver run as host processes (logs in $KILN_WORK/logs/kiln-*.log), on ports of
# their own; the test harness starts its own operator, so `make test` refuses to run beside them.
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

ROOT=$(cd "$HACK/.." && pwd)
KILN=$ROOT/.venv/bin/kiln
TENANT=demo
NAMESPACE=kiln-$TENANT
REPOSITORY=app
CODE_REPOSITORY=demo/app
# The Repository's URL, as a code host would serve it; the build Pods clone it from the git daemon
# instead (KILN_GIT_URL_REWRITES, as a mirror does in an offline cluster).
SOURCE_URL=https://git.kiln.invalid/$CODE_REPOSITORY.git
RECEIVER=127.0.0.1:18600
LIVENESS=127.0.0.1:18690
ADMISSION_PORT=19643
DEMO=$KILN_WORK/demo

status() {
  local name
  for name in kiln-operator kiln-receiver; do
    if running "$name"; then echo "$name running (pid $(cat "$RUN/$name.pid"))"; else echo "$name not running"; fi
  done
}

stop() {
  halt kiln-receiver kiln-operator
  # the operator's admission webhook would refuse every Kiln object once it is gone
  if [ -x "$KUBE_BIN/kubectl" ] && [ -f "$KILN_WORK/control-plane/kubeconfig" ]; then
    "$KUBE_BIN/kubectl" --kubeconfig "$KILN_WORK/control-plane/kubeconfig" --request-timeout=5s \
      delete validatingwebhookconfiguration validate.kiln.dev --ignore-not-found >/dev/null 2>&1 || true
  fi
  log "demo operator and receiver stopped"
}

kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

start_kiln() {
  local registry builder
  registry=$("$HACK/registry.sh" address)
  builder=$("$HACK/node.sh" images-list | grep /builder:)
  if ! running kiln-operator; then
    # builds run with buildah in the locally built builder image (no BuildKit image can be pulled
    # here), push over plain HTTP to the registry at the node address, and clone through the rewrite
    launch kiln-operator env \
      KILN_OPERATOR_NAMESPACE=kiln-system \
      KILN_WEBHOOK_LISTEN=127.0.0.1 KILN_WEBHOOK_HOST=127.0.0.1 KILN_WEBHOOK_PORT=$ADMISSION_PORT \
      KILN_BUILD_STRATEGY=buildah KILN_BUILDAH_IMAGE="$builder" KILN_CLONE_IMAGE="$builder" \
      KILN_INSECURE_REGISTRIES="$registry" \
      KILN_GIT_URL_REWRITES="https://git.kiln.invalid/=$("$HACK/gitserver.sh" url)/" \
      KILN_RECEIVER_URL="http://$RECEIVER" KILN_TRIGGER_USERS=kiln-admin \
      "$KILN" operator --kubeconfig "$KUBECONFIG" --liveness "http://$LIVENESS/healthz"
    wait_for "the operator" kiln-operator http_ok "http://$LIVENESS/healthz"
    wait_for "the admission webhook" kiln-operator admission_points_here
  fi
  if ! running kiln-receiver; then
    launch kiln-receiver "$KILN" webhook serve --kubeconfig "$KUBECONFIG" --listen "$RECEIVER"
    wait_for "the webhook receiver" kiln-receiver http_ok "http://$RECEIVER/readyz"
  fi
  log "operator (admission on 127.0.0.1:$ADMISSION_PORT) and receiver (http://$RECEIVER) running"
}

admission_points_here() {
  kubectl get validatingwebhookconfiguration validate.kiln.dev \
    -o 'jsonpath={.webhooks[0].clientConfig.url}' 2>/dev/null | grep -q ":$ADMISSION_PORT/" \
    && reachable 127.0.0.1 "$ADMISSION_PORT"
}

apply_objects() {
  local registry
  registry=$("$HACK/registry.sh" address)
  kubectl apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: Namespace
metadata:
  name: $TENANT
spec:
  registry:
    server: $registry
EOF
  wait_for "tenant $TENANT Ready" kiln-operator tenant_ready
  kubectl -n "$NAMESPACE" apply -f - >/dev/null <<EOF
apiVersion: kiln.dev/v1alpha1
kind: Repository
metadata:
  name: $REPOSITORY
spec:
  source:
    provider: github
    url: $SOURCE_URL
    webhook:
      autoRegister: false  # the bare repository's post-receive hook delivers
---
apiVersion: kiln.dev/v1alpha1
kind: BuildRule
metadata:
  name: main
spec:
  repository: $REPOSITORY
  source:
    type: Branch
    name: main
  tags:
    - tag: latest
---
apiVersion: kiln.dev/v1alpha1
kind: BuildRule
metadata:
  name: release
spec:
  repository: $REPOSITORY
  source:
    type: Branch
    pattern: release-(?<imageTag>\w*)
  tags:
    - tag: \${imageTag}
      buildTime: yyyyMMddHHmm
      commitIdLength: 30
EOF
  wait_for "Repository $REPOSITORY's webhook Secret" kiln-operator \
    kubectl -n "$NAMESPACE" get secret "$REPOSITORY-webhook"
  log "tenant $TENANT: Repository $REPOSITORY ($SOURCE_URL), BuildRules main and release"
}

tenant_ready() {
  [ "$(kubectl get kilnnamespaces.kiln.dev "$TENANT" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

bare_repository() {
  local bare secret
  bare=$("$HACK/gitserver.sh" root)/$CODE_REPOSITORY.git
  [ -d "$bare" ] || git init -q --bare -b main "$bare"
  secret=$bare/kiln-webhook-secret
  (umask 077; kubectl -n "$NAMESPACE" get secret "$REPOSITORY-webhook" -o 'jsonpath={.data.token}' | base64 -d >"$secret")
  cat >"$bare/hooks/post-receive" <<EOF
#!/bin/sh
# delivers each pushed ref to the Kiln receiver as a signed GitHub push (hack/demo.sh)
exec "$KILN" webhook post-receive --url "http://$RECEIVER/hooks/github/$TENANT/$REPOSITORY" \\
  --secret-file "$secret" --repository "$CODE_REPOSITORY" --clone-url "$SOURCE_URL"
EOF
  chmod +x "$bare/hooks/post-receive"
}

push_commits() {
  local work=$DEMO/work base stamp
  base=$("$HACK/node.sh" images-list | grep /busybox: | sed "s#^localhost/#$("$HACK/registry.sh" address)/#")
  if [ ! -d "$work/.git" ]; then
    rm -rf "$work"; git init -q -b main "$work"
    git -C "$work" remote add origin "git://127.0.0.1:${KILN_GIT_PORT:-9418}/$CODE_REPOSITORY.git"
  fi
  git -C "$work" config user.name "Kiln Demo"; git -C "$work" config user.email demo@kiln.invalid
  stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  cat >"$work/Dockerfile" <<EOF
FROM $base
COPY index.html /www/index.html
RUN echo "built by Kiln from \$(cat /www/index.html)" >/www/built
CMD ["httpd", "-f", "-h", "/www"]
EOF
  git -C "$work" checkout -q -B main
  echo "demo pushed at $stamp" >"$work/index.html"
  git -C "$work" add -A; git -C "$work" commit -q -m "demo: main at $stamp"
  git -C "$work" push -f origin main 2>&1 | tee "$DEMO/push-main.log" | sed 's/^/  /' >&2
  git -C "$work" checkout -q -B release-v1
  echo "release v1, pushed at $stamp" >"$work/index.html"
  git -C "$work" commit -qam "demo: release-v1 at $stamp"
  git -C "$work" push -f origin release-v1 2>&1 | tee "$DEMO/push-release.log" | sed 's/^/  /' >&2
}

# the BuildRuns the hook's answers named ("kiln:   BuildRun <namespace>/<name> [tags]")
pushed_runs() { sed -n 's#^remote: kiln:   BuildRun [^/]*/\([^ ]*\) .*#\1#p' "$DEMO"/push-*.log; }

follow() {
  local run failed=0
  for run in $(pushed_runs); do
    log "kiln logs -f $run"
    "$KILN" logs --kubeconfig "$KUBECONFIG" --tenant "$TENANT" -f "$run" || failed=1
  done
  return $failed
}

images() {
  local run image tag digest failed=0
  image=$(kubectl -n "$NAMESPACE" get repositories.kiln.dev "$REPOSITORY" -o 'jsonpath={.status.image}')
  echo
  echo "Images (digests read back from the registry at $REGISTRY):"
  for run in $(pushed_runs); do
    for tag in $(kubectl -n "$NAMESPACE" get buildruns.kiln.dev "$run" -o 'jsonpath={.spec.tags[*]}'); do
      digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' \
        "docker://$REGISTRY/$TENANT/$REPOSITORY:$tag" 2>/dev/null) || { digest="(not in the registry)"; failed=1; }
      printf '  %s:%s\n    %s\n' "$image" "$tag" "$digest"
    done
  done
  return $failed
}

run() {
  mkdir -p "$DEMO"
  KUBECONFIG=$("$HACK/control-plane.sh" start | tail -1)
  "$HACK/node.sh" start
  "$HACK/gitserver.sh" start
  kubectl apply -f "$ROOT/crds" >/dev/null
  start_kiln
  apply_objects
  bare_repository
  push_commits
  [ -n "$(pushed_runs)" ] || die "the receiver created no BuildRun (see $DEMO/push-*.log and $LOGS/kiln-receiver.log)"
  follow || die "a build failed: \`kiln describe BUILDRUN --tenant $TENANT\` says why"
  images
}

case "${1:-}" in
  run) run ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 run|stop|status" >&2; exit 2 ;;
esac
