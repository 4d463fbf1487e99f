/// A node of a YAML document, as ``YAMLReader`` reads it: scalars keep their text and style, and their type (null,
/// bool, int) is resolved on request, the way the configuration loader asks for it.
enum YAMLNode: Equatable, Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence([YAMLNode])

    /// A scalar's text (escapes and folding applied) and how it was written.
    struct Scalar: Equatable, Sendable {
        enum Style: Equatable, Sendable {
            case plain
            case singleQuoted
            case doubleQuoted
            /// `|`
            case literal
            /// `>`
            case folded
        }

        var string: String
        var style: Style

        init(_ string: String, style: Style = .plain) {
            self.string = string
            self.style = style
        }
    }

    /// A mapping's entries in the order written. Keys are unique (the reader rejects duplicates).
    struct Mapping: Equatable, Sendable, RandomAccessCollection {
        struct Pair: Equatable, Sendable {
            var key: YAMLNode
            var value: YAMLNode
        }

        var pairs: [Pair]

        init(_ pairs: [Pair]) {
            self.pairs = pairs
        }

        var startIndex: Int { self.pairs.startIndex }
        var endIndex: Int { self.pairs.endIndex }

        subscript(position: Int) -> (key: YAMLNode, value: YAMLNode) {
            let pair = self.pairs[position]
            return (pair.key, pair.value)
        }

        /// The value of the first entry whose key is the scalar `key`.
        subscript(key: String) -> YAMLNode? {
            self.pairs.first { $0.key.string == key }?.value
        }
    }

    /// A plain scalar that is empty: what `key:` with no value reads as.
    static let empty = YAMLNode.scalar(Scalar(""))
}

extension YAMLNode {
    var scalar: Scalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }

    var mapping: Mapping? {
        if case .mapping(let mapping) = self { return mapping }
        return nil
    }

    var sequence: [YAMLNode]? {
        if case .sequence(let items) = self { return items }
        return nil
    }

    /// A scalar's text, whatever its resolved type (`6379` reads as "6379").
    var string: String? { self.scalar?.string }

    var int: Int? { self.scalar?.int }

    var bool: Bool? { self.scalar?.bool }

    /// A plain `~`, `null`, `Null`, `NULL` or nothing at all.
    var isNull: Bool { self.scalar?.isNull ?? false }
}

extension YAMLNode.Scalar {
    /// Only plain scalars resolve to null: `'null'` and `""` are strings.
    var isNull: Bool {
        guard self.style == .plain else { return false }
        switch self.string {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// YAML 1.1 booleans as libyaml-based readers resolve them: `true`/`false`, `yes`/`no`, `on`/`off`, each in
    /// lower case, capitalized or upper case; plain scalars only.
    var bool: Bool? {
        guard self.style == .plain else { return nil }
        switch self.string {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    /// A plain scalar written as a whole number: decimal, `0x` hexadecimal, `0o` or leading-zero octal, `0b`
    /// binary, with an optional sign and `_` separators (`1_000`).
    var int: Int? {
        guard self.style == .plain else { return nil }
        return parseInteger(self.string)
    }
}

private func parseInteger(_ text: String) -> Int? {
    var digits = Substring(text.filter { $0 != "_" })
    guard !digits.isEmpty else { return nil }
    if digits == "0" { return 0 }
    var sign = ""
    if let first = digits.first, first == "-" || first == "+" {
        sign = first == "-" ? "-" : ""
        digits = digits.dropFirst()
    }
    let radix: Int
    if digits.hasPrefix("0x") {
        radix = 16
        digits = digits.dropFirst(2)
    } else if digits.hasPrefix("0b") {
        radix = 2
        digits = digits.dropFirst(2)
    } else if digits.hasPrefix("0o") {
        radix = 8
        digits = digits.dropFirst(2)
    } else if digits.hasPrefix("0") {
        radix = 8
        digits = digits.dropFirst()
    } else {
        radix = 10
    }
    // One sign, before the prefix: `Int(_:radix:)` alone would accept `0x-5`.
    guard let first = digits.first, first != "-", first != "+" else { return nil }
    return Int(sign + digits, radix: radix)
}
