import KubeRuntime
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

    func testRunStopsWhenCancelled() async {
        let task = Task { await MemoryScavenger.run(every: .milliseconds(5)) }
        try? await Task.sleep(for: .milliseconds(30))
        task.cancel()
        await task.value
    }

    static func rssAnonKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
