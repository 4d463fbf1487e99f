#!/usr/bin/env bash
# Throughput and latency of one multiplexer shared by N callers, next to redis-benchmark on the same server in the
# same run: N clients with one command in flight each (-c N -P 1), and the server's pipelined ceiling (one client,
# N commands per round trip: -c 1 -P N).
#   Benchmarks/throughput.sh [CALLERS=50] [REQUESTS=200000] [CEILING_REQUESTS=2000000]
# Lines, for GET and SET (easy to quote and to parse):
#   redis-benchmark -c 50 -P 1: SET: 95000.00 requests per second, p50 0.295 ms, p99 0.767 ms
#   redis-benchmark -c 1 -P 50: SET: 650000.00 requests per second, p50 0.063 ms, p99 0.215 ms
#   ours, 50 callers on one connection: SET: 412345.67 requests per second, p50 0.110 ms, p99 0.350 ms
#   SET: ours 412345.67 requests per second = 4.34 x redis-benchmark -c 50 -P 1, 63.4 % of the pipelined ceiling
# Figures vary with what else runs: measure on a quiet machine (uptime) and take the best of several runs.
set -euo pipefail
cd "$(dirname "$0")/.."
callers=${1:-50}
requests=${2:-200000}
ceiling_requests=${3:-2000000}
swift build -c release --product multiplexer-throughput >/dev/null
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no --logfile "$dir/log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done

# redis-benchmark's CSV: test, rps, avg, min, p50, p95, p99, max (latencies in ms).
benchmark() {
    redis-benchmark -p "$port" "$@" -t set,get --csv | tr -d '"' |
        awk -F, '$1=="SET"||$1=="GET" {printf "%s: %s requests per second, p50 %.3f ms, p99 %.3f ms\n", $1, $2, $5, $7}'
}
figure() { echo "$1" | awk -v op="$2:" '$1==op {print $2}'; }

clients=$(benchmark -c "$callers" -P 1 -n "$requests")
echo "$clients" | sed "s/^/redis-benchmark -c $callers -P 1: /"
ceiling=$(benchmark -c 1 -P "$callers" -n "$ceiling_requests")
echo "$ceiling" | sed "s/^/redis-benchmark -c 1 -P $callers: /"
ours=$(.build/release/multiplexer-throughput "$port" "$callers" "$requests")
echo "$ours" | sed "s/^/ours, $callers callers on one connection: /"
for op in SET GET; do
    python3 -c "
ours, clients, ceiling = float('$(figure "$ours" $op)'), float('$(figure "$clients" $op)'), float('$(figure "$ceiling" $op)')
print(f'$op: ours {ours:.2f} requests per second = {ours / clients:.2f} x redis-benchmark -c $callers -P 1, {100 * ours / ceiling:.1f} % of the pipelined ceiling')"
done
