#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Why a new file could not be written.
public struct NewFileError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Writes `contents` to a file that must not exist yet, created with `mode` (O_CREAT | O_EXCL | O_NOFOLLOW): an
/// existing file, or a symbolic link planted at `path`, is never followed nor overwritten. Blocking: call it from
/// a command-line tool or a dedicated thread, not from async code.
public func writeNewFile(_ path: String, contents: Data, mode: mode_t = 0o600) throws(NewFileError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else {
        let code = errno
        if code == EEXIST || code == ELOOP {
            throw NewFileError(description: "\(path) exists; choose another name or remove it")
        }
        throw NewFileError(description: "cannot create \(path): \(String(cString: strerror(code)))")
    }
    var failure: Int32?
    contents.withUnsafeBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                failure = errno
                return
            }
            offset += written
        }
    }
    if failure == nil && fsync(fd) != 0 { failure = errno }
    close(fd)
    if let failure {
        unlink(path)
        throw NewFileError(description: "cannot write \(path): \(String(cString: strerror(failure)))")
    }
}
