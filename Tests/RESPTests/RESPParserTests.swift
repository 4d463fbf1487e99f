import NIOCore
import Testing

@testable import RESP

/// Wire examples of every RESP2/RESP3 type, with the value they must parse to.
let wireExamples: [(name: String, wire: String, value: RESPValue)] = [
    ("simple string", "+OK\r\n", .simpleString("OK")),
    ("empty simple string", "+\r\n", .simpleString("")),
    ("simple error", "-ERR unknown command\r\n", .simpleError(ByteBuffer(string: "ERR unknown command"))),
    ("integer", ":1000\r\n", .integer(1000)),
    ("negative integer", ":-42\r\n", .integer(-42)),
    ("integer min", ":-9223372036854775808\r\n", .integer(.min)),
    ("integer max", ":9223372036854775807\r\n", .integer(.max)),
    ("bulk string", "$5\r\nhello\r\n", .bulkString("hello")),
    ("empty bulk string", "$0\r\n\r\n", .bulkString("")),
    ("binary bulk string", "$4\r\n\r\n\0\u{1}\r\n", .bulkString(ByteBuffer(bytes: [13, 10, 0, 1]))),
    ("RESP2 null bulk", "$-1\r\n", .null),
    ("RESP2 null array", "*-1\r\n", .null),
    ("array", "*2\r\n$3\r\nfoo\r\n:7\r\n", .array([.bulkString("foo"), .integer(7)])),
    ("empty array", "*0\r\n", .array([])),
    ("nested array", "*2\r\n*1\r\n+a\r\n*0\r\n", .array([.array([.simpleString("a")]), .array([])])),
    ("null", "_\r\n", .null),
    ("true", "#t\r\n", .boolean(true)),
    ("false", "#f\r\n", .boolean(false)),
    ("double", ",3.25\r\n", .double(3.25)),
    ("double exponent", ",1.5e3\r\n", .double(1500)),
    ("negative double", ",-0.5\r\n", .double(-0.5)),
    ("double inf", ",inf\r\n", .double(.infinity)),
    ("double -inf", ",-inf\r\n", .double(-.infinity)),
    ("double nan", ",nan\r\n", .double(.nan)),
    (
        "big number", "(3492890328409238509324850943850943825024385\r\n",
        .bigNumber(ByteBuffer(string: "3492890328409238509324850943850943825024385"))
    ),
    ("negative big number", "(-12345678901234567890\r\n", .bigNumber(ByteBuffer(string: "-12345678901234567890"))),
    ("bulk error", "!21\r\nSYNTAX invalid syntax\r\n", .bulkError(ByteBuffer(string: "SYNTAX invalid syntax"))),
    ("verbatim string", "=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", ByteBuffer(string: "Some string"))),
    ("empty verbatim string", "=4\r\nmkd:\r\n", .verbatimString(format: "mkd", ByteBuffer())),
    (
        "map", "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n",
        .map([
            RESPMapEntry(key: .simpleString("first"), value: .integer(1)),
            RESPMapEntry(key: .bulkString("second"), value: .boolean(false)),
        ])
    ),
    ("empty map", "%0\r\n", .map([])),
    ("set", "~3\r\n+a\r\n+b\r\n_\r\n", .set([.simpleString("a"), .simpleString("b"), .null])),
    (
        "push", ">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$2\r\nhi\r\n",
        .push([.bulkString("message"), .bulkString("chan"), .bulkString("hi")])
    ),
    (
        "attribute before value", "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n:2039123\r\n",
        .attributed(
            attributes: [
                RESPMapEntry(
                    key: .simpleString("key-popularity"),
                    value: .map([RESPMapEntry(key: .bulkString("a"), value: .double(0.1923))]))
            ],
            value: .array([.integer(2_039_123)]))
    ),
    (
        "attribute inside array", "*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n",
        .array([
            .attributed(attributes: [RESPMapEntry(key: .simpleString("ttl"), value: .integer(3600))], value: .integer(1)),
            .integer(2),
        ])
    ),
]

@Suite("RESP parser")
struct RESPParserTests {

    @Test("parses every type", arguments: wireExamples.indices)
    func parsesEveryType(_ index: Int) throws {
        var parser = RESPParser()
        let example = wireExamples[index]
        var buffer = ByteBuffer(string: example.wire)
        let value = try parser.parse(&buffer)
        #expect(value == example.value, "\(example.name)")
        #expect(buffer.readableBytes == 0, "\(example.name): consumed exactly the value")
    }

