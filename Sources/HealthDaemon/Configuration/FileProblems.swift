#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Why a file cannot be read, in words that say what to do: missing, a folder, not readable by this user.
package func unreadableFileReason(_ path: String) -> String {
    var info = stat()
    guard stat(path, &info) == 0 else {
        switch errno {
        case ENOENT: return "\(path) does not exist"
        case EACCES: return "\(path) cannot be reached: permission denied on a folder on its path"
        case ENOTDIR: return "\(path): a part of the path is not a folder"
        default: return "\(path): \(String(cString: strerror(errno)))"
        }
    }
    if info.st_mode & S_IFMT == S_IFDIR { return "\(path) is a directory; give the file itself" }
    if access(path, R_OK) != 0 {
        return "\(path) is not readable by this user (uid \(getuid())): permission denied; check its owner and mode (ls -l \(path))"
    }
    return "\(path) cannot be read as UTF-8 text"
}

/// The closest of `candidates` to `word` when it is a likely typo (at most two edits away), for "did you mean".
public func closestMatch(to word: String, in candidates: some Sequence<String>) -> String? {
    let limit = word.count <= 4 ? 1 : 2
    var best: (String, Int)?
    for candidate in candidates {
        let distance = editDistance(word.lowercased(), candidate.lowercased())
        if distance <= limit, distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
    }
    return best?.0
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
