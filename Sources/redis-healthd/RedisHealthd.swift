import ArgumentParser

@main
struct RedisHealthd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-healthd",
        abstract: "A Redis connection-health daemon for systemd hosts.",
        version: RedisHealthdVersion.current,
        subcommands: [Run.self, Status.self, Topology.self, Events.self, Reconnect.self, Export.self, CheckConfig.self, DoctorCommand.self]
    )
}

enum RedisHealthdVersion {
    static let current = "0.1.0"
}
