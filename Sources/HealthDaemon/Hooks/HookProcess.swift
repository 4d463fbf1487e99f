#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs a hook's command: posix_spawn (no shell), its own process group, stdin from /dev/null, stdout and stderr
/// into one pipe, no descriptor of the daemon inherited. A dedicated thread reads the output, enforces the timeout
/// (SIGKILL to the whole group) and reaps the child: nothing blocks the cooperative pool or delays a probe.
public enum HookProcess {
    public struct Outcome: Sendable, Hashable {
        /// The exit code when the command exited.
        public var status: Int32?
        /// The signal that ended it.
        public var signal: Int32?
        /// Whether it was killed at its timeout.
        public var timedOut: Bool
        /// Its output (stdout and stderr interleaved), at most 64 KiB, invalid UTF-8 repaired.
        public var output: String
        public var duration: Duration

        /// `exit 0`, `exit 3`, `killed by signal 9`, `killed at its timeout (10s)`.
        public func summary(timeout: Duration) -> String {
            if self.timedOut { return "killed at its timeout (\(timeout.humanReadable))" }
            if let signal = self.signal { return "killed by signal \(signal)" }
            return "exit \(self.status ?? -1)"
        }
    }

    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    static let outputLimit = 64 * 1024

    /// Runs `argv` with exactly `environment`; suspends (no thread of the pool held) until it ended or was killed.
    ///
    /// Cancelling the calling task ends the wait at once (``SpawnError`` "cancelled"): the command goes on, on its
    /// own thread, to its end or its timeout, and its outcome is dropped. A daemon stopping never waits for a hook.
    public static func run(_ argv: [String], environment: [String: String], timeout: Duration) async throws(SpawnError) -> Outcome {
        let waiter = Mutex<CheckedContinuation<Result<Outcome, SpawnError>, Never>?>(nil)
        let cancelled = Result<Outcome, SpawnError>.failure(SpawnError(description: "cancelled"))
        let result: Result<Outcome, SpawnError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter.withLock { $0 = continuation }
                if Task.isCancelled {
                    waiter.withLock { $0.take() }?.resume(returning: cancelled)
                    return
                }
                runOnDetachedThread(name: "hook", stackSize: 256 * 1024) {
                    let outcome = Self.runBlocking(argv, environment: environment, timeout: timeout)
                    waiter.withLock { $0.take() }?.resume(returning: outcome)
                }
            }
        } onCancel: {
            waiter.withLock { $0.take() }?.resume(returning: cancelled)
        }
        return try result.get()
    }

    private static func runBlocking(_ argv: [String], environment: [String: String], timeout: Duration) -> Result<Outcome, SpawnError> {
        guard let executable = argv.first else { return .failure(SpawnError(description: "empty command")) }
        var pipeEnds: [Int32] = [0, 0]
        // Close-on-exec at once (another hook spawned meanwhile must not inherit it); pipe2 is not in the Glibc module.
        guard pipe(&pipeEnds) == 0 else {
            return .failure(SpawnError(description: "cannot make a pipe for \(executable): \(String(cString: strerror(errno)))"))
        }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        for end in pipeEnds { _ = fcntl(end, F_SETFD, fcntl(end, F_GETFD) | FD_CLOEXEC) }
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&fileActions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&fileActions, writeEnd, 2)
        closeInheritedDescriptors(&fileActions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        sigdelset(&allSignals, SIGKILL)
        sigdelset(&allSignals, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let variables: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { variables.forEach { free($0) } }
        let start = ContinuousClock.now
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &fileActions, &attributes, arguments, variables)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            return .failure(SpawnError(description: "cannot start \(executable): \(String(cString: strerror(spawned)))"))
        }
        // Read until EOF (every writer gone) or the deadline; then kill the group and drain what is left.
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = start + timeout
        var timedOut = false
        while true {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero && !timedOut {
                timedOut = true
                kill(-pid, SIGKILL)
            }
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let waitMilliseconds = timedOut ? 1000 : Int32(max(1, min(1000, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)))
            let ready = poll(&descriptor, 1, waitMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 {
                if timedOut { break }  // killed, yet a descendant that left the group keeps the pipe open
                continue
            }
            let count = read(readEnd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if output.count < Self.outputLimit { output += buffer[0..<min(count, Self.outputLimit - output.count)] }
        }
        close(readEnd)
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
        let signal = status & 0x7f
        return .success(
            Outcome(
                status: reaped == pid && signal == 0 ? (status >> 8) & 0xff : nil, signal: signal == 0 ? nil : signal,
                timedOut: timedOut, output: String(decoding: output, as: UTF8.self), duration: ContinuousClock.now - start))
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module does not export.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
    unsafeBitCast($0, to: AddCloseFrom.self)
}

/// Makes the child close every descriptor from 3 on (NIO's sockets are not close-on-exec). Without `addclosefrom`,
/// marks this process's descriptors close-on-exec instead.
private func closeInheritedDescriptors(_ fileActions: inout posix_spawn_file_actions_t) {
    if let addCloseFrom, addCloseFrom(&fileActions, 3) == 0 { return }
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        guard let fd = Int32(entry), fd >= 3 else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
}
