#!/usr/bin/env bash
# Builds redis-healthd, starts a local redis-server (target "demo") and a local 3-node Redis Cluster on ports
# 6391-6393 (target "demo-cluster", allowed_ports 6390-6399) and runs the daemon against them in the foreground.
# In another terminal:
#   .build/release/redis-healthd status --socket /tmp/redis-healthd-demo/control.sock
#   curl --unix-socket /tmp/redis-healthd-demo/control.sock http://localhost/status
#   redis-cli -p 6390 shutdown nosave     # the target goes down, with the reason; restart it with:
#   redis-server --port 6390 --save "" --daemonize yes
#   redis-cli -p 6393 config set cluster-announce-port 10226   # a topology anomaly: demo-cluster degraded
#   .build/release/redis-healthd topology demo-cluster --history --socket /tmp/redis-healthd-demo/control.sock
#   redis-cli -p 6393 config set cluster-announce-port 0       # cleared
#   .build/release/redis-healthd export --output /tmp/redis-healthd-demo/bundle.json --socket …
# Ctrl-C stops the daemon (and the demo servers). DEMO_CLUSTER=0 skips the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "==> building the release binary (a first build takes several minutes)"
swift build -c release --product redis-healthd
port=${DEMO_PORT:-6390}
dir=/tmp/redis-healthd-demo
mkdir -p "$dir"
started=()   # the servers this script started, shut down when it ends
trap 'for p in "${started[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done' EXIT
if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "==> starting a demo redis-server on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize yes \
        --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
    started+=("$port")
fi
cluster_yaml=""
if [ "${DEMO_CLUSTER:-1}" = 1 ]; then
    for p in 6391 6392 6393; do
        if ! redis-cli -p "$p" ping >/dev/null 2>&1; then
            mkdir -p "$dir/node$p"
            rm -f "$dir/node$p/nodes.conf"
            redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir/node$p" --daemonize yes \
                --cluster-enabled yes --cluster-config-file nodes.conf --logfile "$dir/node$p/redis.log"
            started+=("$p")
        fi
    done
    for p in 6391 6392 6393; do until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done; done
    if ! redis-cli -p 6391 cluster info | grep -q cluster_state:ok; then
        echo "==> forming a demo cluster on 127.0.0.1:6391-6393"
        redis-cli --cluster create 127.0.0.1:6391 127.0.0.1:6392 127.0.0.1:6393 --cluster-replicas 0 --cluster-yes >/dev/null
    fi
    cluster_yaml="
  - name: demo-cluster
    host: 127.0.0.1
    port: 6391
    allowed_ports: [\"6390-6399\"]
    topology: {refresh_interval: 5s}   # the default is 60s; 5s makes the demo's changes show up quickly"
fi
cat > "$dir/redis-healthd.yaml" <<YAML
control:
  socket: $dir/control.sock
log:
  level: info
targets:
  - name: demo
    host: 127.0.0.1
    port: $port$cluster_yaml
YAML
echo "==> redis-healthd run --config $dir/redis-healthd.yaml"
echo "    status: .build/release/redis-healthd status --socket $dir/control.sock"
.build/release/redis-healthd run --config "$dir/redis-healthd.yaml"
