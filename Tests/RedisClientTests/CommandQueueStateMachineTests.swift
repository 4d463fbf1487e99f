import NIOCore
import RESP
import Testing

@testable import RedisClient

/// The command queue's rules as timelines on a manual clock: each step is an event at a time `t` (milliseconds
/// since the connection became active) and what the state machine must answer. No channel, no real time.
@Suite("Command queue state machine")
struct CommandQueueStateMachineTests {
    typealias Machine = CommandQueueStateMachine<Int>

    /// What a step expects, in words the rules use.
    enum Expect: Equatable, CustomStringConvertible {
        case write(timerAt: Int64?)
        case refused(RedisClientError.Code)
        case reply(sink: Int, value: String)
        case push
        case nothing
        case close(RedisClientError.Code)
        /// The timer fired: these sinks failed with a timeout, then the timer went to `timerAt` or the connection
        /// closed with `close`.
        case expired([Int], timerAt: Int64?, close: RedisClientError.Code?)
        /// The connection ended: these sinks failed with `code`, attributed to their commands.
        case failed([Int], code: RedisClientError.Code, ended: Bool)

        var description: String {
            switch self {
            case .write(let at): "write, timer at \(at.map { "\($0) ms" } ?? "unchanged")"
            case .refused(let code): "refused (\(code))"
            case .reply(let sink, let value): "reply \(value) to #\(sink)"
            case .push: "push"
            case .nothing: "nothing"
            case .close(let code): "close (\(code))"
            case .expired(let sinks, let at, let close):
                "expired \(sinks), then \(close.map { "close (\($0))" } ?? "timer at \(at.map { "\($0) ms" } ?? "none")")"
            case .failed(let sinks, let code, let ended): "failed \(sinks) with \(code)\(ended ? "" : " (already ended)")"
            }
        }
    }

    enum Event: CustomStringConvertible {
        /// Commands written at `t`: (sink, name, timeout in ms).
        case write(Int64, [(sink: Int, name: String, timeout: Int64)])
        case read(Int64, RESPValue)
        case timer(Int64)
        case fail(Int64, RedisClientError.Code)

        var description: String {
            switch self {
            case .write(let t, let commands): "t=\(t) write \(commands.map { "#\($0.sink) \($0.name)" })"
            case .read(let t, let value): "t=\(t) read \(value.typeName)"
            case .timer(let t): "t=\(t) timer"
            case .fail(let t, let code): "t=\(t) fail (\(code))"
            }
        }
    }

    struct Timeline: CustomTestStringConvertible, @unchecked Sendable {
        var name: String
        var silence = SilenceRule(limit: .milliseconds(3_000))
        var subscriber = false
        var steps: [(Event, Expect)]
        var testDescription: String { self.name }
    }

