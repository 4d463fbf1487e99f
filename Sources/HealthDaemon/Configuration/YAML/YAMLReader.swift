/// Reads the YAML that configuration files are written in: one document of block mappings and sequences, flow
/// `[ ]` and `{ }` collections, plain, single- and double-quoted scalars, `|` and `>` block scalars, comments.
///
/// Anchors, aliases, tags, complex (`? `) keys, directives and several documents in one file are refused with an
/// error, as are duplicate keys and tabs in indentation. The reader is linear in the size of its input, nests at
/// most ``maximumDepth`` collections deep, and every error names a line and column.
enum YAMLReader {
    /// Collections nested deeper than this are refused (the reader recurses once per level).
    static let maximumDepth = 64

    /// The document in `text`; nil when it holds none (nothing, or only comments).
    static func read(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        var text = text
        return try text.withUTF8 { read($0) }.get()
    }

    private static func read(_ input: UnsafeBufferPointer<UInt8>) -> Result<YAMLNode?, YAMLSyntaxError> {
        let hasCarriageReturn: Bool
        switch checkCharacters(input) {
        case .success(let found): hasCarriageReturn = found
        case .failure(let error): return .failure(error)
        }
        guard hasCarriageReturn else { return parse(input) }
        // Line breaks: CRLF and a lone CR read as LF.
        var normalized: [UInt8] = []
        normalized.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            if input[index] == .carriageReturn {
                normalized.append(.newline)
                if index + 1 < input.count, input[index + 1] == .newline { index += 1 }
            } else {
                normalized.append(input[index])
            }
            index += 1
        }
        return normalized.withUnsafeBufferPointer { parse($0) }
    }

    private static func parse(_ input: UnsafeBufferPointer<UInt8>) -> Result<YAMLNode?, YAMLSyntaxError> {
        var parser = YAMLParser(input)
        do throws(YAMLSyntaxError) {
            return .success(try parser.readDocument())
        } catch {
            return .failure(error)
        }
    }

    /// Refuses the characters YAML does not allow in a stream: C0 controls but tab and line breaks, DEL, C1
    /// controls but NEL, U+FFFE and U+FFFF. Whether the input has a carriage return.
    private static func checkCharacters(_ input: UnsafeBufferPointer<UInt8>) -> Result<Bool, YAMLSyntaxError> {
        guard let base = input.baseAddress else { return .success(false) }
        let count = input.count
        var hasCarriageReturn = false
        var offset = 0
        while offset < count {
            // Eight printable ASCII bytes at a time; a word with anything else is looked at byte by byte.
            if offset + 8 <= count {
                let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
                let high: UInt64 = 0x8080_8080_8080_8080
                let delete = word ^ 0x7F7F_7F7F_7F7F_7F7F
                let special =
                    (word & high) | ((word &- 0x2020_2020_2020_2020) & ~word & high)
                    | ((delete &- 0x0101_0101_0101_0101) & ~delete & high)
                if special == 0 {
                    offset += 8
                    continue
                }
            }
            let end = min(offset + 8, count)
            while offset < end {
                let byte = input[offset]
                var refused: UInt32?
                if byte < 0x20 {
                    if byte == .carriageReturn {
                        hasCarriageReturn = true
                    } else if byte != .newline, byte != .tab {
                        refused = UInt32(byte)
                    }
                } else if byte == 0x7F {
                    refused = 0x7F
                } else if byte == 0xC2, offset + 1 < count, (0x80...0x9F).contains(input[offset + 1]), input[offset + 1] != 0x85 {
                    refused = UInt32(input[offset + 1])
                } else if byte == 0xEF, offset + 2 < count, input[offset + 1] == 0xBF, input[offset + 2] >= 0xBE {
                    refused = 0xFFFE + UInt32(input[offset + 2] - 0xBE)
                }
                if let refused { return .failure(characterError(input, offset: offset, value: refused)) }
                offset += 1
            }
        }
        return .success(hasCarriageReturn)
    }

    private static func characterError(_ input: UnsafeBufferPointer<UInt8>, offset: Int, value: UInt32) -> YAMLSyntaxError {
        var line = 1
        var column = 1
        var index = input.count >= 3 && input[0] == 0xEF && input[1] == 0xBB && input[2] == 0xBF ? 3 : 0
        while index < offset {
            let byte = input[index]
            if byte == .newline || (byte == .carriageReturn && (index + 1 == input.count || input[index + 1] != .newline)) {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
            index += 1
        }
        let code = String(value, radix: 16, uppercase: true)
        return YAMLSyntaxError(
            line: line, column: column,
            message: "the character U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code) is not allowed; "
                + "write it as an escape in a double-quoted string")
    }
}
