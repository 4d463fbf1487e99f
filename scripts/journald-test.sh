#!/usr/bin/env bash
# End-to-end check of the journald handler against a real systemd-journald (no service manager): journald
# runs in a private mount namespace whose /run/systemd and /run/log are a temporary folder; redis-healthd runs
# in the same namespace with REDIS_HEALTHD_LOG=journal against a local redis-server, which is killed to make a
# connection-failed event; a local 3-node cluster whose third node re-announces itself on port 10226 makes a
# topology-anomaly event, and a message PUBLISHed on AzureRedisEvents a maintenance-event; the journal is read
# back with journalctl --directory and its fields checked.
# Needs root, unshare/nsenter and systemd-journald; prints SKIPPED otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-.build/debug/redis-healthd}")
if [ "$(id -u)" -ne 0 ] || [ ! -x /lib/systemd/systemd-journald ] || ! command -v journalctl >/dev/null; then
    echo "SKIPPED journald test: needs root and systemd-journald"; exit 0
fi
lab=$(mktemp -d)
ns_pid=; redis_pid=; cluster_pids=()
teardown() {
    set +e
    [ -n "$redis_pid" ] && kill -9 "$redis_pid" 2>/dev/null
    for pid in "${cluster_pids[@]}"; do { kill -9 "$pid"; wait "$pid"; } 2>/dev/null; done
    jd=$(cat "$lab/journald.pid" 2>/dev/null); [ -n "$jd" ] && kill -TERM "$jd" 2>/dev/null
    for _ in $(seq 50); do [ -n "$jd" ] && kill -0 "$jd" 2>/dev/null || break; sleep 0.1; done
    [ -n "$ns_pid" ] && kill -TERM "$ns_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$lab"
}
trap teardown EXIT
mkdir -p "$lab/run-systemd" "$lab/log"
printf '[Journal]\nStorage=volatile\nReadKMsg=no\n' > "$lab/journald.conf"
cat > "$lab/ns.sh" <<'NS'
set -e
mount --make-rprivate /
mount --bind "$1/run-systemd" /run/systemd
mount --bind "$1/log" /run/log
mount --bind "$1/journald.conf" /etc/systemd/journald.conf
mkdir -p /run/systemd/journal
/lib/systemd/systemd-journald </dev/null >"$1/journald.log" 2>&1 & echo $! > "$1/journald.pid"
exec sleep infinity
NS
setsid unshare --mount bash "$lab/ns.sh" "$lab" </dev/null >/dev/null 2>&1 &
ns_pid=$!
for _ in $(seq 50); do [ -S "$lab/run-systemd/journal/socket" ] && break; sleep 0.1; done
[ -S "$lab/run-systemd/journal/socket" ] || { echo "FAIL: journald did not start"; cat "$lab/journald.log"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$lab" --logfile "$lab/redis.log" --daemonize no &
redis_pid=$!
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
cluster_ports=()
for n in 1 2 3; do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    while [ "$p" -ge 55535 ]; do p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'); done
    mkdir -p "$lab/node$n"
    redis-server --port "$p" --bind 127.0.0.1 --save "" --dir "$lab/node$n" --logfile "$lab/node$n/redis.log" \
        --cluster-enabled yes --cluster-config-file nodes.conf --daemonize no &
    cluster_pids+=($!); cluster_ports+=("$p")
done
for p in "${cluster_ports[@]}"; do until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done; done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 100); do redis-cli -p "${cluster_ports[0]}" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
# A TLS server whose certificate expires in 3 days (a CA of its own): the certificate-expiry warning.
mkdir -p "$lab/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=journald-test CA" \
    -keyout "$lab/tls/ca.key" -out "$lab/tls/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=journald-test server" -keyout "$lab/tls/server.key" \
    -out "$lab/tls/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$lab/tls/server.ext"
