#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// When to retry a request, and after how long.
///
/// - GET (and DELETE, idempotent) requests, watch establishment included, are retried on 429,
///   5xx and transient transport errors, with exponential backoff and jitter.
/// - Any request is retried on 429 when the server sent `Retry-After`: the server says it did not
///   process it (client-go does the same).
/// - Any request is retried when the connection could not be made at all (nothing was sent).
/// - Never retried: 409 Conflict and other 4xx, a 5xx answer to a write, TLS errors, cancellation.
/// `Retry-After` (seconds) is honoured; attempts and total waiting are bounded.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    /// The most seconds spent waiting between attempts, all retries together.
    public var maxTotalDelay: Double
    public var initialBackoff: Double
    public var maxBackoff: Double
    /// Random extra wait, as a fraction of the backoff (0.2: up to 20 % more).
    public var jitter: Double

    public init(maxAttempts: Int = 10, maxTotalDelay: Double = 60, initialBackoff: Double = 0.2, maxBackoff: Double = 10, jitter: Double = 0.2) {
        self.maxAttempts = maxAttempts
        self.maxTotalDelay = maxTotalDelay
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = jitter
    }

    /// How an attempt ended.
    public enum Outcome: Sendable, Hashable {
        case response(statusCode: Int, retryAfter: Double?)
        case transport(TransportError.Kind)
    }

    /// The seconds to wait before attempt `attempt + 1`, or nil to stop. `attempt` counts from 1;
    /// `random` is in [0, 1) and scales the jitter; it is drawn only when a backoff is computed (the
    /// system generator costs a syscall, and nearly every request succeeds at once).
    public func delay(for request: KubeRequest, outcome: Outcome, attempt: Int, random: @autoclosure () -> Double = 0) -> Double? {
        guard attempt < maxAttempts else { return nil }
        var backoff: Double { min(maxBackoff, initialBackoff * Double(1 << min(max(attempt - 1, 0), 30))) * (1 + jitter * random()) }
        switch outcome {
        case .response(let code, let retryAfter):
            if code == 429 {
                if let retryAfter { return max(0, retryAfter) }
                return request.isIdempotent ? backoff : nil
            }
            if code >= 500 && code != 501 {
                guard request.isIdempotent else { return nil }
                return retryAfter.map { max(0, $0) } ?? backoff
            }
            return nil
        case .transport(let kind):
            switch kind {
            case .connect:
                return backoff
            case .dns, .timeout, .connectionClosed, .other:
                return request.isIdempotent ? backoff : nil
            case .tlsUnknownCA, .tlsNameMismatch, .tlsExpired, .tlsClientCertificate, .tls, .cancelled:
                return nil
            }
        }
    }

    /// Seconds from a `Retry-After` header (the delta-seconds form; an HTTP date is ignored).
    public static func retryAfterSeconds(_ header: String?) -> Double? {
        guard let h = header?.trimmingWhitespace(), let v = Double(h), v >= 0, v.isFinite else { return nil }
        return v
    }
}

/// A transport decorator that retries by a `RetryPolicy`. Put it outside `RateLimitedTransport`,
/// so every attempt takes a token.
public struct RetryingTransport: KubeTransport {
    public let inner: any KubeTransport
    public let policy: RetryPolicy
    /// Waits between attempts; tests replace it to record delays instead of sleeping.
    let sleep: @Sendable (Double) async throws -> Void
    let random: @Sendable () -> Double

    public init(_ inner: any KubeTransport, policy: RetryPolicy = RetryPolicy()) {
        self.init(inner, policy: policy, sleep: { try await Task.sleep(for: .seconds($0)) }, random: { Double.random(in: 0..<1) })
    }

    /// With an injected sleep and randomness, for deterministic tests.
    public init(_ inner: any KubeTransport, policy: RetryPolicy, sleep: @escaping @Sendable (Double) async throws -> Void,
                random: @escaping @Sendable () -> Double) {
        self.inner = inner
        self.policy = policy
        self.sleep = sleep
        self.random = random
    }

    public var holdsRequestsUntilDue: Bool { inner.holdsRequestsUntilDue }

    public func send(_ request: KubeRequest) async throws -> KubeResponse {
        try await attempt(request, run: { try await inner.send(request) }, statusOf: { ($0.statusCode, Self.retryAfter($0)) },
                          discard: { _ in })
    }

    public func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        try await attempt(request, run: { try await inner.stream(request) },
                          statusOf: { ($0.statusCode, RetryPolicy.retryAfterSeconds(Self.header("Retry-After", in: $0.headers))) },
                          discard: { $0.body.cancel() })
    }

    private func attempt<R>(_ request: KubeRequest, run: () async throws -> R, statusOf: (R) -> (Int, Double?),
                            discard: (R) -> Void) async throws -> R {
        var waited = 0.0
        var n = 1
        while true {
            let outcome: RetryPolicy.Outcome
            let result: Result<R, any Error>
            do {
                let r = try await run()
                let (code, retryAfter) = statusOf(r)
                outcome = .response(statusCode: code, retryAfter: retryAfter)
                result = .success(r)
            } catch let KubeError.transport(t) {
                outcome = .transport(t.kind)
                result = .failure(KubeError.transport(t))
            }
            guard !Task.isCancelled,
                  let delay = policy.delay(for: request, outcome: outcome, attempt: n, random: random()),
                  waited + delay <= policy.maxTotalDelay
            else {
                return try result.get()
            }
            if case .success(let r) = result { discard(r) }
            try await sleep(delay)
            waited += delay
            n += 1
        }
    }

    static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.equalsIgnoringASCIICase(name) }?.value
    }

    /// The header, or `details.retryAfterSeconds` of a Status body.
    static func retryAfter(_ r: KubeResponse) -> Double? {
        if let v = RetryPolicy.retryAfterSeconds(r.header("Retry-After")) { return v }
        guard r.statusCode == 429 || r.statusCode >= 500, !r.body.isEmpty,
              let value = try? JSONValue(parsing: r.body), let seconds = value[path: ["details", "retryAfterSeconds"]]?.doubleValue
        else { return nil }
        return seconds
    }
}
