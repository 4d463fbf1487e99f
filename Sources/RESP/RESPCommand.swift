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
        self.init(arguments: [ByteBuffer(string: name)] + arguments.map { ByteBuffer(string: $0) })
    }

    public init(_ name: String, arguments: [String]) {
        self.init(arguments: [ByteBuffer(string: name)] + arguments.map { ByteBuffer(string: $0) })
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
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*")
        buffer.writeString(String(self.arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in self.arguments {
            buffer.writeStaticString("$")
            buffer.writeString(String(argument.readableBytes))
            buffer.writeStaticString("\r\n")
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }
}
