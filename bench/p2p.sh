#!/usr/bin/env bash
# P2P benchmark (issue: P2P core). On loopback, a 1 GiB repo of 3 files:
#   A. P2P download from one `llmpt seed` vs `llmpt download --no-p2p` from
#      `llmpt serve`, both verified, into empty caches (alternating rounds)
#   B. first `llmpt seed` (verify + torrent) vs sha256sum of the same files;
#      second start of `llmpt seed` (nothing changed)
#   C. peak RSS of the P2P downloader
#
#   bench/p2p.sh [build/bin]
set -euo pipefail
bin="$(realpath "${1:-build/bin}")"
ROUNDS="${ROUNDS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time > /dev/null; }

work="$(mktemp -d -p "${BENCH_DIR:-/var/tmp}" llmpt-p2p-bench-XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

echo "== making a ${SIZE_MIB} MiB repo of 3 files"
make_repo "$work/src" "$SIZE_MIB"
"$bin/llmpt" cache import "$work/src" --repo bench/m --cache-dir "$work/hub" > /dev/null
"$bin/llmpt" cache import "$work/src" --repo bench/m --cache-dir "$work/seed" > /dev/null

"$bin/llmpt-tracker" --listen 127.0.0.1:0 --db "$work/t.db" --quiet > "$work/tracker.out" 2> /dev/null &
pids+=($!)
"$bin/llmpt" serve --cache-dir "$work/hub" --listen 127.0.0.1:0 --quiet > "$work/serve.out" &
serve_pid=$!
pids+=($serve_pid)
wait_line "$work/tracker.out" listening && wait_line "$work/serve.out" listening
tracker=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/tracker.out")
endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")

echo "== B. first seed (verify + torrent) vs sha256sum"
sync
t0=$(now)
sha256sum "$work"/seed/models--bench--m/blobs/* > /dev/null
t1=$(now)
b_sha=$(echo "$t1 - $t0" | bc)
t0=$(now)
"$bin/llmpt" seed bench/m --cache-dir "$work/seed" --tracker "$tracker" --listen 127.0.0.1:0 > "$work/seed.out" 2> "$work/seed.err" &
seed_pid=$!
wait_line "$work/seed.out" seeding
t1=$(now)
b_seed=$(echo "$t1 - $t0" | bc)
kill -INT "$seed_pid" && wait "$seed_pid" || true
t0=$(now)
"$bin/llmpt" seed bench/m --cache-dir "$work/seed" --tracker "$tracker" --listen 127.0.0.1:0 > "$work/seed.out" 2> "$work/seed.err" &
seed_pid=$!
pids+=($seed_pid)
wait_line "$work/seed.out" seeding
t1=$(now)
b_second=$(echo "$t1 - $t0" | bc)

sync
echo "== A. P2P from one seeder vs HTTP from llmpt serve (${ROUNDS} rounds)"
: > "$work/a_p2p"
: > "$work/a_http"
: > "$work/rss"
: > "$work/a_posix"
# Each timed run starts with no dirty pages left by the one before (the
# kernel's writeback would otherwise compete with whichever run comes next).
fresh() { rm -rf "$work/dl" && sync; }
# CPU seconds (user + system) a running process has used so far.
hz=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# cpu_sum TIME_FILE SERVER_BEFORE SERVER_PID: the downloader's CPU seconds
# (from /usr/bin/time "%U %S") plus what the server used meanwhile.
cpu_sum() { echo "$(awk '{print $1 + $2}' "$1") + $(cpu_of "$3") - $2" | bc -l; }
: > "$work/cpu_http"
: > "$work/cpu_p2p"
for r in $(seq "$ROUNDS"); do
    fresh
    s0=$(cpu_of "$serve_pid")
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$work/cpu_one" "$bin/llmpt" download bench/m --no-p2p --quiet \
        --endpoint "$endpoint" --cache-dir "$work/dl" > /dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/a_http"
    cpu_sum "$work/cpu_one" "$s0" "$serve_pid" >> "$work/cpu_http"
    fresh
    s0=$(cpu_of "$seed_pid")
    t0=$(now)
    /usr/bin/time -f "%U %S %M" -o "$work/cpu_one" "$bin/llmpt" download bench/m --quiet --json --no-webseed \
        --endpoint "$endpoint" --tracker "$tracker" --listen 127.0.0.1:0 --cache-dir "$work/dl" > "$work/p2p.json"
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/a_p2p"
    cpu_sum "$work/cpu_one" "$s0" "$seed_pid" >> "$work/cpu_p2p"
    awk '{print $3}' "$work/cpu_one" >> "$work/rss"
    grep -q '"bytes_http":0' "$work/p2p.json" || { echo "P2P round fell back to HTTP: $(cat "$work/p2p.json")"; }
    "$bin/llmpt" verify bench/m --cache-dir "$work/dl" 2> /dev/null
    # The same with libtorrent's own posix back end in the downloader, to
    # show what llmpt's pooled one (lib/p2p/disk_io.cpp) is worth.
    fresh
    t0=$(now)
    LLMPT_P2P_DISK_IO=posix "$bin/llmpt" download bench/m --quiet --json --no-webseed \
        --endpoint "$endpoint" --tracker "$tracker" --listen 127.0.0.1:0 --cache-dir "$work/dl" > "$work/p2p.json"
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/a_posix"
done
echo "   rounds: HTTP $(paste -sd' ' "$work/a_http") | P2P $(paste -sd' ' "$work/a_p2p") | posix $(paste -sd' ' "$work/a_posix")"
a_http=$(median < "$work/a_http")
a_p2p=$(median < "$work/a_p2p")
a_posix=$(median < "$work/a_posix")
rss_kib=$(sort -g "$work/rss" | tail -1)
cpu_http=$(median < "$work/cpu_http")
cpu_p2p=$(median < "$work/cpu_p2p")

echo
echo "results (median of $ROUNDS, ${SIZE_MIB} MiB in 3 files, loopback, 2 cores):"
printf '  A. HTTP (llmpt download --no-p2p)  %7.2f s\n' "$a_http"
printf '     P2P from one seeder             %7.2f s   ratio P2P/HTTP = %.2f (goal <= 1.0)\n' "$a_p2p" \
    "$(echo "$a_p2p / $a_http" | bc -l)"
printf '     P2P, libtorrent posix disk I/O  %7.2f s   ratio P2P/HTTP = %.2f\n' "$a_posix" \
    "$(echo "$a_posix / $a_http" | bc -l)"
# Both ends share this machine's cores: a download cannot take less time
# than its CPU seconds (downloader + server) over the cores.
printf '     CPU, both ends: HTTP %.2f s, P2P %.2f s   ratio P2P/HTTP = %.2f; on %d cores P2P needs >= %.2f s\n' \
    "$cpu_http" "$cpu_p2p" "$(echo "$cpu_p2p / $cpu_http" | bc -l)" "$(nproc)" "$(echo "$cpu_p2p / $(nproc)" | bc -l)"
printf '  B. sha256sum                        %7.2f s\n' "$b_sha"
printf '     first llmpt seed (verify+torrent) %6.2f s   ratio seed/sha256sum = %.2f (goal <= 1.2)\n' "$b_seed" \
    "$(echo "$b_seed / $b_sha" | bc -l)"
printf '     second start                     %7.2f s   (goal <= 2 s)\n' "$b_second"
printf '  C. P2P downloader peak RSS          %7.1f MiB (goal < 200)\n' "$(echo "$rss_kib / 1024" | bc -l)"
