# Shared helpers for bench/*.sh (POSIX sh, sourced from the repo root).
#   measure NAME 'shell command'   → appends "NAME seconds rss_kib" to $BENCH_OUT
#   alternate A 'cmd' B 'cmd'      → PAIRS times A then B (A B A B …); $PREP (a function) runs
#                                    untimed before each measurement, with the name as $1
#   report WORKLOAD A B LABEL      → one Markdown row on stdout, one JSON line to $BENCH_JSON
#   report_one WORKLOAD A NOTE     → the same for an ib-only row (no peer)
# Peak RSS is GNU time's %M: the largest single process of the measured command's tree (for ib
# that is node itself unless a tool it runs, such as mksquashfs, grows larger).
BENCH_OUT=${BENCH_OUT:-$(mktemp /tmp/ib-bench-out.XXXXXX)}
PAIRS=${PAIRS:-3}
BENCH_CACHE=${IB_BENCH_CACHE:-/var/cache/ib-bench}
MIRROR_URL=http://deb.debian.org/debian

measure() {
  /usr/bin/time -f "%e %M" -o "$BENCH_OUT.t" sh -c "$2" >/dev/null 2>"$BENCH_OUT.err" || {
    echo "bench: $1 failed:" >&2; tail -20 "$BENCH_OUT.err" >&2; return 1; }
  echo "$1 $(cat "$BENCH_OUT.t")" >> "$BENCH_OUT"
  echo "bench: $1 $(cut -d' ' -f1 "$BENCH_OUT.t") s" >&2
}

alternate() {
  _i=0
  while [ "$_i" -lt "$PAIRS" ]; do
    [ -z "${PREP:-}" ] || $PREP "$1"
    measure "$1" "$2"
    [ -z "${PREP:-}" ] || $PREP "$3"
    measure "$3" "$4"
    _i=$((_i+1))
  done
}

median() {
  awk -v n="$1" '$1==n{print $2}' "$BENCH_OUT" | sort -n |
    awk '{a[NR]=$1} END{if (NR==0) print 0; else print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
peak_rss_mb() { awk -v n="$1" '$1==n && $3>m{m=$3} END{printf "%.0f", m/1024}' "$BENCH_OUT"; }

report() {
  _a=$(median "$2"); _b=$(median "$3")
  _r=$(awk -v a="$_a" -v b="$_b" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a"}')
  printf '| %s | %s s | %s %s s | %s | %s MB |\n' "$1" "$_a" "$4" "$_b" "$_r" "$(peak_rss_mb "$2")"
  [ "$_r" = n/a ] && _r=null
  printf '{"workload":"%s","ib_s":%s,"peer":"%s","peer_s":%s,"ratio":%s,"ib_rss_mb":%s,"pairs":%s}\n' \
    "$1" "$_a" "$4" "$_b" "$_r" "$(peak_rss_mb "$2")" "$PAIRS" >> "${BENCH_JSON:-/dev/null}"
}

report_one() {
  _a=$(median "$2")
  printf '| %s | %s s | %s | | %s MB |\n' "$1" "$_a" "$3" "$(peak_rss_mb "$2")"
  printf '{"workload":"%s","ib_s":%s,"peer":null,"peer_s":null,"ratio":null,"note":"%s","ib_rss_mb":%s,"pairs":%s}\n' \
    "$1" "$_a" "$3" "$(peak_rss_mb "$2")" "$PAIRS" >> "${BENCH_JSON:-/dev/null}"
}

# need_cmd CMD PACKAGE… → install the Debian packages when CMD is missing (peers come from Debian).
need_cmd() {
  _c=$1; shift
  command -v "$_c" >/dev/null 2>&1 && return 0
  echo "bench: $_c missing; apt-get install $*" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } >&2
}

# seed_archives DIR → DIR holds .debs; hardlinked from the test suite's apt cache when empty, so a
# bench on a machine that ran the tests downloads nothing (hardlinks: .debs are never rewritten,
# and a separate directory keeps the tests' apt lock out of the bench's way).
seed_archives() {
  mkdir -p "$1/partial"
  ls "$1"/*.deb >/dev/null 2>&1 && return 0
  for _d in /var/cache/ib-test/ib/apt/archives /var/cache/ib-test/apt-archives; do
    ls "$_d"/*.deb >/dev/null 2>&1 && cp -al "$_d"/*.deb "$1"/ 2>/dev/null
  done
  return 0
}

# bench_cache → prints the ib cache dir the benches share (images made once, .debs seeded).
bench_cache() {
  seed_archives "$BENCH_CACHE/ib/apt/archives"
  echo "$BENCH_CACHE/ib"
}

# registry_up DIR [PORT] → prints 127.0.0.1:PORT of a fresh docker-registry storing in DIR (a
# free port when none is given); registry_down DIR stops it and deletes DIR.
registry_up() {
  need_cmd docker-registry docker-registry
  registry_down "$1"
  mkdir -p "$1"
  registry/start.sh --storage "$1" ${2:+--port "$2"} 2>"$1.log" || { cat "$1.log" >&2; return 1; }
  sed -n 's/.*pid \([0-9]*\).*/\1/p' "$1.log" | head -1 > "$1.pid"
}
registry_down() {
  if [ -s "$1.pid" ]; then kill "$(cat "$1.pid")" 2>/dev/null || true; fi
  rm -rf "$1" "$1.pid" "$1.log"
}

# ib_has VERB → fails with a clear message when this ib has no such command yet.
ib_has() {
  ./ib --help 2>/dev/null | grep -q "^  $1 " && return 0
  echo "bench: this ib has no '$1' command (not in ./ib --help); build a tree that has it (npx tsc -p .)" >&2
  return 1
}
