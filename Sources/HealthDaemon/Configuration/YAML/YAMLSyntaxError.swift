/// Why a text is not YAML that ``YAMLReader`` accepts, and where: 1-based line and column, the column counted in
/// Unicode scalars. Messages quote at most a short, escaped excerpt of the input.
struct YAMLSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    var line: Int
    var column: Int
    var message: String

    var description: String { "line \(self.line), column \(self.column): \(self.message)" }
}

extension YAMLSyntaxError {
    /// The longest excerpt of the input a message quotes, in characters.
    static let excerptLimit = 40

    /// `text` in double quotes, control and non-ASCII-printable characters escaped, cut at ``excerptLimit``.
    static func quoted(_ text: some StringProtocol) -> String {
        var result = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == Self.excerptLimit {
                result += "…"
                break
            }
            count += 1
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            case _ where scalar.properties.isWhitespace && scalar != " ":
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
