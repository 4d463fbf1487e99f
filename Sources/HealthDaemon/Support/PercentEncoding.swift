extension StringProtocol {
    /// The text with `%XX` sequences decoded; nil when one is malformed or the bytes are not UTF-8 (as
    /// Foundation's `removingPercentEncoding`).
    package var percentDecoded: String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.utf8.count)
        var iterator = self.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The text as one segment of a URL path: every byte but letters, digits and `-._~!$'()*+,:@` percent-encoded
    /// (Foundation's `.urlPathAllowed` without `/`, `?`, `&`, `=`; upper-case hex digits).
    package var percentEncodedPathSegment: String {
        var result = ""
        for byte in self.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case _ where "-._~!$'()*+,:@".utf8.contains(byte):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + byte.zeroPadded(2, radix: 16).uppercased()
            }
        }
        return result
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
