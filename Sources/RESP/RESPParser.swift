import NIOCore

/// An incremental, resumable RESP2/RESP3 parser.
///
/// `parse(_:)` either consumes exactly one complete top-level value from the front of the buffer and returns
/// it, or returns `nil` ("need more bytes") and leaves the buffer untouched. Malformed input throws a
/// ``RESPParsingError`` naming the byte offset; nothing is ever dropped silently.
///
/// The parser is resumable: what it has already parsed of an unfinished value (whole elements of a partial
/// aggregate, how far a partial line was scanned) is kept in the parser, so the next call continues where
/// the last one stopped instead of starting over. The cost of parsing a reply is linear in its bytes however
/// they are split: a 5 MB reply drip-fed in 1 KB reads costs the same as one read. This holds as long as
/// each call sees the same stream: the buffer's readable bytes start where they started at the previous call
/// that returned `nil` (as with `ByteToMessageDecoder`), possibly followed by more bytes. Call ``reset()``
/// before parsing an unrelated buffer.
///
/// Nesting is handled with an explicit stack, never recursion: no input can overflow the call stack. RESP3
/// attributes count as one level of nesting for the value they describe, so a chain of attributes hits
/// ``Limits/maxDepth`` like any other nesting.
///
/// The parser allocates nothing for a value before its bytes have arrived: an aggregate announcing a
/// million elements costs nothing until the bytes of those elements are in the buffer.
public struct RESPParser: Sendable {
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

    public var limits: Limits

    /// Aggregates opened but not finished yet, outermost first.
    private var stack: [Frame] = []
    /// Bytes of the current top-level value already parsed into `stack` (relative to the reader index).
    private var resumeOffset = 0
    /// Bytes after `resumeOffset` already scanned for a line end without finding one.
    private var scannedWithoutLineEnd = 0

    /// How many items (scalars and aggregate headers) were examined, counting a re-examined one again: the
    /// measure by which tests check that parsing stays linear however the bytes are split.
    internal private(set) var itemsExamined = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether part of a value has been parsed and the rest is awaited.
    public var isPartial: Bool { self.resumeOffset > 0 }

    /// Forgets a partially parsed value, so that the next call starts afresh.
    public mutating func reset() {
        self.stack.removeAll()
        self.resumeOffset = 0
        self.scannedWithoutLineEnd = 0
        self.pendingBulk = nil
    }

    private struct Frame: Sendable {
        enum Kind: Sendable {
            case array, set, push, map
            /// The attribute pairs themselves.
            case attribute
            /// Complete attributes waiting for the one value they describe.
            case attributed([RESPMapEntry])
        }

        var kind: Kind
        var remaining: Int
        var elements: [RESPValue]
        /// Elements already copied out of the input buffer (see ``detachRetainedElements()``).
        var detached = 0
    }

    /// What one step of parsing found at the cursor.
    private enum Item {
        case value(RESPValue)
        case aggregate(Frame.Kind, count: Int, markerOffset: Int)
    }

    /// Parses one complete value from the front of `buffer`.
    /// - Returns: the value, with `buffer`'s reader index moved past it; or `nil` when more bytes are needed,
    ///   with `buffer` unchanged (what was parsed so far is kept in the parser, see the type's documentation).
    public mutating func parse(_ buffer: inout ByteBuffer) throws(RESPParsingError) -> RESPValue? {
        var cursor = Cursor(buffer: buffer, start: buffer.readerIndex, index: buffer.readerIndex + self.resumeOffset)
        guard cursor.index <= buffer.writerIndex else {
            // Not the stream this parser was reading: start over rather than read past the end.
            self.reset()
            return try self.parse(&buffer)
        }
        do throws(RESPParsingError) {
            while true {
                let itemStart = cursor.index
                guard let item = try self.parseItem(&cursor) else {
                    self.resumeOffset = itemStart - cursor.start
                    self.detachRetainedElements()
                    return nil
                }
                self.scannedWithoutLineEnd = 0
                self.pendingBulk = nil
                let finished: RESPValue?
                switch item {
                case .value(let value):
                    finished = self.fold(value)
                case .aggregate(let kind, let count, let markerOffset):
                    guard self.stack.count < self.limits.maxDepth else {
                        throw RESPParsingError(
                            code: .nestingTooDeep, offset: markerOffset, detail: "deeper than \(self.limits.maxDepth) levels")
                    }
                    if count > 0 {
                        var elements = [RESPValue]()
                        elements.reserveCapacity(min(count, 16))
                        self.stack.append(Frame(kind: kind, remaining: count, elements: elements))
                        finished = nil
                    } else {
                        finished = self.emptyAggregate(kind)
                    }
                }
                if let finished, self.stack.isEmpty {
                    buffer.moveReaderIndex(to: cursor.index)
                    self.resumeOffset = 0
                    return finished
                }
            }
        } catch {
            self.reset()
            throw error
        }
    }

