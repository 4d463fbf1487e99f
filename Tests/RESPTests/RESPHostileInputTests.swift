import NIOCore
import Testing

@testable import RESP

/// What no real server sends, but a hostile or broken one may: the parser must stay alive and linear.
@Suite("RESP parser on hostile input")
struct RESPHostileInputTests {
    /// Hardening (a): a chain of empty attributes used to recurse once per link and overflow the stack
    /// (about 1,400 links in a debug build, 8 KB of input). Attributes now count as nesting.
    @Test("a chain of attributes is refused at the depth limit, not a stack overflow", arguments: [40, 1_400, 100_000])
    func attributeChain(links: Int) {
        var buffer = ByteBuffer(string: String(repeating: "|0\r\n", count: links) + "+PONG\r\n")
        #expect {
            try parseFresh(&buffer)
        } throws: { error in
            (error as? RESPParsingError)?.code == .nestingTooDeep && (error as? RESPParsingError)?.offset == 32 * 4
        }
    }

    /// Found by the fuzzer: a verbatim string whose format is not ASCII (`tx\xC2`) parsed, but its format,
    /// read as text, re-encoded to other bytes that no longer parsed.
    @Test("a verbatim string's format must be three printable ASCII characters")
    func verbatimFormat() throws {
        var bad = ByteBuffer(bytes: Array("=7\r\ntx".utf8) + [0xC2] + Array(":abc\r\n".utf8))
        #expect { try parseFresh(&bad) } throws: { ($0 as? RESPParsingError)?.code == .invalidVerbatimString }
        var good = ByteBuffer(string: "=7\r\nmkd:abc\r\n")
        #expect(try parseFresh(&good) == .verbatimString(format: "mkd", ByteBuffer(string: "abc")))
    }

    @Test("attributes with pairs count toward the depth too")
    func attributesWithPairsCount() throws {
        var parser = RESPParser(limits: .init(maxDepth: 3))
        // One attribute level, then the value it describes: fine.
        var ok = ByteBuffer(string: "|1\r\n+k\r\n:1\r\n+PONG\r\n")
        #expect(
            try parser.parse(&ok)
                == .attributed(attributes: [RESPMapEntry(key: .simpleString("k"), value: .integer(1))], value: .simpleString("PONG")))
        var chain = ByteBuffer(string: String(repeating: "|1\r\n+k\r\n:1\r\n", count: 4) + "+PONG\r\n")
        #expect { try parser.parse(&chain) } throws: { ($0 as? RESPParsingError)?.code == .nestingTooDeep }
        // After an error the parser starts afresh.
        var next = ByteBuffer(string: "+OK\r\n")
        #expect(try parser.parse(&next) == .simpleString("OK"))
    }

    /// Hardening (b): a partial aggregate used to be re-parsed from its start on every read.
    @Test("a large reply fed in small chunks is parsed in time linear in its items", arguments: [1, 1024, 65_536])
    func linearInChunks(chunk: Int) async throws {
        let count = chunk == 1 ? 2_000 : 50_000
        var wire = ByteBuffer()
        wire.writeString("*\(count)\r\n")
        for index in 0..<count { wire.writeString("$6\r\nv\(String(index % 100_000).leftPad(5))\r\n") }
        let bytes = Array(wire.readableBytesView)
        var parser = RESPParser()
        var buffer = ByteBuffer()
        var parsed: RESPValue?
        var calls = 0
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            calls += 1
            if calls % 256 == 0 { await Task.yield() }  // CPU-bound: leave the shared task pool to others
            if let value = try parser.parse(&buffer) {
                parsed = value
            }
            buffer.discardReadBytes()
        }
        guard case .array(let elements) = parsed else {
            Issue.record("no array parsed")
            return
        }
        #expect(elements.count == count)
        #expect(elements.last == .bulkString(ByteBuffer(string: "v\(String((count - 1) % 100_000).leftPad(5))")))
        // Each item is examined once, plus at most one unfinished item per call.
        #expect(parser.itemsExamined <= count + 1 + calls, "examined \(parser.itemsExamined) items in \(calls) calls")
    }

    /// Hardening (b), the other half: elements kept between reads used to be slices of the input buffer, so
    /// appending the next read to it copied the whole buffer (copy on write) every time: quadratic again.
    @Test("what a partial value keeps does not pin the input buffer: appending does not copy it")
    func partialValueDoesNotPinInput() throws {
        var parser = RESPParser()
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        buffer.writeString("*3\r\n$3\r\nabc\r\n+simple\r\n")
        let before = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(try parser.parse(&buffer) == nil)
        buffer.writeString(":7\r\n")
        let after = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after, "appending to the input copied it: the parser keeps a reference to it")
        #expect(try parser.parse(&buffer) == .array([.bulkString("abc"), .simpleString("simple"), .integer(7)]))
    }

    @Test("a long line drip-fed is scanned once, not once per byte")
    func longLineDripFed() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer()
        let line = "+" + String(repeating: "x", count: 60_000) + "\r\n"
        var result: RESPValue?
        for byte in line.utf8 {
            buffer.writeInteger(byte)
            if let value = try parser.parse(&buffer) { result = value }
        }
        #expect(result?.string?.count == 60_000)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a bulk string drip-fed keeps its header")
    func bulkDripFed() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer()
        let wire = "*2\r\n$5\r\nhello\r\n$0\r\n\r\n:7\r\n"
        var results = [RESPValue]()
        for byte in wire.utf8 {
            buffer.writeInteger(byte)
            while let value = try parser.parse(&buffer) { results.append(value) }
        }
        #expect(results == [.array([.bulkString("hello"), .bulkString("")]), .integer(7)])
    }

    @Test("split feeding gives the same values and errors as whole feeding", arguments: [21 as UInt64, 22, 23])
    func splitEqualsWhole(seed: UInt64) async {
        var rng = SplitMix64(seed: seed)
        let corpus = wireExamples.map { Array($0.wire.utf8) }
        for iteration in 0..<2_000 {
            if iteration % 200 == 0 { await Task.yield() }  // CPU-bound: leave the shared task pool to others
            var bytes = [UInt8]()
            for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes += corpus.randomElement(using: &rng)! }
            if Bool.random(using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let whole = Self.feed(bytes, chunks: [bytes.count])
            var cuts = [Int]()
            var left = bytes.count
            while left > 0 {
                let cut = Int.random(in: 1...max(1, min(left, 7)), using: &rng)
                cuts.append(cut)
                left -= cut
            }
            let split = Self.feed(bytes, chunks: cuts)
            #expect(whole.values == split.values)
            #expect(whole.error?.code == split.error?.code)
        }
    }

    static func feed(_ bytes: [UInt8], chunks: [Int]) -> (values: [RESPValue], error: RESPParsingError?) {
        var parser = RESPParser()
        var buffer = ByteBuffer()
        var values = [RESPValue]()
        var offset = 0
        for chunk in chunks {
            buffer.writeBytes(bytes[offset..<offset + chunk])
            offset += chunk
            do {
                while let value = try parser.parse(&buffer) { values.append(value) }
            } catch {
                return (values, error)
            }
        }
        return (values, nil)
    }
}

extension String {
    fileprivate func leftPad(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
