#!/usr/bin/env bash
# The built-in demo: make a sample repo, serve it with `llmpt serve` as the
# Hub would, download it with `llmpt download`, and show the cache it made.
#
#   scripts/demo.sh [path/to/llmpt]
set -euo pipefail
llmpt="$(realpath "${1:-build/bin/llmpt}")"
tracker_bin="$(dirname "$llmpt")/llmpt-tracker"
work="$(mktemp -d -t llmpt-demo-XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== 1. a sample repo: config, tokenizer and two 32 MiB weight shards"
mkdir -p "$work/src/tokenizer"
echo '{"architectures": ["DemoModel"], "hidden_size": 64}' > "$work/src/config.json"
printf 'hello\nworld\n' > "$work/src/tokenizer/vocab.txt"
head -c $((32 << 20)) /dev/urandom > "$work/src/model-00001-of-00002.safetensors"
head -c $((32 << 20)) /dev/urandom > "$work/src/model-00002-of-00002.safetensors"
commit=$("$llmpt" cache import "$work/src" --repo demo/tiny-model --cache-dir "$work/hub-side")
echo "imported as demo/tiny-model, commit $commit"

echo "== 2. llmpt serve: an HF-compatible endpoint over that cache"
"$llmpt" serve --cache-dir "$work/hub-side" --listen 127.0.0.1:0 --quiet > "$work/serve.out" &
pids+=($!)
for _ in $(seq 100); do
    grep -q "listening on" "$work/serve.out" 2> /dev/null && break
    sleep 0.05
done
endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
echo "serving at $endpoint"

echo "== 3. llmpt download into an empty cache"
export HF_ENDPOINT="$endpoint" HF_HUB_CACHE="$work/cache"
"$llmpt" download demo/tiny-model --json
echo "== 4. the same again: everything comes from the cache"
"$llmpt" download demo/tiny-model --json

echo "== 5. the cache, exactly as huggingface_hub lays it out"
(cd "$work/cache" && find . -path ./.locks -prune -o -print | sort | sed 's/^/  /')
echo "refs/main = $(cat "$work/cache/models--demo--tiny-model/refs/main")"
"$llmpt" verify demo/tiny-model

echo "== 6. P2P: llmpt-tracker, a seeder with its own cache, a downloader with an empty one"
"$tracker_bin" --listen 127.0.0.1:0 --db "$work/tracker.db" --quiet > "$work/tracker.out" 2> /dev/null &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/tracker.out" 2> /dev/null && break; sleep 0.05; done
tracker=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/tracker.out")
echo "tracker at $tracker"
"$llmpt" seed demo/tiny-model --cache-dir "$work/cache" --tracker "$tracker" --listen 127.0.0.1:0 \
    > "$work/seed.out" 2> /dev/null &
pids+=($!)
for _ in $(seq 200); do grep -q "^seeding" "$work/seed.out" 2> /dev/null && break; sleep 0.05; done
cat "$work/seed.out"
echo "downloading with --no-webseed: every byte from the seeder, none from the Hub"
"$llmpt" download demo/tiny-model --cache-dir "$work/cache-p2p" --tracker "$tracker" --no-webseed \
    --listen 127.0.0.1:0 --json | tee "$work/p2p.json"
"$llmpt" verify demo/tiny-model --cache-dir "$work/cache-p2p"
# The demo fails (exit 1) unless the seeder gave every byte.
python3 - "$work/p2p.json" << 'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if r["bytes_http"] or r["bytes_p2p"] != r["bytes_total"]:
    sys.exit("the P2P download did not come from the seeder alone: %s" % r)
PY
echo "== demo done"
