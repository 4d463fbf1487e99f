extension String {
    /// The text with every control character made visible, so that what a server sends (node ids, announced
    /// endpoints, error text, maintenance messages) cannot start a new line in a log, forge a `<N>` priority prefix,
    /// inject an sd_notify assignment or break a table: `\n`, `\r` and `\t` become `\\n`, `\\r`, `\\t`; other C0
    /// characters and DEL become `\\xNN`; C1 characters and the Unicode line and paragraph separators become
    /// `\\u{NN}`. Everything else, backslashes included, is kept as it is.
    public var escapingControlCharacters: String {
        guard self.unicodeScalars.contains(where: \.needsEscaping) else { return self }
        var result = String.UnicodeScalarView()
        for scalar in self.unicodeScalars {
            guard scalar.needsEscaping else {
                result.append(scalar)
                continue
            }
            let escaped: String
            switch scalar.value {
            case 0x0A: escaped = "\\n"
            case 0x0D: escaped = "\\r"
            case 0x09: escaped = "\\t"
            case 0x00...0x1F, 0x7F:
                escaped = "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16, uppercase: true)
            default: escaped = "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
            result.append(contentsOf: escaped.unicodeScalars)
        }
        return String(result)
    }
}

extension Unicode.Scalar {
    /// C0, DEL, C1, and U+2028/U+2029 (which some terminals and viewers treat as line breaks).
    fileprivate var needsEscaping: Bool {
        switch self.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029: true
        default: false
        }
    }
}
