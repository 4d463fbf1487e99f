import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program to completion and returns its standard output; throws with its stderr when it fails.
///
/// The output goes to temporary files, not pipes, and the wait suspends the task (``ChildProcess``), so a program
/// whose answer needs code in this process (the daemon under test) never deadlocks the cooperative thread pool.
/// A program still running after `timeout` is killed and the call throws.
@discardableResult
public func run(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)
) async throws -> String {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("rh-run-\(UUID().uuidString.prefix(12))")
        .path
    let outputPath = base + ".out"
    let errorPath = base + ".err"
    defer {
        unlink(outputPath)
        unlink(errorPath)
    }
    let child = try ChildProcess.spawn(
        executable, arguments, environment: environment, output: outputPath, errors: errorPath)
    let commandLine = ([executable] + arguments).joined(separator: " ")
    guard await child.waitForExit(within: timeout) else {
        await child.terminate(signal: SIGKILL, grace: .zero)
        if Task.isCancelled { throw CancellationError() }
        throw TestFixtureError("\(commandLine) did not finish within \(timeout); killed it")
    }
    // Regular files, complete once the writer has exited: these reads never wait for anything.
    let output = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
    guard child.exitStatus == 0 else {
        let errors = String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self)
        let how =
            child.ended.map { $0.signal.map { "was killed by signal \($0)" } ?? "exited \($0.status ?? -1)" } ?? "ended"
        throw TestFixtureError("\(commandLine) \(how): \(errors)")
    }
    return output
}

/// Runs a program to completion and returns its exit status, standard output and standard error, whatever the
/// status (for programs whose exit status is part of their answer, such as `redis-healthd doctor`). Like ``run(_:_:environment:timeout:)``
/// it never blocks the cooperative pool; a program still running after `timeout` is killed and the call throws.
public func runForStatus(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)
) async throws -> (status: Int32, output: String, errors: String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("rh-run-\(UUID().uuidString.prefix(12))")
        .path
    let outputPath = base + ".out"
    let errorPath = base + ".err"
    defer {
        unlink(outputPath)
        unlink(errorPath)
    }
    let child = try ChildProcess.spawn(
        executable, arguments, environment: environment, output: outputPath, errors: errorPath)
    guard await child.waitForExit(within: timeout) else {
        await child.terminate(signal: SIGKILL, grace: .zero)
        if Task.isCancelled { throw CancellationError() }
        throw TestFixtureError("\(([executable] + arguments).joined(separator: " ")) did not finish within \(timeout); killed it")
    }
    let output = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
    let errors = String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self)
    return (child.exitStatus ?? -1, output, errors)
}

/// The absolute path of an executable on PATH (or the usual sbin folders).
public func which(_ name: String) throws -> String {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw TestFixtureError("\(name) not found on PATH; install it (apt-get install redis-server redis-tools openssl)")
}
