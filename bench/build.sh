#!/bin/sh
# ib build of recipes/debian-minimal.yaml (cold build cache and store, warm .deb cache) vs
# mmdebstrap of the same package set, alternating A B A B (PAIRS, default 3). Prints a Markdown
# row: median wall times, the ratio ib/mmdebstrap, ib's peak RSS. Also a no-op rebuild row.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
need_cmd mmdebstrap mmdebstrap
WORK=$(mktemp -d /var/tmp/ib-bench-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ARCHIVES=$BENCH_CACHE/apt-archives
seed_archives "$ARCHIVES"
PKGS=systemd-sysv,udev,passwd,login,kmod,e2fsprogs,iproute2,ifupdown,zstd,linux-image-amd64,initramfs-tools,iputils-ping,isc-dhcp-client
MIRROR=$(node -e "import('./dist/packages/mirror.js').then(m=>console.log(m.hostDebianMirror()))")

IB="rm -rf $WORK/ib && mkdir -p $WORK/ib/apt && ln -s $ARCHIVES $WORK/ib/apt/archives && ./ib --cache-dir $WORK/ib -q build recipes/debian-minimal.yaml"
MM="rm -rf $WORK/mm && mmdebstrap --mode=root --variant=apt --format=directory --include=$PKGS --skip=essential/unlink \
  --aptopt='Acquire::Languages \"none\"' --aptopt='APT::Install-Recommends \"false\"' \
  --setup-hook='mkdir -p \"\$1\"/var/cache/apt/archives/' --setup-hook='sync-in $ARCHIVES /var/cache/apt/archives/' \
  --customize-hook='sync-out /var/cache/apt/archives $ARCHIVES' \
  bookworm $WORK/mm $MIRROR 'deb $MIRROR bookworm-updates main'"

# Warm the .deb cache once per machine (not measured).
[ -e "$ARCHIVES/.warm" ] || { sh -c "$IB" >/dev/null 2>&1 && touch "$ARCHIVES/.warm"; } || true
alternate ib "$IB" mmdebstrap "$MM"
report "Debian tree from scratch (debian-minimal)" ib mmdebstrap mmdebstrap
i=0
while [ "$i" -lt "$PAIRS" ]; do
  measure ib-noop "./ib --cache-dir $WORK/ib -q build recipes/debian-minimal.yaml"
  i=$((i+1))
done
report_one "no-op rebuild (all cached)" ib-noop "target < 1 s"
