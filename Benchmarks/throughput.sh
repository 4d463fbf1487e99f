#!/usr/bin/env bash
# Throughput of one multiplexer shared by N callers, next to redis-benchmark on the same server in the same run.
#   Benchmarks/throughput.sh [CALLERS=50] [REQUESTS=200000]
# Prints both throughputs for GET and SET and their ratio (ours / redis-benchmark's).
set -euo pipefail
cd "$(dirname "$0")/.."
callers=${1:-50}
requests=${2:-200000}
swift build -c release --product multiplexer-throughput >/dev/null
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no --logfile "$dir/log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done

echo "redis-benchmark -c $callers -P 1 -n $requests -t get,set (one connection per client):"
bench=$(redis-benchmark -p "$port" -c "$callers" -P 1 -n "$requests" -t set,get --csv | tr -d '"' | awk -F, '$1=="SET"||$1=="GET" {print $1": "$2" requests per second"}')
echo "$bench"
echo "redis-healthd multiplexer, $callers concurrent callers on one connection:"
ours=$(.build/release/multiplexer-throughput "$port" "$callers" "$requests")
echo "$ours"
for op in SET GET; do
    theirs=$(echo "$bench" | awk -v op="$op:" '$1==op {print $2}')
    mine=$(echo "$ours" | awk -v op="$op:" '$1==op {print $2}')
    python3 -c "print(f'$op ratio (ours / redis-benchmark): {float($mine)/float($theirs):.2f}')"
done
