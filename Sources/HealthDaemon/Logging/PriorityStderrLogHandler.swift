#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif
import LogText
import Logging

/// Plain stderr lines with `<N>` syslog priority prefixes, which journald understands when stderr is its stream:
/// one entry is always one line. Control characters in the message, metadata keys and values (which may come
/// from a server) are escaped, so nothing a server sends can start a new `<N>` line.
public struct PriorityStderrLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let text = Self.line(level: event.level, message: "\(event.message)", metadata: merged)
        writeToStandardError(text)
    }

    /// One entry as written: `<4>message key=value key=value\n`, keys sorted.
    public static func line(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let fields = metadata.sorted { $0.key < $1.key }
            .map { "\($0.key.escapingControlCharacters)=\("\($0.value)".escapingControlCharacters)" }
            .joined(separator: " ")
        return "<\(level.syslogPriority)>\(message.escapingControlCharacters)\(fields.isEmpty ? "" : " " + fields)\n"
    }
}

/// Writes `text` to file descriptor 2, whole (partial writes continued), ignoring failure: a closed stderr (a
/// reader that went away: `redis-healthd run | head -1`) must never crash or stop the daemon. (Foundation's
/// FileHandle traps on EPIPE; SIGPIPE is ignored by `run`.)
public func writeToStandardError(_ text: String) {
    writeAll(Array(text.utf8), to: 2)
}

/// Writes `bytes` to stdout unbuffered (not through `print`'s buffer).
public func writeToStandardOutput(_ bytes: some Sequence<UInt8>) {
    writeAll(Array(bytes), to: 1)
}

private func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
    var bytes = bytes[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
