/// Block collections: mappings and sequences laid out by indentation, their keys and values.
extension YAMLParser {
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
}
