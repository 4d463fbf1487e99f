/// Path operations on strings, as NSString did them: repeated slashes count as one and a trailing slash is ignored.
enum FilePath {
    /// `/run/a/b.sock` → `b.sock`; `/` → `/`; `` → ``.
    static func lastComponent(_ path: String) -> String {
        let path = self.normalized(path)
        guard path.count > 1, let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `/run/a/b.sock` → `/run/a`; `/run` → `/`; `b.sock` → ``; `/` → `/`.
    static func deletingLastComponent(_ path: String) -> String {
        let path = self.normalized(path)
        guard path != "/", let slash = path.lastIndex(of: "/") else { return path == "/" ? path : "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Repeated slashes made one, a trailing slash dropped (but for `/` itself).
    private static func normalized(_ path: String) -> String {
        var result = ""
        result.reserveCapacity(path.utf8.count)
        var previousWasSlash = false
        for character in path {
            if character == "/" {
                if previousWasSlash { continue }
                previousWasSlash = true
            } else {
                previousWasSlash = false
            }
            result.append(character)
        }
        if result.count > 1, result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
