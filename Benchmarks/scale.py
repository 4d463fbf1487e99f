#!/usr/bin/env python3
"""Footprint and scale of the release daemon, side by side with redis_exporter (not a test: it prints figures).

    Benchmarks/scale.py BINARY [--targets 1,1000] [--seconds 30] [--servers 8] [--starts 5]

For each target count: start -> READY=1 (the median of STARTS + 1 starts, with their range), RSS and CPU (% of a
core) over a steady window (with one target, /metrics scraped every second, as redis_exporter is), the time
`GET /status` takes over the control socket, start-up probe spread (no thundering herd), and a SIGHUP reload that
changes one target (which targets it touched). With one target it also measures redis_exporter (Debian's
prometheus-redis-exporter) on the same server in the same run. Benchmarks/footprint.sh builds and runs it.
"""
import argparse, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def host_steal():
    """(steal, total) jiffies of the whole machine: CPU time the hypervisor gave to others while this VM wanted it.
    A busy host inflates every CPU figure here (the same work takes longer); the steal shows when it did."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return fields[7] if len(fields) > 7 else 0, sum(fields[:8])


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def get(path, url):
    connection = UnixHTTP(path)
    connection.request("GET", url)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


class Notifications:
    """The notify socket, read all the time (as systemd does), keeping the time of each message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode(errors="replace")))

    def wait_for(self, needle, after, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for at, text in self.messages:
                    if at >= after and needle in text.split("\n"):
                        return at
            time.sleep(0.001)
        return None

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)


def write_config(path, socket_path, ports, n, interval, changed=None):
    lines = ["control:", f"  socket: {socket_path}", "targets:"]
    for i in range(1, n + 1):
        lines += [f"  - name: t{i}", "    host: 127.0.0.1", f"    port: {ports[(i - 1) % len(ports)]}",
                  f"    probe_interval: {interval}", f"    client_name: t{i}"]
        if changed == i:
            lines.append("    probe_timeout: 900ms")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def client_ids(port):
    """CLIENT LIST on one server: (port, id) -> name."""
    out = subprocess.run(["redis-cli", "-p", str(port), "client", "list"], capture_output=True, text=True).stdout
    ids = {}
    for line in out.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        ids[(port, fields.get("id"))] = fields.get("name", "")
    return ids


def start_daemon(binary, config, notify_path, stderr):
    """Starts the daemon with its notify socket: (process, notifications, when it was started)."""
    notifications = Notifications(notify_path)
    started = time.monotonic()
    proc = subprocess.Popen([binary, "run", "--config", config], env=dict(os.environ, NOTIFY_SOCKET=notifications.path),
                            stdout=subprocess.DEVNULL, stderr=stderr)
    return proc, notifications, started


def ready_times(binary, workdir, config, n, starts):
    """Start -> READY=1 over `starts` starts, each stopped at once (one start is a single sample of a few
    milliseconds on a shared machine: a hiccup of the host is as long)."""
    times = []
    for i in range(starts):
        proc, notifications, started = start_daemon(
            binary, config, os.path.join(workdir, f"notify-{n}-start-{i}.sock"), subprocess.DEVNULL)
        try:
            ready = notifications.wait_for("READY=1", started, 60)
            if ready:
                times.append((ready - started) * 1000)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            notifications.close()
    return times


