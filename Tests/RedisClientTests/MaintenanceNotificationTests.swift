import NIOCore
import RESP
import Testing

@testable import RedisClient

private func push(_ elements: RESPValue...) -> RESPValue { .push(elements) }
private func bulk(_ text: String) -> RESPValue { .bulkString(text) }

private func notification(_ value: RESPValue) -> MaintenanceNotification? {
    if case .notification(let notification) = MaintenancePush.classify(value) { return notification }
    return nil
}

private func isMalformed(_ value: RESPValue) -> Bool {
    if case .malformed = MaintenancePush.classify(value) { return true }
    return false
}

@Suite("Maintenance push notifications: the parser")
struct MaintenanceNotificationParserTests {
    @Test("MOVING with an endpoint, with null, with an IPv6 endpoint")
    func moving() {
        let moved = notification(push(bulk("MOVING"), .integer(7), .integer(15), bulk("10.0.0.6:12000")))
        #expect(moved?.kind == .moving)
        #expect(moved?.sequence == 7)
        #expect(moved?.time == .seconds(15))
        #expect(moved?.endpoint == RedisEndpoint(host: "10.0.0.6", port: 12000))
        #expect(moved?.summary == "MOVING #7 in 15s to 10.0.0.6:12000")
        let same = notification(push(bulk("MOVING"), .integer(8), .integer(4), .null))
        #expect(same?.kind == .moving && same?.endpoint == nil)
        let named = notification(push(bulk("moving"), bulk("9"), bulk("2"), bulk("redis-1.example.net:10000")))
        #expect(named?.endpoint == RedisEndpoint(host: "redis-1.example.net", port: 10000))
        #expect(notification(push(bulk("MOVING"), .integer(1), .integer(1), bulk("[fd00::5]:6379")))?.endpoint == RedisEndpoint(host: "fd00::5", port: 6379))
    }

    @Test("MIGRATING, MIGRATED, FAILING_OVER, FAILED_OVER with and without shard ids")
    func windows() {
        let migrating = notification(push(bulk("MIGRATING"), .integer(3), .integer(15), bulk("1"), bulk("2")))
        #expect(migrating?.kind == .migrating && migrating?.time == .seconds(15) && migrating?.items == ["1", "2"])
        #expect(migrating?.summary == "MIGRATING #3 (15s) shards 1, 2")
        #expect(notification(push(bulk("MIGRATING"), .integer(3), .integer(15)))?.items == [])
        let migrated = notification(push(bulk("MIGRATED"), .integer(4), .array([bulk("1"), .integer(2)])))
        #expect(migrated?.kind == .migrated && migrated?.items == ["1", "2"] && migrated?.time == nil)
        #expect(notification(push(bulk("MIGRATED"), .integer(4)))?.kind == .migrated)
        let failing = notification(push(bulk("FAILING_OVER"), .integer(5), .integer(20), bulk("3")))
        #expect(failing?.kind == .failingOver && failing?.time == .seconds(20) && failing?.items == ["3"])
        #expect(notification(push(bulk("FAILED_OVER"), .integer(6), bulk("3")))?.kind == .failedOver)
    }

    @Test("SMIGRATING with slots, SMIGRATED with moves nested or flat")
    func slots() {
        let migrating = notification(push(bulk("SMIGRATING"), .integer(11), bulk("1-100,200")))
        #expect(migrating?.kind == .slotsMigrating && migrating?.items == ["1-100,200"])
        let nested = notification(
            push(
                bulk("SMIGRATED"), .integer(12),
                .array([
                    .array([bulk("127.0.0.1:6379"), bulk("127.0.0.1:6380"), bulk("1-100")]),
                    .array([bulk("127.0.0.1:6379"), bulk("127.0.0.1:6381"), bulk("101-200")]),
                ])))
        #expect(nested?.kind == .slotsMigrated)
        #expect(nested?.migrations.count == 2)
        #expect(nested?.migrations.first == .init(source: "127.0.0.1:6379", destination: "127.0.0.1:6380", slots: "1-100"))
        let flat = notification(push(bulk("SMIGRATED"), .integer(13), .array([bulk("a:1"), bulk("b:2"), bulk("5")])))
        #expect(flat?.migrations.count == 1)
        #expect(notification(push(bulk("SMIGRATED"), .integer(14)))?.migrations == [])
    }

