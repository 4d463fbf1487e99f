#!/usr/bin/env bash
# Builds redis-healthd, starts a local redis-server (a demo target) and runs the daemon against it in the
# foreground. In another terminal:
#   .build/release/redis-healthd status --socket /tmp/redis-healthd-demo/control.sock
#   curl --unix-socket /tmp/redis-healthd-demo/control.sock http://localhost/status
#   redis-cli -p 6390 shutdown nosave     # the target goes down, with the reason; restart it with:
#   redis-server --port 6390 --save "" --daemonize yes
# Ctrl-C stops the daemon (and the demo redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
{ command -v pkg-config >/dev/null && pkg-config --exists libsystemd; } || need+=(pkg-config libsystemd-dev)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq libsystemd0 libudev1 >/dev/null
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "==> building the release binary (a first build takes several minutes)"
swift build -c release --product redis-healthd
port=${DEMO_PORT:-6390}
dir=/tmp/redis-healthd-demo
mkdir -p "$dir"
if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "==> starting a demo redis-server on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize yes \
        --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
    trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true' EXIT
fi
cat > "$dir/redis-healthd.yaml" <<YAML
control:
  socket: $dir/control.sock
log:
  level: info
targets:
  - name: demo
    host: 127.0.0.1
    port: $port
YAML
echo "==> redis-healthd run --config $dir/redis-healthd.yaml"
echo "    status: .build/release/redis-healthd status --socket $dir/control.sock"
.build/release/redis-healthd run --config "$dir/redis-healthd.yaml"