def measure_daemon(binary, workdir, ports, n, seconds, interval, starts):
    config = os.path.join(workdir, f"config-{n}.yaml")
    control = os.path.join(workdir, f"control-{n}.sock")
    write_config(config, control, ports, n, interval)
    starts_ms = ready_times(binary, workdir, config, n, starts)
    log = open(os.path.join(workdir, f"daemon-{n}.log"), "w")
    proc, notifications, started = start_daemon(binary, config, os.path.join(workdir, f"notify-{n}.sock"), log)
    result = {"targets": n}
    try:
        ready = notifications.wait_for("READY=1", started, 60)
        result["ready_ms"] = (ready - started) * 1000 if ready else None
        result["ready_all_ms"] = sorted(starts_ms + ([result["ready_ms"]] if ready else []))
        # Every target healthy: the status over the control socket.
        deadline = time.monotonic() + 120
        healthy = 0
        while time.monotonic() < deadline:
            try:
                status, body = get(control, "/status")
                targets = json.loads(body)["targets"]
                healthy = sum(1 for t in targets if t["state"] == "healthy")
                if healthy == n:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        result["all_healthy_s"] = time.monotonic() - started if healthy == n else None
        time.sleep(2)
        cpu0, t0, steal0 = cpu_seconds(proc.pid), time.monotonic(), host_steal()
        if n == 1:
            # Side by side with redis_exporter, which is scraped every second: so is this daemon's /metrics (the
            # code that renders it stays resident, as it does under a real Prometheus).
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                status, _ = get(control, "/metrics")
                assert status == 200
                time.sleep(1)
        else:
            time.sleep(seconds)
        result["cpu_percent"] = 100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        steal1 = host_steal()
        result["steal_percent"] = 100 * (steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1])
        result["rss_mb"] = rss_mb(proc.pid)
        timings = []
        for _ in range(10):
            t = time.monotonic()
            status, body = get(control, "/status")
            timings.append((time.monotonic() - t) * 1000)
            assert status == 200 and len(json.loads(body)["targets"]) == n
        timings.sort()
        result["status_ms"] = (timings[len(timings) // 2], timings[-1], len(body))
        if n > 1:
            # A reload that changes one target (its probe_timeout): which connections did it replace?
            before = {}
            for port in ports:
                before.update(client_ids(port))
            changed = n // 2
            write_config(config, control, ports, n, interval, changed=changed)
            t = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            reloaded = notifications.wait_for("READY=1", t, 30)
            result["reload_ms"] = (reloaded - t) * 1000 if reloaded else None
            time.sleep(3)
            after = {}
            for port in ports:
                after.update(client_ids(port))
            gone = [before[i].split("#")[0] for i in before if i not in after and before[i]]
            result["reload_replaced"] = sorted(set(gone))
            log.flush()
            outcome = [line for line in open(log.name) if "restarted [" in line]
            result["reload_outcome"] = outcome[-1].split("restarted [", 1)[1].split("]", 1)[0] if outcome else "?"
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        result["stop_ms"] = (time.monotonic() - t) * 1000
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notifications.close()
        log.close()
    return result


def measure_exporter(port, seconds):
    exporter = shutil.which("prometheus-redis-exporter") or shutil.which("redis_exporter")
    if not exporter:
        return None
    listen = free_port()
    proc = subprocess.Popen([exporter, "-redis.addr", f"redis://127.0.0.1:{port}", "-web.listen-address", f"127.0.0.1:{listen}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        # Scraped every second, as a Prometheus with a 1 s interval would: its one "probe" per second.
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            connection = http.client.HTTPConnection("127.0.0.1", listen, timeout=5)
            connection.request("GET", "/metrics")
            connection.getresponse().read()
            connection.close()
            time.sleep(1)
        return {"rss_mb": rss_mb(proc.pid), "cpu_percent": 100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)}
    finally:
        proc.terminate()
        proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--targets", default="1,1000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--servers", type=int, default=8)
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--starts", type=int, default=5, help="extra starts for the start -> READY=1 figure")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="redis-healthd-scale-")
    servers = []
    try:
        ports = []
        for i in range(args.servers):
            port = free_port()
            servers.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir,
                 "--logfile", os.path.join(workdir, f"redis-{i}.log"), "--maxclients", "4000"]))
            ports.append(port)
        for port in ports:
            while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0:
                time.sleep(0.05)
        for n in [int(x) for x in args.targets.split(",")]:
            if n == 1:
                exporter = measure_exporter(ports[0], args.seconds)
                if exporter:
                    print(f"redis_exporter, 1 target scraped every 1 s: RSS {exporter['rss_mb']:.1f} MB, "
                          f"CPU {exporter['cpu_percent']:.2f} % of a core", flush=True)
                else:
                    print("redis_exporter: not installed (apt-get install prometheus-redis-exporter)", flush=True)
            r = measure_daemon(args.binary, workdir, ports[:min(n, len(ports))], n, args.seconds, args.interval, args.starts)
            scraped = ", /metrics scraped every 1 s" if n == 1 else ""
            ready = r["ready_all_ms"]
            line = (f"redis-healthd, {n} target(s) at {args.interval} probes{scraped}: READY=1 after {ready[len(ready) // 2]:.0f} ms "
                    f"(median of {len(ready)} starts, {ready[0]:.0f}–{ready[-1]:.0f} ms); "
                    f"all healthy after {r['all_healthy_s']:.2f} s; RSS {r['rss_mb']:.1f} MB; "
                    f"CPU {r['cpu_percent']:.2f} % of a core (host steal {r['steal_percent']:.1f} %); status --json {r['status_ms'][0]:.1f} ms "
                    f"(max {r['status_ms'][1]:.1f} ms, {r['status_ms'][2] // 1024} KB)")
            if "reload_ms" in r:
                line += f"; reload changing 1 target: READY=1 after {r['reload_ms']:.0f} ms, restarted [{r['reload_outcome']}], connections replaced: {r['reload_replaced']}"
            line += f"; stopped {r['stop_ms']:.0f} ms after SIGTERM"
            print(line, flush=True)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
