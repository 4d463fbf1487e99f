import NIOCore

/// One RESP2 or RESP3 value, as sent by a Redis server.
///
/// String-like payloads stay `ByteBuffer` slices of the bytes read from the socket: no copy, no
/// UTF-8 validation until somebody asks for a `String`.
public enum RESPValue: Sendable, Hashable {
    /// `+OK\r\n`
    case simpleString(ByteBuffer)
    /// `-ERR message\r\n`
    case simpleError(ByteBuffer)
    /// `:42\r\n`
    case integer(Int64)
    /// `$5\r\nhello\r\n`
    case bulkString(ByteBuffer)
    /// `*2\r\n…`
    case array([RESPValue])
    /// RESP3 `_\r\n`, and RESP2's null bulk string `$-1\r\n` and null array `*-1\r\n`.
    case null
    /// RESP3 `#t\r\n` / `#f\r\n`
    case boolean(Bool)
    /// RESP3 `,3.14\r\n`, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// RESP3 `(3492890328409238509324850943850943825024385\r\n`: the decimal digits, sign included.
    case bigNumber(ByteBuffer)
    /// RESP3 `!21\r\nSYNTAX invalid syntax\r\n`
    case bulkError(ByteBuffer)
    /// RESP3 `=15\r\ntxt:Some string\r\n`: a three-letter format (`txt`, `mkd`) and the text.
    case verbatimString(format: String, ByteBuffer)
    /// RESP3 `%2\r\n…`: key/value pairs in the order the server sent them.
    case map([RESPMapEntry])
    /// RESP3 `~3\r\n…`
    case set([RESPValue])
    /// RESP3 `|1\r\n…` attributes, followed by the value they describe.
    indirect case attributed(attributes: [RESPMapEntry], value: RESPValue)
    /// RESP3 `>3\r\n…`: out-of-band data (pub/sub messages, invalidations), not a reply to a command.
    case push([RESPValue])
}

/// One key/value pair of a RESP3 map or attribute.
public struct RESPMapEntry: Sendable, Hashable {
    public var key: RESPValue
    public var value: RESPValue

    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// The same value with its payloads in storage of their own, not slices of the bytes it was parsed from
    /// (aggregates deeply: nesting is bounded by the parser's depth limit).
    var detachedFromInput: RESPValue {
        func copy(_ buffer: ByteBuffer) -> ByteBuffer {
            var copy = ByteBufferAllocator().buffer(capacity: buffer.readableBytes)
            copy.writeImmutableBuffer(buffer)
            return copy
        }
        switch self {
        case .simpleString(let buffer): return .simpleString(copy(buffer))
        case .simpleError(let buffer): return .simpleError(copy(buffer))
        case .bulkString(let buffer): return .bulkString(copy(buffer))
        case .bigNumber(let buffer): return .bigNumber(copy(buffer))
        case .bulkError(let buffer): return .bulkError(copy(buffer))
        case .verbatimString(let format, let buffer): return .verbatimString(format: format, copy(buffer))
        case .array(let elements): return .array(elements.map(\.detachedFromInput))
        case .set(let elements): return .set(elements.map(\.detachedFromInput))
        case .push(let elements): return .push(elements.map(\.detachedFromInput))
        case .map(let entries):
            return .map(entries.map { RESPMapEntry(key: $0.key.detachedFromInput, value: $0.value.detachedFromInput) })
        case .attributed(let attributes, let value):
            return .attributed(
                attributes: attributes.map { RESPMapEntry(key: $0.key.detachedFromInput, value: $0.value.detachedFromInput) },
                value: value.detachedFromInput)
        case .integer, .null, .boolean, .double: return self
        }
    }

    /// The value without any RESP3 attributes that preceded it.
    public var withoutAttributes: RESPValue {
        if case .attributed(_, let value) = self { return value.withoutAttributes }
        return self
    }

    /// Whether the server answered with an error (simple or bulk).
    public var isError: Bool {
        switch self.withoutAttributes {
        case .simpleError, .bulkError: true
        default: false
        }
    }

    /// The text of a string-like value (simple, bulk, verbatim, error, big number), `nil` otherwise.
    public var string: String? {
        switch self {
        case .simpleString(let buffer), .bulkString(let buffer), .simpleError(let buffer), .bulkError(let buffer),
            .bigNumber(let buffer), .verbatimString(_, let buffer):
            return String(buffer: buffer)
        case .attributed(_, let value):
            return value.string
        case .integer, .array, .null, .boolean, .double, .map, .set, .push:
            return nil
        }
    }

