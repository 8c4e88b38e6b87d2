#!/usr/bin/env bash
# A real Kubernetes 1.20.2 control plane on 127.0.0.1, built only from Debian's archive:
# kube-apiserver, kube-controller-manager, kube-scheduler (and the kubelet and kube-proxy, for hack/node.sh)
# from `apt-get source kubernetes` with Debian's Go 1.19, plus Debian's etcd and kubectl.
#
#   hack/control-plane.sh build        compile once into $KUBE_BIN (cached, keyed by Debian source version)
#   hack/control-plane.sh start        start etcd + apiserver + controllers; prints the kubeconfig path
#   hack/control-plane.sh stop         stop exactly what start started (by PID)
#   hack/control-plane.sh status       print what runs
#   hack/control-plane.sh kubeconfig   print the kubeconfig path
#
# A second `start` while the control plane runs changes nothing; a piece that died is restarted alone.
# Env: KILN_WORK (state, default /tmp/kiln), KILN_CACHE (default ~/.cache/kiln), KILN_API_PORT (6443).
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

CP=$KILN_WORK/control-plane
PKI=$CP/pki
PORT=${KILN_API_PORT:-6443}
KUBECONFIG_PATH=$CP/kubeconfig
BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"
ETCD_PORT=12379 # not 2379: a distribution etcd.service must not clash

