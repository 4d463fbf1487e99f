import RESP

/// A maintenance push notification, as Redis Enterprise and Azure Managed Redis send them on a RESP3 connection
/// that asked for them with `CLIENT MAINT_NOTIFICATIONS ON` ("smart client handoffs").
///
/// Shapes (the first element is the type, the second a sequence number that only grows):
/// - `MOVING <seq> <seconds> <host:port | null>`: the node moves; reconnect to the endpoint after the time;
/// - `MIGRATING <seq> <seconds> [shard ids…]`, `FAILING_OVER <seq> <seconds> [shard ids…]`: a window starts;
/// - `MIGRATED <seq> [shard ids…]`, `FAILED_OVER <seq> [shard ids…]`: it ends;
/// - `SMIGRATING <seq> <slots…>` (slots and ranges such as `1-100,200`): slots of this node start migrating (OSS
///   cluster API);
/// - `SMIGRATED <seq> [[<source host:port> <destination host:port> <slots>] …]`: they moved; read the topology
///   again.
public struct MaintenanceNotification: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case moving = "MOVING"
        case migrating = "MIGRATING"
        case migrated = "MIGRATED"
        case failingOver = "FAILING_OVER"
        case failedOver = "FAILED_OVER"
        case slotsMigrating = "SMIGRATING"
        case slotsMigrated = "SMIGRATED"

        /// Whether a maintenance window starts (timeouts relaxed, errors kept out of the force-reconnect guard).
        public var startsWindow: Bool { self == .migrating || self == .failingOver || self == .slotsMigrating }

        /// Whether a maintenance window ends.
        public var endsWindow: Bool { self == .migrated || self == .failedOver || self == .slotsMigrated }
    }

    /// One slot range moved by SMIGRATED.
    public struct SlotMigration: Sendable, Hashable {
        public var source: String
        public var destination: String
        public var slots: String

        public init(source: String, destination: String, slots: String) {
            self.source = source
            self.destination = destination
            self.slots = slots
        }
    }

    public var kind: Kind
    public var sequence: Int64
    /// MOVING, MIGRATING, FAILING_OVER: the announced time (seconds, as sent).
    public var time: Duration?
    /// MOVING: where the node moves; nil when the server sent null (reconnect to the same endpoint).
    public var endpoint: RedisEndpoint?
    /// Shard ids (MIGRATING, MIGRATED, FAILING_OVER, FAILED_OVER) or slots (SMIGRATING), at most ``maxItems``.
    public var items: [String]
    /// SMIGRATED: the moves, at most ``maxItems``.
    public var migrations: [SlotMigration]

    /// Most shard ids, slots or moves kept of one notification (the rest are counted, not stored).
    public static let maxItems = 64
    /// Longest text kept of one element (server text, bounded like other server text).
    public static let maxTextLength = 256

    /// `MOVING #7 in 15s to 10.0.0.6:12000`, `MIGRATING #3 (15s) shards 1, 2`: for logs and events (server text:
    /// escape it before it is shown).
    public var summary: String {
        var text = "\(self.kind.rawValue) #\(self.sequence)"
        if self.kind == .moving {
            text += " in \(self.time?.humanReadable ?? "0s") to " + (self.endpoint?.description ?? "the same endpoint")
            return text
        }
        if let time { text += " (\(time.humanReadable))" }
        if !self.items.isEmpty {
            text += (self.kind == .slotsMigrating ? " slots " : " shards ") + self.items.joined(separator: ", ")
        }
        if !self.migrations.isEmpty {
            text += " " + self.migrations.map { "\($0.slots) \($0.source) → \($0.destination)" }.joined(separator: ", ")
        }
        return text
    }
}

/// What a push message is to the maintenance-notification parser.
public enum MaintenancePush: Sendable, Hashable {
    /// Not a maintenance notification (pub/sub, invalidations, anything else): not ours.
    case other
    case notification(MaintenanceNotification)
    /// A maintenance type whose body does not parse: the type and what is wrong (server text included, bounded).
    case malformed(type: String, reason: String)

