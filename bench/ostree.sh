#!/bin/sh
# ostree commit of one prepared tree (recipes/debian-ostree.yaml: debian-minimal +
# layers/platform/ostree, ~770 MB, 15.8k entries) into a new repo, bare-user and archive: ib's
# commit path (ostreeCommit from dist/ostree, which creates the repo and runs `ostree commit`
# reproducibly) vs the ostree CLI (`ostree init` + `ostree commit --bootable`), alternating
# A B A B (PAIRS, default 3). Then, ib only (no Debian peer: rpm-ostree is not in bookworm): the
# encapsulation of the archive commit as an ostree-native container image, and `ib ostree commit
# IMAGE` end to end (unpack, flatten, prepare, commit) when this ib has the verb.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
need_cmd ostree ostree
CACHE=$(bench_cache)
WORK=$(mktemp -d /var/tmp/ib-bench-ostree.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SDE=1700000000

./ib --cache-dir "$CACHE" -q build recipes/debian-ostree.yaml --tag bench/ostree:1 >/dev/null
./ib --cache-dir "$CACHE" -q export bench/ostree:1 "$WORK/flat" >/dev/null
# prepareTree: /etc → /usr/etc, kernel into /usr/lib/modules, /var emptied (not timed).
node --input-type=module -e "
  import { prepareTree } from './dist/ostree/index.js';
  await prepareTree(process.argv[1], process.argv[2], { sourceDateEpoch: $SDE });
" "$WORK/flat" "$WORK/tree"
rm -rf "$WORK/flat"
echo "bench: prepared tree $(du -sm "$WORK/tree" | cut -f1) MB, $(find "$WORK/tree" | wc -l) entries" >&2

# Each run starts from no repo (its own; the other tool's last repo stays for the encapsulation below).
fresh() { case $1 in ib-*) rm -rf "$WORK/repo-ib" ;; *) rm -rf "$WORK/repo-cli" ;; esac; }
PREP=fresh
for MODE in bare-user archive; do
  IB="node --input-type=module -e \"
    import { ostreeCommit } from './dist/ostree/index.js';
    console.log(await ostreeCommit({ tree: '$WORK/tree', repo: '$WORK/repo-ib', branch: 'bench/x86_64', mode: '$MODE', sourceDateEpoch: $SDE }));\""
  CLI="ostree --repo=$WORK/repo-cli init --mode=$MODE && ostree --repo=$WORK/repo-cli commit --branch=bench/x86_64 --bootable --tree=dir=$WORK/tree"
  alternate "ib-$MODE" "$IB" "ostree-$MODE" "$CLI"
  report "ostree commit, $MODE (prepared debian-ostree tree)" "ib-$MODE" "ostree-$MODE" "ostree CLI"
done

# The last archive run's repo is still there: encapsulate its commit (fresh store each run).
i=0
while [ "$i" -lt "$PAIRS" ]; do
  rm -rf "$WORK/store"
  measure ib-encapsulate "node --input-type=module -e \"
    import { encapsulate } from './dist/ostree/index.js';
    import { Store } from './dist/oci/index.js';
    const store = await Store.open('$WORK/store');
    const img = await encapsulate({ repo: '$WORK/repo-ib', ref: 'bench/x86_64', store, tag: 'bench/ostree-container:1' });
    console.log(img.manifest.digest);\""
  i=$((i+1))
done
report_one "encapsulate the archive commit as an ostree-native container" ib-encapsulate "no Debian peer"

if ./ib --help 2>/dev/null | grep -q '^  ostree '; then
  i=0
  while [ "$i" -lt "$PAIRS" ]; do
    rm -rf "$WORK/repo-e2e"
    measure ib-ostree-e2e "./ib --cache-dir $CACHE -q ostree commit bench/ostree:1 --repo $WORK/repo-e2e --mode bare-user --branch bench/x86_64"
    i=$((i+1))
  done
  report_one "ib ostree commit IMAGE, bare-user (unpack + flatten + prepare + commit)" ib-ostree-e2e "end to end, no peer"
fi
