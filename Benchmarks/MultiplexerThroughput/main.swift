// Throughput of one multiplexer shared by N concurrent callers doing GET/SET, for Benchmarks/throughput.sh.
// Not a test: it prints figures.
//   multiplexer-throughput PORT [CALLERS=50] [REQUESTS=200000]
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RESP
import RedisMultiplexer

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    _ = "usage: multiplexer-throughput PORT [CALLERS] [REQUESTS]\n".withCString { write(2, $0, strlen($0)) }
    exit(2)
}
let callers = arguments.count > 2 ? Int(arguments[2]) ?? 50 : 50
let requests = arguments.count > 3 ? Int(arguments[3]) ?? 200_000 : 200_000

let configuration = RedisMultiplexerConfiguration(
    connection: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "127.0.0.1", port: port)))
let client = try ResilientRedisClient(configuration: configuration)
let runner = Task { await client.run() }
while !client.current.isConnected { try await Task.sleep(for: .milliseconds(10)) }
_ = try await client.send(RESPCommand("SET", "key:__rand_int__", "xxx"))

for operation in ["SET", "GET"] {
    let perCaller = requests / callers
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for caller in 0..<callers {
            group.addTask {
                let key = "key:\(caller)"
                for _ in 0..<perCaller {
                    if operation == "SET" {
                        _ = try await client.send(RESPCommand("SET", key, "xxx"))
                    } else {
                        _ = try await client.send(RESPCommand("GET", key))
                    }
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = started.duration(to: .now)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("\(operation): \(formatted("%.2f", Double(perCaller * callers) / seconds)) requests per second")
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
