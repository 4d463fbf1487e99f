import NIOCore

/// A command as sent to Redis: an array of bulk strings, encoded once, when it is made.
///
/// Encoding at construction costs one buffer per command, where a list of words cost a buffer, an array and a
/// reference per word, and then the encoding again on the event loop; writing it is a copy.
///
/// Its `description` names the command only ("CLIENT SETNAME", "GET"), never its arguments, which may hold
/// keys, values or passwords.
public struct RESPCommand: Sendable, CustomStringConvertible {
    /// The command in RESP: `*N\r\n$len\r\nword\r\n…`.
    public let bytes: ByteBuffer

    public init(arguments: [ByteBuffer]) {
        precondition(!arguments.isEmpty, "a command needs at least its name")
        var size = 3 + Self.decimalDigits(arguments.count)
        for argument in arguments { size += Self.encodedSize(argument.readableBytes) }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(size)
        Self.writeHeader(count: arguments.count, into: &bytes)
        for argument in arguments {
            argument.withUnsafeReadableBytes { Self.writeWord($0, into: &bytes) }
        }
        self.bytes = bytes
    }

    public init(_ name: String, _ arguments: String...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [String]) {
        var size = 3 + Self.decimalDigits(arguments.count + 1) + Self.encodedSize(name.utf8.count)
        for argument in arguments { size += Self.encodedSize(argument.utf8.count) }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(size)
        Self.writeHeader(count: arguments.count + 1, into: &bytes)
        Self.writeWord(name, into: &bytes)
        for argument in arguments { Self.writeWord(argument, into: &bytes) }
        self.bytes = bytes
    }

    /// Every word of the command, the name first (read back from ``bytes``).
    public var arguments: [ByteBuffer] {
        var words: [ByteBuffer] = []
        var reader = self.bytes
        guard let count = Self.readLine(&reader, after: UInt8(ascii: "*")) else { return [] }
        words.reserveCapacity(count)
        for _ in 0..<count {
            guard let length = Self.readLine(&reader, after: UInt8(ascii: "$")), let word = reader.readSlice(length: length) else {
                break
            }
            words.append(word)
            reader.moveReaderIndex(forwardBy: 2)
        }
        return words
    }

    /// The command's name, upper-cased, with the subcommand for container commands ("CLIENT SETNAME").
    public var name: String {
        let words = self.arguments.prefix(2)
        guard let firstWord = words.first else { return "" }
        let first = String(buffer: firstWord).uppercased()
        if Self.containerCommands.contains(first), words.count > 1 {
            let second = String(buffer: words[words.startIndex + 1]).uppercased()
            // Subcommands are short words; anything else is data and stays out of logs.
            if second.count <= 32, second.allSatisfy({ $0.isLetter || $0 == "-" || $0 == "_" }) {
                return first + " " + second
            }
        }
        return first
    }

    public var description: String { self.name }

    private static let containerCommands: Set<String> = [
        "CLIENT", "CLUSTER", "CONFIG", "COMMAND", "MEMORY", "OBJECT", "SCRIPT", "XINFO", "ACL", "FUNCTION", "PUBSUB",
        "MODULE", "LATENCY", "SLOWLOG",
    ]

    /// Writes the command's bytes (`*N\r\n$len\r\narg\r\n…`).
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeImmutableBuffer(self.bytes)
    }

    /// `$len\r\n` + the word + `\r\n`: how many bytes a word of `length` bytes takes.
    private static func encodedSize(_ length: Int) -> Int {
        5 + Self.decimalDigits(length) + length
    }

    private static func writeHeader(count: Int, into bytes: inout ByteBuffer) {
        bytes.writeInteger(UInt8(ascii: "*"))
        Self.writeDecimal(count, into: &bytes)
        bytes.writeInteger(Self.crlf)
    }

    private static func writeWord(_ word: String, into bytes: inout ByteBuffer) {
        var word = word
        // Native strings are contiguous UTF-8 already: one copy (a bridged one is made contiguous first).
        word.withUTF8 { Self.writeWord(UnsafeRawBufferPointer($0), into: &bytes) }
    }

    private static func writeWord(_ word: UnsafeRawBufferPointer, into bytes: inout ByteBuffer) {
        bytes.writeInteger(UInt8(ascii: "$"))
        Self.writeDecimal(word.count, into: &bytes)
        bytes.writeInteger(Self.crlf)
        bytes.writeBytes(word)
        bytes.writeInteger(Self.crlf)
    }

    /// `\r\n` as one big-endian 16-bit integer.
    private static let crlf: UInt16 = 0x0D0A

    /// Writes `value` (not negative) in decimal, straight into the buffer's memory.
    private static func writeDecimal(_ value: Int, into bytes: inout ByteBuffer) {
        let digits = Self.decimalDigits(value)
        bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { raw in
            var rest = value
            for offset in stride(from: digits - 1, through: 0, by: -1) {
                raw[offset] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            return digits
        }
    }

    /// Reads `<marker><decimal>\r\n` (what this type wrote) and returns the number.
    private static func readLine(_ reader: inout ByteBuffer, after marker: UInt8) -> Int? {
        guard reader.readInteger(as: UInt8.self) == marker else { return nil }
        var value = 0
        while let byte = reader.readInteger(as: UInt8.self), byte != UInt8(ascii: "\r") {
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        reader.moveReaderIndex(forwardBy: 1)
        return value
    }

    /// How many decimal digits `value` (not negative) has.
    private static func decimalDigits(_ value: Int) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return digits
    }
}
