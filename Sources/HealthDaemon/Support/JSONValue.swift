#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON value of any shape, read with `JSONDecoder` and written with `JSONEncoder`: for JSON whose structure
/// is not a type of ours (a credential command's output, the diagnostics bundle rewritten by the scrubber).
package enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The JSON in `data`; nil when it is not JSON.
    package static func decode(_ data: Data) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    package subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    package var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

extension JSONValue {
    /// The JSON text as JSONSerialization wrote it: `.prettyPrinted` with two-space indents and ` : `, `/`
    /// escaped unless `.withoutEscapingSlashes`, and `.sortedKeys` in its order (``precedesInKeyOrder(_:_:)``).
    package func serialized(_ options: JSONEncoder.OutputFormatting) -> Data {
        var writer = Writer(
            pretty: options.contains(.prettyPrinted), sorted: options.contains(.sortedKeys),
            escapeSlashes: !options.contains(.withoutEscapingSlashes))
        writer.write(self, depth: 0)
        return Data(writer.output.utf8)
    }

    /// The order of JSONSerialization's sorted keys (a numeric, case-insensitive comparison in the root locale):
    /// spaces, then punctuation (`_-,;:!?.'"()[]{}@*/\&#%`^+<=>|~$`), then digits, a run of them compared as one
    /// number, then letters, case ignored; on a tie, the first place with more leading zeros or upper case sorts last. Characters other
    /// than ASCII follow the letters, in code point order (Foundation placed accented letters with their base).
    package static func precedesInKeyOrder(_ left: String, _ right: String) -> Bool {
        let (leftKeys, rightKeys) = (CollationKey.keys(left), CollationKey.keys(right))
        for (a, b) in zip(leftKeys, rightKeys) where a.primary != b.primary {
            return a.primary < b.primary
        }
        if leftKeys.count != rightKeys.count { return leftKeys.count < rightKeys.count }
        // Equal but for leading zeros and case: the first place they differ decides, fewer zeros and lower case first.
        for (a, b) in zip(leftKeys, rightKeys) where a.length != b.length || a.isUpperCase != b.isUpperCase {
            return a.length != b.length ? a.length < b.length : !a.isUpperCase
        }
        return Array(left.unicodeScalars.map(\.value)).lexicographicallyPrecedes(right.unicodeScalars.map(\.value))
    }

    private struct CollationKey {
        /// Class (0 spaces, 1 punctuation, 2 numbers, 3 letters, 4 the rest), then the rank within it.
        var primary: Primary
        var isUpperCase = false
        /// A number's digits, leading zeros included (1 for other characters).
        var length = 1

        struct Primary: Comparable {
            var group: Int
            var rank: UInt32 = 0
            /// A number's digits without leading zeros.
            var digits: [UInt8] = []

            static func < (a: Primary, b: Primary) -> Bool {
                if a.group != b.group { return a.group < b.group }
                if a.rank != b.rank { return a.rank < b.rank }
                if a.digits.count != b.digits.count { return a.digits.count < b.digits.count }
                return a.digits.lexicographicallyPrecedes(b.digits)
            }
        }

        static let punctuation = Array("_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$".utf8)

        static func keys(_ text: String) -> [CollationKey] {
            var keys: [CollationKey] = []
            var scalars = text.unicodeScalars[...]
            while let scalar = scalars.first {
                let value = scalar.value
                if (0x30...0x39).contains(value) {
                    let run = scalars.prefix { (0x30...0x39).contains($0.value) }
                    scalars = scalars.dropFirst(run.count)
                    let digits = run.map { UInt8($0.value) }.drop { $0 == 0x30 }
                    keys.append(CollationKey(primary: Primary(group: 2, digits: Array(digits)), length: run.count))
                    continue
                }
                scalars = scalars.dropFirst()
                if value == 0x20 || (0x09...0x0D).contains(value) {
                    keys.append(CollationKey(primary: Primary(group: 0, rank: value)))
                } else if let rank = Self.punctuation.firstIndex(of: UInt8(truncatingIfNeeded: value)), value < 0x80 {
                    keys.append(CollationKey(primary: Primary(group: 1, rank: UInt32(rank))))
                } else if (0x41...0x5A).contains(value) {
                    keys.append(CollationKey(primary: Primary(group: 3, rank: value + 0x20), isUpperCase: true))
                } else if (0x61...0x7A).contains(value) {
                    keys.append(CollationKey(primary: Primary(group: 3, rank: value)))
                } else {
                    keys.append(CollationKey(primary: Primary(group: 4, rank: value)))
                }
            }
            return keys
        }
    }

    private struct Writer {
        let pretty: Bool
        let sorted: Bool
        let escapeSlashes: Bool
        var output = ""

        mutating func write(_ value: JSONValue, depth: Int) {
            switch value {
            case .null: self.output += "null"
            case .bool(let value): self.output += value ? "true" : "false"
            case .int(let value): self.output += value.description
            case .double(let value): self.output += value.description
            case .string(let value): self.write(string: value)
            case .array(let items):
                self.writeContainer("[", "]", items, depth: depth) { writer, item in writer.write(item, depth: depth + 1) }
            case .object(let object):
                let entries = self.sorted
                    ? object.sorted { JSONValue.precedesInKeyOrder($0.key, $1.key) } : Array(object)
                self.writeContainer("{", "}", entries, depth: depth) { writer, entry in
                    writer.write(string: entry.key)
                    writer.output += writer.pretty ? " : " : ":"
                    writer.write(entry.value, depth: depth + 1)
                }
            }
        }

        mutating func writeContainer<Element>(
            _ open: String, _ close: String, _ elements: [Element], depth: Int, _ writeElement: (inout Writer, Element) -> Void
        ) {
            self.output += open
            guard self.pretty else {
                for (index, element) in elements.enumerated() {
                    if index > 0 { self.output += "," }
                    writeElement(&self, element)
                }
                self.output += close
                return
            }
            self.output += "\n"
            let indent = String(repeating: "  ", count: depth + 1)
            for (index, element) in elements.enumerated() {
                if index > 0 { self.output += ",\n" }
                self.output += indent
                writeElement(&self, element)
            }
            self.output += "\n" + String(repeating: "  ", count: depth) + close
        }

        mutating func write(string: String) {
            self.output += "\""
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": self.output += "\\\""
                case "\\": self.output += "\\\\"
                case "/": self.output += self.escapeSlashes ? "\\/" : "/"
                case "\n": self.output += "\\n"
                case "\r": self.output += "\\r"
                case "\t": self.output += "\\t"
                case "\u{08}": self.output += "\\b"
                case "\u{0C}": self.output += "\\f"
                case _ where scalar.value < 0x20: self.output += "\\u" + scalar.value.zeroPadded(4, radix: 16)
                default: self.output.unicodeScalars.append(scalar)
                }
            }
            self.output += "\""
        }
    }
}
