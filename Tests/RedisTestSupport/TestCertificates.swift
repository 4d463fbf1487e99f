import Foundation

/// A CA, a server certificate (SAN localhost and 127.0.0.1), a client certificate and an unrelated CA,
/// made once per test process with the openssl CLI.
public struct TestCertificates: Sendable {
    public var directory: String
    public var caCertificate: String
    public var serverCertificate: String
    public var serverKey: String
    public var clientCertificate: String
    public var clientKey: String
    /// A server certificate whose only name is DNS:localhost (no IP SAN), for name-mismatch tests: NIOSSL
    /// accepts an IP SAN matching the connected address whatever name was asked for.
    public var dnsOnlyServerCertificate: String
    public var dnsOnlyServerKey: String
    /// A CA that signed nothing here: trusting only it must fail verification.
    public var otherCACertificate: String

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: TestCertificates?

    /// The process-wide set, made on first use.
    public static func shared() throws -> TestCertificates {
        try lock.withLock {
            if let cached { return cached }
            let made = try make()
            cached = made
            return made
        }
    }

    private static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-healthd-certs-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let openssl = try which("openssl")
        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func ca(_ name: String) throws {
            try run(openssl, [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=redis-healthd test \(name)",
                "-keyout", path("\(name).key"), "-out", path("\(name).crt"),
            ])
        }
        func leaf(_ name: String, san: String, usage: String) throws {
            try run(openssl, [
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", path("\(name).key"),
                "-out", path("\(name).csr"),
            ])
            let extensions = path("\(name).ext")
            try "subjectAltName=\(san)\nextendedKeyUsage=\(usage)\n".write(
                toFile: extensions, atomically: true, encoding: .utf8)
            try run(openssl, [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "2", "-out", path("\(name).crt"), "-extfile", extensions,
            ])
        }
        try ca("ca")
        try ca("other-ca")
        try leaf("server", san: "DNS:localhost,IP:127.0.0.1", usage: "serverAuth")
        try leaf("server-dns-only", san: "DNS:localhost", usage: "serverAuth")
        try leaf("client", san: "DNS:redis-healthd-client", usage: "clientAuth")
        return TestCertificates(
            directory: directory, caCertificate: path("ca.crt"), serverCertificate: path("server.crt"),
            serverKey: path("server.key"), clientCertificate: path("client.crt"), clientKey: path("client.key"),
            dnsOnlyServerCertificate: path("server-dns-only.crt"), dnsOnlyServerKey: path("server-dns-only.key"),
            otherCACertificate: path("other-ca.crt"))
    }
}
