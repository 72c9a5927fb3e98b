#!/bin/bash
# Start Debian's docker-registry on 127.0.0.1 for tests and demos, in the background.
#
#   registry/start.sh [--port N] [--storage DIR] [--htpasswd USER:PASS]
#
# Prints the address (127.0.0.1:PORT) on stdout once /v2/ answers; the pid, the storage dir and
# the log file go to stderr. Stop it with `kill PID`. Needs: docker-registry (and apache2-utils
# for --htpasswd).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=""
storage=""
creds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --storage) storage=$2; shift 2 ;;
    --htpasswd) creds=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "start.sh: unknown argument '$1' (valid: --port N, --storage DIR, --htpasswd USER:PASS)" >&2; exit 2 ;;
  esac
done

command -v docker-registry >/dev/null || { echo "start.sh: docker-registry not found; install it with: apt-get install -y docker-registry" >&2; exit 1; }

[ -n "$storage" ] || storage=$(mktemp -d /tmp/ib-registry.XXXXXX)
mkdir -p "$storage"
if [ -z "$port" ]; then
  # Let the kernel pick a free port: bind 0, read it back, release it.
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
fi

env=(
  "REGISTRY_HTTP_ADDR=127.0.0.1:$port"
  "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=$storage/data"
  "REGISTRY_HTTP_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
)
if [ -n "$creds" ]; then
  command -v htpasswd >/dev/null || { echo "start.sh: htpasswd not found; install it with: apt-get install -y apache2-utils" >&2; exit 1; }
  # distribution accepts bcrypt entries only.
  htpasswd -Bbn "${creds%%:*}" "${creds#*:}" > "$storage/htpasswd"
  env+=("REGISTRY_AUTH_HTPASSWD_REALM=ib-registry" "REGISTRY_AUTH_HTPASSWD_PATH=$storage/htpasswd")
fi

env "${env[@]}" setsid docker-registry serve "$here/config.yml" >"$storage/registry.log" 2>&1 </dev/null &
pid=$!

for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start.sh: docker-registry exited; its log:" >&2
    tail -20 "$storage/registry.log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "127.0.0.1:$port"
    echo "docker-registry pid $pid, storage $storage/data, log $storage/registry.log; stop with: kill $pid" >&2
    exit 0
  fi
  sleep 0.1
done
echo "start.sh: docker-registry did not listen on 127.0.0.1:$port within 10 s" >&2
kill "$pid" 2>/dev/null || true
exit 1
