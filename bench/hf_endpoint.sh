#!/usr/bin/env bash
# HF endpoint benchmark (issue: HF_ENDPOINT). On loopback, a 1 GiB repo of
# 3 files, @huggingface/hub's snapshotDownload into an empty cache:
#   straight  from `llmpt serve` (the Hub stand-in), as without llmpt
#   endpoint  through a daemon's HF endpoint (--hub-listen) with an empty
#             cache of its own and one `llmpt seed` on the tracker: the
#             daemon fetches the snapshot from the peer and streams it on
# Alternating rounds; the median of each and their ratio (goal <= 1.1).
# The same pair with bench/protocol_client.py, a client speaking the
# protocol as huggingface_hub does (HEAD without redirects, then GET).
# Also: what the daemon took from the origin (its tasks' bytes_http), CPU
# seconds of the daemon per round, its peak RSS.
#
# On loopback the two shared cores are the limit (the seeder, the daemon
# and the client all run on them). With RATE set (root), the servers (origin,
# tracker, seeder) sit in one network namespace and the client with its
# daemon in another, joined by a veth pair whose server side sends at RATE
# (tc tbf), as two machines on a LAN (bench/p2p_link.sh's set-up).
#
#   bench/hf_endpoint.sh [build/bin]        # ROUNDS=3 SIZE_MIB=1024 [RATE=1gbit]
set -euo pipefail
bin="$(realpath "${1:-build/bin}")"
ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
RATE="${RATE:-}"
here="$(realpath "$(dirname "${BASH_SOURCE[0]}")")"
js="$here/../tests/integration/js"
[[ -d "$js/node_modules/@huggingface/hub" ]] || { echo "needs tests/integration/js/node_modules: run scripts/bootstrap.sh"; exit 1; }