    /// Copies the elements an unfinished value keeps out of the input buffer, before waiting for more bytes: as
    /// slices they would share its storage, and appending the next read to that buffer would then copy it whole
    /// (copy on write), once per read — quadratic again. Each element is copied once, and only when a value spans
    /// reads: a reply that arrives whole costs no copy.
    private mutating func detachRetainedElements() {
        for index in self.stack.indices {
            let from = self.stack[index].detached
            let count = self.stack[index].elements.count
            guard from < count else { continue }
            for element in from..<count {
                self.stack[index].elements[element] = self.stack[index].elements[element].detachedFromInput
            }
            self.stack[index].detached = count
        }
    }

    /// An aggregate announced with no elements: finished at once, except attributes, which still await the
    /// value they describe.
    private mutating func emptyAggregate(_ kind: Frame.Kind) -> RESPValue? {
        switch kind {
        case .array: return self.fold(.array([]))
        case .set: return self.fold(.set([]))
        case .push: return self.fold(.push([]))
        case .map: return self.fold(.map([]))
        case .attribute, .attributed:
            self.stack.append(Frame(kind: .attributed([]), remaining: 1, elements: []))
            return nil
        }
    }

    /// Adds a finished value to the innermost open aggregate, closing every aggregate it completes.
    /// - Returns: the top-level value once it is finished, `nil` while an aggregate is still open.
    private mutating func fold(_ value: RESPValue) -> RESPValue? {
        var value = value
        while !self.stack.isEmpty {
            let innermost = self.stack.count - 1
            self.stack[innermost].elements.append(value)
            self.stack[innermost].remaining -= 1
            guard self.stack[innermost].remaining == 0 else { return nil }
            let frame = self.stack.removeLast()
            switch frame.kind {
            case .array: value = .array(frame.elements)
            case .set: value = .set(frame.elements)
            case .push: value = .push(frame.elements)
            case .map: value = .map(keyValuePairs(frame.elements))
            case .attribute:
                // Attributes describe the value that follows them; it takes the attributes' place (and level).
                self.stack.append(Frame(kind: .attributed(keyValuePairs(frame.elements)), remaining: 1, elements: []))
                return nil
            case .attributed(let attributes):
                value = .attributed(attributes: attributes, value: frame.elements[0])
            }
        }
        return value
    }

    private struct Cursor {
        let buffer: ByteBuffer
        let start: Int
        var index: Int

        var offset: Int { self.index - self.start }
        var remaining: Int { self.buffer.writerIndex - self.index }
    }

    private enum Marker: UInt8 {
        case simpleString = 43  // +
        case simpleError = 45  // -
        case integer = 58  // :
        case bulkString = 36  // $
        case array = 42  // *
        case null = 95  // _
        case boolean = 35  // #
        case double = 44  // ,
        case bigNumber = 40  // (
        case bulkError = 33  // !
        case verbatimString = 61  // =
        case map = 37  // %
        case set = 126  // ~
        case attribute = 124  // |
        case push = 62  // >
    }

    /// A bulk header already read whose payload has not fully arrived: not read again on the next call.
    private var pendingBulk: (marker: Marker, length: Int, headerLength: Int)?

