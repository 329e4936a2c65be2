#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The arithmetic of a token bucket, without a clock: `reserve(at:)` takes one token and answers
/// how long the caller must wait for it. Reservations queue up (FIFO), so waiting callers are
/// served in order and never more than `qps` per second on average after the first `burst`.
public struct TokenBucketState: Sendable, Hashable {
    public let qps: Double
    public let burst: Int
    /// Tokens available at `updated`; negative when callers hold reservations for future tokens.
    public private(set) var tokens: Double
    public private(set) var updated: Double

    public init(qps: Double, burst: Int, now: Double = 0) {
        self.qps = qps
        self.burst = max(1, burst)
        self.tokens = Double(max(1, burst))
        self.updated = now
    }

    /// Takes a token at time `now` (seconds); returns the seconds to wait before using it (0: now).
    public mutating func reserve(at now: Double) -> Double {
        guard qps > 0 else { return 0 }
        if now > updated {
            tokens = min(Double(burst), tokens + (now - updated) * qps)
            updated = now
        }
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / qps
    }
}

/// Client-side QPS/burst limit (client-go's defaults are far lower; ours are 20/30). Callers wait
/// for their turn rather than fail.
public actor TokenBucket {
    private var state: TokenBucketState
    private let start = ContinuousClock.now

    public init(qps: Double, burst: Int) {
        state = TokenBucketState(qps: qps, burst: burst)
    }

    private func seconds() -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Waits until the caller may send one request.
    public func acquire() async throws {
        let wait = state.reserve(at: seconds())
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
    }
}

/// A transport decorator applying a `TokenBucket` to every request, watch establishment included.
public struct RateLimitedTransport: KubeTransport {
    public let inner: any KubeTransport
    public let limiter: TokenBucket

    public init(_ inner: any KubeTransport, qps: Double, burst: Int) {
        self.inner = inner
        self.limiter = TokenBucket(qps: qps, burst: burst)
    }

    public init(_ inner: any KubeTransport, limiter: TokenBucket) {
        self.inner = inner
        self.limiter = limiter
    }

    public func send(_ request: KubeRequest) async throws -> KubeResponse {
        try await limiter.acquire()
        return try await inner.send(request)
    }

    public func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        try await limiter.acquire()
        return try await inner.stream(request)
    }
}
