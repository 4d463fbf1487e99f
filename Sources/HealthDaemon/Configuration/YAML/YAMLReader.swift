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

/// The reader's state: a cursor over the UTF-8 input, the current line, and the nesting depth.
private struct YAMLParser {
    let input: UnsafeBufferPointer<UInt8>
    var position = 0
    var line = 1
    var lineStart = 0
    var depth = 0
    /// The last line content ``nextContent()`` found and its line's indent (-1: a document marker).
    var knownContent: (position: Int, indent: Int)?

    init(_ input: UnsafeBufferPointer<UInt8>) {
        self.input = input
    }

    /// A place in the input, for errors that point back (an unclosed bracket, a duplicate key).
    struct Mark {
        var offset: Int
        var line: Int
        var lineStart: Int
    }

    var mark: Mark { Mark(offset: self.position, line: self.line, lineStart: self.lineStart) }

    var atEnd: Bool { self.position >= self.input.count }

    /// The byte at `offset`, a line break past the end (the input ends as a line does).
    func byte(at offset: Int) -> UInt8 {
        offset < self.input.count ? self.input[offset] : .newline
    }

    var current: UInt8 { self.byte(at: self.position) }

    /// Whether the byte at `offset` separates: a space, a tab, a line break, the end.
    func isBlankOrEnd(_ offset: Int) -> Bool {
        let byte = self.byte(at: offset)
        return byte == .space || byte == .tab || byte == .newline
    }

    // MARK: Errors

    func error(_ message: String, at mark: Mark? = nil) -> YAMLSyntaxError {
        let mark = mark ?? self.mark
        return YAMLSyntaxError(line: mark.line, column: self.column(of: mark), message: message)
    }

    /// A mark's 1-based column in Unicode scalars (UTF-8 continuation bytes are not counted).
    func column(of mark: Mark) -> Int {
        var column = 1
        var offset = mark.lineStart
        while offset < mark.offset, offset < self.input.count {
            if self.input[offset] & 0xC0 != 0x80 { column += 1 }
            offset += 1
        }
        return column
    }

    /// The character at `offset`, quoted and escaped for a message.
    func describeCharacter(at offset: Int) -> String {
        guard offset < self.input.count else { return "the end of the file" }
        var end = offset + 1
        while end < self.input.count, self.input[end] & 0xC0 == 0x80 { end += 1 }
        return YAMLSyntaxError.quoted(String(decoding: UnsafeBufferPointer(rebasing: self.input[offset..<end]), as: UTF8.self))
    }

    // MARK: Lines, blanks and comments

    mutating func consumeNewline() {
        self.position += 1
        self.line += 1
        self.lineStart = self.position
    }

    mutating func skipBlanks() {
        while self.position < self.input.count, self.input[self.position] == .space || self.input[self.position] == .tab {
            self.position += 1
        }
    }

    /// Skips a comment up to its line break; `#` must start the line or follow a blank.
    mutating func skipComment() throws(YAMLSyntaxError) {
        guard !self.atEnd, self.current == .hash else { return }
        if self.position > self.lineStart {
            let before = self.input[self.position - 1]
            guard before == .space || before == .tab else { throw self.error("a comment needs a blank before '#'") }
        }
        while self.position < self.input.count, self.input[self.position] != .newline { self.position += 1 }
    }

    func isDocumentMarker(at offset: Int) -> Bool {
        guard offset == self.lineStart, offset + 3 <= self.input.count else { return false }
        let first = self.input[offset]
        guard first == .hyphen || first == .period,
            self.input[offset + 1] == first, self.input[offset + 2] == first
        else { return false }
        return self.isBlankOrEnd(offset + 3)
    }

