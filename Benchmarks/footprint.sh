#!/usr/bin/env bash
# Footprint of the release daemon (not a test): start → READY=1 in ms, RSS after the run, CPU seconds used
# over the run, with 1 target and with 200 targets (spread over 4 local redis-servers).
#   Benchmarks/footprint.sh [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
swift build -c release --product redis-healthd >/dev/null
binary=$PWD/.build/release/redis-healthd
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
ports=()
for i in 1 2 3 4; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$dir" --logfile "$dir/redis-$i.log" --maxclients 1000 &
    pids+=($!); ports+=("$port")
done
for port in "${ports[@]}"; do until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done; done

run() {   # $1 = number of targets
    local n=$1 config="$dir/config-$1.yaml"
    { echo "control:"; echo "  socket: $dir/control-$n.sock"; echo "targets:"
      for i in $(seq 1 "$n"); do
          echo "  - name: t$i"; echo "    host: 127.0.0.1"; echo "    port: ${ports[$(( (i - 1) % 4 ))]}"
      done; } > "$config"
    python3 - "$binary" "$config" "$seconds" "$n" <<'PY'
import os, socket, subprocess, sys, time
binary, config, seconds, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
path = f"/tmp/footprint-notify-{os.getpid()}.sock"
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); sock.bind(path); sock.settimeout(10)
env = dict(os.environ, NOTIFY_SOCKET=path)
start = time.monotonic()
proc = subprocess.Popen([binary, "run", "--config", config], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ready = None
while ready is None:
    if b"READY=1" in sock.recv(4096): ready = (time.monotonic() - start) * 1000
def cpu():
    fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
time.sleep(2)  # let the connections come up; measure the steady state
cpu0 = cpu(); t0 = time.monotonic()
time.sleep(seconds)
used = cpu() - cpu0; elapsed = time.monotonic() - t0
rss = next(int(l.split()[1]) for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS")) / 1024
proc.terminate(); proc.wait(10); os.unlink(path)
print(f"{n:>4} target(s): READY=1 after {ready:.0f} ms; RSS {rss:.1f} MB after {seconds:.0f} s; "
      f"CPU {used:.2f} s over {elapsed:.0f} s = {100 * used / elapsed:.2f} % of a core")
PY
}
run 1
run 200
