import Foundation
import Synchronization

/// A CA (valid 10 years), a server certificate (SAN localhost and 127.0.0.1, valid a year), a client certificate and
/// an unrelated CA, made once per test process with the openssl CLI; short-lived server certificates on request.
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

    /// The one making of the set: concurrent first callers share it.
    private static let making = Mutex<Task<TestCertificates, any Error>?>(nil)

    /// The process-wide set, made on first use (openssl runs as child processes; callers suspend meanwhile).
    public static func shared() async throws -> TestCertificates {
        let task = making.withLock { task in
            if let task { return task }
            let made = Task { try await make() }
            task = made
            return made
        }
        return try await task.value
    }

    private static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-healthd-certs-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let openssl = try which("openssl")
        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func ca(_ name: String) async throws {
            try await run(
                openssl,
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj",
                    "/CN=redis-healthd test \(name)",
                    "-keyout", path("\(name).key"), "-out", path("\(name).crt"),
                ])
        }
        func leaf(_ name: String, san: String, usage: String) async throws {
            try await run(
                openssl,
                [
                    "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", path("\(name).key"),
                    "-out", path("\(name).csr"),
                ])
            let extensions = path("\(name).ext")
            try "subjectAltName=\(san)\nextendedKeyUsage=\(usage)\n".write(
                toFile: extensions, atomically: true, encoding: .utf8)
            try await run(
                openssl,
                [
                    "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                    "-CAcreateserial", "-days", "365", "-out", path("\(name).crt"), "-extfile", extensions,
                ])
        }
        try await ca("ca")
        try await ca("other-ca")
        try await leaf("server", san: "DNS:localhost,IP:127.0.0.1", usage: "serverAuth")
        try await leaf("server-dns-only", san: "DNS:localhost", usage: "serverAuth")
        try await leaf("client", san: "DNS:redis-healthd-client", usage: "clientAuth")
        return TestCertificates(
            directory: directory, caCertificate: path("ca.crt"), serverCertificate: path("server.crt"),
            serverKey: path("server.key"), clientCertificate: path("client.crt"), clientKey: path("client.key"),
            dnsOnlyServerCertificate: path("server-dns-only.crt"), dnsOnlyServerKey: path("server-dns-only.key"),
            otherCACertificate: path("other-ca.crt"))
    }

    /// A new server certificate (SAN localhost and 127.0.0.1) signed by the shared CA that expires `days` days from
    /// now: the certificate and key paths. Each call makes a new pair.
    public func shortLivedServerCertificate(days: Int) async throws -> (certificate: String, key: String) {
        let openssl = try which("openssl")
        let name = "server-\(days)d-\(UUID().uuidString.prefix(6))"
        func path(_ file: String) -> String { "\(self.directory)/\(file)" }
        try await run(
            openssl,
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(
            toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try await run(
            openssl,
            [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", self.caCertificate, "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "\(days)", "-out", path("\(name).crt"), "-extfile", path("\(name).ext"),
            ])
        return (path("\(name).crt"), path("\(name).key"))
    }

    /// A server certificate (SAN localhost and 127.0.0.1, valid `leafDays`) signed by a new intermediate CA valid
    /// `intermediateDays`, itself signed by the shared CA: the certificate file holds the leaf then the intermediate
    /// (what the server presents), with the key. Each call makes a new set.
    public func serverCertificateWithIntermediate(
        leafDays: Int, intermediateDays: Int
    ) async throws -> (certificate: String, key: String) {
        let openssl = try which("openssl")
        let name = "chain-\(leafDays)d-\(intermediateDays)d-\(UUID().uuidString.prefix(6))"
        func path(_ file: String) -> String { "\(self.directory)/\(file)" }
        try await run(
            openssl,
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name) intermediate", "-keyout", path("\(name)-int.key"), "-out", path("\(name)-int.csr")])
        try "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n".write(
            toFile: path("\(name)-int.ext"), atomically: true, encoding: .utf8)
        try await run(
            openssl,
            [
                "x509", "-req", "-in", path("\(name)-int.csr"), "-CA", self.caCertificate, "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "\(intermediateDays)", "-out", path("\(name)-int.crt"), "-extfile", path("\(name)-int.ext"),
            ])
        try await run(
            openssl,
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(
            toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try await run(
            openssl,
            [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(name)-int.crt"), "-CAkey", path("\(name)-int.key"),
                "-CAcreateserial", "-days", "\(leafDays)", "-out", path("\(name)-leaf.crt"), "-extfile", path("\(name).ext"),
            ])
        let chain = try String(contentsOfFile: path("\(name)-leaf.crt"), encoding: .utf8)
            + String(contentsOfFile: path("\(name)-int.crt"), encoding: .utf8)
        try chain.write(toFile: path("\(name).crt"), atomically: true, encoding: .utf8)
        return (path("\(name).crt"), path("\(name).key"))
    }
}
