import KubeTestServer
import XCTest

/// What `waitUntil` throws when its condition did not hold in time: the test stops at the wait
/// whose precondition failed instead of asserting on a state that never came.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Double
    public var description: String { "timed out after \(timeout) s waiting until \(what)" }
}

/// Polls `condition` until it holds or `timeout` seconds pass; then fails the test at the caller's
/// line, naming `what`, and throws.
public func waitUntil(_ what: String, timeout: Double = 20, interval: Double = 0.02, file: StaticString = #filePath, line: UInt = #line,
                      _ condition: () async throws -> Bool) async throws {
    if try await eventually(timeout: timeout, interval: interval, condition) { return }
    let failure = WaitTimedOut(what: what, timeout: timeout)
    XCTFail(failure.description, file: file, line: line)
    throw failure
}
