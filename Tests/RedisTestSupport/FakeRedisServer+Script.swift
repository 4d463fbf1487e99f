import NIOCore
import RESP

extension FakeRedisServer {
    /// One command as the server received it.
    public struct Command: Sendable, Hashable, CustomStringConvertible {
        /// The connection it came on (``Connection/id``, 1 for the first accepted).
        public var connectionID: Int
        /// Every word as sent, the command's name first (`["CLIENT", "SETNAME", "x"]`).
        public var words: [String]
        /// The name upper-cased, with the subcommand for container commands: `CLIENT SETNAME`, `CLUSTER SHARDS`,
        /// `HELLO`. Empty for something that is not an array of strings.
        public var name: String
        /// The words after the name (and its subcommand).
        public var arguments: [String]
        /// The value as parsed.
        public var value: RESPValue
        /// When it arrived.
        public var receivedAt: ContinuousClock.Instant

        init(_ value: RESPValue, connectionID: Int, receivedAt: ContinuousClock.Instant = .now) {
            self.connectionID = connectionID
            self.value = value
            self.receivedAt = receivedAt
            var buffers: [ByteBuffer] = []
            var words: [String] = []
            for element in value.elements ?? [] {
                guard case .bulkString(let buffer) = element else { continue }
                buffers.append(buffer)
                words.append(String(buffer: buffer))
            }
            self.words = words
            if buffers.isEmpty || buffers.count != (value.elements?.count ?? 0) {
                self.name = buffers.first.map { String(buffer: $0).uppercased() } ?? ""
            } else {
                self.name = RESPCommand(arguments: buffers).name
            }
            self.arguments = Array(words.dropFirst(self.name.split(separator: " ").count))
        }

        /// `connection 2: CLIENT SETNAME` (arguments left out: they may hold passwords).
        public var description: String { "connection \(self.connectionID): \(self.name)" }
    }

    /// What the server does with one command.
    public indirect enum Response: Sendable {
        /// A value, written in the connection's protocol (RESP3 as is; for RESP2, maps become flat arrays, null
        /// `$-1`, … as Redis does). Use ``raw(_:)`` or ``exact(_:)`` for bytes the protocol would not allow.
        case reply(RESPValue)
        /// These bytes, exactly.
        case raw([UInt8])
        /// These bytes in pieces of `chunk` bytes, one piece every `every` (flushed each time).
        case dripFeed([UInt8], chunk: Int, every: Duration)
        /// Read the command, never answer it (later commands are answered).
        case noReply
        /// Close the connection (commands already queued behind this one are not answered).
        case close
        /// What the server does by default (``FakeRedisServer`` documents it).
        case `default`
        /// Wait, then respond.
        case delayed(Duration, Response)
        /// Several responses in order (`[.reply(.simpleString("OK")), .close]`).
        case sequence([Response])

        /// `+OK`
        public static var ok: Response { .reply(.simpleString("OK")) }

        /// A simple error: `error("ERR no")` → `-ERR no\r\n`.
        public static func error(_ message: String) -> Response { .reply(.simpleError(ByteBuffer(string: message))) }

        /// A bulk string.
        public static func bulk(_ text: String) -> Response { .reply(.bulkString(text)) }

        /// The RESP3 wire bytes of `value`, whatever the connection's protocol.
        public static func exact(_ value: RESPValue) -> Response { .raw(Array(buffer: value.encoded)) }

        /// These bytes (UTF-8), exactly: `raw("+OK\r\n")`.
        public static func raw(_ text: String) -> Response { .raw(Array(text.utf8)) }
    }

    /// Decides what the server does with each command: `.default` for the usual answer, anything else to script
    /// what real servers never send. Runs on a task of the connection (commands of one connection one at a time,
    /// in order); it may suspend (wait for the test to say something) but must not block.
    public typealias Handler = @Sendable (Command, Connection) async -> Response

    /// How the server behaves; change it while running with ``FakeRedisServer/updateScript(_:)``.
    public struct Script: Sendable {
        /// The per-command override; nil: the default for every command.
        public var handler: Handler?
        /// The cluster the server belongs to (`mode:cluster`, `cluster_enabled:1`, CLUSTER SHARDS/SLOTS/NODES);
        /// nil: a standalone server (`-ERR This instance has cluster support disabled`).
        public var topology: FakeClusterTopology?
        /// `requirepass`: commands before AUTH (or HELLO … AUTH) get `-NOAUTH`; nil: no password, AUTH always OK.
        public var password: String?
        /// The ACL user `password` belongs to. ["default"]
        public var username: String
        /// Whether HELLO exists; false: `-ERR unknown command 'HELLO'` as from a server with HELLO renamed away.
        public var helloSupported: Bool
        /// `version` in HELLO and `redis_version` in INFO. ["7.0.15"]
        public var version: String

        public init(
            handler: Handler? = nil, topology: FakeClusterTopology? = nil, password: String? = nil,
            username: String = "default", helloSupported: Bool = true, version: String = "7.0.15"
        ) {
            self.handler = handler
            self.topology = topology
            self.password = password
            self.username = username
            self.helloSupported = helloSupported
            self.version = version
        }

        /// The default behaviour throughout.
        public static var standard: Script { Script() }

        /// The default behaviour, except what `handler` answers otherwise.
        public static func respond(_ handler: @escaping Handler) -> Script { Script(handler: handler) }
    }

    /// What the server has seen so far.
    public struct Snapshot: Sendable {
        /// Every command received, on every connection, in the order they arrived.
        public var commands: [Command] = []
        /// Connections accepted since the start.
        public var acceptedConnections = 0
        /// Connections open now.
        public var openConnections = 0

        /// The commands named `name` (as ``Command/name``: `CLUSTER SHARDS`), upper-cased.
        public func commands(named name: String) -> [Command] {
            let name = name.uppercased()
            return self.commands.filter { $0.name == name }
        }
    }
}