openssl x509 -req -in "$lab/tls/server.csr" -CA "$lab/tls/ca.crt" -CAkey "$lab/tls/ca.key" -CAcreateserial \
    -days 3 -out "$lab/tls/server.crt" -extfile "$lab/tls/server.ext" 2>/dev/null
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port 0 --tls-port "$tls_port" --bind 127.0.0.1 --save "" --dir "$lab/tls" --logfile "$lab/tls/redis.log" \
    --tls-cert-file "$lab/tls/server.crt" --tls-key-file "$lab/tls/server.key" --tls-ca-cert-file "$lab/tls/ca.crt" \
    --tls-auth-clients no --daemonize no &
cluster_pids+=($!)
until redis-cli --tls --cacert "$lab/tls/ca.crt" -p "$tls_port" ping >/dev/null 2>&1; do sleep 0.05; done
cat > "$lab/redis-healthd.yaml" <<YAML
control:
  socket: $lab/control.sock
targets:
  - name: journal-demo
    host: 127.0.0.1
    port: $port
    maintenance_events: on
  - name: journal-cluster
    host: 127.0.0.1
    port: ${cluster_ports[0]}
    allowed_ports: ["1-10225", "10227-65535"]
    topology: {refresh_interval: 1s}
  - name: journal-tls
    host: 127.0.0.1
    port: $tls_port
    tls: {enabled: true, ca_file: $lab/tls/ca.crt}
YAML
nsenter -t "$ns_pid" -m env REDIS_HEALTHD_LOG=journal "$binary" run --config "$lab/redis-healthd.yaml" &
daemon=$!
# Until the daemon has connected its targets and read the cluster's topology (a busy machine may take a while).
for _ in $(seq 200); do
    state=$("$binary" status --json --socket "$lab/control.sock" 2>/dev/null || true)
    [ "$(echo "$state" | grep -o '"state" *: *"healthy"' | wc -l)" -ge 3 ] && echo "$state" | grep -q '"topology" *: *"cluster"' && break
    sleep 0.1
done
sleep 0.5
redis-cli -p "$port" publish AzureRedisEvents "NotificationType|NodeMaintenanceEnded|StartTimeInUTC|2026-11-22T23:30:00|IsReplica|False|IPAddress|127.0.0.1|SSLPort|15001|NonSSLPort|$port" >/dev/null
redis-cli -p "${cluster_ports[2]}" config set cluster-announce-port 10226 >/dev/null
kill -9 "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=
# Until the anomaly and the failure are in the status (at most 20 s; about 2 s on an idle machine).
for _ in $(seq 200); do
    state=$("$binary" status --json --socket "$lab/control.sock" 2>/dev/null || true)
    echo "$state" | grep -q '10226' && echo "$state" | grep -q '"reconnecting"\|"down"' && break
    sleep 0.1
