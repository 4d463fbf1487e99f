/// The reader's state: a cursor over the UTF-8 input, the current line, and the nesting depth; the scanning of
/// lines, blanks and comments, errors with their line and column, and the document as a whole.
struct YAMLParser {
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
}
