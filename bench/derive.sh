#!/bin/sh
# Derive: base from a local registry + one package, pushed back — ib vs buildah
# (from/run/commit/push), alternating, PAIRS pairs (default 3); then ib's cached re-derive.
# Needs a base image: builds recipes/debian-minimal.yaml into the bench cache if missing.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
need_cmd buildah buildah fuse-overlayfs
CACHE=$(bench_cache)
WORK=$(mktemp -d /var/tmp/ib-bench-derive.XXXXXX)
trap 'registry_down "$WORK/registry"; buildah rm --all >/dev/null 2>&1; rm -rf "$WORK"' EXIT
REG=$(registry_up "$WORK/registry")

./ib --cache-dir "$CACHE" -q build recipes/debian-minimal.yaml --tag bench/base:1 >/dev/null
./ib --cache-dir "$CACHE" -q push bench/base:1 "$REG/bench/base:1" >/dev/null

# ib: a fresh build cache each run, but the base layers unpacked once (as a machine that derived
# from this base before would have them) — the same advantage buildah's local storage gets below.
IB="rm -rf $WORK/ib && mkdir -p $WORK/ib && cp -al $CACHE/layers $WORK/ib/layers && mkdir -p $WORK/ib/apt && ln -s $CACHE/apt/archives $WORK/ib/apt/archives && \
  ./ib --cache-dir $WORK/ib -q derive from $REG/bench/base:1 --install htop --tag bench/tools:1 --push $REG/bench/tools-ib:1"
BUILDAH="c=\$(buildah from --tls-verify=false -q $REG/bench/base:1) && \
  buildah run --network=host \$c -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends htop >/dev/null && rm -rf /var/lib/apt/lists/*' && \
  buildah commit -q \$c bench-tools && buildah push --tls-verify=false -q bench-tools docker://$REG/bench/tools-buildah:1 && buildah rm \$c >/dev/null"
alternate ib "$IB" buildah "$BUILDAH"
report "derive: base + 1 package, pushed" ib buildah buildah
i=0
while [ "$i" -lt "$PAIRS" ]; do
  measure ib-cached "./ib --cache-dir $WORK/ib -q derive from $REG/bench/base:1 --install htop --tag bench/tools:1"
  i=$((i+1))
done
report_one "cached re-derive" ib-cached "target < 1 s"
