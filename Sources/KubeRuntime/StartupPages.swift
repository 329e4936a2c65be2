#if canImport(Glibc)
import Glibc
#endif

/// Hands the executable's start-up code back to the kernel once the operator has settled.
///
/// Starting runs code that never runs again: argument parsing, kubeconfig and TLS set-up, the
/// decoding of the first LIST of every kind. Its pages stay mapped, and counted in the process's
/// resident memory, until the kernel needs the memory: for the operator that is 1.5 MiB (probed
/// and scraped) to 4 MiB (unscraped) of its idle RSS. Once the caches have synced and the first
/// round of reconciles is done, the read-only mappings of the executable (its code and constants)
/// are advised out with `MADV_PAGEOUT`; the pages the running operator uses fault back in at their
/// next use (from the page cache or the image), and the rest stay out. Writable mappings are left alone: their
/// written pages are private memory, which the kernel would swap rather than drop.
public enum StartupPages {
    /// Waits until `settled` holds (asked every `interval`), then calls `release` once. Returns
    /// early when the task is cancelled.
    public static func release(whenSettled settled: @Sendable () async -> Bool, checkingEvery interval: Duration = .seconds(1),
                               release: @Sendable () -> Int = { StartupPages.releaseNow() }) async {
        while !Task.isCancelled {
            if await settled() {
                _ = release()
                return
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Advises the executable's read-only file mappings out now; answers the bytes advised (0
    /// where the system has no `MADV_PAGEOUT`, Linux before 5.4, or the mappings cannot be read).
    @discardableResult
    public static func releaseNow() -> Int {
        #if os(Linux)
        guard let executable = executablePath(), let maps = readProcFile("/proc/self/maps") else { return 0 }
        return pageOut(readOnlyMappings(in: maps, of: executable))
        #else
        return 0
        #endif
    }

    /// Advises `ranges` out; answers the bytes the kernel accepted the advice for. Pages that
    /// another process maps too stay where they are (the kernel reclaims only what this process
    /// alone maps).
    static func pageOut(_ ranges: [Range<UInt>]) -> Int {
        #if os(Linux)
        var advised = 0
        for range in ranges {
            guard let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
            let length = Int(range.upperBound - range.lowerBound)
            if madvise(start, length, 21 /* MADV_PAGEOUT */) == 0 {
                advised += length
            }
        }
        return advised
        #else
        return 0
        #endif
    }

    /// The address ranges of `/proc/self/maps` lines (`start-end perms offset dev inode path`)
    /// that map `path` without write permission.
    static func readOnlyMappings(in maps: String, of path: String) -> [Range<UInt>] {
        var ranges: [Range<UInt>] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            // The path is padded with spaces to a column; a path may contain spaces itself.
            guard fields.count == 6, fields[5].drop(while: { $0 == " " }) == path, !fields[1].contains("w") else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16), low < high else { continue }
            ranges.append(low..<high)
        }
        return ranges
    }

    #if os(Linux)
    private static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A /proc file, read to its end (its size is reported as 0, so it is read in chunks).
    private static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    #endif
}
