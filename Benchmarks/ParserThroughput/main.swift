#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import RESP

// Prints the RESP parser's throughput on a 5 MB reply (300,000 bulk strings in one array) fed in chunks of
// 1 KB and of 64 KB, as a socket would deliver it, and whole. Parsing is resumable, so the figures should be
// close to one another: the cost is linear in the bytes, however they are split.

func makeReply(elements: Int) -> [UInt8] {
    var buffer = ByteBuffer()
    buffer.writeString("*\(elements)\r\n")
    for index in 0..<elements {
        let text = "value-\(index % 1_000_000)"
        buffer.writeString("$\(text.utf8.count)\r\n\(text)\r\n")
    }
    return Array(buffer.readableBytesView)
}

func parse(_ bytes: [UInt8], chunk: Int) -> (seconds: Double, calls: Int) {
    var parser = RESPParser()
    var buffer = ByteBuffer()
    buffer.reserveCapacity(chunk * 2)
    var offset = 0
    var calls = 0
    var done = false
    let clock = ContinuousClock()
    let elapsed = clock.measure {
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            calls += 1
            if (try? parser.parse(&buffer)) != nil { done = true }
            buffer.discardReadBytes()
        }
    }
    precondition(done, "the reply did not parse")
    let (seconds, attoseconds) = elapsed.components
    return (Double(seconds) + Double(attoseconds) / 1e18, calls)
}

let reply = makeReply(elements: 300_000)
let megabytes = Double(reply.count) / 1_000_000
print("RESP parser: one reply of \(formatted("%.1f", megabytes)) MB (an array of 300,000 bulk strings)")
for (label, chunk) in [("1 KB chunks", 1_024), ("64 KB chunks", 65_536), ("whole", reply.count)] {
    var best = Double.infinity
    var calls = 0
    for _ in 0..<3 {
        let run = parse(reply, chunk: chunk)
        best = min(best, run.seconds)
        calls = run.calls
    }
    print("  \(label + String(repeating: " ", count: 13 - label.count)) \(formatted("%8.1f", megabytes / best)) MB/s  (\(calls) reads, best of 3: \(formatted("%.3f", best)) s)")
}

/// `value` printed with a printf format for one double (`%.2f`, `%8.1f`).
func formatted(_ format: String, _ value: Double) -> String {
    var buffer = [CChar](repeating: 0, count: 400)
    _ = withVaList([value]) { arguments in
        buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
    }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
