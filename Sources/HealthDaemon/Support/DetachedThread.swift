#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` on a new, detached thread of its own (blocking work that must hold neither a thread of the
/// cooperative pool nor one of NIO's). `name` is cut to the 15 bytes Linux keeps.
func runOnDetachedThread(name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) {
    final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let result = pthread_create(
        &thread, &attributes,
        { argument in
            #if canImport(Darwin)
            let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
            pthread_setname_np(String(decoding: start.name.utf8.prefix(15), as: UTF8.self))
            #else
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            setCurrentThreadName(start.name)
            #endif
            start.body()
            return nil
        }, start)
    precondition(result == 0, "pthread_create failed: \(String(cString: strerror(result)))")
}

#if !canImport(Darwin)
/// Linux keeps a thread's name (what ps and top show) in /proc; pthread_setname_np is not visible to Swift here.
private func setCurrentThreadName(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
#endif
