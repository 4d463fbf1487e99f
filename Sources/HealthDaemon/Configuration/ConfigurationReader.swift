import RedisClient

/// Walks the YAML tree, collecting problems instead of stopping at the first: typed values (mappings with their
/// allowed keys, strings, numbers, booleans, durations, choices, lists), each problem with its key path.
struct Reader {
    var problems: [ConfigurationError.Problem] = []
    /// Every target's password file or credential, to check its readability.
    var passwordSources: [(path: String, file: String?, credential: String?)] = []

    mutating func problem(_ path: String, _ message: String) {
        self.problems.append(.init(path: path, message: message))
    }

    /// The mapping at `path`, with unknown keys reported.
    mutating func mapping(_ node: YAMLNode?, _ path: String, allowed: Set<String>) -> [String: YAMLNode]? {
        guard let node else { return nil }
        if node.isNull { return nil }
        guard let mapping = node.mapping else {
            self.problem(path, "expected a mapping of keys, got \(describe(node))")
            return nil
        }
        var result: [String: YAMLNode] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            if !allowed.contains(name) {
                let suggestion = closestMatch(to: name, in: allowed).map { "; did you mean \($0)?" } ?? ""
                self.problem(join(path, name), "unknown key\(suggestion) (known: \(allowed.sorted().joined(separator: ", ")))")
            } else {
                result[name] = value
            }
        }
        return result
    }

    mutating func string(_ node: YAMLNode?, _ path: String) -> String? {
        guard let node, !node.isNull else { return nil }
        guard let scalar = node.scalar else {
            self.problem(path, "expected a string, got \(describe(node))")
            return nil
        }
        return scalar.string
    }

    mutating func int(_ node: YAMLNode?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let node, !node.isNull else { return nil }
        guard let value = node.int else {
            self.problem(path, "expected a whole number, got \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            self.problem(path, "\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func bool(_ node: YAMLNode?, _ path: String) -> Bool? {
        guard let node, !node.isNull else { return nil }
        guard let value = node.bool else {
            self.problem(path, "expected true or false, got \(describe(node))")
            return nil
        }
        return value
    }

    /// A duration of at least `minimum` (``ConfigurationLoader/minimums``); `zeroIsOff` also accepts `0s`.
    mutating func duration(_ node: YAMLNode?, _ path: String, zeroIsOff: Bool = false) -> Duration? {
        guard let text = self.string(node, path) else { return nil }
        guard let duration = DurationParsing.parse(text) else {
            self.problem(path, "\"\(text)\" is not a duration; write a number and a unit: 250ms, 5s, 10m, 14d")
            return nil
        }
        let key = path.split(separator: "]", maxSplits: 1).last.map { $0.drop { $0 == "." } }.map(String.init) ?? path
        if let minimum = ConfigurationLoader.minimums[key], duration < minimum, !(zeroIsOff && duration == .zero) {
            self.problem(
                path,
                "\(text) is below the least accepted \(minimum.humanReadable)\(zeroIsOff ? " (or 0s: off)" : "")"
                    + (ConfigurationLoader.minimumReasons[key].map { ": \($0)" } ?? ""))
            return nil
        }
        return duration
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: YAMLNode?, _ path: String, as: T.Type) -> T?
    where T.RawValue == String {
        guard let text = self.string(node, path) else { return nil }
        guard let value = T(rawValue: text) else {
            self.problem(path, "\"\(text)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// A list of strings (a single string is taken as a list of one).
    mutating func strings(_ node: YAMLNode?, _ path: String) -> [String] {
        guard let node, !node.isNull else { return [] }
        if node.scalar != nil { return self.string(node, path).map { [$0] } ?? [] }
        guard let items = node.sequence else {
            self.problem(path, "expected a list, got \(describe(node))")
            return []
        }
        return items.enumerated().compactMap { self.string($0.element, "\(path)[\($0.offset)]") }
    }
}

private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

func describe(_ node: YAMLNode) -> String {
    switch node {
    case .scalar(let scalar): "\"\(scalar.string)\""
    case .mapping: "a mapping"
    case .sequence: "a list"
    }
}
