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
                    "-set_serial", randomSerial(), "-days", "365", "-out", path("\(name).crt"), "-extfile", extensions,
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

    /// The extensions of a server certificate for localhost and 127.0.0.1, and of an intermediate CA.
    static let serverExtensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    static let intermediateExtensions = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"

    /// A new key and certificate `name` (.key, .crt in the folder) with `extensions`, valid `days`, signed by the
    /// certificate and key `issuer` (the shared CA's by default).
    private func sign(
        _ name: String, subject: String, extensions: String, days: Int, issuer: (certificate: String, key: String)? = nil
    ) async throws {
        let openssl = try which("openssl")
        func path(_ file: String) -> String { "\(self.directory)/\(file)" }
        let issuer = issuer ?? (self.caCertificate, path("ca.key"))
        try await run(
            openssl,
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(subject)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try await run(
            openssl,
            [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", issuer.certificate, "-CAkey", issuer.key,
                "-set_serial", randomSerial(), "-days", "\(days)", "-out", path("\(name).crt"), "-extfile", path("\(name).ext"),
            ])
    }

    /// A new server certificate (SAN localhost and 127.0.0.1) signed by the shared CA that expires `days` days from
    /// now: the certificate and key paths. Each call makes a new pair.
    public func shortLivedServerCertificate(days: Int) async throws -> (certificate: String, key: String) {
        let name = "server-\(days)d-\(UUID().uuidString.prefix(6))"
        try await self.sign(name, subject: name, extensions: Self.serverExtensions, days: days)
        return ("\(self.directory)/\(name).crt", "\(self.directory)/\(name).key")
    }

    /// A server certificate (SAN localhost and 127.0.0.1, valid `leafDays`) signed by a new intermediate CA valid
    /// `intermediateDays`, itself signed by the shared CA: the certificate file holds the leaf then the intermediate
    /// (what the server presents), with the key. Each call makes a new set.
    public func serverCertificateWithIntermediate(
        leafDays: Int, intermediateDays: Int
    ) async throws -> (certificate: String, key: String) {
        let name = "chain-\(leafDays)d-\(intermediateDays)d-\(UUID().uuidString.prefix(6))"
        func path(_ file: String) -> String { "\(self.directory)/\(file)" }
        try await self.sign("\(name)-int", subject: "\(name) intermediate", extensions: Self.intermediateExtensions, days: intermediateDays)
        try await self.sign(
            "\(name)-leaf", subject: name, extensions: Self.serverExtensions, days: leafDays,
            issuer: (path("\(name)-int.crt"), path("\(name)-int.key")))
        let chain = try String(contentsOfFile: path("\(name)-leaf.crt"), encoding: .utf8)
            + String(contentsOfFile: path("\(name)-int.crt"), encoding: .utf8)
        try chain.write(toFile: path("\(name).crt"), atomically: true, encoding: .utf8)
        return (path("\(name).crt"), path("\(name)-leaf.key"))
    }
}

/// A random certificate serial for `openssl x509 -set_serial`. Not `-CAcreateserial`: tests signing with the
/// shared CA at the same time would read its serial file while another openssl rewrites it ("Unable to load
/// number from ca.srl").
private func randomSerial() -> String {
    "0x" + String(UInt64.random(in: 1...UInt64(Int64.max)), radix: 16)
}
