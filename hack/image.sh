#!/usr/bin/env bash
# The container image of Kiln itself (the Dockerfile at the repository root), built here without
# pulling anything: no registry holds a Python base image for this machine, so `base` makes one
# from Debian's archive (debootstrap, hack/mkimage.py) and `build` runs the Dockerfile on it with
# the host's buildah (pip reaches PyPI over the host network).
#
#   hack/image.sh base            the base image localhost/kiln/python:3.11-bookworm-N (Debian's
#                                 python3, python3-venv, ca-certificates), cached under
#                                 $KILN_CACHE/images and loaded into Kiln's buildah storage
#   hack/image.sh build           base + the Kiln image localhost/kiln/kiln:VERSION-HASH (HASH: of
#                                 the files it is made of), written to $KILN_CACHE/images/kiln-VERSION-HASH.tar;
#                                 skipped when that archive exists; prints the reference
#   hack/image.sh import [REF]    import REF's archive (default: build first) into the local node's
#                                 containerd, so pods run it with imagePullPolicy Never or IfNotPresent
#   hack/image.sh ref             print the reference the checkout builds
#   hack/image.sh archive [REF]   print the path of REF's OCI archive (default: the checkout's)
#   hack/image.sh buildah ARGS    host buildah on Kiln's storage (e.g. `images`, `inspect REF`)
#
# buildah runs as root with a storage of its own, $KILN_CACHE/buildah (overlay; KILN_BUILDAH_DRIVER=vfs
# where overlay is not available), so that the layers it keeps (the base, the dependencies' stage)
# and the ones it prunes are Kiln's only. The upstream base works as well:
# `buildah bud --build-arg BASE=python:3.11-slim-bookworm .` (or docker build).
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HACK")
# shellcheck source=hack/lib.sh
. "$HACK/lib.sh"

IMAGES=$KILN_CACHE/images
# Bump when the base's package list or its making changes: it is its cache key and tag.
BASE_VERSION=1
BASE_PACKAGES=python3,python3-venv,ca-certificates
BASE_REF=localhost/kiln/python:3.11-bookworm-$BASE_VERSION
BASE_ARCHIVE=$IMAGES/python-3.11-bookworm-$BASE_VERSION.tar
# What the Kiln image is made of (the build context): a change to any of these files makes a new
# tag; the dependencies' stage depends on DEPS_INPUTS only.
INPUTS=(Dockerfile .dockerignore pyproject.toml README.md operator)
DEPS_INPUTS=(Dockerfile pyproject.toml)
KEEP_ARCHIVES=3
CONTEXT= # made by snapshot_context
BUILDAH=(buildah --root "$KILN_CACHE/buildah/storage" --runroot "$KILN_WORK/buildah")
[ -z "${KILN_BUILDAH_DRIVER:-}" ] || BUILDAH+=(--storage-driver "$KILN_BUILDAH_DRIVER")

project_version() { sed -n 's/^version = "\(.*\)"$/\1/p' "$1/pyproject.toml" | head -1; }

