#!/usr/bin/env bash
# bench/remote-cache.sh — the remote cache against real nginx (WebDAV) on 127.0.0.1:
#   - saving and restoring a SIZE_MB artifact: wall time and peak RSS of shipgate, beside
#     curl moving the same file (PUT and GET) as the floor;
#   - saving the same entry again: how many blobs reach nginx (its access log);
#   - a remote that accepts connections and never answers: CPU shipgate spends waiting.
#
# usage: bench/remote-cache.sh      env: SIZE_MB=1024 SHIPGATE=path (default .build/release/shipgate)
#        Run it with an older binary (SHIPGATE=…) for the before/after figures.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SIZE_MB=${SIZE_MB:-1024}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
if [[ ! -x $SHIPGATE ]]; then
  echo "==> building shipgate (release)" >&2
  (cd "$ROOT" && swift build -c release --product shipgate >&2)
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "==> installing nginx-light" >&2; apt-get install -y -qq nginx-light >/dev/null; }
[[ -x /usr/bin/time ]] || { echo "==> installing time" >&2; apt-get install -y -qq time >/dev/null; }
command -v curl >/dev/null || apt-get install -y -qq curl >/dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench-remote.XXXXXX")
cleanup() {
  [[ -f $TMP/nginx/nginx.pid ]] && kill "$(cat "$TMP/nginx/nginx.pid")" 2>/dev/null || true
  [[ -n ${HUNG_PID:-} ]] && kill "$HUNG_PID" 2>/dev/null || true
  chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PORT=$(free_port)
mkdir -p "$TMP/nginx/data" "$TMP/nginx/body" "$TMP/nginx/logs"
cat > "$TMP/nginx/nginx.conf" <<EOF
$( [[ $(id -u) == 0 ]] && echo "user root;" )
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log;
events { worker_connections 64; }
http {
  access_log $TMP/nginx/logs/access.log;
  client_body_temp_path $TMP/nginx/body;
  server {
    listen 127.0.0.1:$PORT;
    root $TMP/nginx/data;
    location / { dav_methods PUT DELETE; create_full_put_path on; dav_access user:rw group:r all:r; client_max_body_size 0; }
  }
}
EOF
"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx/"
URL=http://127.0.0.1:$PORT/cache

echo "==> a ${SIZE_MB} MiB artifact" >&2
head -c $((SIZE_MB << 20)) /dev/urandom > "$TMP/big.src"
for m in a b; do
  mkdir -p "$TMP/$m/src"; echo x > "$TMP/$m/src/in.txt"
  cat > "$TMP/$m/shipgate.yml" <<EOF
name: remote-bench
jobs:
  package:
    inputs: ["src/**"]
    outputs: ["dist/big.bin"]
    steps: [{run: "mkdir -p dist && cp $TMP/big.src dist/big.bin"}]
EOF
done
# measure LABEL CMD...: "<wall s> <peak RSS MB> <cpu s>" of one run.
measure() {
  local out=$TMP/time.$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$out" "$@" >"$TMP/last.log" 2>&1 || { echo "error: $* failed" >&2; tail -5 "$TMP/last.log" >&2; exit 1; }
  awk '{printf "%.2f %d %.2f\n", $1, $2 / 1024, $3 + $4}' "$out"
}
puts() { grep -c "\"PUT /cache/cas/" "$TMP/nginx/logs/access.log" || true; }

# The same job with no remote at all: what running and storing locally costs (the rest is the remote).
mkdir -p "$TMP/l/src"; echo x > "$TMP/l/src/in.txt"; cp "$TMP/a/shipgate.yml" "$TMP/l/"
cd "$TMP/l"
read -r LOCAL_S LOCAL_MB _ < <(measure local "$SHIPGATE" run --output plain --state-dir "$TMP/l/.state")
rm -rf "$TMP/l/dist"
read -r LOCAL_RESTORE_S LOCAL_RESTORE_MB _ < <(measure localrestore "$SHIPGATE" run --output plain --state-dir "$TMP/l/.state")
rm -rf "$TMP/l"
cd "$TMP/a"
read -r SAVE_S SAVE_MB _ < <(measure save "$SHIPGATE" run --output plain --state-dir "$TMP/a/.state" --remote-cache "$URL")
BLOBS_FIRST=$(puts)
read -r RESAVE_S RESAVE_MB _ < <(measure resave "$SHIPGATE" run --output plain --state-dir "$TMP/a/.state" --remote-cache "$URL" --no-cache)
BLOBS_AGAIN=$(( $(puts) - BLOBS_FIRST ))
cd "$TMP/b"
read -r RESTORE_S RESTORE_MB _ < <(measure restore "$SHIPGATE" run --output plain --state-dir "$TMP/b/.state" --remote-cache "$URL")
grep -q "cached" "$TMP/last.log" || { echo "error: machine b did not restore from the remote" >&2; cat "$TMP/last.log" >&2; exit 1; }
cmp -s "$TMP/big.src" "$TMP/b/dist/big.bin" || { echo "error: the restored artifact differs" >&2; exit 1; }

read -r CURL_PUT_S CURL_PUT_MB _ < <(measure curlput curl -sf -T "$TMP/big.src" "$URL/floor/big")
read -r CURL_GET_S CURL_GET_MB _ < <(measure curlget curl -sf -o "$TMP/floor.get" "$URL/floor/big")
rm -f "$TMP/floor.get"

echo "==> a remote that never answers (10 s timeout)" >&2
HUNG=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$HUNG)); s.listen(64); time.sleep(3600)" &
HUNG_PID=$!
sleep 0.3
mkdir -p "$TMP/c/src"; echo y > "$TMP/c/src/in.txt"; cp "$TMP/a/shipgate.yml" "$TMP/c/"
sed -i "s|cp $TMP/big.src dist/big.bin|echo small > dist/big.bin|" "$TMP/c/shipgate.yml"
cd "$TMP/c"
read -r HUNG_S HUNG_MB HUNG_CPU < <(measure hung "$SHIPGATE" run --output plain --state-dir "$TMP/c/.state" --remote-cache "http://127.0.0.1:$HUNG/cache" --remote-timeout 10)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.2fx" : "-"), a / b }'; }
printf '\n%-44s %10s %10s %10s\n' "remote cache, ${SIZE_MB} MiB artifact" "wall s" "peak MB" "vs curl"
printf '%-44s %10s %10s %10s\n' "save (first run: blobs sent)" "$SAVE_S" "$SAVE_MB" "$(ratio "$SAVE_S" "$CURL_PUT_S")"
printf '%-44s %10s %10s %10s\n' "save the same entry again" "$RESAVE_S" "$RESAVE_MB" ""
printf '%-44s %10s %10s %10s\n' "restore on another machine" "$RESTORE_S" "$RESTORE_MB" "$(ratio "$RESTORE_S" "$CURL_GET_S")"
printf '%-44s %10s %10s\n' "the same run, no remote (run + store)" "$LOCAL_S" "$LOCAL_MB"
printf '%-44s %10s %10s\n' "restore from the local cache, no remote" "$LOCAL_RESTORE_S" "$LOCAL_RESTORE_MB"
printf '%-44s %10s %10s %10s\n' "upload alone (save - no remote)" "$(awk -v a="$SAVE_S" -v b="$LOCAL_S" 'BEGIN{printf "%.2f", a-b}')" "" "$(ratio "$(awk -v a="$SAVE_S" -v b="$LOCAL_S" 'BEGIN{print a-b}')" "$CURL_PUT_S")"
printf '%-44s %10s %10s %10s\n' "download alone (restore - local restore)" "$(awk -v a="$RESTORE_S" -v b="$LOCAL_RESTORE_S" 'BEGIN{printf "%.2f", a-b}')" "" "$(ratio "$(awk -v a="$RESTORE_S" -v b="$LOCAL_RESTORE_S" 'BEGIN{print a-b}')" "$CURL_GET_S")"
printf '%-44s %10s %10s\n' "curl -T (PUT), the floor" "$CURL_PUT_S" "$CURL_PUT_MB"
printf '%-44s %10s %10s\n' "curl (GET), the floor" "$CURL_GET_S" "$CURL_GET_MB"
printf '%-44s %10s\n' "blob PUTs in nginx's log, first save" "$BLOBS_FIRST"
printf '%-44s %10s\n' "blob PUTs in nginx's log, second save" "$BLOBS_AGAIN"
printf '%-44s %10s %10s %10s\n' "hung remote: wall s, CPU s while waiting" "$HUNG_S" "" "$HUNG_CPU"
