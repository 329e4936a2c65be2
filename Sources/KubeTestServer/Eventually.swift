import Foundation

/// Polls `condition` every `interval` seconds until it holds or `timeout` seconds pass, and returns
/// whether it held. The one polling loop of the test suites: tests await a condition instead of
/// sleeping for a fixed time.
public func eventually(timeout: Double = 10, interval: Double = 0.02, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
    }
    return try await condition()
}
