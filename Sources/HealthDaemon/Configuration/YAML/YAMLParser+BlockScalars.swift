/// Block scalars: `|` (literal) and `>` (folded), with their chomping and indentation indicators.
extension YAMLParser {
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
}
