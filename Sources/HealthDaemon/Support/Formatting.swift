#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Double {
    /// The number with `decimals` digits after the point, rounded as C's `printf("%.*f")` rounds (what
    /// `String(format:)` wrote); `sign`: a `+` before positive numbers too (`%+.*f`).
    package func fixed(_ decimals: Int, sign: Bool = false) -> String {
        precondition((0...20).contains(decimals), "at most 20 decimals")
        // The longest result: a sign, 309 integer digits, the point and 20 decimals.
        var buffer = [CChar](repeating: 0, count: 400)
        let format = sign ? "%+.*f" : "%.*f"
        _ = withVaList([Int32(decimals), self]) { arguments in
            buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

extension BinaryInteger {
    /// The number in `radix`, left-padded with zeros to `width` characters, a minus sign included (`%02d`, `%04o`).
    package func zeroPadded(_ width: Int, radix: Int = 10) -> String {
        let digits = String(self.magnitude, radix: radix)
        let sign = self < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count - sign.count)) + digits
    }
}

extension String {
    /// Left-aligned in a column `width` characters wide: spaces appended, never cut.
    package func padded(to width: Int) -> String {
        self + String(repeating: " ", count: max(0, width - self.count))
    }
}

extension StringProtocol {
    /// Without the leading and trailing Unicode white space, line breaks included (Foundation's
    /// `.whitespacesAndNewlines`).
    package func trimmingWhitespaceAndNewlines() -> String {
        self.trimming { $0.properties.isWhitespace }
    }

    /// Without the leading and trailing spaces and tabs, Unicode spaces included but no line break (Foundation's
    /// `.whitespaces`).
    package func trimmingWhitespace() -> String {
        self.trimming { $0.properties.isWhitespace && !$0.isLineBreak }
    }

    /// Without the leading and trailing Unicode scalars in `scalars` (`"\r\n"`: CR and LF, however combined).
    package func trimming(_ scalars: String) -> String {
        let set = Set(scalars.unicodeScalars)
        return self.trimming { set.contains($0) }
    }

    private func trimming(where shouldTrim: (Unicode.Scalar) -> Bool) -> String {
        let scalars = self.unicodeScalars
        guard let first = scalars.firstIndex(where: { !shouldTrim($0) }),
            let last = scalars.lastIndex(where: { !shouldTrim($0) })
        else { return "" }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars[first...last])
        return result
    }
}

extension Unicode.Scalar {
    /// LF, VT, FF, CR, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR: Foundation's `.newlines`.
    fileprivate var isLineBreak: Bool {
        (0x0A...0x0D).contains(self.value) || self.value == 0x85 || self.value == 0x2028 || self.value == 0x2029
    }
}