    /// Moves past the rest of the current line (blanks and a comment only), blank and comment lines, to the first
    /// character of the next line with content, and returns that line's indent. nil at the end of the input or at
    /// a document marker (`---`, `...` at the start of a line).
    mutating func nextContent() throws(YAMLSyntaxError) -> Int? {
        if let known = self.knownContent, known.position == self.position { return known.indent >= 0 ? known.indent : nil }
        var atLineStart = self.position == self.lineStart
        if !atLineStart {
            self.skipBlanks()
            try self.skipComment()
            guard self.current == .newline else {
                throw self.error("unexpected \(self.describeCharacter(at: self.position)) after the value")
            }
        }
        while true {
            if !atLineStart {
                guard !self.atEnd else { return nil }
                self.consumeNewline()
            }
            atLineStart = false
            var indent = 0
            while self.position < self.input.count, self.input[self.position] == .space {
                self.position += 1
                indent += 1
            }
            var tab: Mark?
            while self.position < self.input.count, self.input[self.position] == .space || self.input[self.position] == .tab {
                if tab == nil, self.input[self.position] == .tab { tab = self.mark }
                self.position += 1
            }
            guard !self.atEnd else { return nil }
            switch self.current {
            case .newline:
                continue
            case .hash:
                try self.skipComment()
                continue
            default:
                if let tab { throw self.error("a tab character in indentation; indent with spaces", at: tab) }
                let marker = indent == 0 && self.isDocumentMarker(at: self.position)
                self.knownContent = (self.position, marker ? -1 : indent)
                return marker ? nil : indent
            }
        }
    }

    /// After a value on its line: only blanks and a comment may follow.
    mutating func finishLine() throws(YAMLSyntaxError) {
        self.skipBlanks()
        if self.current == .colon, self.isBlankOrEnd(self.position + 1) {
            throw self.error("a mapping value is not allowed here; a nested mapping starts on the next line, indented")
        }
        try self.skipComment()
        guard self.current == .newline else {
            throw self.error("unexpected \(self.describeCharacter(at: self.position)) after the value")
        }
    }

    mutating func enterCollection() throws(YAMLSyntaxError) {
        self.depth += 1
        guard self.depth <= YAMLReader.maximumDepth else {
            throw self.error("collections nested more than \(YAMLReader.maximumDepth) levels deep")
        }
    }

    // MARK: Document

    mutating func readDocument() throws(YAMLSyntaxError) -> YAMLNode? {
        if self.input.count >= 3, self.input[0] == 0xEF, self.input[1] == 0xBB, self.input[2] == 0xBF {
            self.position = 3
            self.lineStart = 3
        }
        var root: YAMLNode?
        var indent = try self.nextContent()
        if indent == 0, self.current == .percent {
            throw self.error("directives (%YAML, %TAG) are not supported")
        }
        if indent == nil, !self.atEnd, self.current == .hyphen {
            self.position += 3
            self.skipBlanks()
            if self.current != .newline, self.current != .hash {
                root = try self.parseInlineValue(ownerIndent: -1)
            } else {
                indent = try self.nextContent()
                root = indent == nil ? .empty : try self.parseBlockNode(parentIndent: -1)
            }
        } else if indent != nil {
            root = try self.parseBlockNode(parentIndent: -1)
        }
        if try self.nextContent() != nil {
            throw self.error("this line does not belong to the document's top-level value; check its indentation")
        }
        guard !self.atEnd else { return root }
        if self.current == .period {
            self.position += 3
            if try self.nextContent() == nil, self.atEnd { return root }
            throw self.error("content after the document end marker '...'")
        }
        throw self.error("a second document ('---'); a configuration file holds one")
    }

    // MARK: Block collections

