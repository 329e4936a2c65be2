#if canImport(Glibc)
import Glibc
#endif

/// Hands memory the allocator holds free back to the kernel, periodically. glibc's malloc keeps
/// freed pages in its arenas, so after a burst (a re-list, a thousand CRs converging, a watch
/// storm) the process would sit at its peak RSS, which is what a container memory limit counts.
/// Go's runtime does the same with its background scavenger. `malloc_trim` walks the free lists
/// only (about a millisecond for a heap of tens of MiB), so a period of seconds costs nothing.
public enum MemoryScavenger {
    /// Trims every `period` until the task is cancelled. `trim`: what runs each period (tests count it).
    public static func run(every period: Duration, trim: @Sendable () -> Bool = { MemoryScavenger.trim() }) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            guard !Task.isCancelled else { return }
            _ = trim()
        }
    }

    /// Returns free memory to the kernel now; true when some was released (always false where
    /// the C library has no `malloc_trim`).
    @discardableResult
    public static func trim() -> Bool {
        #if canImport(Glibc)
        // malloc.h is not part of the Glibc module; look the function up instead (absent on musl).
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return false }
        let mallocTrim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        return mallocTrim(0) == 1
        #else
        return false
        #endif
    }
}