    @Test("other pushes are not ours")
    func others() {
        #expect(MaintenancePush.classify(push(bulk("invalidate"), .array([bulk("k")]))) == .other)
        #expect(MaintenancePush.classify(push(bulk("message"), bulk("ch"), bulk("x"))) == .other)
        #expect(MaintenancePush.classify(push()) == .other)
        #expect(MaintenancePush.classify(push(.integer(1))) == .other)
        #expect(MaintenancePush.classify(.array([bulk("MOVING"), .integer(1), .integer(1), .null])) == .other)
    }

    @Test("malformed ones are malformed, never a trap")
    func malformed() {
        #expect(isMalformed(push(bulk("MOVING"))))
        #expect(isMalformed(push(bulk("MOVING"), bulk("x"), .integer(1), .null)))
        #expect(isMalformed(push(bulk("MOVING"), .integer(-1), .integer(1), .null)))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(-5), .null)))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1))))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), bulk("no-port"))))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), bulk("host:99999"))))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), bulk(":6379"))))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), bulk("evil\nhost:6379"))))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), bulk("user@host:6379"))))
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), .array([]))))
        #expect(isMalformed(push(bulk("MIGRATING"), .integer(1))))
        #expect(isMalformed(push(bulk("MIGRATING"), .integer(1), .double(1.5))))
        #expect(isMalformed(push(bulk("MIGRATED"))))
        #expect(isMalformed(push(bulk("SMIGRATING"), .integer(1))))
        #expect(isMalformed(push(bulk("SMIGRATED"), .integer(1), .array([.array([bulk("a"), bulk("b")])]))))
        #expect(isMalformed(push(bulk("FAILED_OVER"), bulk("99999999999999999999999"))))
    }

    @Test("hostile: huge lists are bounded, long text cut, the time capped, deep values not descended")
    func hostile() {
        let many = (0..<20_000).map { RESPValue.integer(Int64($0)) }
        let migrating = notification(.push([bulk("MIGRATING"), .integer(1), .integer(1)] + many))
        #expect(migrating?.items.count == MaintenanceNotification.maxItems)
        let long = String(repeating: "x", count: 20_000)
        let failed = notification(push(bulk("FAILED_OVER"), .integer(2), bulk(long)))
        #expect((failed?.items.first?.utf8.count ?? 0) <= MaintenanceNotification.maxTextLength + 3)
        #expect(isMalformed(push(bulk("MOVING"), .integer(1), .integer(1), bulk(long + ":6379"))))
        #expect(notification(push(bulk("MIGRATING"), .integer(1), .integer(Int64.max)))?.time == .seconds(900))
        var deep = RESPValue.array([])
        for _ in 0..<30 { deep = .array([deep]) }
        #expect(notification(push(bulk("MIGRATED"), .integer(3), deep)) != nil)
        let moves = (0..<2_000).map { _ in RESPValue.array([bulk("a:1"), bulk("b:2"), bulk("1")]) }
        #expect(notification(push(bulk("SMIGRATED"), .integer(4), .array(moves)))?.migrations.count == MaintenanceNotification.maxItems)
        // Attributes before the push or its elements change nothing.
        let attributed = RESPValue.attributed(attributes: [], value: push(bulk("MIGRATED"), .integer(9)))
        #expect(notification(attributed)?.sequence == 9)
    }

    @Test("endpoint type: auto picks a name with TLS or a host name, internal for private addresses")
    func endpointType() {
        let settings = MaintenanceNotificationSettings()
        #expect(settings.resolvedEndpointType(for: RedisEndpoint(host: "10.0.0.5", port: 6379), tls: false) == .internalIP)
        #expect(settings.resolvedEndpointType(for: RedisEndpoint(host: "20.1.2.3", port: 6379), tls: false) == .externalIP)
        #expect(settings.resolvedEndpointType(for: RedisEndpoint(host: "10.0.0.5", port: 6380), tls: true) == .internalFQDN)
        #expect(settings.resolvedEndpointType(for: RedisEndpoint(host: "x.redis.azure.net", port: 10000), tls: true) == .externalFQDN)
        #expect(settings.resolvedEndpointType(for: RedisEndpoint(host: "127.0.0.1", port: 6379), tls: false) == .internalIP)
        let fixed = MaintenanceNotificationSettings(endpointType: .none)
        #expect(fixed.resolvedEndpointType(for: RedisEndpoint(host: "10.0.0.5", port: 6379), tls: false) == MaintenanceNotificationSettings.EndpointType.none)
    }
}

