#!/usr/bin/env bash
# P2P vs HTTP over a rate-limited link (P2P issue). bench/p2p.sh runs both
# ends on loopback, where the two shared cores are the limit; here the
# downloader sits in its own network namespace, joined to the servers'
# namespace by a veth pair whose server side sends at RATE (tc tbf), as two
# machines on a LAN would. Per rate in RATES, alternating rounds:
#   HTTP: `llmpt download --no-p2p` from `llmpt serve`
#   P2P:  `llmpt download --no-webseed` from one `llmpt seed`
# both verified, into empty caches.
#
#   bench/p2p_link.sh [build/bin]    # root; RATES="1gbit 2500mbit" ROUNDS=3 SIZE_MIB=1024
set -euo pipefail
bin="$(realpath "${1:-build/bin}")"
ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
RATES="${RATES:-1gbit 2500mbit}"
[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 2; }
command -v tc > /dev/null || { apt-get update -qq && apt-get install -y -qq iproute2 > /dev/null; }

work="$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" llmpt-link-bench-XXXXXX)"
srv="llmpt-bench-srv-$$"
cli="llmpt-bench-cli-$$"
dev_srv="llmpt-s$$"
dev_cli="llmpt-c$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    ip netns del "$srv" 2> /dev/null || true
    ip netns del "$cli" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
in_cli() { ip netns exec "$cli" "$@"; }

echo "== namespaces: servers at 10.201.0.1 ($srv), downloader at 10.201.0.2 ($cli)"
ip netns add "$srv"
ip netns add "$cli"
ip link add "$dev_srv" type veth peer name "$dev_cli"
ip link set "$dev_srv" netns "$srv"
ip link set "$dev_cli" netns "$cli"
ip -n "$srv" addr add 10.201.0.1/24 dev "$dev_srv"
ip -n "$cli" addr add 10.201.0.2/24 dev "$dev_cli"
for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set "$dev_srv" up
ip -n "$cli" link set "$dev_cli" up

echo "== making a ${SIZE_MIB} MiB repo of 3 files"
make_repo "$work/src" "$SIZE_MIB"
"$bin/llmpt" cache import "$work/src" --repo bench/m --cache-dir "$work/hub" > /dev/null
"$bin/llmpt" cache import "$work/src" --repo bench/m --cache-dir "$work/seed" > /dev/null

# Not through a shell function: `ip netns exec` execs the command, so $! is
# the server's own pid and the cleanup's SIGINT reaches it.
ip netns exec "$srv" "$bin/llmpt-tracker" --listen 10.201.0.1:0 --db "$work/t.db" --quiet > "$work/tracker.out" 2> /dev/null &
pids+=($!)
ip netns exec "$srv" "$bin/llmpt" serve --cache-dir "$work/hub" --listen 10.201.0.1:0 --quiet > "$work/serve.out" &
pids+=($!)
wait_line "$work/tracker.out" listening && wait_line "$work/serve.out" listening
tracker=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/tracker.out")
endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
ip netns exec "$srv" "$bin/llmpt" seed bench/m --cache-dir "$work/seed" --tracker "$tracker" --listen 10.201.0.1:0 \
    > "$work/seed.out" 2> "$work/seed.err" &
pids+=($!)
wait_line "$work/seed.out" seeding
sync

fresh() { rm -rf "$work/dl" && sync; }
summary=()
for rate in $RATES; do
    tc -n "$srv" qdisc replace dev "$dev_srv" root tbf rate "$rate" burst 4mb latency 50ms
    echo "== $rate: HTTP vs P2P (${ROUNDS} rounds)"
    : > "$work/http"
    : > "$work/p2p"
    for r in $(seq "$ROUNDS"); do
        fresh
        t0=$(now)
        in_cli "$bin/llmpt" download bench/m --no-p2p --quiet --endpoint "$endpoint" --cache-dir "$work/dl" > /dev/null
        t1=$(now)
        echo "$t1 - $t0" | bc >> "$work/http"
        fresh
        t0=$(now)
        in_cli "$bin/llmpt" download bench/m --quiet --json --no-webseed --endpoint "$endpoint" --tracker "$tracker" \
            --listen 10.201.0.2:0 --cache-dir "$work/dl" > "$work/p2p.json"
        t1=$(now)
        echo "$t1 - $t0" | bc >> "$work/p2p"
        grep -q '"bytes_http":0' "$work/p2p.json" || echo "P2P round fell back to HTTP: $(cat "$work/p2p.json")"
        "$bin/llmpt" verify bench/m --cache-dir "$work/dl" 2> /dev/null
    done
    echo "   rounds: HTTP $(paste -sd' ' "$work/http") | P2P $(paste -sd' ' "$work/p2p")"
    http=$(median < "$work/http")
    p2p=$(median < "$work/p2p")
    summary+=("$(printf '  %-9s HTTP %6.2f s (%4.0f MiB/s)   P2P %6.2f s (%4.0f MiB/s)   ratio P2P/HTTP = %.2f' \
        "$rate" "$http" "$(echo "$SIZE_MIB / $http" | bc -l)" "$p2p" "$(echo "$SIZE_MIB / $p2p" | bc -l)" \
        "$(echo "$p2p / $http" | bc -l)")")
done

echo
echo "results (median of $ROUNDS, ${SIZE_MIB} MiB in 3 files, veth between two namespaces, 2 cores):"
printf '%s\n' "${summary[@]}"