    /// Parses a scalar, or the header of an aggregate, at the cursor; `nil` when its bytes have not all arrived.
    private mutating func parseItem(_ cursor: inout Cursor) throws(RESPParsingError) -> Item? {
        self.itemsExamined &+= 1
        guard let byte = cursor.buffer.getInteger(at: cursor.index, as: UInt8.self) else { return nil }
        guard let marker = Marker(rawValue: byte) else {
            throw RESPParsingError(
                code: .invalidTypeMarker, offset: cursor.offset, detail: "unexpected byte 0x\(hex(byte))")
        }
        let markerOffset = cursor.offset
        var body = cursor
        body.index += 1

        let value: RESPValue
        switch marker {
        case .simpleString:
            guard let line = try self.readLine(&body) else { return nil }
            value = .simpleString(line)
        case .simpleError:
            guard let line = try self.readLine(&body) else { return nil }
            value = .simpleError(line)
        case .integer:
            guard let line = try self.readLine(&body) else { return nil }
            guard let integer = parseDecimal(line) else {
                throw RESPParsingError(
                    code: .invalidInteger, offset: markerOffset + 1, detail: "not a 64-bit integer: \(preview(line))")
            }
            value = .integer(integer)
        case .null:
            guard let line = try self.readLine(&body) else { return nil }
            guard line.readableBytes == 0 else {
                throw RESPParsingError(
                    code: .missingLineEnd, offset: markerOffset + 1, detail: "null carries data: \(preview(line))")
            }
            value = .null
        case .boolean:
            guard let line = try self.readLine(&body) else { return nil }
            switch line.readableBytes == 1 ? line.readableBytesView.first : nil {
            case UInt8(ascii: "t"): value = .boolean(true)
            case UInt8(ascii: "f"): value = .boolean(false)
            default:
                throw RESPParsingError(
                    code: .invalidBoolean, offset: markerOffset + 1, detail: "expected t or f, got \(preview(line))")
            }
        case .double:
            guard let line = try self.readLine(&body) else { return nil }
            guard let double = parseDouble(line) else {
                throw RESPParsingError(
                    code: .invalidDouble, offset: markerOffset + 1, detail: "not a double: \(preview(line))")
            }
            value = .double(double)
        case .bigNumber:
            guard let line = try self.readLine(&body) else { return nil }
            guard isBigNumber(line) else {
                throw RESPParsingError(
                    code: .invalidBigNumber, offset: markerOffset + 1, detail: "not a big number: \(preview(line))")
            }
            value = .bigNumber(line)
        case .bulkString, .bulkError, .verbatimString:
            let length: Int
            if let pending = self.pendingBulk {
                length = pending.length
                body.index += pending.headerLength
            } else {
                let headerStart = body.index
                guard let announced = try self.readLength(&body, allowNull: marker == .bulkString) else { return nil }
                guard announced >= 0 else {
                    value = .null
                    break
                }
                guard announced <= self.limits.maxBulkLength else {
                    throw RESPParsingError(
                        code: .bulkTooLong, offset: markerOffset + 1,
                        detail: "\(announced) bytes announced, limit is \(self.limits.maxBulkLength)")
                }
                length = announced
                self.pendingBulk = (marker, length, body.index - headerStart)
            }
            guard body.remaining >= length + 2 else { return nil }
            let payload = body.buffer.getSlice(at: body.index, length: length)!
            body.index += length
            guard body.buffer.getInteger(at: body.index, as: UInt16.self) == crlf else {
                throw RESPParsingError(
                    code: .missingLineEnd, offset: body.offset, detail: "payload of \(length) bytes not followed by CRLF")
            }
            body.index += 2
            switch marker {
            case .bulkString: value = .bulkString(payload)
            case .bulkError: value = .bulkError(payload)
            default:
                let view = payload.readableBytesView
                // The format is three printable ASCII characters (`txt`, `mkd`): anything else would not survive
                // being read as text and written back.
                guard view.count >= 4, view[view.startIndex + 3] == UInt8(ascii: ":"),
                    view.prefix(3).allSatisfy({ $0 > 0x20 && $0 < 0x7F })
                else {
                    throw RESPParsingError(
                        code: .invalidVerbatimString, offset: markerOffset,
                        detail: "expected a three-letter format and ':' before the text")
                }
                let format = String(decoding: view.prefix(3), as: UTF8.self)
                value = .verbatimString(format: format, payload.getSlice(at: payload.readerIndex + 4, length: view.count - 4)!)
            }
        case .array, .set, .push, .map, .attribute:
            guard let count = try self.readLength(&body, allowNull: marker == .array) else { return nil }
            guard count >= 0 else {
                value = .null
                break
            }
            let isPairs = marker == .map || marker == .attribute
            let (elementCount, overflow) = isPairs ? count.multipliedReportingOverflow(by: 2) : (count, false)
            guard !overflow, elementCount <= self.limits.maxAggregateLength else {
                throw RESPParsingError(
                    code: .aggregateTooLong, offset: markerOffset + 1,
                    detail: "\(count) elements announced, limit is \(self.limits.maxAggregateLength)")
            }
            let kind: Frame.Kind
            switch marker {
            case .array: kind = .array
            case .set: kind = .set
            case .push: kind = .push
            case .map: kind = .map
            default: kind = .attribute
            }
            cursor.index = body.index
            return .aggregate(kind, count: elementCount, markerOffset: markerOffset)
        }
        cursor.index = body.index
        return .value(value)
    }

