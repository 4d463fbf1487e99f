#!/usr/bin/env bash
# Throughput and latency of one multiplexer shared by N callers, next to redis-benchmark on the same server in the
# same run: N clients with one command in flight each (-c N -P 1), and the server's pipelined ceiling (one client,
# N commands per round trip: -c 1 -P N). Ours twice: callers as plain tasks (Swift's global executor, as most
# callers are) and callers preferring the client's event loop (`client.taskExecutor`).
#   Benchmarks/throughput.sh [CALLERS=50] [REQUESTS=200000] [CEILING_REQUESTS=1000000] [ROUNDS=5]
# The four are measured one after the other, ROUNDS times over (this machine's speed drifts within minutes: a
# ratio is only fair between figures measured close together). Lines, for GET and SET (easy to quote and parse):
#   round 1: redis-benchmark -c 50 -P 1: SET: 95000.00 requests per second, p50 0.295 ms, p99 0.767 ms
#   round 1: redis-benchmark -c 1 -P 50: SET: 650000.00 requests per second, p50 0.063 ms, p99 0.215 ms
#   round 1: ours, 50 callers on one connection (tasks): SET: 412345.67 requests per second, p50 0.110 ms, ...
#   round 1: ours, 50 callers on one connection (on its event loop): SET: ...
#   round 1: SET: tasks 63.4 %, on the event loop 70.1 % of the pipelined ceiling (4.34 x, 4.80 x redis-benchmark -c 50 -P 1)
#   round 1: redis-server waited for a core: 52 ms a second during ours as tasks, 6 ms on the event loop
# and last the median over the rounds of each ratio. The server runs on the same cores as the client: callers as
# tasks add two threads of Swift's pool to the event loop's, and the server then waits for a core when a write
# wakes it (from /proc/PID/schedstat: time runnable but not running), which the ceiling's single client never makes
# it do.
set -euo pipefail
cd "$(dirname "$0")/.."
callers=${1:-50}
requests=${2:-200000}
ceiling_requests=${3:-1000000}
rounds=${4:-5}
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

# Nanoseconds redis-server has spent runnable but waiting for a core, and the clock, for a rate over a run.
waited() { echo "$(awk '{print $2}' "/proc/$server/schedstat") $(date +%s%N)"; }
rate() { awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f", (y[1] - x[1]) / (y[2] - x[2]) * 1000}'; }

ratios=$(mktemp)
for round in $(seq "$rounds"); do
    clients=$(benchmark -c "$callers" -P 1 -n "$requests")
    echo "$clients" | sed "s/^/round $round: redis-benchmark -c $callers -P 1: /"
    ceiling=$(benchmark -c 1 -P "$callers" -n "$ceiling_requests")
    echo "$ceiling" | sed "s/^/round $round: redis-benchmark -c 1 -P $callers: /"
    before=$(waited)
    tasks=$(.build/release/multiplexer-throughput "$port" "$callers" "$requests" pool)
    tasksWait=$(rate "$before" "$(waited)")
    echo "$tasks" | sed "s/^/round $round: ours, $callers callers on one connection (tasks): /"
    before=$(waited)
    loop=$(.build/release/multiplexer-throughput "$port" "$callers" "$requests" loop)
    loopWait=$(rate "$before" "$(waited)")
    echo "$loop" | sed "s/^/round $round: ours, $callers callers on one connection (on its event loop): /"
    echo "round $round: redis-server waited for a core: $tasksWait ms a second during ours as tasks, $loopWait ms on the event loop"
    for op in SET GET; do
        python3 -c "
tasks, loop = float('$(figure "$tasks" $op)'), float('$(figure "$loop" $op)')
clients, ceiling = float('$(figure "$clients" $op)'), float('$(figure "$ceiling" $op)')
print(f'round $round: $op: tasks {100 * tasks / ceiling:.1f} %, on the event loop {100 * loop / ceiling:.1f} % of the pipelined ceiling '
      f'({tasks / clients:.2f} x, {loop / clients:.2f} x redis-benchmark -c $callers -P 1)')
print(f'$op {100 * tasks / ceiling:.1f} {100 * loop / ceiling:.1f}', file=open('$ratios', 'a'))"
    done
done
python3 -c "
import statistics
rows = [line.split() for line in open('$ratios')]
for op in ('SET', 'GET'):
    tasks = [float(r[1]) for r in rows if r[0] == op]
    loop = [float(r[2]) for r in rows if r[0] == op]
    print(f'{op}: median over $rounds rounds: tasks {statistics.median(tasks):.1f} % (range {min(tasks):.1f}–{max(tasks):.1f}), '
          f'on the event loop {statistics.median(loop):.1f} % (range {min(loop):.1f}–{max(loop):.1f}) of the pipelined ceiling')"
rm -f "$ratios"
