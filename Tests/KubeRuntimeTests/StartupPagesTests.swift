import KubeRuntime
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

    /// In this very process: the test binary's code is advised out, its file-backed resident
    /// memory drops, and the code it runs next simply faults back in.
    func testReleaseNowHandsThisProcessesCodeBack() throws {
        #if os(Linux)
        let before = try Self.rssFileKiB()
        let advised = StartupPages.releaseNow()
        let after = try Self.rssFileKiB()
        XCTAssertGreaterThan(advised, 1 << 20, "the test binary maps megabytes of code")
        XCTAssertLessThan(after, before, "RssFile \(before) → \(after) KiB")
        #endif
    }

    static func rssFileKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssFile:") }),
              let value = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) }) else {
            throw XCTSkip("no RssFile in /proc/self/status")
        }
        return value
    }
}
