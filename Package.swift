// swift-tools-version:6.0
import PackageDescription

// CI (and anyone who wants it) builds with REDIS_HEALTHD_WERROR=1: warnings in our own targets become errors.
// It is an environment switch, not a default, so that other packages can depend on the libraries here.
let warningsAsErrors = Context.environment["REDIS_HEALTHD_WERROR"] == "1"

let commonSettings: [SwiftSetting] =
    [.enableUpcomingFeature("ExistentialAny")] + (warningsAsErrors ? [.unsafeFlags(["-warnings-as-errors"])] : [])

let package = Package(
    name: "redis-healthd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RESP", targets: ["RESP"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .executable(name: "redis-healthd", targets: ["redis-healthd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // RESP2/RESP3 values, command encoder and incremental parser. No I/O: NIOCore's ByteBuffer only.
        .target(
            name: "RESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: commonSettings
        ),
        // Connections, command pipelining, timeouts, TLS, handshake. Knows nothing of systemd.
        .target(
            name: "RedisClient",
            dependencies: [
                "RESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: commonSettings
        ),
        // What every log handler shares: text from servers made safe to print (control characters escaped) and the
        // syslog priority of a level.
        .target(
            name: "LogText",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),
        // glibc's malloc tuning and the executable's own pages (<malloc.h>, <link.h>: not in Swift's Glibc module).
        .target(name: "CMemory"),
        // systemd's protocols, spoken directly (no libsystemd): sd_notify, the watchdog, the journal.
        .target(
            name: "Systemd",
            dependencies: ["LogText", .product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),
        // Targets, configuration, status: composes the multiplexer for the daemon. Knows nothing of systemd.
        .target(
            name: "HealthDaemon",
            dependencies: [
                "RESP",
                "RedisClient",
                "LogText",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: commonSettings
        ),
        .executableTarget(
            name: "redis-healthd",
            dependencies: [
                "CMemory",
                "HealthDaemon",
                "LogText",
                "RESP",
                "RedisClient",
                "Systemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: commonSettings,
            // The release binary, linked by lld: relative relocations packed (DT_RELR, glibc ≥ 2.36: the loader
            // no longer reads 1.6 MB of them at start), no dynamic symbol table of our own code (nothing loads
            // symbols from the executable; crash backtraces read the ELF symbol table), identical code folded.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic",
                        "-Xlinker", "--icf=all",
                    ],
                    .when(platforms: [.linux], configuration: .release))
            ],
            plugins: ["BuildInfo"]
        ),
        // The git commit and build date for `redis-healthd --version`.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        // Benchmarks/throughput.sh runs it next to redis-benchmark. Not a test.
        .executableTarget(
            name: "multiplexer-throughput",
            dependencies: ["RESP", "RedisClient"],
            path: "Benchmarks/MultiplexerThroughput",
            swiftSettings: commonSettings
        ),
        // Benchmarks/parser.sh runs it: the RESP parser's MB/s on a 5 MB reply fed in 1 KB and 64 KB chunks. Not a test.
        .executableTarget(
            name: "resp-parser-throughput",
            dependencies: ["RESP", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/ParserThroughput",
            swiftSettings: commonSettings
        ),
        // Test support: real redis-server processes on free ports, certificates made with the openssl CLI.
        .target(
            name: "RedisTestSupport",
            dependencies: [
                "RESP",
                "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/RedisTestSupport",
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "HealthDaemonTests",
            dependencies: [
                "HealthDaemon", "LogText", "RESP", "RedisClient", "RedisTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The YAML reader's golden trees (read by path from the tests).
            exclude: ["YAMLGolden"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "SystemdTests",
            dependencies: ["Systemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "RESPTests",
            dependencies: ["RESP", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: commonSettings
        ),
        // The test kit's own tests: the fake RESP server against a raw NIO client and RedisConnection.
        .testTarget(
            name: "RedisTestSupportTests",
            dependencies: [
                "RESP",
                "RedisClient",
                "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RESP",
                "RedisClient",
                "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: commonSettings
        ),
    ]
)