done
sleep 1
kill -TERM "$daemon"; wait "$daemon"
sleep 0.5
journal=$(ls -d "$lab"/log/journal/*)
journalctl --directory="$journal" -o json --no-pager SYSLOG_IDENTIFIER=redis-healthd > "$lab/entries.json"
python3 - "$lab/entries.json" <<'PY'
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def find(event):
    return [e for e in entries if e.get("REDIS_EVENT") == event]
problems = []
connected = [e for e in find("connected") if e.get("REDIS_TARGET") == "journal-demo"]
failed = [e for e in find("connection-failed") if e.get("REDIS_TARGET") == "journal-demo"]
if not connected: problems.append("no REDIS_EVENT=connected entry")
if not failed: problems.append("no REDIS_EVENT=connection-failed entry")
for e in connected + failed:
    for field in ("REDIS_TARGET", "REDIS_ENDPOINT", "MESSAGE_ID", "PRIORITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC"):
        if field not in e: problems.append(f"{e.get('REDIS_EVENT')}: missing {field}")
if failed and failed[0].get("ERROR_KIND") not in ("connection-closed", "socket", "connection-refused"):
    problems.append(f"ERROR_KIND={failed[0].get('ERROR_KIND')}")
if failed and failed[0].get("PRIORITY") != "4": problems.append(f"connection-failed PRIORITY={failed[0].get('PRIORITY')}")
if failed and failed[0].get("MESSAGE_ID") != "3f1c6a0e9b5d4a6f8e2a7c1d5b9e0f41": problems.append("wrong MESSAGE_ID for connection-failed")
anomaly, maintenance = find("topology-anomaly"), find("maintenance-event")
if not anomaly: problems.append("no REDIS_EVENT=topology-anomaly entry")
for e in anomaly[:1]:
    if e.get("PRIORITY") != "4": problems.append(f"topology-anomaly PRIORITY={e.get('PRIORITY')}")
    if e.get("MESSAGE_ID") != "b7e3c1a94d2f4e6a9c8b1d3f5a7e9c10": problems.append("wrong MESSAGE_ID for topology-anomaly")
    if not e.get("REDIS_ANNOUNCED_ENDPOINT", "").endswith(":10226"): problems.append(f"REDIS_ANNOUNCED_ENDPOINT={e.get('REDIS_ANNOUNCED_ENDPOINT')}")
    if e.get("REDIS_RULE") != "allowed_ports": problems.append(f"REDIS_RULE={e.get('REDIS_RULE')}")
    if len(e.get("REDIS_NODE_ID", "")) != 40: problems.append(f"REDIS_NODE_ID={e.get('REDIS_NODE_ID')}")
    if not e.get("REDIS_TOPOLOGY_SOURCE", "").startswith("CLUSTER SHARDS from"): problems.append("no REDIS_TOPOLOGY_SOURCE")
if not maintenance: problems.append("no REDIS_EVENT=maintenance-event entry")
for e in maintenance[:1]:
    if e.get("MESSAGE_ID") != "f5a7b9c1d3e54f7b9c4d6e8f0a2b4c54": problems.append("wrong MESSAGE_ID for maintenance-event")
    if e.get("REDIS_MAINTENANCE_TYPE") != "NodeMaintenanceEnded": problems.append(f"REDIS_MAINTENANCE_TYPE={e.get('REDIS_MAINTENANCE_TYPE')}")
expiry = [e for e in find("certificate-expiry") if e.get("REDIS_TARGET") == "journal-tls"]
if not expiry: problems.append("no REDIS_EVENT=certificate-expiry entry")
for e in expiry[:1]:
    if e.get("MESSAGE_ID") != "2e4a6c8e0b3d4f5a9c1e3b5d7f9a1c98": problems.append("wrong MESSAGE_ID for certificate-expiry")
    if e.get("PRIORITY") != "4": problems.append(f"certificate-expiry PRIORITY={e.get('PRIORITY')}")
    if e.get("REDIS_DAYS_LEFT") != "2": problems.append(f"REDIS_DAYS_LEFT={e.get('REDIS_DAYS_LEFT')}")
    if not e.get("REDIS_NOT_AFTER", "").endswith("Z"): problems.append(f"REDIS_NOT_AFTER={e.get('REDIS_NOT_AFTER')}")
if len(expiry) > 1: problems.append(f"{len(expiry)} certificate-expiry warnings in a few seconds: the repeat is daily")
if problems:
    print("FAIL journald test:", "; ".join(problems)); print(json.dumps(entries[:5], indent=1)); sys.exit(1)
e = failed[0]
print(f"journald test passed: {len(entries)} entries; connection-failed has REDIS_TARGET={e['REDIS_TARGET']} "
      f"REDIS_ENDPOINT={e['REDIS_ENDPOINT']} ERROR_KIND={e['ERROR_KIND']} MESSAGE_ID={e['MESSAGE_ID']}; "
      f"topology-anomaly REDIS_NODE_ID={anomaly[0]['REDIS_NODE_ID'][:8]}… REDIS_ANNOUNCED_ENDPOINT={anomaly[0]['REDIS_ANNOUNCED_ENDPOINT']} "
      f"REDIS_RULE={anomaly[0]['REDIS_RULE']} MESSAGE_ID={anomaly[0]['MESSAGE_ID']}; maintenance-event {maintenance[0]['REDIS_MAINTENANCE_TYPE']}; "
      f"certificate-expiry REDIS_DAYS_LEFT={expiry[0]['REDIS_DAYS_LEFT']} MESSAGE_ID={expiry[0]['MESSAGE_ID']}")
PY
