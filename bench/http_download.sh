#!/usr/bin/env bash
# HTTP path benchmark (issue: foundation). On loopback, a 1 GiB repo of three
# files served by `llmpt serve`:
#   A. llmpt download --no-p2p (verification included) vs curl + sha256sum
#   B. llmpt serve vs nginx delivering one large file to curl
#   C. peak RSS of llmpt download
# Each measurement runs ROUNDS times, alternating the contenders; medians and
# ratios are printed. Needs: curl, nginx-light, time (installed if missing).
#
#   bench/http_download.sh [build/bin/llmpt]
set -euo pipefail
llmpt="$(realpath "${1:-build/bin/llmpt}")"
ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"

need=()
for p in curl nginx-light time; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
fi

work="$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" llmpt-bench-XXXXXX)"
chmod 755 "$work" # nginx workers run as another user
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

echo "== making a ${SIZE_MIB} MiB repo of 3 files"
make_repo "$work/src" "$SIZE_MIB"
commit=$("$llmpt" cache import "$work/src" --repo bench/model --cache-dir "$work/srv")

"$llmpt" serve --cache-dir "$work/srv" --listen 127.0.0.1:0 --quiet > "$work/serve.out" &
pids+=($!)
for _ in $(seq 200); do grep -q listening "$work/serve.out" 2> /dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")

nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" << CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/src;
    }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
pids+=("$(cat "$work/nginx/nginx.pid")")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break; sleep 0.05; done

urls=()
files=(model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors)
for f in "${files[@]}"; do urls+=("$endpoint/bench/model/resolve/main/$f"); done

echo "== A. download + verify: llmpt download --no-p2p vs curl + sha256sum (${ROUNDS} rounds)"
: > "$work/a_llmpt"
: > "$work/a_curl"
: > "$work/rss"
for r in $(seq "$ROUNDS"); do
    rm -rf "$work/dl" "$work/curl" && mkdir -p "$work/curl"
    t0=$(now)
    (cd "$work/curl" && curl -s --fail "${urls[0]}" -o a "${urls[1]}" -o b "${urls[2]}" -o c && sha256sum a b c > /dev/null)
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/a_curl"
    rm -rf "$work/curl"

    t0=$(now)
    /usr/bin/time -f %M -o "$work/rss_one" "$llmpt" download bench/model --no-p2p --quiet \
        --endpoint "$endpoint" --cache-dir "$work/dl" > /dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/a_llmpt"
    cat "$work/rss_one" >> "$work/rss"
    "$llmpt" verify bench/model --cache-dir "$work/dl" 2> /dev/null
done
a_curl=$(median < "$work/a_curl")
a_llmpt=$(median < "$work/a_llmpt")

echo "== B. one $((SIZE_MIB / 2)) MiB file to curl: llmpt serve vs nginx (${ROUNDS} rounds)"
: > "$work/b_llmpt"
: > "$work/b_nginx"
for r in $(seq "$ROUNDS"); do
    curl -s --fail -o /dev/null -w '%{speed_download}\n' "http://127.0.0.1:$nginx_port/${files[0]}" >> "$work/b_nginx"
    curl -s --fail -o /dev/null -w '%{speed_download}\n' "${urls[0]}" >> "$work/b_llmpt"
done
b_nginx=$(median < "$work/b_nginx")
b_llmpt=$(median < "$work/b_llmpt")
rss_kib=$(sort -g "$work/rss" | tail -1)

echo
echo "results (median of $ROUNDS, ${SIZE_MIB} MiB in 3 files, loopback):"
printf '  A. curl + sha256sum          %8.2f s\n' "$a_curl"
printf '     llmpt download --no-p2p   %8.2f s   ratio llmpt/curl = %.2f (goal <= 1.0)\n' "$a_llmpt" \
    "$(echo "$a_llmpt / $a_curl" | bc -l)"
printf '  B. nginx -> curl             %8.0f MiB/s\n' "$(echo "$b_nginx / 1048576" | bc -l)"
printf '     llmpt serve -> curl       %8.0f MiB/s   ratio serve/nginx = %.2f (goal >= 0.7)\n' \
    "$(echo "$b_llmpt / 1048576" | bc -l)" "$(echo "$b_llmpt / $b_nginx" | bc -l)"
printf '  C. peak RSS of llmpt download %6.1f MiB (goal < 100)\n' "$(echo "$rss_kib / 1024" | bc -l)"
