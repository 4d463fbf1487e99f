/// The parser's limits: what it refuses to read from a misbehaving or malicious server.
extension RESPParser {
    /// Bounds that protect the process from a misbehaving or malicious server.
    public struct Limits: Sendable, Hashable {
        /// Deepest nesting of aggregates (arrays, maps, sets, pushes, attributes). Default 32.
        public var maxDepth: Int
        /// Largest bulk string, bulk error or verbatim string, in bytes. Default 512 MiB (Redis's own
        /// `proto-max-bulk-len`).
        public var maxBulkLength: Int
        /// Most elements of one aggregate (pairs count twice for maps). Default 16 Mi.
        public var maxAggregateLength: Int
        /// Longest line (simple string, error, integer, double, length header), CRLF excluded. Default 64 KiB.
        public var maxLineLength: Int

        public init(
            maxDepth: Int = 32,
            maxBulkLength: Int = 512 * 1024 * 1024,
            maxAggregateLength: Int = 16 * 1024 * 1024,
            maxLineLength: Int = 64 * 1024
        ) {
            self.maxDepth = maxDepth
            self.maxBulkLength = maxBulkLength
            self.maxAggregateLength = maxAggregateLength
            self.maxLineLength = maxLineLength
        }
    }
}
