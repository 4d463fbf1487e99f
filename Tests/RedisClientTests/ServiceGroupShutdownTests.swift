import Foundation
import Logging
import RESP
import RedisTestSupport
import ServiceLifecycle
import Testing

@testable import RedisClient

@Suite("Clients as Services: ServiceGroup graceful shutdown against real servers")
struct ClientServiceGroupShutdownTests {
    @Test("a ResilientRedisClient (subscribed too): graceful shutdown ends run() promptly, both connections closed, events end")
    func resilientClient() async throws {
        try await withRedisServer { server in
            let configuration = RedisMultiplexerConfiguration(
                connection: RedisConnectionConfiguration(
                    endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), clientName: "graceful-client"),
                probeInterval: .milliseconds(200), probeTimeout: .milliseconds(200))
            let client = try ResilientRedisClient(configuration: configuration)
            let events = client.events()
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: [client], logger: Logger(label: "test")))
            // Kept: a stream dropped ends its subscription.
            let messages = await client.subscribe("graceful-channel")
            let took = try await gracefulShutdownTime(of: group, bound: .seconds(15)) {
                (await ourClients(server, "graceful-client")).count == 2
            }
            print("ResilientRedisClient: graceful shutdown took \(took.map { "\($0)" } ?? "more than 15 s")")
            #expect(took != nil, "run() did not return within 15 s of the graceful shutdown")
            #expect(!client.current.isConnected)
            // As after shutdown(): the event stream ends.
            for await _ in events {}
            _ = messages
            #expect(await eventually(within: .seconds(10)) { await ourClients(server, "graceful-client").isEmpty })
            // Shut down: commands fail at once rather than wait for a connection.
            await #expect(throws: RedisClientError.self) { try await client.send(RESPCommand("PING"), timeout: .seconds(1)) }
        }
    }
}

/// In the cluster suite (serialized): one real cluster at a time there, not another one started beside it.
extension ClusterClientTests {
    @Test("a RedisClusterClient: graceful shutdown ends run() promptly, every node connection closed")
    func clusterClient() async throws {
        try await withRedisCluster { cluster in
            let client = try RedisClusterClient(configuration: clusterConfiguration(cluster, clientName: "graceful-cluster"))
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: [client], logger: Logger(label: "test")))
            let took = try await gracefulShutdownTime(of: group, bound: .seconds(15)) {
                for server in cluster.servers where await ourClients(server, "graceful-cluster").isEmpty { return false }
                return true
            }
            print("RedisClusterClient: graceful shutdown took \(took.map { "\($0)" } ?? "more than 15 s")")
            #expect(took != nil, "run() did not return within 15 s of the graceful shutdown")
            #expect(client.nodeEndpoints.isEmpty)
            for server in cluster.servers {
                #expect(await eventually(within: .seconds(10)) { await ourClients(server, "graceful-cluster").isEmpty })
            }
        }
    }
}
