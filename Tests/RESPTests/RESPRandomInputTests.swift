import NIOCore
import Testing

@testable import RESP

/// A small deterministic generator, so that a failure can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("RESP parser on random input")
struct RESPRandomInputTests {
    /// Parses everything it can out of `bytes` and checks the parser's contract on each step:
    /// a value consumes bytes it was given and no more; "need more" consumes nothing; errors are typed.
    static func exercise(_ bytes: [UInt8], limits: RESPParser.Limits = .init()) -> (values: Int, error: RESPParsingError?) {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(bytes: bytes)
        var values = 0
        while buffer.readableBytes > 0 {
            let before = buffer
            do {
                guard let value = try parser.parse(&buffer) else {
                    #expect(buffer == before && buffer.readerIndex == before.readerIndex, "need-more consumed input")
                    return (values, nil)
                }
                values += 1
                #expect(buffer.readerIndex > before.readerIndex, "a value consumed no bytes")
                #expect(buffer.readerIndex <= buffer.writerIndex, "over-read")
                // What was parsed re-encodes to something that parses to the same value.
                var again = value.encoded
                #expect(try parser.parse(&again) == value)
            } catch {
                #expect(error.offset >= 0 && error.offset <= before.readableBytes, "offset inside the input")
                return (values, error)
            }
        }
        return (values, nil)
    }

    @Test("random bytes never crash the parser nor make it over-read", arguments: [1 as UInt64, 2, 3, 4])
    func randomBytes(seed: UInt64) async {
        var rng = SplitMix64(seed: seed)
        let alphabet = Array("+-:$*_#,(!=%~|>0123456789\r\n-?tfinax ".utf8)
        for iteration in 0..<5_000 {
            if iteration % 200 == 0 { await Task.yield() }  // CPU-bound: leave the shared task pool to others
            let length = Int.random(in: 0..<64, using: &rng)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            _ = Self.exercise(bytes, limits: .init(maxDepth: 8, maxBulkLength: 1024, maxAggregateLength: 64, maxLineLength: 128))
        }
    }

    @Test("mutated valid input never crashes the parser", arguments: [11 as UInt64, 12, 13, 14])
    func mutatedValidInput(seed: UInt64) async {
        var rng = SplitMix64(seed: seed)
        let corpus = wireExamples.map { Array($0.wire.utf8) }
        var parsedSome = 0
        for iteration in 0..<5_000 {
            if iteration % 200 == 0 { await Task.yield() }  // CPU-bound: leave the shared task pool to others
            var bytes = [UInt8]()
            for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes += corpus.randomElement(using: &rng)! }
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
                default: bytes[position] = Array("0123456789-\r\n".utf8).randomElement(using: &rng)!
                }
                if bytes.isEmpty { break }
            }
            parsedSome += Self.exercise(bytes).values
        }
        #expect(parsedSome > 1_000, "mutations should leave many values parseable")
    }
}

@Suite("RESP command encoding")
struct RESPCommandTests {
    @Test("a command is an array of bulk strings")
    func encoding() {
        var buffer = ByteBuffer()
        RESPCommand("SET", "key", "va\r\nlue").encode(into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n")
    }

    @Test("an encoded command parses back to its arguments")
    func parsesBack() throws {
        var buffer = ByteBuffer()
        RESPCommand("HELLO", "3", "AUTH", "user", "").encode(into: &buffer)
        #expect(
            try parseFresh(&buffer)
                == .array([.bulkString("HELLO"), .bulkString("3"), .bulkString("AUTH"), .bulkString("user"), .bulkString("")])
        )
    }

    @Test("the words read back as given, binary bytes too, and both initializers encode alike")
    func argumentsReadBack() {
        let binary = ByteBuffer(bytes: [0, 13, 10, 255, 36, 42])
        let words = [ByteBuffer(string: "SET"), ByteBuffer(string: ""), binary, ByteBuffer(string: String(repeating: "v", count: 1_000))]
        let command = RESPCommand(arguments: words)
        #expect(command.arguments == words)
        #expect(command.name == "SET")
        let fromStrings = RESPCommand("SET", "", "x", String(repeating: "v", count: 1_000))
        let fromBuffers = RESPCommand(arguments: ["SET", "", "x", String(repeating: "v", count: 1_000)].map { ByteBuffer(string: $0) })
        #expect(fromStrings.bytes == fromBuffers.bytes)
        #expect(RESPCommand("PING").arguments == [ByteBuffer(string: "PING")])
    }

    @Test("its description names the command, never the arguments")
    func descriptionHidesArguments() {
        #expect(RESPCommand("auth", "user", "s3cret").description == "AUTH")
        #expect(RESPCommand("client", "setname", "redis-healthd").description == "CLIENT SETNAME")
        #expect(RESPCommand("config", "s3cret value").description == "CONFIG")
        #expect(!"\(RESPCommand("HELLO", "3", "AUTH", "u", "p4ss"))".contains("p4ss"))
    }
}
