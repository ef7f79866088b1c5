#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine (as root, or with sudo):
#
#   scripts/bootstrap.sh demo   install dependencies, build, run the demo
#   scripts/bootstrap.sh test   install dependencies, build, run every test
#
# Idempotent: packages already installed are not touched, the build is
# incremental (build/).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in
demo | test) ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

packages=(
    build-essential cmake ninja-build pkg-config
    libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libfmt-dev libboost-dev libcli11-dev
    libsqlite3-dev libtorrent-rasterbar-dev catch2 python3 python3-libtorrent curl ca-certificates
    qbittorrent-nox gdb strace
)
# The libFuzzer targets (tests/fuzz): Debian's clang and its runtime.
if [[ ${LLMPT_FUZZ:-1} != 0 && $mode == test ]]; then packages+=(clang libclang-rt-14-dev); fi
# Multi-buffer SHA-256 for BitTorrent v2 blocks (x86-64 only; optional).
if [[ $(dpkg --print-architecture) == amd64 ]]; then packages+=(libipsec-mb-dev); fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Third-party JS clients the integration tests drive (@huggingface/hub).
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    echo "== installing: nodejs npm"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [[ ! -d tests/integration/js/node_modules/@huggingface/hub ]]; then
    echo "== installing the JS test clients (npm ci)"
    npm ci --prefix tests/integration/js --no-audit --no-fund --loglevel=error
fi

SECONDS=0
took() { echo "== $1 took ${SECONDS} s"; SECONDS=0; }

echo "== building"
# A 2-core machine builds three trees here, so they are kept light: unity
# builds (each target's files compiled in batches) and line tables only for
# debug info (-g1: backtraces with lines; configure your own tree for gdb).
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" > /dev/null
cmake --build build
took building

if [[ $mode == demo ]]; then
    exec scripts/demo.sh build/bin/llmpt
fi

echo "== testing"
ctest --test-dir build --output-on-failure --timeout 600 -j "$(($(nproc) * 2))"
took testing

# The same code under the sanitizers (LLMPT_SANITIZERS=0 skips them):
# AddressSanitizer + UndefinedBehaviorSanitizer on every test, then
# ThreadSanitizer on the unit tests. LLMPT_TSAN_INTEGRATION=1 adds the
# integration tiers where threads meet (daemon, P2P, tracker; not the slow
# ones): the whole tree under TSan does not fit CI's 25 minutes on 2 cores.
# Each tier alone: see the README ("Tests"). -O0 -g1 keeps their builds
# short (half the time of -O1 under the sanitizers) and their stack traces
# readable.
if [[ ${LLMPT_SANITIZERS:-1} != 0 ]]; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
    for san in address,undefined thread; do
        dir="build-${san%%,*}"
        echo "== building with -fsanitize=$san ($dir)"
        cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON \
            -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG" \
            -DLLMPT_SANITIZE="$san" > /dev/null
        targets=()
        labels=()
        if [[ $san == thread ]]; then
            if [[ ${LLMPT_TSAN_INTEGRATION:-0} != 0 ]]; then
                labels=(-L "unit|daemon|p2p|tracker" -LE slow)
            else
                targets=(--target unit_tests)
                labels=(-L unit)
            fi
        fi
        cmake --build "$dir" "${targets[@]}"
        took "building with -fsanitize=$san"
        echo "== testing with -fsanitize=$san"
        ctest --test-dir "$dir" --output-on-failure --timeout 900 -j "$(($(nproc) * 2))" "${labels[@]}"
        took "testing with -fsanitize=$san"
    done
fi

# The fuzz targets as libFuzzer binaries (clang, ASan + UBSan): each replays
# its seed corpus and fuzzes for LLMPT_FUZZ_SECONDS (15) in CI; run longer
# with tests/fuzz/run.sh (tests/fuzz/README.md). LLMPT_FUZZ=0 skips them.
if [[ ${LLMPT_FUZZ:-1} != 0 ]]; then
    echo "== building the fuzz targets (build-fuzz)"
    cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DLLMPT_BUILD_FUZZERS=ON \
        -DLLMPT_BUILD_TESTS=OFF -DLLMPT_BUILD_TOOLS=OFF -DLLMPT_BUILD_EXAMPLES=OFF > /dev/null
    cmake --build build-fuzz
    took "building the fuzz targets"
    echo "== fuzzing"
    tests/fuzz/run.sh -d build-fuzz -t "${LLMPT_FUZZ_SECONDS:-15}" -j "$(nproc)"
    took fuzzing
fi
