import NIOCore

extension RESPValue {
    /// Writes the RESP3 wire form of this value (RESP2 for the types RESP2 has). Nulls are written as `_\r\n`.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .simpleString(let line): writeLine(marker: "+", line, into: &buffer)
        case .simpleError(let line): writeLine(marker: "-", line, into: &buffer)
        case .integer(let integer): writeHeader(marker: ":", integer, into: &buffer)
        case .bulkString(let payload): writeBulk(marker: "$", payload, into: &buffer)
        case .array(let elements): writeAggregate(marker: "*", elements, into: &buffer)
        case .null: buffer.writeStaticString("_\r\n")
        case .boolean(let bool): buffer.writeStaticString(bool ? "#t\r\n" : "#f\r\n")
        case .double(let double):
            buffer.writeStaticString(",")
            if double.isNaN {
                buffer.writeStaticString("nan")
            } else if double.isInfinite {
                buffer.writeStaticString(double < 0 ? "-inf" : "inf")
            } else {
                buffer.writeString("\(double)")
            }
            buffer.writeStaticString("\r\n")
        case .bigNumber(let digits): writeLine(marker: "(", digits, into: &buffer)
        case .bulkError(let payload): writeBulk(marker: "!", payload, into: &buffer)
        case .verbatimString(let format, var text):
            var payload = ByteBuffer()
            payload.writeString(format)
            payload.writeStaticString(":")
            payload.writeBuffer(&text)
            writeBulk(marker: "=", payload, into: &buffer)
        case .map(let entries): writePairs(marker: "%", entries, into: &buffer)
        case .set(let elements): writeAggregate(marker: "~", elements, into: &buffer)
        case .attributed(let attributes, let value):
            writePairs(marker: "|", attributes, into: &buffer)
            value.encode(into: &buffer)
        case .push(let elements): writeAggregate(marker: ">", elements, into: &buffer)
        }
    }

    /// The wire form in a new buffer.
    public var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        self.encode(into: &buffer)
        return buffer
    }
}

private func writeHeader(marker: StaticString, _ number: some BinaryInteger, into buffer: inout ByteBuffer) {
    buffer.writeStaticString(marker)
    buffer.writeString(String(number))
    buffer.writeStaticString("\r\n")
}

private func writeLine(marker: StaticString, _ line: ByteBuffer, into buffer: inout ByteBuffer) {
    buffer.writeStaticString(marker)
    buffer.writeImmutableBuffer(line)
    buffer.writeStaticString("\r\n")
}

private func writeBulk(marker: StaticString, _ payload: ByteBuffer, into buffer: inout ByteBuffer) {
    writeHeader(marker: marker, payload.readableBytes, into: &buffer)
    buffer.writeImmutableBuffer(payload)
    buffer.writeStaticString("\r\n")
}

private func writeAggregate(marker: StaticString, _ elements: [RESPValue], into buffer: inout ByteBuffer) {
    writeHeader(marker: marker, elements.count, into: &buffer)
    for element in elements { element.encode(into: &buffer) }
}

private func writePairs(marker: StaticString, _ entries: [RESPMapEntry], into buffer: inout ByteBuffer) {
    writeHeader(marker: marker, entries.count, into: &buffer)
    for entry in entries {
        entry.key.encode(into: &buffer)
        entry.value.encode(into: &buffer)
    }
}