    /// The node starting at the current position, a line's content (or an item's, after `- `), inside a
    /// collection indented `parentIndent`. A mapping or sequence starting here is indented at this column.
    mutating func parseBlockNode(parentIndent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        let indent = self.position - self.lineStart
        let start = self.mark
        switch self.current {
        case .hyphen where self.isBlankOrEnd(self.position + 1):
            return try self.parseBlockSequence(indent: indent, endsAtKey: false)
        case .openBracket, .openBrace:
            let node = try self.parseFlowCollection()
            self.skipBlanks()
            if self.current == .colon {
                throw self.error("a [ ] or { } collection as a key is not supported", at: start)
            }
            return node
        case .pipe, .greaterThan:
            return try self.parseBlockScalar(parentIndent: parentIndent)
        case .doubleQuote, .singleQuote:
            let scalar = try self.parseQuotedScalar()
            self.skipBlanks()
            guard self.current == .colon, self.isBlankOrEnd(self.position + 1) else { return .scalar(scalar) }
            guard self.line == start.line else { throw self.error("a key must be on one line", at: start) }
            self.position += 1
            return try self.parseBlockMapping(indent: indent, firstKey: scalar, at: start)
        default:
            try self.checkPlainStart(flow: false)
            let (text, isKey) = self.scanPlainLine(flow: false)
            if isKey {
                self.position += 1
                return try self.parseBlockMapping(indent: indent, firstKey: .init(text), at: start)
            }
            return .scalar(try self.continuePlainScalar(text, parentIndent: parentIndent, flow: false))
        }
    }

    /// A mapping whose keys are at `indent`; its first key is read, the position is after its `:`.
    mutating func parseBlockMapping(indent: Int, firstKey: YAMLNode.Scalar, at firstMark: Mark) throws(YAMLSyntaxError)
        -> YAMLNode
    {
        try self.enterCollection()
        defer { self.depth -= 1 }
        var pairs: [YAMLNode.Mapping.Pair] = []
        var keyLines: [String: Int] = [:]
        var key = firstKey
        var keyMark = firstMark
        while true {
            if let first = keyLines[key.string] {
                throw self.error("duplicate key \(YAMLSyntaxError.quoted(key.string)) (first at line \(first))", at: keyMark)
            }
            keyLines[key.string] = keyMark.line
            let value = try self.parseBlockValue(ownerIndent: indent)
            pairs.append(.init(key: .scalar(key), value: value))
            guard let next = try self.nextContent(), next >= indent else { break }
            guard next == indent else {
                throw self.error("this line is indented more than the keys above it (\(indent) spaces)")
            }
            keyMark = self.mark
            key = try self.parseBlockKey()
        }
        return .mapping(.init(pairs))
    }

    /// A key at the start of a mapping's line, and its `:`.
    mutating func parseBlockKey() throws(YAMLSyntaxError) -> YAMLNode.Scalar {
        let start = self.mark
        switch self.current {
        case .doubleQuote, .singleQuote:
            let key = try self.parseQuotedScalar()
            guard self.line == start.line else { throw self.error("a key must be on one line", at: start) }
            self.skipBlanks()
            guard self.current == .colon, self.isBlankOrEnd(self.position + 1) else {
                throw self.error("expected ':' after the key")
            }
            self.position += 1
            return key
        case .hyphen where self.isBlankOrEnd(self.position + 1):
            throw self.error("a list item where a key was expected; check the indentation")
        case .openBracket, .openBrace:
            throw self.error("a [ ] or { } collection as a key is not supported")
        case .pipe, .greaterThan:
            throw self.error("expected a key, found \(self.describeCharacter(at: self.position))")
        default:
            try self.checkPlainStart(flow: false)
            let (text, isKey) = self.scanPlainLine(flow: false)
            guard isKey else { throw self.error("expected a key followed by ':'", at: start) }
            self.position += 1
            return .init(text)
        }
    }

    /// The value after a key's `:` in a mapping indented `ownerIndent`: on the same line, or on the lines below
    /// (more indented, or a list at the key's own indent); nothing is null.
    mutating func parseBlockValue(ownerIndent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        self.skipBlanks()
        guard self.current == .newline || self.current == .hash else {
            return try self.parseInlineValue(ownerIndent: ownerIndent)
        }
        guard let next = try self.nextContent() else { return .empty }
        if next > ownerIndent { return try self.parseBlockNode(parentIndent: ownerIndent) }
        if next == ownerIndent, self.current == .hyphen, self.isBlankOrEnd(self.position + 1) {
            return try self.parseBlockSequence(indent: ownerIndent, endsAtKey: true)
        }
        return .empty
    }

