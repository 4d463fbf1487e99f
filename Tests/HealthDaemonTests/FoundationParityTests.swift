import Foundation
import Testing

@testable import HealthDaemon

/// The library targets use FoundationEssentials only; these helpers replace what full Foundation did for them
/// (String(format:), ISO8601DateFormatter, NSString paths, percent encoding, CharacterSet trimming,
/// JSONSerialization). The tests may use full Foundation: each helper must answer as it did.
@Suite("Helpers answer as full Foundation did")
struct FoundationParityTests {
    static let doubles: [Double] = [
        0, -0.0, 0.5, 1.5, 2.5, 0.125, 0.375, 1.005, 1.015, 2.675, 0.0004999, 0.0005, 0.0015, 12.345, 99.95, 99.949999,
        -1.25, -0.0001, 123_456.789, 1e-9, 1e15 + 0.3, 86_400.5, 3.14159, -2.5e-4, 0.1 + 0.2,
    ]

    @Test("fixed decimals as String(format: \"%.Nf\") and \"%+.Nf\"")
    func fixed() {
        for value in Self.doubles {
            for decimals in 0...3 {
                #expect(value.fixed(decimals) == String(format: "%.\(decimals)f", value), "\(value)")
                #expect(value.fixed(decimals, sign: true) == String(format: "%+.\(decimals)f", value), "\(value)")
            }
        }
    }

    @Test("zero-padded integers as %02d, %03d and %04o")
    func zeroPadded() {
        for value in [0, 1, 7, 9, 10, 59, 99, 100, 999, 1000, 12_345, -1, -42] {
            #expect(value.zeroPadded(2) == String(format: "%02d", value))
            #expect(value.zeroPadded(3) == String(format: "%03d", value))
        }
        for mode: UInt32 in [0, 0o600, 0o660, 0o755, 0o1777, 0o7777, 0o20] {
            #expect(mode.zeroPadded(4, radix: 8) == String(format: "%04o", mode))
        }
    }

    @Test("path components as NSString's")
    func paths() {
        for path in ["/run/redis-healthd/control.sock", "/run", "/", "", "a/b", "/a/b/", "//a//b//", "/a//", "./x", "../x/y", "a/b/c"] {
            #expect(FilePath.lastComponent(path) == (path as NSString).lastPathComponent, "\(path)")
            #expect(FilePath.deletingLastComponent(path) == (path as NSString).deletingLastPathComponent, "\(path)")
        }
        // Without a slash, this Foundation traps (String._startOfLastPathComponent); Darwin's answers:
        for path in ["a", "a/", "notify"] {
            #expect(FilePath.lastComponent(path) == path.filter { $0 != "/" })
            #expect(FilePath.deletingLastComponent(path) == "")
        }
    }

    static let times: [Double] = [0, 1, 59.999, 59.9994, 59.9996, -0.0004, -0.0006, 86_399.9995, 951_782_400, 1_700_000_000.123, 1_798_761_599.5, 4_102_444_800, 253_402_300_799, -1, -86_400.25, 68_169_600]

