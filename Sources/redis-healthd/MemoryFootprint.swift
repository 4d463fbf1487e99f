import CMemory
import ServiceLifecycle

/// What keeps the daemon's resident memory to what it uses: the heap trimmed and the code run only at start-up let
/// go. (glibc's malloc is limited to one arena before main, by CMemory: see its `cmemory_one_malloc_arena`.)
enum MemoryFootprint {
    /// Gives the pages freed inside the heap back to the system: free() returns only the top of a heap, so what a
    /// burst of work left behind (1,000 targets dialing at start, a reconnect storm) stays resident otherwise.
    static func trimHeap() {
        _ = cmemory_trim_heap()
    }

    /// Lets go of the executable's code and constant pages (`madvise(MADV_PAGEOUT)`): start-up (argument parsing,
    /// the configuration reader, the wiring of every target) touches megabytes of code that probing never runs
    /// again. The pages are clean copies of the file: what is still used comes back at its next use (from the page
    /// cache, or from the file if the kernel dropped it meanwhile); nothing is written anywhere.
    static func pageOutExecutable() {
        _ = cmemory_page_out_executable_text()
    }
}

/// 10 s after start (the first dials done): the heap trimmed and the start-up code let go; then the heap trimmed
/// once a minute. Each is a few milliseconds of CPU work (1,000 targets) that waits on nothing.
struct FootprintService: Service {
    var firstAfter: Duration = .seconds(10)
    var every: Duration = .seconds(60)

    func run() async throws {
        guard await Self.sleep(self.firstAfter) else { return }
        MemoryFootprint.trimHeap()
        MemoryFootprint.pageOutExecutable()
        while await Self.sleep(self.every) {
            MemoryFootprint.trimHeap()
        }
    }

    /// False on graceful shutdown or cancellation.
    private static func sleep(_ duration: Duration) async -> Bool {
        (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }) != nil
    }
}
