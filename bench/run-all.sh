#!/bin/sh
# Every benchmark, one after another: the whole table as Markdown on stdout, then the same rows as
# one JSON document (also written to the file $BENCH_JSON when it is set). PAIRS (default 3) is
# passed on; BENCHES picks scripts (default: build derive transfer ostree qcow2 iso). A script that
# fails gets a "failed" row and the others still run; the exit code is then 1.
set -u
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-3}
BENCHES=${BENCHES:-build derive transfer ostree qcow2 iso}
OUT_JSON=${BENCH_JSON:-}
LINES=$(mktemp /tmp/ib-bench-json.XXXXXX)
trap 'rm -f "$LINES"' EXIT
export PAIRS

started=$(date -u +%Y-%m-%dT%H:%MZ)
machine="$(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "ib benchmarks, $started, $machine, PAIRS=$PAIRS, ib $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| workload | ib (median) | peer (median) | ib/peer | ib peak RSS |"
echo "| --- | --- | --- | --- | --- |"
status=0
for b in $BENCHES; do
  if ! BENCH_JSON=$LINES sh "bench/$b.sh"; then
    echo "| $b.sh | failed (see its stderr) | | | |"
    printf '{"workload":"%s.sh","failed":true}\n' "$b" >> "$LINES"
    status=1
  fi
done
doc=$(awk -v d="$started" -v m="$machine" -v p="$PAIRS" '
  BEGIN { printf "{\"date\":\"%s\",\"machine\":\"%s\",\"pairs\":%s,\"rows\":[", d, m, p }
  { printf "%s\n  %s", (NR > 1 ? "," : ""), $0 }
  END { print "\n]}" }' "$LINES")
echo
echo "$doc"
[ -z "$OUT_JSON" ] || echo "$doc" > "$OUT_JSON"
exit $status
