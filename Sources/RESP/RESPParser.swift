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

    public var limits: Limits

    /// Aggregates opened but not finished yet, outermost first.
    private var stack: [Frame] = []
    /// Bytes of the current top-level value already parsed into `stack` (relative to the reader index).
    private var resumeOffset = 0
    /// Bytes after `resumeOffset` already scanned for a line end without finding one.
    var scannedWithoutLineEnd = 0

    /// How many items (scalars and aggregate headers) were examined, counting a re-examined one again: the
    /// measure by which tests check that parsing stays linear however the bytes are split.
    internal var itemsExamined = 0

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

    struct Frame: Sendable {
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
    enum Item {
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

    /// A bulk header already read whose payload has not fully arrived: not read again on the next call.
    var pendingBulk: (marker: Marker, length: Int, headerLength: Int)?
}
