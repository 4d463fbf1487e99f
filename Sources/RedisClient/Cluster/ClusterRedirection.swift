/// A `-MOVED slot host:port` or `-ASK slot host:port` error reply.
public struct ClusterRedirection: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The slot lives elsewhere now: update the slot map and retry there.
        case moved = "MOVED"
        /// The slot is being migrated: retry once there, preceded by `ASKING`, without updating the map.
        case ask = "ASK"
    }

    public var kind: Kind
    public var slot: Int
    public var endpoint: RedisEndpoint

    public init(kind: Kind, slot: Int, endpoint: RedisEndpoint) {
        self.kind = kind
        self.slot = slot
        self.endpoint = endpoint
    }

    /// Parses an error message; nil when it is not a redirection. An empty host (`MOVED 42 :6380`, sent when the
    /// node does not know its address) means the host the error came from.
    public init?(errorMessage: String, replyHost: String) {
        let words = errorMessage.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 3, let kind = Kind(rawValue: String(words[0])), let slot = Int(words[1]),
            (0..<HashSlot.count).contains(slot), let colon = words[2].lastIndex(of: ":"),
            let port = Int(words[2][words[2].index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(words[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(kind: kind, slot: slot, endpoint: RedisEndpoint(host: host.isEmpty ? replyHost : host, port: port))
    }
}
