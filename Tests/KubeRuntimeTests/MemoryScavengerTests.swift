import KubeRuntime
import OperatorTestSupport
import Synchronization
import XCTest

final class MemoryScavengerTests: XCTestCase {
    /// Freed heap pages go back to the kernel: many small blocks (below the mmap threshold, so they
    /// live in the heap) are allocated, touched and freed; a trim then lowers RssAnon.
    func testTrimReturnsFreedHeapMemory() throws {
        #if os(Linux)
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<20_000 {
            guard let block = malloc(4_000) else { continue }
            memset(block, 1, 4_000)
            blocks.append(block)
        }
        // Keep the last block so the heap top is not simply released by free() itself.
        let keep = blocks.removeLast()
        for block in blocks { free(block) }
        let before = try Self.rssAnonKiB()
        XCTAssertTrue(MemoryScavenger.trim(), "glibc released something")
        let after = try Self.rssAnonKiB()
        XCTAssertLessThan(after, before - 20_000, "about 78 MiB were freed; RssAnon \(before) → \(after) KiB")
        free(keep)
        #endif
    }

    func testRunTrimsEachPeriodAndStopsWhenCancelled() async throws {
        let trims = Mutex(0)
        let task = Task { await MemoryScavenger.run(every: .milliseconds(5)) { trims.withLock { $0 += 1 }; return false } }
        try await waitUntil("it trims once a period") { trims.withLock { $0 } >= 3 }
        task.cancel()
        // The loop must end by itself: a bounded wait on it, not an await that would hang the suite.
        let ended = Mutex(false)
        Task { await task.value; ended.withLock { $0 = true } }
        try await waitUntil("the cancelled loop returns", timeout: 5) { ended.withLock { $0 } }
    }

    static func rssAnonKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
