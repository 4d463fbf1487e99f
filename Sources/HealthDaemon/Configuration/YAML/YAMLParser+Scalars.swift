/// Plain and quoted scalars: where a plain one may start and how it continues over lines, single- and
/// double-quoted ones with their line folding and escapes.
extension YAMLParser {
    /// Refuses what cannot start a plain scalar.
    func checkPlainStart(flow: Bool) throws(YAMLSyntaxError) {
        let byte = self.current
        switch byte {
        case .ampersand, .asterisk:
            throw self.error("anchors and aliases (&name, *name) are not supported")
        case .exclamation:
            throw self.error("tags (!tag) are not supported")
        case .at, .backtick, .percent:
            throw self.error("\(self.describeCharacter(at: self.position)) cannot start a plain value; quote the value")
        case .comma, .openBracket, .closeBracket, .openBrace, .closeBrace, .pipe, .greaterThan, .newline:
            throw self.error("unexpected \(self.describeCharacter(at: self.position))")
        case .hyphen, .question, .colon:
            let next = self.byte(at: self.position + 1)
            guard self.isBlankOrEnd(self.position + 1) || (flow && next.isFlowIndicator) else { return }
            switch byte {
            case .question: throw self.error("complex keys ('? ') are not supported")
            case .colon: throw self.error("a ':' without a key before it")
            default: throw self.error("a '- ' list item is not allowed here")
            }
        default:
            return
        }
    }