    /// A value on its key's line (or after `--- `): a scalar or a flow collection, not a block collection.
    mutating func parseInlineValue(ownerIndent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        switch self.current {
        case .openBracket, .openBrace:
            let node = try self.parseFlowCollection()
            try self.finishLine()
            return node
        case .doubleQuote, .singleQuote:
            let scalar = try self.parseQuotedScalar()
            try self.finishLine()
            return .scalar(scalar)
        case .pipe, .greaterThan:
            return try self.parseBlockScalar(parentIndent: ownerIndent)
        case .hyphen where self.isBlankOrEnd(self.position + 1):
            throw self.error("a list cannot start on its key's line; put its '- ' items on the next lines")
        default:
            try self.checkPlainStart(flow: false)
            let (text, isKey) = self.scanPlainLine(flow: false)
            if isKey {
                throw self.error("a mapping value is not allowed here; a nested mapping starts on the next line, indented")
            }
            return .scalar(try self.continuePlainScalar(text, parentIndent: ownerIndent, flow: false))
        }
    }

    /// A list whose `- ` are at `indent`; the position is at the first `-`. `endsAtKey`: the list is a mapping
    /// value at its key's indent, so the next key ends it.
    mutating func parseBlockSequence(indent: Int, endsAtKey: Bool) throws(YAMLSyntaxError) -> YAMLNode {
        try self.enterCollection()
        defer { self.depth -= 1 }
        var items: [YAMLNode] = []
        while true {
            self.position += 1
            self.skipBlanks()
            if self.current == .newline || self.current == .hash {
                if let next = try self.nextContent(), next > indent {
                    items.append(try self.parseBlockNode(parentIndent: indent))
                } else {
                    items.append(.empty)
                }
            } else {
                items.append(try self.parseBlockNode(parentIndent: indent))
            }
            guard let next = try self.nextContent(), next >= indent else { break }
            guard next == indent else {
                throw self.error("this line is indented more than the '- ' items above it (\(indent) spaces)")
            }
            guard self.current == .hyphen, self.isBlankOrEnd(self.position + 1) else {
                if endsAtKey { break }
                throw self.error("expected a '- ' list item at this indentation")
            }
        }
        return .sequence(items)
    }

    // MARK: Scalars

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

