import NIOCore

/// Reading one item at the cursor: a scalar or an aggregate's header, its lines and lengths, and the strict
/// decoding of numbers in them.
extension RESPParser {
    struct Cursor {
        let buffer: ByteBuffer
        let start: Int
        var index: Int

        var offset: Int { self.index - self.start }
        var remaining: Int { self.buffer.writerIndex - self.index }
    }

    enum Marker: UInt8 {
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

    /// Parses a scalar, or the header of an aggregate, at the cursor; `nil` when its bytes have not all arrived.
    mutating func parseItem(_ cursor: inout Cursor) throws(RESPParsingError) -> Item? {
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
