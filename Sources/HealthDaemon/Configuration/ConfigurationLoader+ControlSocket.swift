#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RedisClient

/// The control socket a configuration file names, read without validating the rest (for the client commands).
extension ConfigurationLoader {
    /// The control socket a configuration file names (`control.socket`), read without validating the rest: a
    /// client finding the daemon needs neither the password files nor a valid target list. `nil` when the file
    /// does not set it.
    /// - Throws: ``ControlClientError`` when the file cannot be read or is not YAML.
    public static func controlSocket(inFile path: String) throws(ControlClientError) -> String? {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ControlClientError("cannot read \(unreadableFileReason(path))")
        }
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            throw ControlClientError("\(path) is not valid YAML: \(error)")
        }
        guard let control = root?.mapping?["control"]?.mapping, let socket = control["socket"]?.string else { return nil }
        return socket
    }
}
