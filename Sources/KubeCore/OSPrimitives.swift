#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` on a new operating-system thread that nobody joins. For loops that block in system
/// calls for their whole life (the libcurl engine's `poll`, `accept`, a child process's pipes): on Swift's
/// cooperative pool they would hold one of its few threads. Foundation's `Thread` would do the same,
/// but the shipped binaries link FoundationEssentials only, which has no threads.
public func startOSThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Start { let name: String; let body: @Sendable () -> Void; init(_ n: String, _ b: @escaping @Sendable () -> Void) { name = n; body = b } }
    let context = Unmanaged.passRetained(Start(name, body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    defer { pthread_attr_destroy(&attributes) }
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let result = pthread_create(&thread, &attributes, { raw in
        #if canImport(Darwin)
        let start = Unmanaged<Start>.fromOpaque(raw).takeRetainedValue()
        _ = start.name.withCString { pthread_setname_np($0) }
        #else
        guard let raw else { return nil }
        let start = Unmanaged<Start>.fromOpaque(raw).takeRetainedValue()
        nameCurrentThread(start.name)
        #endif
        start.body()
        return nil
    }, context)
    // Without a thread the process cannot talk to the API server or serve probes at all: no
    // recovery is possible, and pthread_create fails only when the process is out of resources.
    precondition(result == 0, "pthread_create failed for \(name): error \(result)")
}

#if !canImport(Darwin)
/// Names the calling thread for `top -H`, `perf` and core dumps. Through /proc because glibc's
/// `pthread_setname_np` is not visible to Swift; Linux keeps 15 bytes of it.
private func nameCurrentThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
#endif

/// Writes `text` to standard error in as few `write` calls as the kernel allows (one for a line of
/// ordinary length), so lines from concurrent tasks do not interleave. FoundationEssentials has no
/// `FileHandle`.
public func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { buffer in
            write(2, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
        }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        offset += n
    }
}

/// The index of the first `byte` in `bytes` at or after `start`, by the C library's `memchr`
/// (vectorised; a Swift loop over the bytes costs several instructions per byte).
func firstIndex(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
    guard let base = bytes.baseAddress, start < bytes.count,
          let found = memchr(base + start, Int32(byte), bytes.count - start) else { return nil }
    return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
}
