#!/usr/bin/env bash
# Footprint, scale and throughput of the release daemon, side by side with the peers measured in the same run
# (not a test: it prints figures). Installs what it needs (redis-server, redis-tools, prometheus-redis-exporter).
#   Benchmarks/footprint.sh [SECONDS=30] [TARGETS=1,1000]
# Prints:
#   - redis_exporter's RSS and CPU with one target scraped every second, then ours with one target: start → READY=1,
#     RSS, CPU;
#   - ours with 1,000 targets (spread over 8 local redis-servers) at 1 s probes: READY=1, all healthy, RSS, CPU,
#     `GET /status` time, a reload changing one target (which targets it replaced), stop;
#   - one multiplexer shared by 50 callers: requests/s and p50/p99 per command, next to redis-benchmark -c 50 -P 1
#     (one connection per client) and -c 1 -P 50 (the server's pipelined ceiling).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
targets=${2:-1,1000}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
command -v prometheus-redis-exporter >/dev/null || missing+=(prometheus-redis-exporter)
if ((${#missing[@]})); then
    echo "==> installing ${missing[*]}"
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    # The package's own service (if it started) would only add noise.
    $sudo systemctl disable --now prometheus-redis-exporter >/dev/null 2>&1 || true
fi

echo "==> release build (static Swift standard library), as the package ships it"
swift build -c release --product redis-healthd --static-swift-stdlib >/dev/null
binary=$PWD/.build/release/redis-healthd
echo "    $(du -h "$binary" | cut -f1) binary; linked: $(ldd "$binary" | awk '{print $1}' | tr '\n' ' ')"
echo "==> footprint and scale (${seconds} s windows) on $(nproc) cores"
python3 Benchmarks/scale.py "$binary" --targets "$targets" --seconds "$seconds"
echo "==> throughput: one multiplexer, 50 callers"
Benchmarks/throughput.sh 50