    /// The part of a plain scalar on the current line: up to a line break, a ` #` comment, a `: ` (then `isKey`,
    /// the position at the colon) or, in a flow collection, `,[]{}`. Trailing blanks are not part of it.
    mutating func scanPlainLine(flow: Bool) -> (text: String, isKey: Bool) {
        let start = self.position
        var end = self.position
        let count = self.input.count
        while self.position < count {
            let byte = self.input[self.position]
            if byte == .newline { break }
            if byte == .colon {
                let next = self.byte(at: self.position + 1)
                if next == .space || next == .tab || next == .newline || (flow && next.isFlowIndicator) {
                    return (self.text(start..<end), true)
                }
            } else if byte == .space || byte == .tab {
                if self.byte(at: self.position + 1) == .hash { break }
                self.position += 1
                continue
            } else if flow, byte.isFlowIndicator {
                break
            }
            self.position += 1
            end = self.position
        }
        return (self.text(start..<end), false)
    }

    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: self.input[range]), as: UTF8.self)
    }

    /// A plain scalar's further lines: more indented than `parentIndent` (any indent in a flow collection), up to a
    /// comment or a document marker. A line break folds to a space; n empty lines to n line breaks.
    mutating func continuePlainScalar(_ firstLine: String, parentIndent: Int, flow: Bool) throws(YAMLSyntaxError)
        -> YAMLNode.Scalar
    {
        var text = firstLine
        while true {
            let byte = self.current
            guard !self.atEnd, byte == .newline || byte == .space || byte == .tab else { break }
            let saved = (self.position, self.line, self.lineStart)
            self.skipBlanks()
            guard !self.atEnd, self.current == .newline else {
                (self.position, self.line, self.lineStart) = saved
                break
            }
            var emptyLines = 0
            var indent = 0
            while true {
                self.consumeNewline()
                indent = 0
                while self.position < self.input.count, self.input[self.position] == .space {
                    self.position += 1
                    indent += 1
                }
                self.skipBlanks()
                guard !self.atEnd, self.current == .newline else { break }
                emptyLines += 1
            }
            let continues =
                !self.atEnd && self.current != .hash && (flow || indent > parentIndent)
                && !self.isDocumentMarker(at: self.lineStart)
            let (more, isKey) = continues ? self.scanPlainLine(flow: flow) : ("", false)
            guard !more.isEmpty else {
                (self.position, self.line, self.lineStart) = saved
                break
            }
            if isKey, !flow {
                throw self.error("a ': ' inside a plain value continued from the line above; check the indentation, or quote the value")
            }
            text += emptyLines == 0 ? " " : String(repeating: "\n", count: emptyLines)
            text += more
            if isKey { break }
        }
        return .init(text)
    }

    /// A single- or double-quoted scalar; the position is at its opening quote, and after its closing one.
    mutating func parseQuotedScalar() throws(YAMLSyntaxError) -> YAMLNode.Scalar {
        let open = self.mark
        let double = self.current == .doubleQuote
        let unterminated = double ? "a double-quoted string is not closed" : "a single-quoted string is not closed"
        self.position += 1
        var buffer: [UInt8] = []
        // The length of the buffer without the blanks that end the current line (a line break drops them).
        var kept = 0
        while true {
            guard !self.atEnd else { throw self.error(unterminated, at: open) }
            let byte = self.current
            switch byte {
            case .singleQuote where !double:
                if self.byte(at: self.position + 1) == .singleQuote {
                    buffer.append(.singleQuote)
                    self.position += 2
                    kept = buffer.count
                    continue
                }
                self.position += 1
                return .init(String(decoding: buffer, as: UTF8.self), style: .singleQuoted)
            case .doubleQuote where double:
                self.position += 1
                return .init(String(decoding: buffer, as: UTF8.self), style: .doubleQuoted)
            case .backslash where double:
                if self.byte(at: self.position + 1) == .newline, self.position + 1 < self.input.count {
                    self.position += 1
                    kept = buffer.count
                    try self.foldLineBreak(into: &buffer, escaped: true, unterminated: unterminated, open: open)
                } else {
                    try self.appendEscape(to: &buffer, unterminated: unterminated, open: open)
                }
                kept = buffer.count
            case .newline:
                buffer.removeLast(buffer.count - kept)
                try self.foldLineBreak(into: &buffer, escaped: false, unterminated: unterminated, open: open)
                kept = buffer.count
            case .space, .tab:
                buffer.append(byte)
                self.position += 1
            default:
                // A run of ordinary characters at once.
                let quote: UInt8 = double ? .doubleQuote : .singleQuote
                let start = self.position
                self.position += 1
                while self.position < self.input.count {
                    let next = self.input[self.position]
                    if next == quote || next == .backslash || next == .newline || next == .space || next == .tab { break }
                    self.position += 1
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: self.input[start..<self.position]))
                kept = buffer.count
            }
        }
    }

    /// A line break inside a quoted scalar, at the position: a space (nothing if `escaped`), or a line break for
    /// each empty line that follows; the next line's leading blanks are dropped.
    mutating func foldLineBreak(into buffer: inout [UInt8], escaped: Bool, unterminated: String, open: Mark)
        throws(YAMLSyntaxError)
    {
        var emptyLines = 0
        while true {
            self.consumeNewline()
            if self.isDocumentMarker(at: self.position) { throw self.error(unterminated, at: open) }
            self.skipBlanks()
            guard !self.atEnd else { throw self.error(unterminated, at: open) }
            guard self.current == .newline else { break }
            emptyLines += 1
        }
        if emptyLines == 0 {
            if !escaped { buffer.append(.space) }
        } else {
            buffer.append(contentsOf: repeatElement(UInt8.newline, count: emptyLines))
        }
    }

    /// A double-quoted scalar's escape sequence, at its backslash.
    mutating func appendEscape(to buffer: inout [UInt8], unterminated: String, open: Mark) throws(YAMLSyntaxError) {
        let backslash = self.mark
        self.position += 1
        guard !self.atEnd else { throw self.error(unterminated, at: open) }
        let code = self.current
        self.position += 1
        let simple: UInt32? =
            switch code {
            case UInt8(ascii: "0"): 0
            case UInt8(ascii: "a"): 0x07
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "t"), .tab: 0x09
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "v"): 0x0B
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "e"): 0x1B
            case .space, .doubleQuote, .singleQuote, .slash, .backslash: UInt32(code)
            case UInt8(ascii: "N"): 0x85
            case UInt8(ascii: "_"): 0xA0
            case UInt8(ascii: "L"): 0x2028
            case UInt8(ascii: "P"): 0x2029
            default: nil
            }
        let value: UInt32
        if let simple {
            value = simple
        } else {
            let digits: Int
            switch code {
            case UInt8(ascii: "x"): digits = 2
            case UInt8(ascii: "u"): digits = 4
            case UInt8(ascii: "U"): digits = 8
            default:
                throw self.error(
                    "unknown escape: a backslash before \(self.describeCharacter(at: self.position - 1))", at: backslash)
            }
            var parsed: UInt32 = 0
            for _ in 0..<digits {
                guard !self.atEnd, let digit = self.current.hexDigitValue else {
                    throw self.error("\\\(Character(Unicode.Scalar(code))) needs \(digits) hexadecimal digits", at: backslash)
                }
                parsed = parsed << 4 | UInt32(digit)
                self.position += 1
            }
            value = parsed
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw self.error("the escape names no Unicode character (U+\(String(value, radix: 16, uppercase: true)))", at: backslash)
        }
        UTF8.encode(scalar) { buffer.append($0) }
    }
}
