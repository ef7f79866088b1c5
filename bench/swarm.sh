#!/usr/bin/env bash
# The swarm testbed: N nodes, a tracker and an origin in network namespaces
# of our own, every link shaped with tc tbf (see bench/swarm.py for the
# topology and the scenarios). Root.
#
#   bench/swarm.sh --bin build/bin --nodes 8 --lan 200mbit --wan 100mbit --scenario http,warm
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 2; }
command -v tc > /dev/null || { apt-get update -qq && apt-get install -y -qq iproute2 > /dev/null; }
command -v /usr/bin/time > /dev/null || { apt-get update -qq && apt-get install -y -qq time > /dev/null; }
exec python3 "$(dirname "${BASH_SOURCE[0]}")/swarm.py" "$@"
