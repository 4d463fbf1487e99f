import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HealthDaemon

/// `redis-healthd unit-dropin`: prints a systemd drop-in that lets the daemon reach only the addresses its
/// configuration needs (`IPAddressDeny=any` and `IPAddressAllow=`).
struct UnitDropInCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit-dropin",
        abstract: "Print a systemd drop-in that lets the daemon reach only the addresses its configuration needs.",
        discussion: """
            IPAddressDeny=any, then IPAddressAllow= for localhost, every target's address (host names are resolved \
            now, so generate it again when their addresses change), allowed_networks, and the name servers when a \
            target has a host name. Save it as /etc/systemd/system/redis-healthd.service.d/ip-address-allow.conf, \
            then `systemctl daemon-reload && systemctl restart redis-healthd`. Warnings go to standard error.
            """)

    @Option(name: .long, help: "The configuration file.")
    var config: String = defaultConfigurationPath

    @Option(name: .long, help: "Another address or CIDR to allow (repeatable), e.g. a Prometheus server scraping metrics.listen.")
    var allow: [String] = []

    func run() throws {
        var standardError = StandardError()
        let text: String
        do {
            text = try String(contentsOfFile: self.config, encoding: .utf8)
        } catch {
            print("\(self.config): cannot read the file: \(unreadableFileReason(self.config))", to: &standardError)
            throw ExitCode(1)
        }
        let dropIn: UnitDropIn
        do {
            // parse, not load: the drop-in needs addresses, never the passwords.
            let configuration = try ConfigurationLoader(credentialsDirectory: nil, addressAllowList: nil).parse(text, file: self.config)
            let resolvConf = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
            dropIn = try UnitDropIn(
                configuration: configuration, extraAllow: self.allow, nameServers: UnitDropIn.nameServers(resolvConf: resolvConf),
                resolve: UnitDropIn.resolve)
        } catch {
            print(error.description, to: &standardError)
            throw ExitCode(1)
        }
        for warning in dropIn.warnings {
            print("redis-healthd unit-dropin: warning: \(warning)", to: &standardError)
        }
        let command = (["redis-healthd unit-dropin", "--config", self.config] + self.allow.flatMap { ["--allow", $0] }).joined(separator: " ")
        print(dropIn.render(command: command, generatedAt: Date()), terminator: "")
    }
}