    @Test("split at every byte boundary, it waits and then completes", arguments: wireExamples.indices)
    func splitAtEveryBoundary(_ index: Int) throws {
        var parser = RESPParser()
        let example = wireExamples[index]
        let bytes = Array(example.wire.utf8)
        for split in 0..<bytes.count {
            var partial = ByteBuffer(bytes: bytes[0..<split])
            let before = partial
            #expect(try parser.parse(&partial) == nil, "\(example.name) split at \(split)")
            #expect(partial == before && partial.readerIndex == before.readerIndex, "partial input not consumed")
            var full = partial
            full.writeBytes(bytes[split...])
            #expect(try parser.parse(&full) == example.value, "\(example.name) completed after split at \(split)")
            #expect(full.readableBytes == 0)
        }
    }

    @Test("drip-fed one byte at a time, it yields each value once, in order")
    func dripFed() throws {
        var parser = RESPParser()
        var stream = [UInt8]()
        for example in wireExamples { stream += Array(example.wire.utf8) }
        var buffer = ByteBuffer()
        var parsed = [RESPValue]()
        for byte in stream {
            buffer.writeInteger(byte)
            while let value = try parser.parse(&buffer) { parsed.append(value) }
        }
        #expect(parsed == wireExamples.map(\.value))
        #expect(buffer.readableBytes == 0)
    }

    @Test("consumes exactly one value and leaves the rest")
    func consumesExactlyOne() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "+OK\r\n:1\r\n$3\r\nab")
        #expect(try parser.parse(&buffer) == .simpleString("OK"))
        #expect(buffer.readableBytes == 10)
        #expect(try parser.parse(&buffer) == .integer(1))
        #expect(try parser.parse(&buffer) == nil)
        #expect(String(buffer: buffer) == "$3\r\nab")
    }

    @Test("encodes and parses back every type", arguments: wireExamples.indices)
    func roundTrip(_ index: Int) throws {
        var parser = RESPParser()
        let value = wireExamples[index].value
        var encoded = value.encoded
        #expect(try parser.parse(&encoded) == value)
        #expect(encoded.readableBytes == 0)
    }

    @Test("a huge announced aggregate allocates nothing until its bytes arrive")
    func hugeAnnouncedAggregate() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "*16000000\r\n:1\r\n")
        #expect(try parser.parse(&buffer) == nil)
        #expect(buffer.readerIndex == 0)
    }
}

@Suite("RESP parser errors")
struct RESPParserErrorTests {
    struct BadInput: Sendable, CustomTestStringConvertible {
        var wire: String
        var code: RESPParsingError.Code
        var offset: Int
        var testDescription: String { wire.debugDescription }
    }

    static let badInputs: [BadInput] = [
        BadInput(wire: "?what\r\n", code: .invalidTypeMarker, offset: 0),
        BadInput(wire: "*2\r\n:1\r\nX\r\n", code: .invalidTypeMarker, offset: 8),
        BadInput(wire: ":12a\r\n", code: .invalidInteger, offset: 1),
        BadInput(wire: ":\r\n", code: .invalidInteger, offset: 1),
        BadInput(wire: ":9223372036854775808\r\n", code: .invalidInteger, offset: 1),
        BadInput(wire: "$-2\r\n", code: .invalidLength, offset: 1),
        BadInput(wire: "$abc\r\n", code: .invalidLength, offset: 1),
        BadInput(wire: "%-1\r\n", code: .invalidLength, offset: 1),
        BadInput(wire: "$3\r\nabcd\r\n", code: .missingLineEnd, offset: 7),
        BadInput(wire: "+OK\n", code: .missingLineEnd, offset: 3),
        BadInput(wire: "+O\rK\r\n", code: .missingLineEnd, offset: 3),
        BadInput(wire: "_x\r\n", code: .missingLineEnd, offset: 1),
        BadInput(wire: "#x\r\n", code: .invalidBoolean, offset: 1),
        BadInput(wire: "#tt\r\n", code: .invalidBoolean, offset: 1),
        BadInput(wire: ",1.2.x\r\n", code: .invalidDouble, offset: 1),
        BadInput(wire: ",infinity\r\n", code: .invalidDouble, offset: 1),
        BadInput(wire: ",0x1p3\r\n", code: .invalidDouble, offset: 1),
        BadInput(wire: "(12a\r\n", code: .invalidBigNumber, offset: 1),
        BadInput(wire: "=3\r\ntxt\r\n", code: .invalidVerbatimString, offset: 0),
        BadInput(wire: "=5\r\ntxt-a\r\n", code: .invalidVerbatimString, offset: 0),
        BadInput(wire: "$?\r\n", code: .unsupportedStreamedValue, offset: 1),
        BadInput(wire: "*?\r\n", code: .unsupportedStreamedValue, offset: 1),
    ]

