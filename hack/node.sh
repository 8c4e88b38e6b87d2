#!/usr/bin/env bash
# A real Kubernetes node beside the local control plane: Debian's containerd 1.6 (CRI, cgroupfs,
# overlayfs) + runc + CNI plugins, and the kubelet 1.20.2 that hack/control-plane.sh builds.
# Pods really run as runc containers; images are never pulled from outside: they are built here
# (hack/mkimage.py, debootstrap) and imported, and also pushed to the local registry.
#
#   hack/node.sh images      build the image archives once (cached under $KILN_CACHE/images)
#   hack/node.sh start       control plane + registry + containerd + kubelet; waits for the Node to be Ready
#   hack/node.sh stop        stop what start started, unmount, remove the bridge, cgroups, restore sysctls/iptables
#   hack/node.sh status
#   hack/node.sh import TAR  import an OCI archive into the node's containerd
#   hack/node.sh images-list print the image references pods can use
#
# State outside $KILN_WORK that kubelet 1.20 / containerd 1.6 hard-code, removed by stop:
# /var/log/pods, /var/log/containers, /var/lib/kubelet (device plugins), /var/lib/cni (libcni cache),
# the /kubepods cgroups, and the sysctls and iptables rules the kubelet and CNI change (saved at start).
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

NODE=$KILN_WORK/node
CTRD=$NODE/containerd
SOCK=$CTRD/containerd.sock
KL=$NODE/kubelet
PKI=$KILN_WORK/control-plane/pki
NODE_NAME=${KILN_NODE_NAME:-kiln-node}
# POD_CIDR, BRIDGE, NODE_IP and REGISTRY are set in lib.sh: the registry and the git daemon listen on
# NODE_IP too, for pods. The kubelet refuses a loopback node IP (the apiserver could not reach it for
# logs/exec) and the host's eth0 is not ours to use: the node IP is the gateway address of a bridge
# of our own.
IMAGES=$KILN_CACHE/images
# Bump when the builder's package list changes: it is the builder image's cache key and tag.
BUILDER_VERSION=bookworm-1
BUILDER_PACKAGES=buildah,runc,git,ca-certificates,containernetworking-plugins
SYSCTLS="net.ipv4.conf.all.route_localnet vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward"
KUBECTL=$KUBE_BIN/kubectl
API_PORT=${KILN_API_PORT:-6443}
KUBECONFIG_PATH=$KILN_WORK/control-plane/kubeconfig
ctr() { command ctr --address "$SOCK" -n k8s.io "$@"; }
kctl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# name  archive  mkimage flags: the images every run needs
image_ref() { echo "localhost/kiln/$1"; }
PAUSE=$(image_ref pause:1)
# 2: its config has a history entry for its layer, which buildah needs to commit RUN steps on top
BUSYBOX_VERSION=2
BUSYBOX=$(image_ref "busybox:$BUSYBOX_VERSION")
BUILDER=$(image_ref "builder:$BUILDER_VERSION")

