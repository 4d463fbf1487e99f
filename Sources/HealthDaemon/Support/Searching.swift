extension Collection where Element: Equatable {
    /// Where `pattern` first occurs (a plain scan, for short patterns); nil when it does not, or is empty.
    package func firstOccurrence(of pattern: some Collection<Element>) -> Range<Index>? {
        guard let head = pattern.first else { return nil }
        var start = self.startIndex
        while let candidate = self[start...].firstIndex(of: head) {
            var index = candidate
            var matched = true
            for element in pattern {
                guard index != self.endIndex, self[index] == element else {
                    matched = false
                    break
                }
                index = self.index(after: index)
            }
            if matched { return candidate..<index }
            start = self.index(after: candidate)
        }
        return nil
    }
}