build() {
  local b missing=()
  for b in $BINARIES kubectl; do [ -x "$KUBE_BIN/$b" ] || missing+=("$b"); done
  if [ ${#missing[@]} -eq 0 ]; then log "control plane binaries cached in $KUBE_BIN"; return 0; fi
  # deb-src stanza mirroring the deb one, for `apt-get source` (unless the kubernetes source is
  # already known to apt, whichever file provides it)
  if ! apt-cache showsrc kubernetes 2>/dev/null | grep '^Package: kubernetes' >/dev/null; then
    [ "$(id -u)" = 0 ] || die "needs root to add a deb-src source"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >/etc/apt/sources.list.d/kiln-debian-src.sources
    else
      sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/kiln-debian-src.list
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt-cache showsrc kubernetes 2>/dev/null | grep '^Package: kubernetes' >/dev/null \
      || die "apt knows no source package 'kubernetes' even with deb-src added"
  fi
  # the pinned version, or (after a security update replaced it) the archive's
  if ! apt-cache showsrc kubernetes | grep -x "Version: $KUBE_DEB_VERSION" >/dev/null; then
    local available
    available=$(apt-cache showsrc kubernetes | sed -n 's/^Version: //p' | sort -V | tail -1)
    log "kubernetes source $KUBE_DEB_VERSION is no longer in the archive; building $available"
    KUBE_DEB_VERSION=$available
    KUBE_BIN=$KILN_CACHE/kubernetes-$KUBE_VERSION/$KUBE_DEB_VERSION/bin
    missing=()
    for b in $BINARIES kubectl; do [ -x "$KUBE_BIN/$b" ] || missing+=("$b"); done
    [ ${#missing[@]} -gt 0 ] || { echo "$KUBE_DEB_VERSION" >"$KILN_CACHE/kubernetes-$KUBE_VERSION/current"; return 0; }
  fi
  # golang-github-modern-go-reflect2-dev: see the reflect2 patch below
  apt_install make golang-go dpkg-dev rsync openssl curl golang-github-modern-go-reflect2-dev
  local work=$KILN_CACHE/build-kubernetes t0
  t0=$(date +%s)
  mkdir -p "$work/src" "$KUBE_BIN.partial"
  if ! ls -d "$work"/src/kubernetes-*/ >/dev/null 2>&1; then
    (cd "$work/src" && apt-get source -qq "kubernetes=$KUBE_DEB_VERSION" >"$LOGS/apt-source.log" 2>&1) \
      || { tail "$LOGS/apt-source.log" >&2; die "apt-get source kubernetes=$KUBE_DEB_VERSION failed"; }
  fi
  local src; src=$(ls -d "$work"/src/kubernetes-*/ | head -1); src=${src%/}
  # The vendored modern-go/reflect2 1.0.1 segfaults under Go >= 1.18 (the apiserver dies on the
  # first custom-resource create); Debian's 1.0.2 is API-compatible.
  local r=$src/vendor/github.com/modern-go/reflect2
  if [ ! -f "$r/go_above_118.go" ]; then
    find "$r" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
    cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r/"
  fi
  # Go never touches the network: everything is vendored
  export GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 GOCACHE=$work/gocache
  # the generated OpenAPI definitions are not in the tarball: run the upstream generator
  if [ ! -f "$src/pkg/generated/openapi/zz_generated.openapi.go" ]; then
    (cd "$src" && make gen_openapi >"$LOGS/gen-openapi.log" 2>&1) \
      || { tail -30 "$LOGS/gen-openapi.log" >&2; die "openapi generation failed"; }
  fi
  # GOPATH mode, like upstream 1.20 and Debian's debian/rules
  export GOPATH=$work/gopath GO111MODULE=off
  mkdir -p "$GOPATH/src/k8s.io"; ln -sfn "$src" "$GOPATH/src/k8s.io/kubernetes"
  cd "$GOPATH/src/k8s.io/kubernetes"
  local ld="-s -w" p
  for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=20 -X $p.gitTreeState=archive"
    ld+=" -X $p.gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56"
  done
  for b in "${missing[@]}"; do
    [ "$b" = kubectl ] && continue
    go build -tags selinux,notest -trimpath -ldflags "$ld" -o "$KUBE_BIN.partial/$b" "./cmd/$b" >"$LOGS/build-$b.log" 2>&1 \
      || { tail -30 "$LOGS/build-$b.log" >&2; die "go build $b failed"; }
    log "built $b"
  done
  # kubectl: Debian's own kubernetes-client binary of the same source version
  if [ ! -x "$KUBE_BIN/kubectl" ]; then
    local kc; kc=$(mktemp -d); chmod 755 "$kc" # apt downloads as _apt
    (cd "$kc" && apt-get download -qq "kubernetes-client=$KUBE_DEB_VERSION" && dpkg -x kubernetes-client_*.deb x) \
      || die "apt-get download kubernetes-client=$KUBE_DEB_VERSION failed"
    cp "$kc/x/usr/bin/kubectl" "$KUBE_BIN.partial/kubectl"; rm -rf "$kc"
  fi
  mkdir -p "$KUBE_BIN"
  mv "$KUBE_BIN.partial"/* "$KUBE_BIN"/ && rmdir "$KUBE_BIN.partial"
  echo "$KUBE_DEB_VERSION" >"$KILN_CACHE/kubernetes-$KUBE_VERSION/current"
  # the sources and Go build cache (~2 GB) are only needed to build again
  rm -rf "$work"
  log "control plane built in $(($(date +%s) - t0)) s into $KUBE_BIN"
}

certs() {
  mkdir -p "$PKI"; cd "$PKI"
  if [ ! -f sa.pub ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=kiln-local-ca" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      "extendedKeyUsage=serverAuth" "keyUsage=digitalSignature,keyEncipherment" >server.ext
    printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=digitalSignature,keyEncipherment" >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile server.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=kiln-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  fi
  cd - >/dev/null
  cat >"$KUBECONFIG_PATH" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kiln-local
  cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: kiln-admin
  user: {client-certificate: "$PKI/admin.crt", client-key: "$PKI/admin.key"}
contexts:
- name: kiln-local
  context: {cluster: kiln-local, user: kiln-admin}
current-context: kiln-local
EOF
}

readyz() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$PORT/readyz"
}

start() {
  # only what start launches: the node's binaries are checked by hack/node.sh
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do [ -x "$KUBE_BIN/$b" ] || die "$KUBE_BIN/$b missing: run '$0 build' first"; done
  command -v etcd >/dev/null || die "etcd missing: run 'make setup' (apt-get install etcd-server)"
  mkdir -p "$CP"
  certs
  # Start only what is not running: a second `start` leaves a running control plane alone, and a
  # piece that died is restarted without touching the others (or etcd's data).
  if ! running etcd; then
    need_port etcd "$ETCD_PORT"
    launch etcd etcd --name kiln --data-dir "$CP/etcd-data" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
      --initial-cluster kiln=http://127.0.0.1:12380 --listen-metrics-urls http://127.0.0.1:12381
  fi
  wait_for "etcd" etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  if ! running kube-apiserver; then
    need_port kube-apiserver "$PORT"
    # --kubelet-*: the apiserver reaches the node's kubelet (logs, exec) with the admin client cert
    launch kube-apiserver "$KUBE_BIN/kube-apiserver" \
      --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
      --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" --insecure-port=0 \
      --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
      --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
      --service-account-issuer=https://kubernetes.default.svc.cluster.local \
      --api-audiences=https://kubernetes.default.svc.cluster.local \
      --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
      --endpoint-reconciler-type=none --profiling=false \
      --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
      --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname
  fi
  wait_for "kube-apiserver /readyz" kube-apiserver readyz
  if ! running kube-controller-manager; then
    launch kube-controller-manager "$KUBE_BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_PATH" \
      --authentication-kubeconfig="$KUBECONFIG_PATH" --authorization-kubeconfig="$KUBECONFIG_PATH" \
      --bind-address=127.0.0.1 --port=0 --secure-port=10257 --leader-elect=false \
      --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
      --use-service-account-credentials=true \
      --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key"
  fi
  if ! running kube-scheduler; then
    launch kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_PATH" \
      --authentication-kubeconfig="$KUBECONFIG_PATH" --authorization-kubeconfig="$KUBECONFIG_PATH" \
      --bind-address=127.0.0.1 --port=0 --secure-port=10259 --leader-elect=false
  fi
  log "control plane ready on https://127.0.0.1:$PORT (kubectl: $KUBE_BIN/kubectl)"
  echo "$KUBECONFIG_PATH"
}

stop_all() {
  halt kube-scheduler kube-controller-manager kube-apiserver etcd
  # each `start` after a `stop` is a fresh, empty cluster
  rm -rf "$CP/etcd-data"
}

status() {
  local n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    if running "$n"; then echo "$n running (pid $(cat "$RUN/$n.pid"))"; else echo "$n not running"; fi
  done
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop_all; log "control plane stopped" ;;
  status) status ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  bin) echo "$KUBE_BIN" ;;
  *) echo "usage: $0 build|start|stop|status|kubeconfig|bin" >&2; exit 2 ;;
esac