    /// Classifies one RESP3 push. Never traps; linear in the size of the value (each element looked at once).
    public static func classify(_ value: RESPValue) -> MaintenancePush {
        guard case .push(let elements) = value.withoutAttributes, let first = elements.first,
            let type = first.withoutAttributes.string
        else { return .other }
        guard let kind = MaintenanceNotification.Kind(rawValue: type.uppercased()) else { return .other }
        let name = kind.rawValue
        func malformed(_ reason: String) -> MaintenancePush { .malformed(type: name, reason: reason) }

        guard elements.count >= 2 else { return malformed("no sequence number") }
        guard let sequence = integer(elements[1]), sequence >= 0 else {
            return malformed("sequence number \(excerpt(elements[1])) is not a non-negative integer")
        }
        var notification = MaintenanceNotification(kind: kind, sequence: sequence, time: nil, endpoint: nil, items: [], migrations: [])
        let rest = elements.dropFirst(2)
        switch kind {
        case .moving, .migrating, .failingOver:
            guard let timeValue = rest.first else { return malformed("no time") }
            guard let seconds = integer(timeValue), seconds >= 0 else {
                return malformed("time \(excerpt(timeValue)) is not a non-negative number of seconds")
            }
            // 15 minutes at most: a window (which relaxes timeouts and keeps errors out of the force-reconnect guard)
            // or a handoff is never scheduled further out than that, whatever a server announces.
            notification.time = .seconds(min(seconds, 900))
            let after = rest.dropFirst()
            if kind == .moving {
                guard let target = after.first else { return malformed("no endpoint (host:port or null)") }
                if case .null = target.withoutAttributes {
                    notification.endpoint = nil
                } else {
                    guard let text = target.withoutAttributes.string, let endpoint = parseEndpoint(text) else {
                        return malformed("endpoint \(excerpt(target)) is not host:port")
                    }
                    notification.endpoint = endpoint
                }
            } else {
                notification.items = texts(after)
            }
        case .migrated, .failedOver:
            notification.items = texts(rest)
        case .slotsMigrating:
            guard !rest.isEmpty else { return malformed("no slots") }
            notification.items = texts(rest)
        case .slotsMigrated:
            // One nested list of triples, or the triples themselves (as some servers send them).
            var entries = Array(rest)
            if rest.count == 1, let nested = rest.first?.withoutAttributes.elements,
                nested.isEmpty || nested.first?.withoutAttributes.elements != nil
            {
                entries = nested
            }
            for entry in entries {
                guard notification.migrations.count < MaintenanceNotification.maxItems else { break }
                guard let triple = entry.withoutAttributes.elements, triple.count == 3,
                    let source = triple[0].withoutAttributes.string, let destination = triple[1].withoutAttributes.string,
                    let slots = triple[2].withoutAttributes.string
                else { return malformed("a move is not [source destination slots]: \(excerpt(entry))") }
                notification.migrations.append(
                    .init(source: bounded(source), destination: bounded(destination), slots: bounded(slots)))
            }
        }
        return .notification(notification)
    }

    /// `host:port`, `[v6]:port`; the host a name or an address without spaces or control characters.
    static func parseEndpoint(_ text: String) -> RedisEndpoint? {
        guard text.utf8.count <= MaintenanceNotification.maxTextLength, let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty,
            host.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && $0 != "/" && $0 != "@" })
        else { return nil }
        return RedisEndpoint(host: host, port: port)
    }
}

private func integer(_ value: RESPValue) -> Int64? {
    switch value.withoutAttributes {
    case .integer(let number): return number
    case .simpleString, .bulkString:
        guard let text = value.withoutAttributes.string, text.utf8.count <= 20 else { return nil }
        return Int64(text)
    default: return nil
    }
}

private func bounded(_ text: String) -> String {
    text.utf8.count <= MaintenanceNotification.maxTextLength
        ? text : String(decoding: text.utf8.prefix(MaintenanceNotification.maxTextLength), as: UTF8.self) + "…"
}

private func texts(_ values: ArraySlice<RESPValue>) -> [String] {
    var result: [String] = []
    for value in values.prefix(MaintenanceNotification.maxItems) {
        switch value.withoutAttributes {
        case .integer(let number): result.append(String(number))
        default:
            if let text = value.withoutAttributes.string { result.append(bounded(text)) }
            else if let nested = value.withoutAttributes.elements {
                // A list of ids: flattened one level (its own elements are not descended into).
                for item in nested.prefix(MaintenanceNotification.maxItems - result.count) {
                    if case .integer(let number) = item.withoutAttributes { result.append(String(number)) }
                    else if let text = item.withoutAttributes.string { result.append(bounded(text)) }
                }
            }
        }
        if result.count >= MaintenanceNotification.maxItems { break }
    }
    return result
}

private func excerpt(_ value: RESPValue) -> String {
    if let text = value.withoutAttributes.string { return "\"" + bounded(String(text.prefix(64))) + "\"" }
    return "a \(value.withoutAttributes.typeName)"
}