    /// The integer of `:n`, or of a bulk/simple string holding decimal digits.
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .simpleString, .bulkString: return self.string.flatMap { Int64($0) }
        case .attributed(_, let value): return value.int
        default: return nil
        }
    }

    /// The entries of a RESP3 map, or of a RESP2 flat `[key, value, …]` array (how HELLO, CONFIG GET and
    /// CLUSTER SHARDS answer in RESP2); nil for anything else, or an array of odd length.
    public var mapEntries: [RESPMapEntry]? {
        switch self.withoutAttributes {
        case .map(let entries): return entries
        case .array(let items) where items.count % 2 == 0: return keyValuePairs(items)
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values): return values
        case .attributed(_, let value): return value.elements
        default: return nil
        }
    }

    /// A short name of the type for messages ("bulk string", "map", …).
    public var typeName: String {
        switch self {
        case .simpleString: "simple string"
        case .simpleError: "simple error"
        case .integer: "integer"
        case .bulkString: "bulk string"
        case .array: "array"
        case .null: "null"
        case .boolean: "boolean"
        case .double: "double"
        case .bigNumber: "big number"
        case .bulkError: "bulk error"
        case .verbatimString: "verbatim string"
        case .map: "map"
        case .set: "set"
        case .attributed: "attributed value"
        case .push: "push"
        }
    }
}

extension RESPValue {
    /// Convenience for tests and literals: a bulk string with the UTF-8 bytes of `string`.
    public static func bulkString(_ string: String) -> RESPValue {
        .bulkString(ByteBuffer(string: string))
    }

    /// Convenience for tests and literals: a simple string.
    public static func simpleString(_ string: String) -> RESPValue {
        .simpleString(ByteBuffer(string: string))
    }
}

extension RESPValue {
    // Hashable by hand: Double's nan must equal itself for a value to round-trip through a set or a test.
    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch lhs {
        case .simpleString(let a): if case .simpleString(let b) = rhs { return a == b }
        case .simpleError(let a): if case .simpleError(let b) = rhs { return a == b }
        case .integer(let a): if case .integer(let b) = rhs { return a == b }
        case .bulkString(let a): if case .bulkString(let b) = rhs { return a == b }
        case .array(let a): if case .array(let b) = rhs { return a == b }
        case .null: if case .null = rhs { return true }
        case .boolean(let a): if case .boolean(let b) = rhs { return a == b }
        case .double(let a): if case .double(let b) = rhs { return a == b || (a.isNaN && b.isNaN) }
        case .bigNumber(let a): if case .bigNumber(let b) = rhs { return a == b }
        case .bulkError(let a): if case .bulkError(let b) = rhs { return a == b }
        case .verbatimString(let f1, let a): if case .verbatimString(let f2, let b) = rhs { return f1 == f2 && a == b }
        case .map(let a): if case .map(let b) = rhs { return a == b }
        case .set(let a): if case .set(let b) = rhs { return a == b }
        case .attributed(let a1, let v1): if case .attributed(let a2, let v2) = rhs { return a1 == a2 && v1 == v2 }
        case .push(let a): if case .push(let b) = rhs { return a == b }
        }
        return false
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.typeName)
        switch self {
        case .simpleString(let b), .simpleError(let b), .bulkString(let b), .bigNumber(let b), .bulkError(let b):
            hasher.combine(b)
        case .integer(let i): hasher.combine(i)
        case .array(let a), .set(let a), .push(let a): hasher.combine(a)
        case .null: break
        case .boolean(let b): hasher.combine(b)
        case .double(let d): if d.isNaN { hasher.combine(UInt64.max) } else { hasher.combine(d) }
        case .verbatimString(let f, let b):
            hasher.combine(f)
            hasher.combine(b)
        case .map(let m): hasher.combine(m)
        case .attributed(let a, let v):
            hasher.combine(a)
            hasher.combine(v)
        }
    }
}

/// `[k1, v1, k2, v2, …]` as map entries (an even count).
func keyValuePairs(_ elements: [RESPValue]) -> [RESPMapEntry] {
    stride(from: 0, to: elements.count, by: 2).map { RESPMapEntry(key: elements[$0], value: elements[$0 + 1]) }
}
