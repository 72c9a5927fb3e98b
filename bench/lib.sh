# Shared helpers for bench/*.sh: alternate A/B runs, median wall time, peak RSS.
# measure NAME 'shell command'  → appends "NAME seconds rss_kib" to $BENCH_OUT
BENCH_OUT=${BENCH_OUT:-$(mktemp)}
measure() {
  /usr/bin/time -f "%e %M" -o "$BENCH_OUT.t" sh -c "$2" >/dev/null 2>"$BENCH_OUT.err" || {
    echo "bench: $1 failed:" >&2; tail -20 "$BENCH_OUT.err" >&2; return 1; }
  echo "$1 $(cat "$BENCH_OUT.t")" >> "$BENCH_OUT"
}
median() {
  awk -v n="$1" '$1==n{print $2}' "$BENCH_OUT" | sort -n |
    awk '{a[NR]=$1} END{if (NR==0) print 0; else print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
peak_rss_mb() { awk -v n="$1" '$1==n && $3>m{m=$3} END{printf "%.0f", m/1024}' "$BENCH_OUT"; }
# report WORKLOAD IB_NAME PEER_NAME PEER_LABEL → one Markdown row on stdout, one JSON line to $BENCH_JSON
report() {
  a=$(median "$2"); b=$(median "$3")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a"}')
  printf '| %s | %s s | %s %s s | %s | %s MB |\n' "$1" "$a" "$4" "$b" "$ratio" "$(peak_rss_mb "$2")"
  printf '{"workload":"%s","ib_s":%s,"peer":"%s","peer_s":%s,"ratio":"%s","ib_rss_mb":%s}\n' \
    "$1" "$a" "$4" "$b" "$ratio" "$(peak_rss_mb "$2")" >> "${BENCH_JSON:-/dev/null}"
}
