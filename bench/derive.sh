#!/bin/sh
# Derive: base from a local registry + one package, pushed back — ib vs buildah
# (from/run/commit/push), alternating, PAIRS pairs (default 3); then ib's cached re-derive.
# Needs a base image: builds recipes/debian-minimal.yaml into the bench cache if missing.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
PAIRS=${PAIRS:-3}
command -v buildah >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends buildah fuse-overlayfs; }
CACHE=${IB_BENCH_CACHE:-/var/cache/ib-bench}/ib
WORK=$(mktemp -d /var/tmp/ib-bench-derive.XXXXXX)
REG=$(registry/start.sh --storage "$WORK/registry" 2>"$WORK/registry.log")
REGPID=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$WORK/registry.log" | head -1)
trap 'kill $REGPID 2>/dev/null; buildah rm --all >/dev/null 2>&1; rm -rf "$WORK"' EXIT

./ib --cache-dir "$CACHE" -q build recipes/debian-minimal.yaml --tag bench/base:1 >/dev/null
./ib --cache-dir "$CACHE" -q push bench/base:1 "$REG/bench/base:1" >/dev/null

# ib: a fresh build cache each run, but the base layers unpacked once (as a machine that derived
# from this base before would have them) — the same advantage buildah's local storage gets below.
IB="rm -rf $WORK/ib && mkdir -p $WORK/ib && cp -al $CACHE/layers $WORK/ib/layers && mkdir -p $WORK/ib/apt && ln -s $CACHE/apt/archives $WORK/ib/apt/archives && \
  ./ib --cache-dir $WORK/ib -q derive from $REG/bench/base:1 --install htop --tag bench/tools:1 --push $REG/bench/tools-ib:1"
BUILDAH="c=\$(buildah from --tls-verify=false -q $REG/bench/base:1) && \
  buildah run --network=host \$c -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends htop >/dev/null && rm -rf /var/lib/apt/lists/*' && \
  buildah commit -q \$c bench-tools && buildah push --tls-verify=false -q bench-tools docker://$REG/bench/tools-buildah:1 && buildah rm \$c >/dev/null"
i=0
while [ "$i" -lt "$PAIRS" ]; do
  measure ib "$IB"
  measure buildah "$BUILDAH"
  i=$((i+1))
done
report "derive: base + 1 package, pushed" ib buildah buildah
i=0
while [ "$i" -lt "$PAIRS" ]; do
  measure ib-cached "./ib --cache-dir $WORK/ib -q derive from $REG/bench/base:1 --install htop --tag bench/tools:1"
  i=$((i+1))
done
printf '| cached re-derive | %s s | target < 1 s | | %s MB |\n' "$(median ib-cached)" "$(peak_rss_mb ib-cached)"