    /// A `|` (literal) or `>` (folded) block scalar with its optional chomping (`-`, `+`) and indentation (1–9)
    /// indicators, inside a collection indented `parentIndent`; the position is at the `|` or `>`.
    mutating func parseBlockScalar(parentIndent: Int) throws(YAMLSyntaxError) -> YAMLNode {
        let literal = self.current == .pipe
        self.position += 1
        enum Chomping { case strip, clip, keep }
        var chomping: Chomping?
        var indicatedIndent: Int?
        for _ in 0..<2 {
            let byte = self.current
            if chomping == nil, byte == .hyphen || byte == .plus {
                chomping = byte == .hyphen ? .strip : .keep
            } else if indicatedIndent == nil, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(byte) {
                indicatedIndent = Int(byte - UInt8(ascii: "0"))
            } else {
                break
            }
            self.position += 1
        }
        self.skipBlanks()
        try self.skipComment()
        guard self.current == .newline else {
            throw self.error("unexpected \(self.describeCharacter(at: self.position)) after a block scalar's '|' or '>'")
        }
        let style: YAMLNode.Scalar.Style = literal ? .literal : .folded
        guard !self.atEnd else { return .scalar(.init("", style: style)) }
        self.consumeNewline()

        var indent = indicatedIndent.map { parentIndent >= 0 ? parentIndent + $0 : $0 } ?? 0
        var output: [UInt8] = []
        var leadingBreak = false
        var trailingBreaks = 0
        var leadingBlank = false
        try self.scanBlockScalarBreaks(indent: &indent, trailingBreaks: &trailingBreaks, parentIndent: parentIndent)
        while !self.atEnd, self.position - self.lineStart == indent {
            let trailingBlank = self.current == .space || self.current == .tab
            if !literal, leadingBreak, !leadingBlank, !trailingBlank {
                if trailingBreaks == 0 { output.append(.space) }
            } else if leadingBreak {
                output.append(.newline)
            }
            output.append(contentsOf: repeatElement(UInt8.newline, count: trailingBreaks))
            leadingBreak = false
            trailingBreaks = 0
            leadingBlank = trailingBlank
            let start = self.position
            while self.position < self.input.count, self.input[self.position] != .newline { self.position += 1 }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: self.input[start..<self.position]))
            guard !self.atEnd else { break }
            self.consumeNewline()
            leadingBreak = true
            try self.scanBlockScalarBreaks(indent: &indent, trailingBreaks: &trailingBreaks, parentIndent: parentIndent)
        }
        if chomping != .strip, leadingBreak { output.append(.newline) }
        if chomping == .keep { output.append(contentsOf: repeatElement(UInt8.newline, count: trailingBreaks)) }
        // The line that ended the scalar is read again from its start.
        if !self.atEnd { self.position = self.lineStart }
        return .scalar(.init(String(decoding: output, as: UTF8.self), style: style))
    }

    /// A block scalar's empty lines before content at `indent`; with no indent yet (0), detects it from the
    /// first content line (at least one more than `parentIndent`).
    mutating func scanBlockScalarBreaks(indent: inout Int, trailingBreaks: inout Int, parentIndent: Int)
        throws(YAMLSyntaxError)
    {
        var widest = 0
        while true {
            while indent == 0 || self.position - self.lineStart < indent, self.current == .space, !self.atEnd {
                self.position += 1
            }
            widest = max(widest, self.position - self.lineStart)
            if indent == 0 || self.position - self.lineStart < indent, self.current == .tab, !self.atEnd {
                throw self.error("a tab character in a block scalar's indentation; indent with spaces")
            }
            guard !self.atEnd, self.current == .newline else { break }
            trailingBreaks += 1
            self.consumeNewline()
        }
        if indent == 0 {
            indent = max(widest, parentIndent + 1, 1)
        }
    }

    // MARK: Flow collections

    /// A `[ ]` or `{ }` collection, which may span lines; the position is at its opening bracket.
    mutating func parseFlowCollection() throws(YAMLSyntaxError) -> YAMLNode {
        try self.enterCollection()
        defer { self.depth -= 1 }
        let open = self.mark
        let isSequence = self.current == .openBracket
        let close: UInt8 = isSequence ? .closeBracket : .closeBrace
        self.position += 1
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Mapping.Pair] = []
        var keyLines: [String: Int] = [:]
        while true {
            try self.skipFlowSpace(open: open)
            if self.current == close {
                self.position += 1
                break
            }
            let entry = self.mark
            let node = try self.parseFlowNode(open: open)
            try self.skipFlowSpace(open: open)
            var value: YAMLNode?
            if self.current == .colon {
                self.position += 1
                try self.skipFlowSpace(open: open)
                if self.current == .comma || self.current == close {
                    value = .empty
                } else {
                    value = try self.parseFlowNode(open: open)
                    try self.skipFlowSpace(open: open)
                }
            }
            if isSequence, value == nil {
                items.append(node)
            } else {
                guard case .scalar(let key) = node else {
                    throw self.error("a [ ] or { } collection as a key is not supported", at: entry)
                }
                if isSequence {
                    items.append(.mapping(.init([.init(key: node, value: value ?? .empty)])))
                } else {
                    if let first = keyLines[key.string] {
                        throw self.error("duplicate key \(YAMLSyntaxError.quoted(key.string)) (first at line \(first))", at: entry)
                    }
                    keyLines[key.string] = entry.line
                    pairs.append(.init(key: node, value: value ?? .empty))
                }
            }
            if self.current == .comma {
                self.position += 1
            } else if self.current == close {
                self.position += 1
                break
            } else {
                let name = isSequence ? "list" : "mapping"
                throw self.error(
                    "expected ',' or '\(Character(Unicode.Scalar(close)))' in the \(name) opened at line \(open.line), "
                        + "column \(self.column(of: open)); found \(self.describeCharacter(at: self.position))")
            }
        }
        return isSequence ? .sequence(items) : .mapping(.init(pairs))
    }

    /// An entry of a flow collection, or a key or value of a flow mapping's entry.
    mutating func parseFlowNode(open: Mark) throws(YAMLSyntaxError) -> YAMLNode {
        switch self.current {
        case .openBracket, .openBrace:
            return try self.parseFlowCollection()
        case .doubleQuote, .singleQuote:
            return .scalar(try self.parseQuotedScalar())
        case .pipe, .greaterThan:
            throw self.error("block scalars ('|', '>') are not allowed inside [ ] or { }")
        case .comma, .closeBracket, .closeBrace:
            throw self.error("expected a value before \(self.describeCharacter(at: self.position))")
        default:
            try self.checkPlainStart(flow: true)
            let (text, _) = self.scanPlainLine(flow: true)
            return .scalar(try self.continuePlainScalar(text, parentIndent: -1, flow: true))
        }
    }

    /// Blanks, line breaks and comments inside a flow collection; its end (or a document marker) is an error.
    mutating func skipFlowSpace(open: Mark) throws(YAMLSyntaxError) {
        while true {
            self.skipBlanks()
            try self.skipComment()
            guard !self.atEnd else { throw self.unclosed(open) }
            guard self.current == .newline else { return }
            self.consumeNewline()
            if self.isDocumentMarker(at: self.position) { throw self.unclosed(open) }
        }
    }

    func unclosed(_ open: Mark) -> YAMLSyntaxError {
        let bracket = self.input[open.offset] == .openBracket ? "[" : "{"
        return self.error("'\(bracket)' is not closed", at: open)
    }
}

