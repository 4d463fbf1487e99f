extension Sequence {
    /// `allSatisfy` with an async predicate (one that asks a server, say), evaluated in order.
    public func asyncAllSatisfy(_ predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where !(try await predicate(element)) { return false }
        return true
    }

    /// `first(where:)` with an async predicate, evaluated in order until one matches.
    public func asyncFirst(where predicate: (Element) async throws -> Bool) async rethrows -> Element? {
        for element in self where try await predicate(element) { return element }
        return nil
    }
}
