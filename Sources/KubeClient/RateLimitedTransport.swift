#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Synchronization

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
/// for their turn rather than fail. A lock, not an actor: a reservation is a few arithmetic steps,
/// less than an actor hop costs.
public final class TokenBucket: Sendable {
    private let state: Mutex<TokenBucketState>
    private let start = ContinuousClock.now

    public init(qps: Double, burst: Int) {
        state = Mutex(TokenBucketState(qps: qps, burst: burst))
    }

    /// Takes a token: nil when it may be used now, else the moment it may.
    public func reserve() -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        let wait = state.withLock { $0.reserve(at: (now - start).secondsValue) }
        return wait > 0 ? now + .seconds(wait) : nil
    }

    /// Waits until the caller may send one request.
    public func acquire() async throws {
        if let due = reserve() { try await Task.sleep(until: due, clock: .continuous) }
    }
}

/// A transport decorator applying a `TokenBucket` to every request, watch establishment included.
/// Over a transport that holds requests back itself (libcurl's), a request waiting for its token
/// is handed down at once with its `notBefore`; over any other, the caller sleeps here.
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

    public var holdsRequestsUntilDue: Bool { inner.holdsRequestsUntilDue }

    public func send(_ request: KubeRequest) async throws -> KubeResponse {
        try await inner.send(try await scheduled(request))
    }

    public func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        try await inner.stream(try await scheduled(request))
    }

    /// The request with its token: delayed by the transport below, or after a sleep here.
    private func scheduled(_ request: KubeRequest) async throws -> KubeRequest {
        guard let due = limiter.reserve() else { return request }
        guard inner.holdsRequestsUntilDue else {
            try await Task.sleep(until: due, clock: .continuous)
            return request
        }
        var held = request
        held.notBefore = max(request.notBefore ?? due, due)
        return held
    }
}