@Suite("Maintenance push notifications: the window, with time passed in")
struct MaintenanceWindowTests {
    let start = TestInstant(offset: .seconds(1000))

    func parsed(_ elements: RESPValue...) -> MaintenanceNotification {
        notification(.push(elements))!
    }

    @Test("MIGRATING relaxes timeouts until MIGRATED; a window without its end expires")
    func migrating() {
        var window = MaintenanceWindow<TestInstant>(relaxedTimeout: .seconds(10))
        #expect(!window.isRelaxed(now: start))
        #expect(window.timeout(.seconds(1), now: start) == .seconds(1))
        #expect(window.apply(parsed(bulk("MIGRATING"), .integer(1), .integer(15)), now: start) == .windowStarted)
        #expect(window.isRelaxed(now: start.advanced(by: .seconds(5))))
        #expect(window.timeout(.seconds(1), now: start.advanced(by: .seconds(5))) == .seconds(10))
        #expect(window.timeout(.seconds(30), now: start) == .seconds(30))
        #expect(window.active(now: start)?.kind == .migrating)
        #expect(window.apply(parsed(bulk("MIGRATED"), .integer(2)), now: start.advanced(by: .seconds(6))) == .windowEnded(wasOpen: true))
        #expect(!window.isRelaxed(now: start.advanced(by: .seconds(6))))
        // FAILING_OVER whose end never comes: closed after its time plus the relaxed timeout.
        #expect(window.apply(parsed(bulk("FAILING_OVER"), .integer(3), .integer(5)), now: start) == .windowStarted)
        #expect(window.isRelaxed(now: start.advanced(by: .seconds(14))))
        #expect(!window.isRelaxed(now: start.advanced(by: .seconds(15))))
    }

    @Test("a replay (older or equal sequence number) is ignored")
    func stale() {
        var window = MaintenanceWindow<TestInstant>(relaxedTimeout: .seconds(10))
        #expect(window.apply(parsed(bulk("MIGRATING"), .integer(5), .integer(15)), now: start) == .windowStarted)
        #expect(window.apply(parsed(bulk("MIGRATED"), .integer(5)), now: start) == .stale(lastSequence: 5))
        #expect(window.apply(parsed(bulk("MIGRATED"), .integer(4)), now: start) == .stale(lastSequence: 5))
        #expect(window.isRelaxed(now: start.advanced(by: .seconds(1))))
        #expect(window.apply(parsed(bulk("SMIGRATED"), .integer(6)), now: start) == .windowEnded(wasOpen: true))
        #expect(window.lastSequence == 6)
    }

    @Test("MOVING asks for a handoff after its time (half of it to the same endpoint) and relaxes meanwhile")
    func moving() {
        var window = MaintenanceWindow<TestInstant>(relaxedTimeout: .seconds(10))
        #expect(
            window.apply(parsed(bulk("MOVING"), .integer(1), .integer(8), bulk("10.0.0.6:6379")), now: start)
                == .handoff(endpoint: RedisEndpoint(host: "10.0.0.6", port: 6379), delay: .seconds(8)))
        #expect(window.isRelaxed(now: start.advanced(by: .seconds(8))))
        #expect(window.apply(parsed(bulk("MOVING"), .integer(2), .integer(8), .null), now: start) == .handoff(endpoint: nil, delay: .seconds(4)))
    }
}
