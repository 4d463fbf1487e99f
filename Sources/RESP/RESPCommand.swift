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
        self.bytes = Self.encoded(size: size) { writer in
            writer.header(count: arguments.count)
            for argument in arguments { argument.withUnsafeReadableBytes { writer.word($0) } }
        }
    }

    public init(_ name: String, _ arguments: String...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [String]) {
        var size = 3 + Self.decimalDigits(arguments.count + 1) + Self.encodedSize(name.utf8.count)
        for argument in arguments { size += Self.encodedSize(argument.utf8.count) }
        self.bytes = Self.encoded(size: size) { writer in
            writer.header(count: arguments.count + 1)
            writer.word(name)
            for argument in arguments { writer.word(argument) }
        }
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

    /// A buffer of exactly `size` bytes, written by `body` straight into its memory (no bounds or capacity check
    /// per piece: the size was worked out first).
    private static func encoded(size: Int, _ body: (inout Writer) -> Void) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var writer = Writer(raw: raw)
            body(&writer)
            assert(writer.at == size, "a command's size was worked out wrong")
            return writer.at
        }
        return bytes
    }

    /// Writes the pieces of a command into memory sized for them.
    private struct Writer {
        let raw: UnsafeMutableRawBufferPointer
        var at = 0

        mutating func header(count: Int) {
            self.byte(UInt8(ascii: "*"))
            self.decimal(count)
            self.crlf()
        }

        mutating func word(_ word: String) {
            var word = word
            // Native strings are contiguous UTF-8 already: one copy (a bridged one is made contiguous first).
            word.withUTF8 { self.word(UnsafeRawBufferPointer($0)) }
        }

        mutating func word(_ word: UnsafeRawBufferPointer) {
            self.byte(UInt8(ascii: "$"))
            self.decimal(word.count)
            self.crlf()
            if let base = word.baseAddress, word.count > 0 {
                (self.raw.baseAddress! + self.at).copyMemory(from: base, byteCount: word.count)
            }
            self.at += word.count
            self.crlf()
        }

        private mutating func byte(_ byte: UInt8) {
            self.raw[self.at] = byte
            self.at += 1
        }

        private mutating func crlf() {
            self.byte(UInt8(ascii: "\r"))
            self.byte(UInt8(ascii: "\n"))
        }

        private mutating func decimal(_ value: Int) {
            let digits = RESPCommand.decimalDigits(value)
            var rest = value
            for offset in stride(from: digits - 1, through: 0, by: -1) {
                self.raw[self.at + offset] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            self.at += digits
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
    fileprivate static func decimalDigits(_ value: Int) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return digits
    }
}
