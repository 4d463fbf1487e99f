import NIOCore

/// A `NIOSingleStepByteToMessageDecoder` that turns a byte stream into ``RESPValue``s.
public struct RESPValueDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    public private(set) var parser: RESPParser

    public init(limits: RESPParser.Limits = .init()) {
        self.parser = RESPParser(limits: limits)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try self.parser.parse(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try self.parser.parse(&buffer)
    }
}
