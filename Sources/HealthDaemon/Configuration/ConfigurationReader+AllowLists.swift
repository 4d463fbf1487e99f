import RedisClient

/// Allow-lists: the ports (ports, ranges, presets) and networks (CIDRs) a target's nodes may be dialed at.
extension Reader {
    /// Named sets of ports for `allowed_ports`, usable alone or mixed with ports and ranges.
    static let portPresets: [String: [ClosedRange<Int>]] = [
        // Azure Cache for Redis: 6379 (plain), 6380 (TLS), 13000–13999 and 15000–15999 (cluster shards).
        "azure-cache": [6379...6379, 6380...6380, 13000...13999, 15000...15999],
        // Azure Managed Redis: 10000 (the endpoint), 8500–8599 (shards under the OSS cluster policy).
        "azure-managed": [10000...10000, 8500...8599],
    ]

    /// One entry of `allowed_ports`: a port, a range, or a preset's ranges.
    mutating func portRanges(_ node: YAMLNode, _ path: String) -> [ClosedRange<Int>] {
        if let name = node.string, name.first?.isLetter == true {
            if let preset = Self.portPresets[name] { return preset }
            let known = Self.portPresets.keys.sorted()
            let suggestion = closestMatch(to: name, in: known).map { "; did you mean \($0)?" } ?? ""
            self.problem(path, "\"\(name)\" is not a port, a range or a preset (\(known.joined(separator: ", ")))\(suggestion)")
            return []
        }
        return self.portRange(node, path).map { [$0] } ?? []
    }

    mutating func portRange(_ node: YAMLNode, _ path: String) -> ClosedRange<Int>? {
        if let port = node.int {
            guard (1...65535).contains(port) else {
                self.problem(path, "\(port) is not a port (1…65535)")
                return nil
            }
            return port...port
        }
        guard let text = node.string else {
            self.problem(path, "expected a port or a range such as \"13000-13999\"")
            return nil
        }
        let parts = text.split(separator: "-").map { Int($0.trimmingWhitespace()) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], 1 <= low, low <= high, high <= 65535 else {
            self.problem(path, "\"\(text)\" is not a port range such as \"13000-13999\"")
            return nil
        }
        return low...high
    }
}

/// IPv4 or IPv6 CIDR, syntactically.
func isCIDR(_ text: String) -> Bool {
    EndpointRules.Network(cidr: text) != nil
}
