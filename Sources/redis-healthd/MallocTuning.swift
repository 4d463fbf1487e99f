#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// glibc's malloc tuned for a daemon whose work is many small objects spread over few threads.
enum MallocTuning {
    /// glibc gives threads arenas of their own, up to eight per core; a task that resumes on another thread frees
    /// into an arena other than the one it allocated from, and every arena keeps what was freed in it. Two arenas hold
    /// the daemon's work with less memory kept. `MALLOC_ARENA_MAX` in the environment, when set, wins.
    static func limitArenas(to count: Int32 = 2) {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil, let mallopt = glibc("mallopt", as: Mallopt.self) else { return }
        _ = mallopt(arenaMax, count)
        #endif
    }

    #if canImport(Glibc)
    // <malloc.h> is not part of Swift's Glibc module: its two functions are looked up by name (a libc without them,
    // such as musl, is left as it is).
    private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    /// `M_ARENA_MAX` in <malloc.h>.
    private static let arenaMax: Int32 = -8

    private static func glibc<Function>(_ name: String, as type: Function.Type) -> Function? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
    #endif

    /// Gives the pages freed inside the heap back to the system: free() returns only the top of a heap, so what a
    /// burst of work left behind (1,000 targets dialing at start, a reconnect storm) stays resident otherwise.
    static func trim() {
        #if canImport(Glibc)
        guard let trim = glibc("malloc_trim", as: MallocTrim.self) else { return }
        _ = trim(0)
        #endif
    }
}

/// Trims the heap shortly after start (once the first dials are done) and then once a minute. A trim is a few
/// milliseconds of CPU work (1,000 targets) that waits on nothing.
struct HeapTrimService: Service {
    var firstAfter: Duration = .seconds(10)
    var every: Duration = .seconds(60)

    func run() async throws {
        var wait = self.firstAfter
        while true {
            let period = wait
            guard (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }) != nil else { return }
            MallocTuning.trim()
            wait = self.every
        }
    }
}
