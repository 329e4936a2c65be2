import Foundation
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

final class StartupPagesTests: XCTestCase {
    /// Only the executable's mappings without write permission are advised out: its data and
    /// every other file or anonymous mapping stay.
    func testOnlyTheExecutablesReadOnlyMappingsAreChosen() {
        let maps = """
            00200000-00616000 r--p 00000000 fe:00 1234 /opt/pynomaly-operator
            00616000-017f1000 r-xp 00415000 fe:00 1234                       /opt/pynomaly-operator
            017f1000-018c6000 r--p 015ef000 fe:00 1234 /opt/pynomaly-operator
            018c6000-01b8b000 rw-p 016c3000 fe:00 1234 /opt/pynomaly-operator
            01b8b000-01c5a000 rw-p 00000000 00:00 0 
            7f3834ab8000-7f3834c0e000 r-xp 00028000 fe:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
            7f3834c0e000-7f3834c61000 r--p 0017e000 fe:00 77 /opt/pynomaly-operator-old
            garbage line
            """
        let ranges = StartupPages.readOnlyMappings(in: maps, of: "/opt/pynomaly-operator")
        XCTAssertEqual(ranges, [0x200000..<0x616000, 0x616000..<0x17f1000, 0x17f1000..<0x18c6000])
    }

    /// Nothing is released before the manager settles, and it is released once.
    func testReleaseWaitsUntilSettledAndReleasesOnce() async throws {
        let checks = Mutex(0)
        let releases = Mutex(0)
        await StartupPages.release(whenSettled: { checks.withLock { $0 += 1; return $0 >= 3 } }, checkingEvery: .milliseconds(1)) {
            releases.withLock { $0 += 1 }
            return 1
        }
        XCTAssertEqual(checks.withLock { $0 }, 3)
        XCTAssertEqual(releases.withLock { $0 }, 1)
    }

    func testACancelledWaitReleasesNothing() async throws {
        let releases = Mutex(0)
        let task = Task {
            await StartupPages.release(whenSettled: { false }, checkingEvery: .milliseconds(1)) {
                releases.withLock { $0 += 1 }
                return 1
            }
        }
        task.cancel()
        await task.value
        XCTAssertEqual(releases.withLock { $0 }, 0)
    }

    /// The advice reaches the executable's read-only mappings (whether their pages leave depends
    /// on other processes: `swift test --parallel` runs several that map the same binary).
    func testReleaseNowAdvisesTheExecutablesCode() throws {
        #if os(Linux)
        XCTAssertGreaterThan(StartupPages.releaseNow(), 1 << 20, "the test binary maps megabytes of code")
        #endif
    }

    /// Pages of a file only this process maps leave its resident memory when advised out, and
    /// read back unchanged when touched again.
    func testPagedOutPagesLeaveAndComeBackOnUse() throws {
        #if os(Linux)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("startup-pages-\(getpid())").path
        let size = 1 << 20
        FileManager.default.createFile(atPath: path, contents: Data((0..<size).map { UInt8(truncatingIfNeeded: $0 / 4096) }))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(fsync(fd), 0, "clean pages, so the kernel may drop them")
        let mapped = try XCTUnwrap(mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0))
        XCTAssertNotEqual(mapped, MAP_FAILED)
        defer { munmap(mapped, size) }
        let bytes = mapped.assumingMemoryBound(to: UInt8.self)
        var sum = 0
        for page in stride(from: 0, to: size, by: 4096) { sum += Int(bytes[page]) }
        let start = UInt(bitPattern: mapped)
        let before = Self.residentPages(mapped, size)
        XCTAssertEqual(before, size / 4096, "every page touched")
        XCTAssertEqual(StartupPages.pageOut([start..<start + UInt(size)]), size)
        let after = Self.residentPages(mapped, size)
        XCTAssertGreaterThanOrEqual(after, 0)
        XCTAssertLessThan(after, before / 2, "resident pages \(before) → \(after)")
        var again = 0
        for page in stride(from: 0, to: size, by: 4096) { again += Int(bytes[page]) }
        XCTAssertEqual(again, sum, "the same bytes read back")
        #endif
    }

    /// Pages of `length` bytes at `start` in memory, by `mincore` (the kernel's page cache: a
    /// page this process alone mapped and advised out is dropped from it).
    static func residentPages(_ start: UnsafeMutableRawPointer, _ length: Int) -> Int {
        var vector = [UInt8](repeating: 0, count: (length + 4095) / 4096)
        guard mincore(start, length, &vector) == 0 else { return -1 }
        return vector.filter { $0 & 1 == 1 }.count
    }
}