images() {
  mkdir -p "$IMAGES"
  if [ ! -f "$IMAGES/pause-1.tar" ] || [ ! -f "$IMAGES/busybox-$BUSYBOX_VERSION.tar" ]; then
    # FROM scratch needs a static binary: Debian's busybox-static
    if ldd /bin/busybox >/dev/null 2>&1; then die "/bin/busybox is dynamically linked: apt-get install busybox-static"; fi
    local r; r=$(mktemp -d)
    mkdir -p "$r/pause/bin" "$r/busybox/bin" "$r/busybox/etc" "$r/busybox/tmp" "$r/busybox/root"
    chmod 1777 "$r/busybox/tmp"
    cp /bin/busybox "$r/pause/bin/"; cp /bin/busybox "$r/busybox/bin/"
    local a; for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/busybox/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/busybox/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/busybox/etc/group"
    # pause: a PID 1 that only sleeps; CRI stops sandboxes with SIGKILL, so it needs no signal handling
    python3 "$HACK/mkimage.py" "$r/pause" "$PAUSE" "$IMAGES/pause-1.tar" --entrypoint '["/bin/busybox","sleep","inf"]' >&2
    python3 "$HACK/mkimage.py" "$r/busybox" "$BUSYBOX" "$IMAGES/busybox-$BUSYBOX_VERSION.tar" --cmd '["/bin/sh"]' >&2
    rm -rf "$r"
  fi
  if [ ! -f "$IMAGES/builder-$BUILDER_VERSION.tar" ]; then
    local r=$IMAGES/rootfs-builder t0; t0=$(date +%s)
    rm -rf "$r"
    # containernetworking-plugins: debootstrap does not resolve the virtual container-network-stack
    # that buildah's dependencies ask for
    debootstrap --variant=minbase --include="$BUILDER_PACKAGES" bookworm "$r" \
      "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$LOGS/debootstrap.log" 2>&1 \
      || { tail -20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed (log: $LOGS/debootstrap.log)"; }
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/locale/* \
      "$r"/usr/share/man/* "$r"/debootstrap
    # vfs: overlay-on-overlay is not available inside the node's containers
    mkdir -p "$r/etc/containers"
    printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' \
      >"$r/etc/containers/storage.conf"
    python3 "$HACK/mkimage.py" "$r" "$BUILDER" "$IMAGES/builder-$BUILDER_VERSION.tar" --cmd '["/bin/bash"]' >&2
    rm -rf "$r"
    log "builder image built in $(($(date +%s) - t0)) s"
  fi
}

certs() {
  cd "$PKI"
  if [ ! -f kubelet-server.crt ] || ! openssl x509 -in kubelet-server.crt -noout -text | grep "IP Address:$NODE_IP," >/dev/null; then
    printf '%s\n' "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,DNS:localhost,DNS:$NODE_NAME" "extendedKeyUsage=serverAuth" \
      "keyUsage=digitalSignature,keyEncipherment" >kubelet-server.ext
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-server.key -out kubelet-server.csr -subj "/CN=$NODE_NAME" 2>/dev/null
    openssl x509 -req -in kubelet-server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-server.crt -days 3650 -extfile kubelet-server.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr -subj "/O=system:nodes/CN=system:node:$NODE_NAME" 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt -days 3650 -extfile client.ext 2>/dev/null
  fi
  cd - >/dev/null
  sed -e "s|$PKI/admin.crt|$PKI/kubelet-client.crt|; s|$PKI/admin.key|$PKI/kubelet-client.key|" \
    "$KUBECONFIG_PATH" >"$NODE/kubelet.kubeconfig"
}

configs() {
  mkdir -p "$CTRD/root" "$CTRD/state" "$CTRD/opt" "$NODE/cni/net.d" "$KL"
  cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # no CAP_SYS_RESOURCE in this VM: runc cannot lower oom_score_adj below containerd's own
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
  # the same registry as pods reach it, so an image reference a build pushed is pullable as is
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$NODE_IP:${REGISTRY##*:}"]
    endpoint = ["http://$NODE_IP:${REGISTRY##*:}"]
EOF
  # containerd's CRI plugin runs CNI (the kubelet's --cni-* flags are dockershim-only in 1.20); a
  # valid conflist is also what makes the runtime report NetworkReady, hence the Node Ready.
  cat >"$NODE/cni/net.d/10-kiln.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kiln",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$NODE/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}}
  ]
}
EOF
  cat >"$NODE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
podCIDR: $POD_CIDR
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
maxPods: 110
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
EOF
}

# import_image ARCHIVE REF: into containerd (for pods) and the local registry (for pulls over HTTP)
import_image() {
  local archive=$1 ref=$2 repo=${2#localhost/}
  ctr images ls -q | grep -x "$ref" >/dev/null || ctr images import "$archive" >/dev/null
  if ! curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
       "http://$REGISTRY/v2/${repo%:*}/manifests/${repo##*:}"; then
    skopeo copy -q --dest-tls-verify=false "oci-archive:$archive" "docker://$REGISTRY/$repo" >&2
  fi
}

node_ready() {
  [ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# remember NAME: note that PATH did not exist before the node started, so stop may remove it
remember() { [ -e "$2" ] || touch "$RUN/created-$1"; }
forget() { if [ -f "$RUN/created-$1" ]; then rm -rf "$2"; rm -f "$RUN/created-$1"; fi; }

start() {
  # kubelet 1.20 with cgroupfs is set up (and cleaned up) here for cgroup v1 only
  [ -d /sys/fs/cgroup/memory ] || die "the node needs cgroup v1 (boot with systemd.unified_cgroup_hierarchy=0); found cgroup v2"
  "$HACK/control-plane.sh" start >/dev/null
  # the bridge first: the registry binds the node IP for pods
  # (the CNI bridge plugin adopts an existing bridge that already carries its gateway address)
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr show dev "$BRIDGE" | grep " $NODE_IP/" >/dev/null || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  "$HACK/registry.sh" start
  mkdir -p "$NODE" "$IMAGES"
  # What the kubelet and the CNI bridge change on the host, noted before the first start so stop
  # can put back exactly that (and leave alone what was there before, e.g. another kubelet's).
  if ! running containerd && ! running kubelet; then
    [ -f "$RUN/sysctl.saved" ] || for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done >"$RUN/sysctl.saved"
    [ -f "$RUN/iptables.saved" ] || iptables-save >"$RUN/iptables.saved"
    remember var-lib-kubelet /var/lib/kubelet
    remember var-lib-cni /var/lib/cni
    remember var-log-pods /var/log/pods
    remember var-log-containers /var/log/containers
    remember kubepods-cgroups /sys/fs/cgroup/memory/kubepods
  fi
  certs; configs; images
  # Start only what is not running: a second `start` leaves a running node (and its pods) alone.
  if ! running containerd; then
    halt kubelet # a kubelet without its runtime would only fail; it is started again below
    launch containerd containerd --config "$CTRD/config.toml"
  fi
  wait_for "containerd" containerd ctr version
  import_image "$IMAGES/pause-1.tar" "$PAUSE"
  import_image "$IMAGES/busybox-$BUSYBOX_VERSION.tar" "$BUSYBOX"
  import_image "$IMAGES/builder-$BUILDER_VERSION.tar" "$BUILDER"
  if ! running kubelet; then
    # AWS_EC2_METADATA_DISABLED: the in-tree ECR credential provider otherwise probes 169.254.169.254
    launch kubelet env AWS_EC2_METADATA_DISABLED=true "$KUBE_BIN/kubelet" --config="$NODE/kubelet-config.yaml" \
      --kubeconfig="$NODE/kubelet.kubeconfig" --container-runtime=remote --container-runtime-endpoint="unix://$SOCK" \
      --runtime-request-timeout=10m --containerd="$SOCK" --root-dir="$KL" --cert-dir="$KL/pki" \
      --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --pod-infra-container-image="$PAUSE" --v=1
  fi
  wait_for "node $NODE_NAME Ready" kubelet node_ready
  services
  log "node $NODE_NAME Ready (images: $PAUSE $BUSYBOX $BUILDER)"
}

# Services on the node (kube-proxy, iptables mode), and the API server for pods: the API server
# stays bound to loopback, so socat forwards the node IP's port to it and the `kubernetes` Service's
# endpoint (the apiserver runs with --endpoint-reconciler-type=none) is the node IP.
services() {
  if ! running apiserver-forward; then
    need_port apiserver-forward "$API_PORT" "$NODE_IP"
    launch apiserver-forward socat "TCP-LISTEN:$API_PORT,bind=$NODE_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
  fi
  kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: $NODE_IP}]
  ports: [{name: https, port: $API_PORT, protocol: TCP}]
EOF
  if ! running kube-proxy; then
    # the conntrack flags at 0 leave the host's conntrack sysctls as they are
    launch kube-proxy "$KUBE_BIN/kube-proxy" --kubeconfig="$KUBECONFIG_PATH" --hostname-override="$NODE_NAME" \
      --cluster-cidr="$POD_CIDR" --proxy-mode=iptables --conntrack-max-per-core=0 \
      --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
      --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256 --v=1
  fi
  wait_for "kube-proxy" kube-proxy curl -sf -o /dev/null http://127.0.0.1:10256/healthz
}

# Remove the iptables rules and chains the kubelet and the CNI plugins added since the snapshot
# (theirs name KUBE-/CNI- chains, the bridge or the pod range); rules others added meanwhile stay.
iptables_undo() {
  python3 - "$RUN/iptables.saved" "$BRIDGE" "${POD_CIDR%/*}" <<'PY'
import re, shlex, subprocess, sys

ours = re.compile("KUBE-|CNI-|" + re.escape(sys.argv[2]) + "|" + re.escape(sys.argv[3].rsplit(".", 1)[0] + "."))

def parse(text):
    rules, chains, table = set(), set(), None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains.add((table, line[1:].split()[0]))
        elif line.startswith("-A "):
            rules.add((table, line))
    return rules, chains

now_rules, now_chains = parse(subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout)
with open(sys.argv[1]) as f:
    old_rules, old_chains = parse(f.read())
for table, rule in sorted(now_rules - old_rules):
    if ours.search(rule):
        subprocess.run(["iptables", "-t", table, "-D", *shlex.split(rule)[1:]], check=False)
for table, chain in sorted(now_chains - old_chains):
    if not chain.startswith(("KUBE-", "CNI-")):
        continue
    subprocess.run(["iptables", "-t", table, "-F", chain], check=False)
    subprocess.run(["iptables", "-t", table, "-X", chain], check=False)
PY
}

stop_node() {
  # kubelet first, so it restarts nothing; then the pods, through containerd while it still runs
  halt kube-proxy apiserver-forward kubelet
  if running containerd; then
    local t
    for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for t in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$t" >/dev/null 2>&1 || true; done
  fi
  halt containerd
  # every sandbox is gone: host-local IPAM would otherwise leak the addresses of pods alive at stop
  rm -rf "$NODE/cni/ipam"
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null || true); do kill "$p" 2>/dev/null || true; done
  # overlay rootfs, sandbox shm, netns and volume mounts under the work dir, deepest first
  awk -v d="$NODE/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  # cgroups, directories and host settings the kubelet created: only if they were not there before
  if [ -f "$RUN/created-kubepods-cgroups" ]; then
    local c
    for c in /sys/fs/cgroup/*/kubepods; do
      if [ -d "$c" ]; then find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
    done
    rm -f "$RUN/created-kubepods-cgroups"
  fi
  forget var-log-pods /var/log/pods
  forget var-log-containers /var/log/containers
  forget var-lib-kubelet /var/lib/kubelet
  forget var-lib-cni /var/lib/cni
  if [ -f "$RUN/sysctl.saved" ]; then sysctl -q -p "$RUN/sysctl.saved" >/dev/null && rm -f "$RUN/sysctl.saved"; fi
  if [ -f "$RUN/iptables.saved" ]; then iptables_undo && rm -f "$RUN/iptables.saved"; fi
  # the node object would otherwise stay NotReady in the apiserver until the next start
  if [ -f "$KUBECONFIG_PATH" ] && "$HACK/control-plane.sh" status | grep 'kube-apiserver running' >/dev/null; then
    kctl delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
}

status() {
  local n
  for n in containerd kubelet kube-proxy apiserver-forward; do
    if running "$n"; then echo "$n running (pid $(cat "$RUN/$n.pid"))"; else echo "$n not running"; fi
  done
  if node_ready; then echo "node $NODE_NAME Ready"; else echo "node $NODE_NAME not Ready"; fi
}

case "${1:-}" in
  images) images ;;
  images-list) printf '%s\n' "$PAUSE" "$BUSYBOX" "$BUILDER" ;;
  start) start ;;
  stop) stop_node; log "node stopped" ;;
  status) status ;;
  import) shift; ctr images import "$@" ;;
  *) echo "usage: $0 images|images-list|start|stop|status|import TAR" >&2; exit 2 ;;
esac
