#!/bin/sh
# Registry transfers of the debian-minimal image (~235 MB of gzip layers) — ib vs skopeo copy,
# alternating A B A B (PAIRS, default 3), each run against a fresh, empty registry:
#   push + pull: local store → registry, then registry → a new empty store
#                (ib push + ib pull into a new --store; skopeo oci:STORE → docker://, then
#                 docker:// → oci:NEWDIR — ib's store is an OCI layout, so both read the same blobs)
#   copy:        registry → registry (ib copy vs skopeo copy; both move the compressed blobs as they are)
# Prints a Markdown row per workload: median wall times, ratio ib/skopeo, ib's peak RSS.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
need_cmd skopeo skopeo
CACHE=$(bench_cache)
WORK=$(mktemp -d /var/tmp/ib-bench-transfer.XXXXXX)
trap 'registry_down "$WORK/src"; registry_down "$WORK/dst"; rm -rf "$WORK"' EXIT

./ib --cache-dir "$CACHE" -q build recipes/debian-minimal.yaml --tag bench/base:1 >/dev/null
SRC=$(registry_up "$WORK/src")
./ib --cache-dir "$CACHE" -q push bench/base:1 "$SRC/bench/base:1" >/dev/null
echo "bench: image bench/base:1, $(du -sm "$WORK/src" | cut -f1) MB in the registry" >&2

# A fresh, empty destination registry (same port) and empty pull targets before every
# measurement, untimed, so neither tool finds a blob already there.
DST=$(registry_up "$WORK/dst")
fresh() {
  rm -rf "$WORK/pulled" "$WORK/ib-store"
  registry_up "$WORK/dst" "${DST#*:}" >/dev/null
}
PREP=fresh

IB_PP="./ib --cache-dir $CACHE -q push bench/base:1 $DST/bench/ib:1 && ./ib --store $WORK/ib-store -q pull $DST/bench/ib:1"
SK_PP="skopeo copy -q --dest-tls-verify=false oci:$CACHE/store:bench/base:1 docker://$DST/bench/skopeo:1 && \
  skopeo copy -q --src-tls-verify=false docker://$DST/bench/skopeo:1 oci:$WORK/pulled:bench"
alternate ib-pushpull "$IB_PP" skopeo-pushpull "$SK_PP"
report "push + pull debian-minimal (fresh registry, empty store)" ib-pushpull skopeo-pushpull skopeo

IB_CP="./ib --store $WORK/ib-store -q copy docker://$SRC/bench/base:1 docker://$DST/bench/ib:1"
SK_CP="skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://$SRC/bench/base:1 docker://$DST/bench/skopeo:1"
alternate ib-copy "$IB_CP" skopeo-copy "$SK_CP"
report "copy registry → registry (debian-minimal)" ib-copy skopeo-copy skopeo
