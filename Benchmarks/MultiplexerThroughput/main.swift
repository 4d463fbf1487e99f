// Throughput and latency of one multiplexer shared by N concurrent callers doing GET/SET, for
// Benchmarks/throughput.sh. Not a test: it prints figures, one line per command:
//   SET: 412345.67 requests per second, p50 0.110 ms, p99 0.350 ms, CPU 3.10 µs per request
// (the CPU this process spent, every thread, per request: steadier than the rate on a shared machine)
//   multiplexer-throughput PORT [CALLERS=50] [REQUESTS=200000] [pool|loop]
// pool (the default): the callers are tasks on Swift's global executor, as most callers are. loop: they prefer the
// client's event loop (`client.taskExecutor`), where their replies are read.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RESP
import RedisClient

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    _ = "usage: multiplexer-throughput PORT [CALLERS] [REQUESTS]\n".withCString { write(2, $0, strlen($0)) }
    exit(2)
}
let callers = arguments.count > 2 ? Int(arguments[2]) ?? 50 : 50
let requests = arguments.count > 3 ? Int(arguments[3]) ?? 200_000 : 200_000
let onEventLoop = arguments.count > 4 && arguments[4] == "loop"

let configuration = RedisMultiplexerConfiguration(
    connection: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "127.0.0.1", port: port)))
let client = try ResilientRedisClient(configuration: configuration)
let runner = Task { await client.run() }
while !client.current.isConnected { try await Task.sleep(for: .milliseconds(10)) }
_ = try await client.send(RESPCommand("SET", "key:__rand_int__", "xxx"))

/// One caller: `count` calls in a row, each clocked, into its own array (no sharing while it runs). Not a closure
/// of the top-level code, which would run on the main actor.
nonisolated func calls(_ client: ResilientRedisClient, operation: String, key: String, count: Int) async throws -> [Int64] {
    var samples: [Int64] = []
    samples.reserveCapacity(count)
    for _ in 0..<count {
        let sent = ContinuousClock.now
        if operation == "SET" {
            _ = try await client.send(RESPCommand("SET", key, "xxx"))
        } else {
            _ = try await client.send(RESPCommand("GET", key))
        }
        samples.append(nanoseconds(sent.duration(to: .now)))
    }
    return samples
}

/// Nanoseconds of a duration (latencies here are far below the range where this overflows).
func nanoseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
}

/// The value below which `fraction` of the sorted `samples` lie (nearest rank), in milliseconds.
func percentile(_ sorted: [Int64], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
    return Double(sorted[rank]) / 1e6
}

/// CPU seconds this process has used (user + system, every thread).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

for operation in ["SET", "GET"] {
    let perCaller = requests / callers
    let started = ContinuousClock.now
    let cpuBefore = cpuSeconds()
    let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
        for caller in 0..<callers {
            group.addTask(executorPreference: onEventLoop ? client.taskExecutor : nil) {
                try await calls(client, operation: operation, key: "key:\(caller)", count: perCaller)
            }
        }
        var all: [Int64] = []
        all.reserveCapacity(perCaller * callers)
        for try await samples in group { all += samples }
        return all
    }
    let seconds = Double(nanoseconds(started.duration(to: .now))) / 1e9
    let cpuPerRequest = (cpuSeconds() - cpuBefore) / Double(perCaller * callers) * 1e6
    let sorted = latencies.sorted()
    print(
        "\(operation): \(formatted("%.2f", Double(perCaller * callers) / seconds)) requests per second, "
            + "p50 \(formatted("%.3f", percentile(sorted, 0.50))) ms, p99 \(formatted("%.3f", percentile(sorted, 0.99))) ms, "
            + "CPU \(formatted("%.2f", cpuPerRequest)) µs per request")
}
await client.shutdown()
await runner.value

/// `value` printed with a printf format for one double (`%.2f`, `%8.1f`).
func formatted(_ format: String, _ value: Double) -> String {
    var buffer = [CChar](repeating: 0, count: 400)
    _ = withVaList([value]) { arguments in
        buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
    }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
