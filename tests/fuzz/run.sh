#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (tests/fuzz/README.md):
#
#   tests/fuzz/run.sh [-d BUILD_DIR] [-t SECONDS] [-j JOBS] [--merge] [TARGET...]
#
# Each target first replays its seed corpus (tests/fuzz/corpus/TARGET), then
# fuzzes for SECONDS (default 20) with what it finds kept in a scratch
# folder; --merge adds the inputs that reached new code to the seed corpus,
# minimised. A crash leaves its input in the scratch folder
# (LLMPT_FUZZ_SCRATCH, else a new one removed after a clean run), prints the
# command that replays it, and makes the script exit 1. Prints, per target,
# the runs, the CPU seconds and the coverage reached.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/../../build-fuzz"
seconds=20
jobs=1
merge=0
targets=()
while (($#)); do
    case "$1" in
    -d) build="$2"; shift 2 ;;
    -t) seconds="$2"; shift 2 ;;
    -j) jobs="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
if ((${#targets[@]} == 0)); then
    for c in "$here"/corpus/*/; do targets+=("$(basename "$c")"); done
fi
scratch="${LLMPT_FUZZ_SCRATCH:-}"
own_scratch=0
if [[ -z $scratch ]]; then
    scratch="$(mktemp -d /tmp/llmpt-fuzz.XXXXXX)"
    own_scratch=1
fi
mkdir -p "$scratch"
echo "== fuzzing ${#targets[@]} targets for ${seconds} s each (scratch: $scratch)"

fuzz_one() {
    local name="$1" bin="$build/bin/fuzz_$1" work="$scratch/$1"
    if [[ ! -x $bin ]]; then
        echo "$name: no $bin (build with -DLLMPT_BUILD_FUZZERS=ON, see tests/fuzz/README.md)" >&2
        return 1
    fi
    mkdir -p "$work"
    local log="$scratch/$name.log" t0 t1
    t0=$(date +%s)
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work" "$here/corpus/$name" > "$log" 2>&1; then
        echo "$name: CRASH (log: $log); replay: $bin $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1)"
        grep -v '^#\|^    #' "$log" | tail -25 | sed "s/^/$name: /"
        return 1
    fi
    t1=$(date +%s)
    local runs cov
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
    printf '%-16s %10s runs %5s s  cov %s  new inputs %s\n' "$name" "$runs" "$((t1 - t0))" "$cov" \
        "$(find "$work" -maxdepth 1 -type f ! -name 'crash-*' | wc -l)"
    if ((merge)); then
        "$bin" -merge=1 "$here/corpus/$name" "$work" > "$scratch/$name.merge.log" 2>&1
    fi
}

status=0
running=0
for name in "${targets[@]}"; do
    fuzz_one "$name" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while ((running > 0)); do
    wait -n || status=1
    running=$((running - 1))
done
# A scratch folder of our own goes when nothing crashed; after a crash it
# holds the inputs and logs to look at.
if ((status == 0 && own_scratch)); then rm -rf "$scratch"; fi
exit $status
