// swift-tools-version:6.0
// libFuzzer entry point for the RESP parser. A separate package so that the main build never needs
// -sanitize=fuzzer. Build and run with Fuzz/run.sh (see the README, "Fuzzing").
import PackageDescription

let package = Package(
    name: "redis-healthd-fuzz",
    dependencies: [
        .package(name: "redis-healthd", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "RESPFuzzer",
            dependencies: [
                "CLibFuzzer",
                .product(name: "RESP", package: "redis-healthd"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        )
    ]
)
