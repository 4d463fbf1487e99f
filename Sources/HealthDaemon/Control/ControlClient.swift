#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

public struct ControlClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The daemon accepted the request but did not answer in time.
    public var isTimeout: Bool
    public init(_ description: String, isTimeout: Bool = false) {
        self.description = description
        self.isTimeout = isTimeout
    }
}

/// A minimal HTTP/1.1 client over the daemon's Unix control socket.
public struct ControlClient: Sendable {
    public var socketPath: String

    /// How long to wait for the daemon's answer.
    public var timeout: Int

    public init(socketPath: String, timeout: Int = 10) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    /// Sends one request and reads the whole reply. Throws ``ControlClientError`` saying what to do.
    public func request(_ method: String, _ path: String, body: String = "") throws(ControlClientError) -> Response {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError("cannot create a socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard self.socketPath.utf8.count < capacity else { throw ControlClientError("socket path too long: \(self.socketPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in self.socketPath.utf8.enumerated() { raw[index] = byte }
            raw[self.socketPath.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = errno
            var info = stat()
            let exists = lstat(self.socketPath, &info) == 0
            switch reason {
            case ENOENT:
                throw ControlClientError(
                    "redis-healthd is not running: there is no socket at \(self.socketPath); start it with `systemctl start redis-healthd`")
            case ECONNREFUSED where exists && info.st_mode & S_IFMT != S_IFSOCK:
                throw ControlClientError("\(self.socketPath) is not a socket; is that the daemon's control.socket?")
            case ECONNREFUSED:
                throw ControlClientError(
                    "redis-healthd is not running: nothing listens on \(self.socketPath) (a socket left by a daemon that stopped); start it with `systemctl start redis-healthd`")
            case EACCES, EPERM:
                throw ControlClientError(
                    "permission denied on \(self.socketPath): run as root or as a member of the socket's group")
            case ENOTDIR:
                throw ControlClientError("\(self.socketPath) is not a socket: a part of the path is not a folder")
            default:
                throw ControlClientError("cannot connect to \(self.socketPath): \(String(cString: strerror(reason)))")
            }
        }
        // A daemon that accepts but never answers (stopped, wedged) must not wedge the CLI too.
        var timeout = timeval(tv_sec: self.timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw ControlClientError("the daemon did not answer on \(self.socketPath) within \(self.timeout) s", isTimeout: true)
            }
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        guard let separator = data.firstOccurrence(of: "\r\n\r\n".utf8) else {
            throw ControlClientError("the daemon sent an incomplete reply")
        }
        let head = String(decoding: data[..<separator.lowerBound], as: UTF8.self)
        let statusCode = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Response(status: statusCode, body: data[separator.upperBound...])
    }
}