    @Test("malformed input throws a typed error with the byte offset", arguments: badInputs)
    func malformed(_ input: BadInput) {
        var buffer = ByteBuffer(string: input.wire)
        #expect {
            try parseFresh(&buffer)
        } throws: { error in
            guard let error = error as? RESPParsingError else { return false }
            return error.code == input.code && error.offset == input.offset
        }
    }

    @Test("nesting deeper than the limit is refused")
    func depthLimit() throws {
        var parser = RESPParser(limits: .init(maxDepth: 3))
        var ok = ByteBuffer(string: "*1\r\n*1\r\n*1\r\n:1\r\n")
        #expect(try parser.parse(&ok) == .array([.array([.array([.integer(1)])])]))
        var deep = ByteBuffer(string: "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
        #expect(throws: RESPParsingError(code: .nestingTooDeep, offset: 12, detail: "deeper than 3 levels")) {
            try parser.parse(&deep)
        }
        // Depth is checked as soon as the header arrives, before any element.
        var deepHeaderOnly = ByteBuffer(string: String(repeating: "*1\r\n", count: 10_000))
        #expect(throws: RESPParsingError.self) { try parseFresh(&deepHeaderOnly) }
    }

    @Test("bulk length above the limit is refused before its bytes arrive")
    func bulkLimit() {
        var parser = RESPParser(limits: .init(maxBulkLength: 10))
        var buffer = ByteBuffer(string: "$11\r\n")
        #expect {
            try parser.parse(&buffer)
        } throws: { ($0 as? RESPParsingError)?.code == .bulkTooLong && ($0 as? RESPParsingError)?.offset == 1 }
        var huge = ByteBuffer(string: "$99999999999999\r\n")
        #expect { try parseFresh(&huge) } throws: { ($0 as? RESPParsingError)?.code == .bulkTooLong }
    }

    @Test("aggregate length above the limit is refused; map pairs count twice")
    func aggregateLimit() {
        var parser = RESPParser(limits: .init(maxAggregateLength: 4))
        var array = ByteBuffer(string: "*5\r\n")
        #expect { try parser.parse(&array) } throws: { ($0 as? RESPParsingError)?.code == .aggregateTooLong }
        var map = ByteBuffer(string: "%3\r\n")
        #expect { try parser.parse(&map) } throws: { ($0 as? RESPParsingError)?.code == .aggregateTooLong }
        var overflow = ByteBuffer(string: "%4611686018427387904\r\n")
        #expect { try parseFresh(&overflow) } throws: { ($0 as? RESPParsingError)?.code == .aggregateTooLong }
    }

    @Test("a line longer than the limit is refused, even without its CRLF")
    func lineLimit() {
        var parser = RESPParser(limits: .init(maxLineLength: 8))
        var fits = ByteBuffer(string: "+12345678\r\n")
        #expect((try? parser.parse(&fits)) == .simpleString("12345678"))
        var long = ByteBuffer(string: "+123456789\r\n")
        #expect { try parser.parse(&long) } throws: { ($0 as? RESPParsingError)?.code == .lineTooLong }
        var endless = ByteBuffer(string: "+" + String(repeating: "x", count: 100))
        #expect { try parser.parse(&endless) } throws: { ($0 as? RESPParsingError)?.code == .lineTooLong }
    }

    @Test("errors describe themselves for humans")
    func description() {
        var buffer = ByteBuffer(string: "*1\r\n:x\r\n")
        do {
            _ = try parseFresh(&buffer)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "RESP protocol error: invalid integer at byte 5: not a 64-bit integer: \"x\"")
        }
    }
}

@Suite("RESP values")
struct RESPValueTests {
    @Test("mapEntries: a RESP3 map, or a RESP2 flat array of even length; nothing else")
    func mapEntries() {
        let key = RESPValue.bulkString(ByteBuffer(string: "k"))
        let value = RESPValue.integer(1)
        #expect(RESPValue.map([RESPMapEntry(key: key, value: value)]).mapEntries == [RESPMapEntry(key: key, value: value)])
        #expect(RESPValue.array([key, value]).mapEntries == [RESPMapEntry(key: key, value: value)])
        #expect(RESPValue.attributed(attributes: [], value: .array([key, value])).mapEntries?.count == 1)
        #expect(RESPValue.array([]).mapEntries == [])
        #expect(RESPValue.array([key]).mapEntries == nil)
        #expect(RESPValue.integer(3).mapEntries == nil)
    }
}

/// Parses with a parser of its own (parsers keep the state of a partial value between calls).
func parseFresh(_ buffer: inout ByteBuffer, limits: RESPParser.Limits = .init()) throws(RESPParsingError) -> RESPValue? {
    var parser = RESPParser(limits: limits)
    return try parser.parse(&buffer)
}
