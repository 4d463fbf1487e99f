import NIOCore

/// A command as sent to Redis: an array of bulk strings.
///
/// Its `description` names the command only ("CLIENT SETNAME", "GET"), never its arguments, which may hold
/// keys, values or passwords.
public struct RESPCommand: Sendable, CustomStringConvertible {
    /// Every word of the command, the name first.
    public var arguments: [ByteBuffer]

    public init(arguments: [ByteBuffer]) {
        precondition(!arguments.isEmpty, "a command needs at least its name")
        self.arguments = arguments
    }

    public init(_ name: String, _ arguments: String...) {
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [String]) {
        // Every word goes into one storage and each argument is a slice of it: one allocation for the bytes
        // instead of one per word (commands are made once per call on the hot path).
        var storage = ByteBuffer()
        storage.reserveCapacity(name.utf8.count + arguments.reduce(0) { $0 + $1.utf8.count })
        storage.writeString(name)
        for argument in arguments { storage.writeString(argument) }
        // Sliced only once everything is written: a slice shares the storage, and writing after it would copy it.
        var words: [ByteBuffer] = []
        words.reserveCapacity(arguments.count + 1)
        var start = 0
        func slice(_ word: String) {
            let length = word.utf8.count
            words.append(storage.getSlice(at: start, length: length)!)
            start += length
        }
        slice(name)
        for argument in arguments { slice(argument) }
        self.init(arguments: words)
    }

    /// The command's name, upper-cased, with the subcommand for container commands ("CLIENT SETNAME").
    public var name: String {
        let first = String(buffer: self.arguments[0]).uppercased()
        if Self.containerCommands.contains(first), self.arguments.count > 1 {
            let second = String(buffer: self.arguments[1]).uppercased()
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

    /// Writes `*N\r\n$len\r\narg\r\n…`.
    ///
    /// The size is worked out first and the bytes are written straight into the buffer's memory: this runs on the
    /// event loop for every command, and building a `String` per length header showed in profiles.
    public func encode(into buffer: inout ByteBuffer) {
        var size = 3 + Self.decimalDigits(self.arguments.count)
        for argument in self.arguments {
            size += 5 + Self.decimalDigits(argument.readableBytes) + argument.readableBytes
        }
        buffer.reserveCapacity(minimumWritableBytes: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var at = 0
            func put(_ byte: UInt8) {
                raw[at] = byte
                at += 1
            }
            func put(decimal value: Int) {
                let digits = Self.decimalDigits(value)
                var rest = value
                for offset in stride(from: digits - 1, through: 0, by: -1) {
                    raw[at + offset] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                at += digits
            }
            put(UInt8(ascii: "*"))
            put(decimal: self.arguments.count)
            put(UInt8(ascii: "\r"))
            put(UInt8(ascii: "\n"))
            for argument in self.arguments {
                put(UInt8(ascii: "$"))
                put(decimal: argument.readableBytes)
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
                argument.withUnsafeReadableBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + bytes.count)]).copyMemory(from: bytes)
                }
                at += argument.readableBytes
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
            }
            return at
        }
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