    @Test("RFC 3339 times as ISO8601DateFormatter wrote them")
    func rfc3339Formatting() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        for time in Self.times {
            #expect(rfc3339Seconds(time) == formatter.string(from: Date(timeIntervalSince1970: time)), "\(time)")
            // The millisecond form: the formatter's whole seconds, the fraction written by hand.
            let milliseconds = Int64((time * 1000).rounded())
            let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
            let whole = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
            let expected = String(whole.dropLast()) + "." + String(format: "%03d", Int(milliseconds - seconds * 1000)) + "Z"
            #expect(rfc3339(time) == expected, "\(time)")
        }
    }

    @Test("RFC 3339 times read as ISO8601DateFormatter read them")
    func rfc3339Parsing() {
        let texts = [
            "2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5Z", "2026-12-01T10:00:00.123Z", "2026-12-01T11:30:00+01:30",
            "2026-12-01T08:00:00-02:00", "2024-02-29T23:59:59Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.250Z",
            "2026-13-01T00:00:00Z", "2026-12-01 10:00:00Z", "2026-12-01T10:00:00", "2026-12-01",
            "2026-12-01T25:00:00Z", "2026-12-01T10:00:00.Z", "", "tomorrow",
        ]
        func foundation(_ text: String) -> Double? {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
            formatter.formatOptions = [.withInternetDateTime]
            return formatter.date(from: text)?.timeIntervalSince1970
        }
        for text in texts {
            let ours = parseRFC3339(text)
            let theirs = foundation(text)
            #expect((ours == nil) == (theirs == nil), "\(text): \(String(describing: ours)) vs \(String(describing: theirs))")
            if let ours, let theirs { #expect(abs(ours - theirs) < 0.001, "\(text)") }
        }
        // Stricter on purpose: Foundation read February 29 of a common year as March 1, and ignored trailing text.
        #expect(parseRFC3339("2023-02-29T00:00:00Z") == nil)
        #expect(parseRFC3339("2026-12-01T10:00:00Zjunk") == nil)
    }

    static let percentSamples = [
        "cache-a", "a b", "a/b", "a?b&c=d", "ümlaut", "x%y", "😀", "[::1]:6379", "semi;colon", "#hash", "tilde~_.-",
        String((32...126).map { Character(Unicode.Scalar(UInt8($0))) }),
    ]

    @Test("percent encoding of a path segment and decoding as Foundation's")
    func percentEncoding() {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?&="))
        for text in Self.percentSamples {
            #expect(text.percentEncodedPathSegment == text.addingPercentEncoding(withAllowedCharacters: allowed), "\(text)")
            let encoded = text.percentEncodedPathSegment
            #expect(encoded.percentDecoded == encoded.removingPercentEncoding, "\(encoded)")
        }
        for malformed in ["%", "%4", "%zz", "%C3", "%C3%28", "ok%41", "%e2%82%ac"] {
            #expect(malformed.percentDecoded == malformed.removingPercentEncoding, "\(malformed)")
        }
    }

    @Test("trimming as trimmingCharacters(in:)")
    func trimming() {
        for text in ["  a b  ", "\t\na\r\n", "\u{A0}x\u{2003}", "\u{2028}y\u{85}", "", " ", "\r\n", "pw\r\n\r\n", "a\u{301}\r\n"] {
            #expect(text.trimmingWhitespaceAndNewlines() == text.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.debugDescription)")
            #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
            #expect(text.trimming("\r\n") == text.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n")), "\(text.debugDescription)")
        }
    }

    struct Bundle: Encodable {
        struct Node: Encodable {
            var endpoint: String
            var nodeID: String?
            var latency: Double
            var config: [String: String]
            var skipped: [String]
        }
        var generatedAt = "2026-12-01T10:00:00.000Z"
        var path = "/run/redis-healthd/control.sock"
        var count = 3
        var ratio = 0.1 + 0.2
        var big = 1e21
        var small = 2.5e-8
        var whole = 2.0
        var flag = true
        var nothing: String? = nil
        var text = "quote \" backslash \\ tab \t newline \n control \u{1}\u{1F}\u{8}\u{C}\r\u{7F} ünïcödé 😀 <tag> &amp;"
        var nodes = [
            Node(endpoint: "10.0.0.4:6380", nodeID: "abc", latency: 0.000123, config: ["maxmemory": "1gb", "Appendonly": "no", "a10": "x", "a9": "y"], skipped: []),
            Node(endpoint: "[::1]:7000", nodeID: nil, latency: 12.5, config: [:], skipped: ["a", "b"]),
        ]
        var empty: [String: Int] = [:]
    }

    @Test("the export's scrubbed JSON is byte for byte what JSONSerialization wrote")
    func scrubbedJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let encoded = try encoder.encode(Bundle())
        let scrubber = SecretScrubber(["1gb"])
        func foundation(_ data: Data) throws -> Data {
            let tree = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            func walk(_ value: Any) -> Any {
                switch value {
                case let text as String: return scrubber.scrub(text)
                case let array as [Any]: return array.map(walk)
                case let object as [String: Any]:
                    var result: [String: Any] = [:]
                    for (key, item) in object { result[scrubber.scrub(key)] = walk(item) }
                    return result
                default: return value
                }
            }
            return try JSONSerialization.data(
                withJSONObject: walk(tree), options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes, .fragmentsAllowed])
        }
        let ours = String(decoding: scrubber.scrubJSON(encoded, options: encoder.outputFormatting), as: UTF8.self)
        let theirs = String(decoding: try foundation(encoded), as: UTF8.self)
        #expect(ours == theirs)
        #expect(ours.contains("<redacted>") && !ours.contains("1gb"))
        // The compact form too (the scrubbing test's).
        let compact = String(decoding: scrubber.scrubJSON(encoded, options: [.sortedKeys]), as: UTF8.self)
        let compactFoundation = try JSONSerialization.data(
            withJSONObject: JSONSerialization.jsonObject(with: try foundation(encoded)), options: [.sortedKeys])
        #expect(compact == String(decoding: compactFoundation, as: UTF8.self))
    }

    @Test("BoringSSL's reason read as the regular expression did")
    func boringSSLReason() {
        let texts = [
            "handshakeFailed(NIOSSL.BoringSSLError.sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /src/handshake.cc:320]))",
            "error:10000412:SSL routines:OPENSSL_internal:SSLV3_ALERT_BAD_CERTIFICATE", "error:xyz:a:b:C", "error::a:b:C",
            "nothing here", "error:1:a:b:lowercase", "error:1:a:b:", "x error:1:a:b error:2:c:d:REASON_TWO tail", "error:ABC:a:b:R",
        ]
        for text in texts {
            let expected = text.range(of: #"error:[0-9a-f]+:[^:]*:[^:]*:([A-Z_]+)"#, options: .regularExpression).map {
                text[$0].split(separator: ":").last.map(String.init) ?? ""
            }
            #expect(Doctor.boringSSLReason(text).map(String.init) == expected, "\(text)")
        }
    }

    @Test("sorted keys in JSONSerialization's order")
    func keyOrder() throws {
        var state: UInt64 = 42
        let alphabet = Array("aAbBzZ0019_-.:~ ")
        var keys = Set<String>()
        while keys.count < 400 {
            var key = ""
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            for index in 0..<(Int(state >> 60) % 5 + 1) {
                key.append(alphabet[Int((state >> (UInt64(index) * 8 + 8)) & 0xFF) % alphabet.count])
            }
            keys.insert(key)
        }
        keys.formUnion(["tcp_retries2", "tcp-retries2", "tcp.retries2", "tcpRetries2", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "maxmemory-policy", "maxmemory_policy", "nodeID", "nodes", "Node", "used_memory", "used_memory_rss", "a9", "a09", "a10", "A9"])
        let object = Dictionary(uniqueKeysWithValues: keys.map { ($0, 1) })
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let theirs = String(decoding: data, as: UTF8.self)
        let ours = String(decoding: JSONValue.object(object.mapValues { .int($0) }).serialized([.sortedKeys]), as: UTF8.self)
        #expect(ours == theirs)
    }
}
