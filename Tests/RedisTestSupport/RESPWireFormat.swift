import NIOCore
import RESP

/// How a server writes a value for a client that negotiated RESP2 or RESP3.
enum RESPWireFormat {
    /// The bytes of `value` in `protocolVersion` (2 or 3). RESP3 writes the value as is; RESP2 writes what a Redis
    /// server sends a RESP2 client instead: maps as flat `[key, value, …]` arrays, sets and pushes as arrays,
    /// booleans as 0/1, doubles, big numbers and verbatim strings as bulk strings, bulk errors as simple errors,
    /// null as `$-1`, and attributes dropped.
    static func encode(_ value: RESPValue, protocolVersion: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        if protocolVersion >= 3 {
            value.encode(into: &buffer)
        } else {
            encodeRESP2(value, into: &buffer)
        }
        return buffer
    }

    private static func encodeRESP2(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString, .simpleError, .integer, .bulkString:
            value.encode(into: &buffer)
        case .null:
            buffer.writeStaticString("$-1\r\n")
        case .array(let elements), .set(let elements), .push(let elements):
            buffer.writeString("*\(elements.count)\r\n")
            for element in elements { encodeRESP2(element, into: &buffer) }
        case .map(let entries):
            buffer.writeString("*\(entries.count * 2)\r\n")
            for entry in entries {
                encodeRESP2(entry.key, into: &buffer)
                encodeRESP2(entry.value, into: &buffer)
            }
        case .boolean(let bool):
            RESPValue.integer(bool ? 1 : 0).encode(into: &buffer)
        case .double(let double):
            let text = double.isNaN ? "nan" : double.isInfinite ? (double < 0 ? "-inf" : "inf") : "\(double)"
            RESPValue.bulkString(text).encode(into: &buffer)
        case .bigNumber(let digits), .verbatimString(_, let digits):
            RESPValue.bulkString(digits).encode(into: &buffer)
        case .bulkError(let message):
            RESPValue.simpleError(message).encode(into: &buffer)
        case .attributed(_, let inner):
            encodeRESP2(inner, into: &buffer)
        }
    }
}