work="$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" llmpt-endpoint-bench-XXXXXX)"
pids=()
export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
srv="llmpt-ep-srv-$$"
cli="llmpt-ep-cli-$$"
cleanup() {
    in_cli "$bin/llmpt" daemon stop --cache-dir "$work/daemon" > /dev/null 2>&1 || true
    for p in "${pids[@]}"; do kill -INT "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [[ -n "$RATE" ]]; then
        ip netns del "$srv" 2> /dev/null || true
        ip netns del "$cli" 2> /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [[ -n "$RATE" ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "RATE needs root (network namespaces)" >&2; exit 2; }
    command -v tc > /dev/null || { apt-get update -qq && apt-get install -y -qq iproute2 > /dev/null; }
    in_srv() { ip netns exec "$srv" "$@"; }
    in_cli() { ip netns exec "$cli" "$@"; }
    srv_ip=10.202.0.1
    cli_ip=10.202.0.2
    echo "== namespaces: servers at $srv_ip, client and its daemon at $cli_ip, link $RATE"
    ip netns add "$srv"
    ip netns add "$cli"
    ip link add "llmpt-es$$" type veth peer name "llmpt-ec$$"
    ip link set "llmpt-es$$" netns "$srv"
    ip link set "llmpt-ec$$" netns "$cli"
    ip -n "$srv" addr add "$srv_ip/24" dev "llmpt-es$$"
    ip -n "$cli" addr add "$cli_ip/24" dev "llmpt-ec$$"
    for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
    ip -n "$srv" link set "llmpt-es$$" up
    ip -n "$cli" link set "llmpt-ec$$" up
    tc -n "$srv" qdisc replace dev "llmpt-es$$" root tbf rate "$RATE" burst 4mb latency 50ms
else
    in_srv() { "$@"; }
    in_cli() { "$@"; }
    srv_ip=127.0.0.1
    cli_ip=127.0.0.1
fi

echo "== making a ${SIZE_MIB} MiB repo of 3 files"
make_repo "$work/src" "$SIZE_MIB"
"$bin/llmpt" cache import "$work/src" --repo bench/m --cache-dir "$work/hub" > /dev/null
"$bin/llmpt" cache import "$work/src" --repo bench/m --cache-dir "$work/seed" > /dev/null
rm -rf "$work/src"

# Not through a shell function when namespaced: `ip netns exec` execs the
# command, so $! is the server's own pid and the cleanup's SIGINT reaches it.
if [[ -n "$RATE" ]]; then
    ip netns exec "$srv" "$bin/llmpt-tracker" --listen "$srv_ip:0" --db "$work/t.db" --quiet > "$work/tracker.out" 2> /dev/null &
    pids+=($!)
    ip netns exec "$srv" "$bin/llmpt" serve --cache-dir "$work/hub" --listen "$srv_ip:0" --quiet > "$work/serve.out" &
    pids+=($!)
else
    "$bin/llmpt-tracker" --listen 127.0.0.1:0 --db "$work/t.db" --quiet > "$work/tracker.out" 2> /dev/null &
    pids+=($!)
    "$bin/llmpt" serve --cache-dir "$work/hub" --listen 127.0.0.1:0 --quiet > "$work/serve.out" &
    pids+=($!)
fi
wait_line "$work/tracker.out" listening && wait_line "$work/serve.out" listening
tracker=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/tracker.out")
origin=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
if [[ -n "$RATE" ]]; then
    ip netns exec "$srv" "$bin/llmpt" seed bench/m --cache-dir "$work/seed" --tracker "$tracker" --listen "$srv_ip:0" \
        > "$work/seed.out" 2> /dev/null &
else
    "$bin/llmpt" seed bench/m --cache-dir "$work/seed" --tracker "$tracker" --listen 127.0.0.1:0 > "$work/seed.out" 2> /dev/null &
fi
pids+=($!)
wait_line "$work/seed.out" seeding

hz=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
snapshot() { # snapshot HUB_URL CACHE
    (cd "$js" && in_cli node hfjs.mjs "{\"op\":\"snapshot\",\"repo\":\"bench/m\",\"revision\":\"main\",\"cacheDir\":\"$2\",\"hubUrl\":\"$1\"}") \
        > "$work/js.out" || { echo "snapshotDownload failed: $(cat "$work/js.out")"; exit 1; }
}
fresh() { rm -rf "$work/js" "$work/daemon" && sync; }

: > "$work/straight"; : > "$work/endpoint"; : > "$work/origin_bytes"; : > "$work/cpu"; : > "$work/rss"
: > "$work/task_seconds"; : > "$work/py_straight"; : > "$work/py_endpoint"
for r in $(seq "$ROUNDS"); do
    fresh
    t0=$(now)
    snapshot "$origin" "$work/js"
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/straight"

    fresh
    t0=$(now)
    in_cli python3 "$here/protocol_client.py" "$origin" bench/m "$work/js"
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/py_straight"

    for client in js py; do
    fresh
    in_cli "$bin/llmpt" daemon start --cache-dir "$work/daemon" --tracker "$tracker" --listen "$cli_ip:0" \
        --hub-listen 127.0.0.1:0 --endpoint "$origin" --log-file "$work/daemon.log" > /dev/null
    status() { in_cli "$bin/llmpt" daemon status --cache-dir "$work/daemon" --json | python3 -c "import json,sys; s=json.load(sys.stdin)[0]; print($1)"; }
    hub=$(status 's["hub"]')
    dpid=$(status 's["pid"]')
    c0=$(cpu_of "$dpid")
    t0=$(now)
    if [[ $client == js ]]; then snapshot "$hub" "$work/js"; else in_cli python3 "$here/protocol_client.py" "$hub" bench/m "$work/js"; fi
    t1=$(now)
    if [[ $client == py ]]; then
        echo "$t1 - $t0" | bc >> "$work/py_endpoint"
        in_cli "$bin/llmpt" daemon stop --cache-dir "$work/daemon" > /dev/null
        continue
    fi
    echo "$t1 - $t0" | bc >> "$work/endpoint"
    echo "$(cpu_of "$dpid") - $c0" | bc >> "$work/cpu"
    awk '/VmHWM/ {print $2}' "/proc/$dpid/status" >> "$work/rss"
    status 'sum(t["result"]["bytes_http"] for t in s["tasks"] if t["result"])' >> "$work/origin_bytes"
    status '" + ".join("%.2f" % t["result"]["seconds"] for t in s["tasks"] if t["result"])' >> "$work/task_seconds"
    in_cli "$bin/llmpt" daemon stop --cache-dir "$work/daemon" > /dev/null
    cmp -s "$work/js/models--bench--m/snapshots/"*/model-00001-of-00003.safetensors \
        "$work/hub/models--bench--m/snapshots/"*/model-00001-of-00003.safetensors || { echo "wrong bytes"; exit 1; }
    done
done
echo "   rounds: straight $(paste -sd' ' "$work/straight") | endpoint $(paste -sd' ' "$work/endpoint")"
echo "   protocol client: straight $(paste -sd' ' "$work/py_straight") | endpoint $(paste -sd' ' "$work/py_endpoint")"
straight=$(median < "$work/straight")
endpoint=$(median < "$work/endpoint")
echo
echo "results (median of $ROUNDS, ${SIZE_MIB} MiB in 3 files, ${RATE:-loopback}, $(nproc) cores):"
printf '  snapshotDownload straight from llmpt serve   %7.2f s\n' "$straight"
printf '  through the daemon endpoint (peer present)   %7.2f s   ratio endpoint/straight = %.2f (goal <= 1.1)\n' \
    "$endpoint" "$(echo "$endpoint / $straight" | bc -l)"
py_straight=$(median < "$work/py_straight")
py_endpoint=$(median < "$work/py_endpoint")
printf '  protocol client (huggingface_hub'"'"'s way) straight %6.2f s, endpoint %6.2f s   ratio = %.2f\n' \
    "$py_straight" "$py_endpoint" "$(echo "$py_endpoint / $py_straight" | bc -l)"
printf '  bytes the daemon took from the origin        %s (per round)\n' "$(paste -sd' ' "$work/origin_bytes")"
printf '  the daemon'"'"'s tasks, seconds each          %s\n' "$(paste -sd'|' "$work/task_seconds")"
printf '  daemon CPU seconds per round %.2f, peak RSS %.1f MiB\n' "$(median < "$work/cpu")" \
    "$(echo "$(sort -g "$work/rss" | tail -1) / 1024" | bc -l)"
