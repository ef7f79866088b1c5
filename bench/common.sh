# Shared by the shell benchmarks (sourced, not run).

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
# wait_line FILE PATTERN: until PATTERN shows up in FILE (30 s at most).
wait_line() { for _ in $(seq 600); do grep -q "$2" "$1" 2> /dev/null && return 0; sleep 0.05; done; return 1; }

# make_repo DIR SIZE_MIB: the benchmark repo, three random files of
# 1/2, 3/8 and 1/8 of SIZE_MIB, named as a sharded checkpoint.
make_repo() {
    mkdir -p "$1"
    head -c $(($2 / 2 << 20)) /dev/urandom > "$1/model-00001-of-00003.safetensors"
    head -c $(($2 * 3 / 8 << 20)) /dev/urandom > "$1/model-00002-of-00003.safetensors"
    head -c $(($2 / 8 << 20)) /dev/urandom > "$1/model-00003-of-00003.safetensors"
}
