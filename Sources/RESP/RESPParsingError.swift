/// The bytes from the server are not valid RESP, or exceed a configured limit.
///
/// `offset` is the byte offset, counted from the first byte of the top-level value being parsed, at which
/// the problem was found. After such an error the stream cannot be resynchronised: the connection must close.
public struct RESPParsingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is. Extensible: new codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidTypeMarker = "invalid type marker"
            case invalidInteger = "invalid integer"
            case invalidLength = "invalid length"
            case invalidDouble = "invalid double"
            case invalidBoolean = "invalid boolean"
            case invalidBigNumber = "invalid big number"
            case invalidVerbatimString = "invalid verbatim string"
            case missingLineEnd = "missing CRLF"
            case unsupportedStreamedValue = "unsupported streamed value"
            case lineTooLong = "line too long"
            case bulkTooLong = "bulk string too long"
            case aggregateTooLong = "aggregate too long"
            case nestingTooDeep = "nesting too deep"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The first byte of a value is not one of `+-:$*_#,(!=%~|>`.
        public static let invalidTypeMarker = Code(.invalidTypeMarker)
        /// An integer (`:`) is not a valid signed 64-bit decimal.
        public static let invalidInteger = Code(.invalidInteger)
        /// A length or count is not a decimal, or is negative other than the null marker `-1`.
        public static let invalidLength = Code(.invalidLength)
        /// A double (`,`) is not a decimal, `inf`, `-inf` or `nan`.
        public static let invalidDouble = Code(.invalidDouble)
        /// A boolean (`#`) is not `t` or `f`.
        public static let invalidBoolean = Code(.invalidBoolean)
        /// A big number (`(`) is not an optionally signed run of digits.
        public static let invalidBigNumber = Code(.invalidBigNumber)
        /// A verbatim string (`=`) lacks its `xxx:` format prefix.
        public static let invalidVerbatimString = Code(.invalidVerbatimString)
        /// A line or a bulk payload is not terminated by `\r\n`, or a line holds a bare CR or LF.
        public static let missingLineEnd = Code(.missingLineEnd)
        /// RESP3 streamed strings or aggregates (`$?`, `*?`), which Redis never sends.
        public static let unsupportedStreamedValue = Code(.unsupportedStreamedValue)
        /// A line is longer than `Limits.maxLineLength`.
        public static let lineTooLong = Code(.lineTooLong)
        /// A bulk string/error/verbatim length is above `Limits.maxBulkLength`.
        public static let bulkTooLong = Code(.bulkTooLong)
        /// An aggregate count is above `Limits.maxAggregateLength`.
        public static let aggregateTooLong = Code(.aggregateTooLong)
        /// Aggregates are nested deeper than `Limits.maxDepth`.
        public static let nestingTooDeep = Code(.nestingTooDeep)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    /// Byte offset from the start of the top-level value.
    public var offset: Int
    /// What was found, for humans. Never holds more than a few bytes of the payload.
    public var detail: String

    public init(code: Code, offset: Int, detail: String) {
        self.code = code
        self.offset = offset
        self.detail = detail
    }

    public var description: String {
        "RESP protocol error: \(self.code) at byte \(self.offset): \(self.detail)"
    }
}