extension UInt8 {
    fileprivate static let tab = UInt8(ascii: "\t")
    fileprivate static let newline = UInt8(ascii: "\n")
    fileprivate static let carriageReturn = UInt8(ascii: "\r")
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let exclamation = UInt8(ascii: "!")
    fileprivate static let doubleQuote = UInt8(ascii: "\"")
    fileprivate static let hash = UInt8(ascii: "#")
    fileprivate static let percent = UInt8(ascii: "%")
    fileprivate static let ampersand = UInt8(ascii: "&")
    fileprivate static let singleQuote = UInt8(ascii: "'")
    fileprivate static let asterisk = UInt8(ascii: "*")
    fileprivate static let plus = UInt8(ascii: "+")
    fileprivate static let comma = UInt8(ascii: ",")
    fileprivate static let hyphen = UInt8(ascii: "-")
    fileprivate static let period = UInt8(ascii: ".")
    fileprivate static let slash = UInt8(ascii: "/")
    fileprivate static let colon = UInt8(ascii: ":")
    fileprivate static let greaterThan = UInt8(ascii: ">")
    fileprivate static let question = UInt8(ascii: "?")
    fileprivate static let at = UInt8(ascii: "@")
    fileprivate static let openBracket = UInt8(ascii: "[")
    fileprivate static let backslash = UInt8(ascii: "\\")
    fileprivate static let closeBracket = UInt8(ascii: "]")
    fileprivate static let backtick = UInt8(ascii: "`")
    fileprivate static let openBrace = UInt8(ascii: "{")
    fileprivate static let pipe = UInt8(ascii: "|")
    fileprivate static let closeBrace = UInt8(ascii: "}")

    fileprivate var isFlowIndicator: Bool {
        self == .comma || self == .openBracket || self == .closeBracket || self == .openBrace || self == .closeBrace
    }

    fileprivate var hexDigitValue: Int? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(self - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(self - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(self - UInt8(ascii: "A")) + 10
        default: nil
        }
    }
}
