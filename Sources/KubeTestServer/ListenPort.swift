import Foundation
import NIOCore

/// Picks the listening port. Port 0 would let the kernel choose from the ephemeral range, and
/// that range is also where outgoing connections get their local ports: after a `restart()`
/// closed the listener, any client connecting anywhere may be given that port and hold it, so
/// binding it again fails with EADDRINUSE. Ports below the ephemeral range are never handed to
/// outgoing connections, so the test server listens there.
enum ListenPort {
    static let attempts = 64

    /// Binds `requested`, or when it is 0 a random free port below the ephemeral range.
    static func bind<Listener>(requested: Int, _ listen: (Int) async throws -> Listener) async throws -> Listener {
        if requested != 0 { return try await listen(requested) }
        let candidates = belowEphemeralRange()
        var lastError: Error?
        for _ in 0..<attempts {
            guard let port = candidates.randomElement() else { break }
            do { return try await listen(port) } catch where isAddressInUse(error) { lastError = error }
        }
        if let lastError { throw lastError }
        return try await listen(0)
    }

    /// Binds the same port again (restart). A connection still closing may hold it for a moment.
    static func rebind<Listener>(_ port: Int, _ listen: (Int) async throws -> Listener) async throws -> Listener {
        var attempt = 0
        while true {
            do { return try await listen(port) } catch where isAddressInUse(error) && attempt < 50 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// 10000 up to the first ephemeral port (Linux: /proc/sys/net/ipv4/ip_local_port_range).
    static func belowEphemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
        let upper = max(first - 1, 10_001)
        return 10_000...upper
    }

    static func isAddressInUse(_ error: Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == EADDRINUSE }
        return false
    }
}