    static func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(1_000_000_000 + UInt64(milliseconds) * 1_000_000) }
    static let pong = RESPValue.bulkString("PONG")
    static func message(_ kind: String) -> RESPValue { .array([.bulkString(kind), .bulkString("ch"), .bulkString("hello")]) }

    static let timelines: [Timeline] = [
        Timeline(
            name: "replies go to their callers in the order the commands were written",
            steps: [
                (.write(0, [(1, "PING", 1_000), (2, "GET", 1_000)]), .write(timerAt: 1_000)),
                (.write(10, [(3, "PING", 500)]), .write(timerAt: 510)),
                (.read(20, pong), .reply(sink: 1, value: "PONG")),
                (.read(20, .bulkString("v")), .reply(sink: 2, value: "v")),
                (.read(21, pong), .reply(sink: 3, value: "PONG")),
            ]),
        Timeline(
            name: "a later command with a later deadline leaves the timer where it is",
            steps: [
                (.write(0, [(1, "PING", 500)]), .write(timerAt: 500)),
                (.write(100, [(2, "PING", 1_000)]), .write(timerAt: nil)),
            ]),
        Timeline(
            name: "a timed-out command keeps its place: its late reply is dropped, the next caller gets its own",
            silence: SilenceRule(limit: nil),
            steps: [
                (.write(0, [(1, "GET", 100), (2, "GET", 1_000)]), .write(timerAt: 100)),
                (.timer(100), .expired([1], timerAt: 1_000, close: nil)),
                (.read(150, .bulkString("late")), .nothing),
                (.read(160, .bulkString("mine")), .reply(sink: 2, value: "mine")),
            ]),
        Timeline(
            name: "silence: a command times out after the connection owed a reply for the limit → dead",
            steps: [
                (.write(0, [(1, "PING", 1_000)]), .write(timerAt: 1_000)),
                (.timer(1_000), .expired([1], timerAt: nil, close: nil)),
                (.write(2_000, [(2, "PING", 1_000)]), .write(timerAt: 3_000)),
                (.timer(3_000), .expired([2], timerAt: nil, close: .unresponsive)),
                (.write(3_001, [(3, "PING", 1_000)]), .refused(.unresponsive)),
            ]),
        Timeline(
            name: "silence: every reply moves the owing time on, so a slow but answering server is not dead",
            steps: [
                (.write(0, [(1, "PING", 2_500), (2, "PING", 2_500), (3, "PING", 3_200)]), .write(timerAt: 2_500)),
                (.read(2_000, pong), .reply(sink: 1, value: "PONG")),
                (.timer(2_500), .expired([2], timerAt: 3_200, close: nil)),
                (.timer(3_200), .expired([3], timerAt: nil, close: nil)),
            ]),
        Timeline(
            name: "silence: pushes are not replies (a server sending messages while never answering is silent)",
            steps: [
                (.write(0, [(1, "PING", 3_000)]), .write(timerAt: 3_000)),
                (.read(1_000, .push([.bulkString("message"), .bulkString("ch"), .bulkString("x")])), .push),
                (.read(2_000, .push([.bulkString("invalidate"), .null])), .push),
                (.timer(3_000), .expired([1], timerAt: nil, close: .unresponsive)),
            ]),
        Timeline(
            name: "silence: the owing time starts when a command is written to an idle connection",
            steps: [
                (.read(0, .push([.bulkString("x")])), .push),
                (.write(10_000, [(1, "PING", 1_000)]), .write(timerAt: 11_000)),
                (.timer(11_000), .expired([1], timerAt: nil, close: nil)),
            ]),
        Timeline(
            name: "silence limit off: timeouts never close the connection",
            silence: SilenceRule(limit: nil),
            steps: [
                (.write(0, [(1, "PING", 1_000)]), .write(timerAt: 1_000)),
                (.timer(60_000), .expired([1], timerAt: nil, close: nil)),
            ]),
        Timeline(
            name: "too many timed-out commands unanswered → dead, whatever else the server sends",
            silence: SilenceRule(limit: nil, maxUnansweredTimedOut: 2),
            steps: [
                (.write(0, [(1, "GET", 10), (2, "GET", 10)]), .write(timerAt: 10)),
                (.timer(10), .expired([1, 2], timerAt: nil, close: nil)),
                (.write(20, [(3, "GET", 10)]), .write(timerAt: 30)),
                (.timer(30), .expired([3], timerAt: nil, close: .unresponsive)),
            ]),
        Timeline(
            name: "a reply nobody asked for is a protocol error",
            steps: [
                (.read(5, pong), .close(.protocolError)),
            ]),
        Timeline(
            name: "the end fails every caller in flight, each with its own command; later writes are refused",
            steps: [
                (.write(0, [(1, "GET", 1_000), (2, "SET", 1_000)]), .write(timerAt: 1_000)),
                (.fail(10, .socket), .failed([1, 2], code: .socket, ended: true)),
                (.fail(11, .connectionClosed), .failed([], code: .socket, ended: false)),
                (.read(12, pong), .nothing),
                (.timer(1_000), .expired([], timerAt: nil, close: nil)),
                (.write(20, [(3, "PING", 1_000)]), .refused(.socket)),
            ]),
        Timeline(
            name: "a timed-out command is not failed again at the end",
            silence: SilenceRule(limit: nil),
            steps: [
                (.write(0, [(1, "GET", 10), (2, "GET", 1_000)]), .write(timerAt: 10)),
                (.timer(10), .expired([1], timerAt: 1_000, close: nil)),
                (.fail(20, .connectionClosed), .failed([2], code: .connectionClosed, ended: true)),
            ]),
        Timeline(
            name: "RESP3: a subscribe confirmation answers the SUBSCRIBE at the head; other pushes are pushes",
            steps: [
                (.write(0, [(1, "SUBSCRIBE", 1_000)]), .write(timerAt: 1_000)),
                (.read(5, .push([.bulkString("message"), .bulkString("ch"), .bulkString("x")])), .push),
                (.read(6, .push([.bulkString("subscribe"), .bulkString("ch"), .integer(1)])), .reply(sink: 1, value: "push")),
                (.read(7, .push([.bulkString("subscribe"), .bulkString("other"), .integer(2)])), .push),
            ]),
        Timeline(
            name: "RESP2 subscriber: message arrays are pushes; on an interactive connection they are replies",
            subscriber: true,
            steps: [
                (.write(0, [(1, "PING", 1_000)]), .write(timerAt: 1_000)),
                (.read(5, message("message")), .push),
                (.read(6, message("pmessage")), .push),
                (.read(7, message("smessage")), .push),
                (.read(8, .array([.bulkString("pong"), .bulkString("")])), .reply(sink: 1, value: "array")),
            ]),
        Timeline(
            name: "RESP2 interactive: a message-shaped array answers the command at the head",
            steps: [
                (.write(0, [(1, "LRANGE", 1_000)]), .write(timerAt: 1_000)),
                (.read(5, message("message")), .reply(sink: 1, value: "array")),
            ]),
    ]

    @Test(arguments: timelines)
    func timeline(_ timeline: Timeline) {
        var machine = Machine(endpoint: "fake:6379", silenceRule: timeline.silence, subscriber: timeline.subscriber, now: Self.at(0))
        for (event, expected) in timeline.steps {
            let answer = Self.run(event, on: &machine)
            #expect(answer == expected, "\(event)")
        }
    }

    static func run(_ event: Event, on machine: inout Machine) -> Expect {
        switch event {
        case .write(let t, let commands):
            let pending = commands.map {
                Machine.Pending(
                    command: RESPCommand($0.name), sink: $0.sink, deadline: at(t + $0.timeout), timeout: .milliseconds($0.timeout))
            }
            switch machine.write(pending, now: at(t)) {
            case .write(let timerAt): return .write(timerAt: timerAt.map { milliseconds($0) })
            case .refuse(let error): return .refused(error.code)
            }
        case .read(let t, let value):
            switch machine.read(value, now: at(t)) {
            case .succeed(let sink, let value): return .reply(sink: sink, value: value.string ?? value.typeName)
            case .push: return .push
            case .none: return .nothing
            case .close(let error):
                _ = machine.fail(error)
                return .close(error.code)
            }
        case .timer(let t):
            let action = machine.timerFired(now: at(t))
            for expired in action.expired {
                #expect(expired.error.code == .commandTimeout)
                #expect(expired.error.command != nil)
            }
            if let close = action.close { _ = machine.fail(close) }
            return .expired(action.expired.map(\.sink), timerAt: action.setTimerAt.map { milliseconds($0) }, close: action.close?.code)
        case .fail(_, let code):
            let action = machine.fail(RedisClientError(code, endpoint: "fake:6379", message: "failed"))
            #expect(action.failed.allSatisfy { $0.error.command != nil })
            let codes = Set(action.failed.map(\.error.code))
            #expect(codes.isSubset(of: [action.error.code]))
            return .failed(action.failed.map(\.sink), code: action.error.code, ended: action.ended)
        }
    }

    static func milliseconds(_ deadline: NIODeadline) -> Int64 {
        (Int64(deadline.uptimeNanoseconds) - 1_000_000_000) / 1_000_000
    }

    @Test("commands in flight leave out those that timed out; the loop comes back by the timer only while replies are owed")
    func inFlightAndLoopReturn() {
        var machine = Machine(endpoint: "fake:6379", silenceRule: SilenceRule(limit: nil), subscriber: false, now: Self.at(0))
        #expect(machine.commandsInFlight == 0)
        #expect(machine.loopReturnsBy == nil)
        let pending = [10, 1_000].enumerated().map { index, timeout in
            Machine.Pending(command: RESPCommand("GET"), sink: index, deadline: Self.at(Int64(timeout)), timeout: .milliseconds(Int64(timeout)))
        }
        _ = machine.write(pending, now: Self.at(0))
        #expect(machine.commandsInFlight == 2)
        #expect(machine.loopReturnsBy == Self.at(10))
        _ = machine.timerFired(now: Self.at(10))
        #expect(machine.commandsInFlight == 1)
        #expect(machine.loopReturnsBy == Self.at(1_000))
        _ = machine.read(Self.pong, now: Self.at(20))
        _ = machine.read(Self.pong, now: Self.at(21))
        #expect(machine.commandsInFlight == 0)
        #expect(machine.loopReturnsBy == nil)
        #expect(machine.lastReadAt == Self.at(21))
    }
}
