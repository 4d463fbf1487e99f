/// Flow collections: `[ ]` sequences and `{ }` mappings, which may span lines.
extension YAMLParser {
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