# the inputs' files in the checkout: tracked or new, not ignored by git (so no caches or egg-info)
checkout_files() {
  if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z --cached --others --exclude-standard -- "${INPUTS[@]}" \
      | while IFS= read -r -d '' f; do [ -f "$REPO/$f" ] && printf '%s\n' "$f"; done | LC_ALL=C sort -u
  else
    (cd "$REPO" && find "${INPUTS[@]}" -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' | LC_ALL=C sort)
  fi
}

# the files of the snapshot snapshot_context makes (the same list as the checkout's)
context_files() { (cd "$CONTEXT" && find "${INPUTS[@]}" -type f | LC_ALL=C sort); }

# digest DIR < FILES: 12 hex digits of a hash over the base and the names and contents of FILES
digest() {
  { echo "$BASE_REF"; (cd "$1" && while IFS= read -r f; do sha256sum -- "$f"; done); } | sha256sum | cut -c1-12
}

# tag DIR LISTER: the project version and the digest of the files LISTER lists in DIR
tag() { echo "$(project_version "$1")-$("$2" | digest "$1")"; }

# the build context: a copy of the inputs, so the image is made of exactly the files its tag
# hashes even while the checkout is being edited
snapshot_context() {
  mkdir -p "$KILN_WORK/image"
  CONTEXT=$(mktemp -d "$KILN_WORK/image/context.XXXXXX")
  trap 'rm -rf "$CONTEXT"' EXIT
  checkout_files | tar -C "$REPO" -cf - --no-recursion -T - | tar -C "$CONTEXT" -xf -
}

ref_of() { echo "localhost/kiln/kiln:$1"; }
archive_of() { echo "$IMAGES/kiln-$1.tar"; }

base() {
  mkdir -p "$IMAGES"
  if [ ! -f "$BASE_ARCHIVE" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is not installed (make apt)"
    local r=$IMAGES/rootfs-python t0; t0=$(date +%s)
    rm -rf "$r"
    log "debootstrap bookworm with $BASE_PACKAGES"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$r" \
      "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$LOGS/debootstrap-python.log" 2>&1 \
      || { tail -20 "$LOGS/debootstrap-python.log" >&2; die "debootstrap failed (log: $LOGS/debootstrap-python.log)"; }
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/locale/* \
      "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/* "$r"/debootstrap
    python3 "$HACK/mkimage.py" "$r" "$BASE_REF" "$BASE_ARCHIVE" --env LANG=C.UTF-8 --cmd '["python3"]' >&2
    rm -rf "$r"
    log "base image built in $(($(date +%s) - t0)) s"
  fi
  # buildah: the archive's image under the base's name (once; a bumped version is a new name)
  if ! "${BUILDAH[@]}" inspect --type image "$BASE_REF" >/dev/null 2>&1; then
    local id
    id=$("${BUILDAH[@]}" pull -q "oci-archive:$BASE_ARCHIVE" | tail -1)
    "${BUILDAH[@]}" tag "$id" "$BASE_REF"
  fi
}

# bud ARGS...: buildah bud on the snapshot, with what every build of it needs. chroot isolation:
# no OCI runtime or network namespace; pip uses the host network and trusts what the host trusts
# (a TLS-inspecting proxy's CA, say): the host's CA bundle is mounted for the RUN steps only, in
# stages that are not shipped. --layers: the dependencies' stage is reused while it is tagged;
# --force-rm: a failed step leaves no working container behind.
bud() {
  local ca=${KILN_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt} ca_args=()
  [ ! -f "$ca" ] || ca_args=(-v "$ca:/run/kiln-build-ca.crt:ro" --build-arg PIP_CERT=/run/kiln-build-ca.crt)
  "${BUILDAH[@]}" bud --layers --force-rm --isolation chroot --network host --pull=never "${ca_args[@]}" \
    --build-arg "BASE=$BASE_REF" --build-arg "VERSION=$(project_version "$CONTEXT")" \
    -f "$CONTEXT/Dockerfile" "$@" "$CONTEXT" >>"$LOGS/image-build.log" 2>&1 \
    || { tail -30 "$LOGS/image-build.log" >&2; die "buildah bud failed (log: $LOGS/image-build.log)"; }
}

build() {
  command -v buildah >/dev/null || die "buildah is not installed (make apt)"
  mkdir -p "$IMAGES"
  # one build at a time (two test sessions may ask at once); the second finds the first's archive
  exec 9>"$IMAGES/kiln-image.lock"
  flock 9
  snapshot_context
  local t ref archive; t=$(tag "$CONTEXT" context_files); ref=$(ref_of "$t"); archive=$(archive_of "$t")
  if [ -f "$archive" ]; then
    log "$ref is built ($archive)"
    echo "$ref"
    return
  fi
  base
  local t0 deps; t0=$(date +%s)
  deps=localhost/kiln/kiln-deps:$(printf '%s\n' "${DEPS_INPUTS[@]}" | digest "$CONTEXT")
  log "building $ref"
  : >"$LOGS/image-build.log"
  "${BUILDAH[@]}" inspect --type image "$deps" >/dev/null 2>&1 || bud --target deps -t "$deps"
  bud -t "$ref"
  rm -f "$archive.partial"
  "${BUILDAH[@]}" push -q "$ref" "oci-archive:$archive.partial:$ref" >&2
  mv "$archive.partial" "$archive"
  log "$ref built in $(($(date +%s) - t0)) s -> $archive ($(($(stat -c %s "$archive") >> 20)) MiB)"
  # Kiln's storage keeps the base and the current dependencies; the image itself lives on in its
  # archive, of which the newest few are kept (another checkout may be importing one of them)
  local old
  "${BUILDAH[@]}" rmi "$ref" >/dev/null 2>&1 || true
  for old in $("${BUILDAH[@]}" images --noheading --format '{{.Name}}:{{.Tag}}' | grep '^localhost/kiln/kiln-deps:'); do
    [ "$old" = "$deps" ] || "${BUILDAH[@]}" rmi "$old" >/dev/null 2>&1 || true
  done
  "${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
  find "$IMAGES" -maxdepth 1 -name 'kiln-*.tar' -printf '%T@ %p\n' | sort -rn | tail -n +$((KEEP_ARCHIVES + 1)) \
    | cut -d' ' -f2- | xargs -r rm -f
  echo "$ref"
}

# import [REF]: REF (built earlier), or what the checkout builds
import() {
  local ref=${1:-} archive out
  [ -n "$ref" ] || ref=$(build)
  archive=$(archive_of "${ref##*:}")
  [ -f "$archive" ] || die "$ref is not built: no $archive"
  # ctr names an OCI archive's image after its ref.name annotation (the full reference here) only
  # when it matches --base-name; otherwise the image would be imported without a name
  out=$("$HACK/node.sh" import --base-name "${ref%:*}" "$archive" 2>&1) \
    || die "import into the node's containerd failed: $out"
  grep -F "$ref" <<<"$out" >/dev/null || die "the node's containerd did not name the image $ref: $out"
  log "imported $ref into the node's containerd"
  echo "$ref"
}

case "${1:-}" in
  base) base; echo "$BASE_REF" ;;
  build) build ;;
  import) import "${2:-}" ;;
  ref) ref_of "$(tag "$REPO" checkout_files)" ;;
  archive) if [ -n "${2:-}" ]; then archive_of "${2##*:}"; else archive_of "$(tag "$REPO" checkout_files)"; fi ;;
  buildah) shift; "${BUILDAH[@]}" "$@" ;;
  *) echo "usage: $0 base|build|import [REF]|ref|archive [REF]|buildah ARGS" >&2; exit 2 ;;
esac
