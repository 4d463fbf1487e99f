import NIOCore
import RESP
import RedisTestSupport
import Testing

@testable import RedisClient

/// Many callers on one connection, against a real redis-server: their commands are coalesced into shared writes,
/// and each caller must still get its own replies, in its own order. Nothing here depends on how fast it goes.
@Suite("Auto-pipelining against a real redis-server", .serialized)
struct AutoPipeliningTests {
    @Test("50 callers on one connection under load: each gets its own replies, in its order, pushes interleaved")
    func manyCallersOwnRepliesInOrder() async throws {
        try await withRedisServer { server in
            try await withClient(multiplexerConfiguration(server, probeInterval: .milliseconds(100))) { client, _ in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                // Invalidation pushes (RESP3 client tracking) arrive on this connection between replies whenever a
                // key it read is written: they must never be taken for a reply.
                let tracking = try await client.send(RESPCommand("CLIENT", "TRACKING", "ON"))
                #expect(tracking == .simpleString("OK"))
                let large = String(repeating: "x", count: 100_000)
                _ = try await client.send(RESPCommand("SET", "large", large))
                let callers = 50
                let rounds = 200
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<callers {
                        group.addTask {
                            for round in 1...rounds {
                                // INCR answers with this caller's own sequence: any reply handed to the wrong caller,
                                // or out of order, breaks it.
                                let count = try await client.send(RESPCommand("INCR", "counter:\(caller)"))
                                #expect(count == .integer(Int64(round)), "caller \(caller), round \(round)")
                                let echo = try await client.send(RESPCommand("ECHO", "\(caller):\(round)"))
                                #expect(echo == .bulkString(ByteBuffer(string: "\(caller):\(round)")))
                                // Read then written by everyone: invalidations for this connection.
                                _ = try await client.send(RESPCommand("GET", "shared"))
                                _ = try await client.send(RESPCommand("SET", "shared", "\(caller)"))
                                if round % 50 == 0 {
                                    // A reply spread over many reads, amid short ones.
                                    let value = try await client.send(RESPCommand("GET", "large"))
                                    #expect(value.string?.utf8.count == large.utf8.count)
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                for caller in [0, callers / 2, callers - 1] {
                    let count = try await server.cli("GET", "counter:\(caller)")
                    #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "\(rounds)")
                }
                #expect(client.current.isConnected, "the connection carried it all")
            }
        }
    }

    @Test("callers that prefer the client's event loop run there, get their own replies, and stay there across a force-reconnect")
    func callersOnTheEventLoop() async throws {
        try await withRedisServer { server in
            try await withClient(multiplexerConfiguration(server, probeInterval: .milliseconds(100))) { client, _ in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                let loop = client.taskExecutor.eventLoop
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<20 {
                        group.addTask(executorPreference: client.taskExecutor) {
                            for round in 1...20 {
                                let count = try await client.send(RESPCommand("INCR", "loop:\(caller)"))
                                #expect(count == .integer(Int64(round)), "caller \(caller), round \(round)")
                                // Resumed by its reply where the reply was read.
                                #expect(loop.inEventLoop, "caller \(caller) resumed off its connection's event loop")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                // A replacement multiplexer uses the same loop: callers that preferred it keep no hop.
                #expect(await client.forceReconnect() == .replaced)
                #expect(client.current.generation > 1)
                #expect(client.taskExecutor.eventLoop === loop)
                let after = try await withTaskExecutorPreference(client.taskExecutor) {
                    let reply = try await client.send(RESPCommand("GET", "loop:0"))
                    return (reply, loop.inEventLoop)
                }
                #expect(after.0 == .bulkString(ByteBuffer(string: "20")) && after.1)
            }
        }
    }

    @Test("callers of one connection and a pipeline among them: the pipeline's commands stay together")
    func pipelineAmongCallers() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server))
            defer { Task { await connection.close() } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<20 {
                    group.addTask {
                        for round in 0..<100 {
                            _ = try await connection.send(RESPCommand("SET", "k:\(caller)", "\(round)"))
                        }
                    }
                }
                group.addTask {
                    for _ in 0..<100 {
                        // MULTI … EXEC only works if nothing of another caller comes between its commands.
                        let replies = try await connection.pipeline([
                            RESPCommand("MULTI"), RESPCommand("INCR", "tx"), RESPCommand("INCR", "tx"), RESPCommand("EXEC"),
                        ])
                        #expect(replies[0] == .simpleString("OK"))
                        #expect(replies[1] == .simpleString("QUEUED") && replies[2] == .simpleString("QUEUED"))
                        guard case .array(let results) = replies[3], case .integer(let first) = results.first else {
                            Issue.record("EXEC answered \(replies[3])")
                            return
                        }
                        #expect(results == [.integer(first), .integer(first + 1)])
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await server.cli("GET", "tx").trimmingCharacters(in: .whitespacesAndNewlines) == "200")
        }
    }
}