    /// Reads up to CRLF; returns the line without it, or nil when the CRLF has not arrived yet. A line that
    /// has not ended yet is not scanned again from its start on the next call.
    private mutating func readLine(_ cursor: inout Cursor) throws(RESPParsingError) -> ByteBuffer? {
        let available = cursor.remaining
        let scanLimit = min(available, self.limits.maxLineLength + 2)
        let skip = min(self.scannedWithoutLineEnd, scanLimit)
        let view = cursor.buffer.getSlice(at: cursor.index, length: scanLimit)!.readableBytesView
        guard let cr = view[(view.startIndex + skip)...].firstIndex(where: { $0 == 13 || $0 == 10 }) else {
            if available > self.limits.maxLineLength + 1 {
                throw RESPParsingError(
                    code: .lineTooLong, offset: cursor.offset,
                    detail: "no CRLF within \(self.limits.maxLineLength) bytes")
            }
            self.scannedWithoutLineEnd = scanLimit
            return nil
        }
        let length = cr - view.startIndex
        guard view[cr] == 13 else {
            throw RESPParsingError(code: .missingLineEnd, offset: cursor.offset + length, detail: "LF without CR")
        }
        guard length <= self.limits.maxLineLength else {
            throw RESPParsingError(
                code: .lineTooLong, offset: cursor.offset, detail: "line longer than \(self.limits.maxLineLength) bytes")
        }
        guard cr + 1 < view.endIndex else {
            self.scannedWithoutLineEnd = length
            return nil
        }
        guard view[cr + 1] == 10 else {
            throw RESPParsingError(code: .missingLineEnd, offset: cursor.offset + length + 1, detail: "CR without LF")
        }
        let line = cursor.buffer.getSlice(at: cursor.index, length: length)!
        cursor.index += length + 2
        return line
    }

    /// Reads a length line; -1 (null) is returned only when `allowNull`.
    private mutating func readLength(_ cursor: inout Cursor, allowNull: Bool) throws(RESPParsingError) -> Int? {
        let offset = cursor.offset
        guard let line = try self.readLine(&cursor) else { return nil }
        if line.readableBytes == 1, line.readableBytesView.first == UInt8(ascii: "?") {
            throw RESPParsingError(
                code: .unsupportedStreamedValue, offset: offset, detail: "streamed strings and aggregates are not supported")
        }
        guard let length = parseDecimal(line), length >= -1, length != -1 || allowNull, length <= Int.max - 2 else {
            throw RESPParsingError(code: .invalidLength, offset: offset, detail: "invalid length \(preview(line))")
        }
        return Int(length)
    }
}

private let crlf: UInt16 = 0x0D0A

/// Strict signed decimal: optional '-', 1…19 digits, no overflow, nothing else.
private func parseDecimal(_ line: ByteBuffer) -> Int64? {
    let view = line.readableBytesView
    var index = view.startIndex
    var negative = false
    if index < view.endIndex, view[index] == UInt8(ascii: "-") {
        negative = true
        index += 1
    }
    guard index < view.endIndex else { return nil }
    var magnitude: UInt64 = 0
    while index < view.endIndex {
        let byte = view[index]
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
        guard !o1, !o2 else { return nil }
        magnitude = sum
        index += 1
    }
    if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { return nil }
    return Int64(magnitude)
}

private func parseDouble(_ line: ByteBuffer) -> Double? {
    let view = line.readableBytesView
    guard !view.isEmpty, view.count <= 400 else { return nil }
    let text = String(decoding: view, as: UTF8.self)
    switch text {
    case "inf", "+inf": return .infinity
    case "-inf": return -.infinity
    case "nan", "-nan": return .nan
    default: break
    }
    // Only plain decimal notation: Swift's Double(String) would also take hex floats and "infinity".
    guard view.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 101 || $0 == 69 || $0 == 43 || $0 == 45 }),
        view.contains(where: { $0 >= 48 && $0 <= 57 })
    else { return nil }
    return Double(text)
}

private func isBigNumber(_ line: ByteBuffer) -> Bool {
    var view = line.readableBytesView[...]
    if view.first == UInt8(ascii: "-") || view.first == UInt8(ascii: "+") { view = view.dropFirst() }
    return !view.isEmpty && view.allSatisfy { $0 >= 48 && $0 <= 57 }
}

private func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

/// A short, printable excerpt of a line for error messages.
private func preview(_ line: ByteBuffer) -> String {
    let bytes = line.readableBytesView.prefix(32)
    var text = "\""
    for byte in bytes {
        if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
            text.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            text += "\\x" + hex(byte)
        }
    }
    text += line.readableBytes > 32 ? "…\"" : "\""
    return text
}
