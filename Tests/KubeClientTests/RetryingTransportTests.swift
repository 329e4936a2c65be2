import Foundation
import KubeCore
import KubeTestServer
import Synchronization
import XCTest

@testable import KubeClient

final class RetryingTransportTests: XCTestCase {
    /// Delays the retrying transport asked for (it never really sleeps in these tests).
    final class Delays: Sendable {
        private let values = Mutex<[Double]>([])
        var all: [Double] { values.withLock { $0 } }
        func record(_ d: Double) { values.withLock { $0.append(d) } }
    }

    func retrying(_ inner: ScriptedTransport, policy: RetryPolicy = RetryPolicy(), delays: Delays) -> RetryingTransport {
        RetryingTransport(inner, policy: policy, sleep: { delays.record($0) }, random: { 0 })
    }

    let get = KubeRequest(method: .get, path: "/api/v1/namespaces/default/configmaps/a")
    let post = KubeRequest(method: .post, path: "/api/v1/namespaces/default/configmaps", body: Data("{}".utf8), contentType: "application/json")

    func testGetRetriedOn5xxWithExponentialBackoff() async throws {
        let inner = ScriptedTransport { _, n in n < 4 ? json(statusBody(503, reason: "ServiceUnavailable", message: "busy"), status: 503) : json(["kind": "ConfigMap"]) }
        let delays = Delays()
        let r = try await retrying(inner, delays: delays).send(get)
        XCTAssertEqual(r.statusCode, 200)
        XCTAssertEqual(inner.count, 4)
        XCTAssertEqual(delays.all, [0.2, 0.4, 0.8])
    }

    func testJitterAddsUpToItsFraction() {
        let p = RetryPolicy(initialBackoff: 1, jitter: 0.5)
        let get = self.get
        XCTAssertEqual(p.delay(for: get, outcome: .response(statusCode: 500, retryAfter: nil), attempt: 1, random: 0), 1)
        XCTAssertEqual(p.delay(for: get, outcome: .response(statusCode: 500, retryAfter: nil), attempt: 1, random: 0.99)!, 1.495, accuracy: 1e-9)
        XCTAssertEqual(p.delay(for: get, outcome: .response(statusCode: 500, retryAfter: nil), attempt: 3, random: 0), 4)
        XCTAssertEqual(p.delay(for: get, outcome: .response(statusCode: 500, retryAfter: nil), attempt: 9, random: 0), 10, "capped at maxBackoff")
    }

    func testRetryAfterHonouredEvenForWritesOn429() async throws {
        let inner = ScriptedTransport { _, n in
            n == 1 ? json(statusBody(429, reason: "TooManyRequests", message: "slow down"), status: 429, headers: [(name: "Retry-After", value: "3")])
                : json(["kind": "ConfigMap"], status: 201)
        }
        let delays = Delays()
        let r = try await retrying(inner, delays: delays).send(post)
        XCTAssertEqual(r.statusCode, 201)
        XCTAssertEqual(inner.count, 2)
        XCTAssertEqual(delays.all, [3])
    }

    func testRetryAfterFromStatusDetailsWhenNoHeader() async throws {
        let inner = ScriptedTransport { _, n in
            n == 1 ? json(statusBody(429, reason: "TooManyRequests", message: "slow down", retryAfterSeconds: 2), status: 429) : json([:])
        }
        let delays = Delays()
        _ = try await retrying(inner, delays: delays).send(post)
        XCTAssertEqual(delays.all, [2])
    }

    func testWriteNotRetriedOn429WithoutRetryAfter() async throws {
        let inner = ScriptedTransport { _, _ in json(statusBody(429, reason: "TooManyRequests", message: "x"), status: 429) }
        let delays = Delays()
        let r = try await retrying(inner, delays: delays).send(post)
        XCTAssertEqual(r.statusCode, 429)
        XCTAssertEqual(inner.count, 1)
        XCTAssertEqual(delays.all, [])
    }

    func testWritesNotRetriedOn500() async throws {
        for method in [HTTPMethod.post, .put, .patch] {
            let inner = ScriptedTransport { _, _ in json(statusBody(500, reason: "InternalError", message: "boom"), status: 500) }
            let delays = Delays()
            var request = post
            request.method = method
            let r = try await retrying(inner, delays: delays).send(request)
            XCTAssertEqual(r.statusCode, 500)
            XCTAssertEqual(inner.count, 1, "\(method) must not be retried on 500")
        }
    }

    func testConflictNeverRetried() async throws {
        for request in [get, post] {
            let inner = ScriptedTransport { _, _ in json(statusBody(409, reason: "Conflict", message: "stale"), status: 409, headers: [(name: "Retry-After", value: "1")]) }
            let delays = Delays()
            let r = try await retrying(inner, delays: delays).send(request)
            XCTAssertEqual(r.statusCode, 409)
            XCTAssertEqual(inner.count, 1)
        }
    }

    func testTransportErrors() async throws {
        func attempts(_ request: KubeRequest, _ kind: TransportError.Kind) async -> Int {
            let inner = ScriptedTransport { _, _ in throw KubeError.transport(TransportError(kind: kind, detail: "x")) }
            do {
                _ = try await retrying(inner, policy: RetryPolicy(maxAttempts: 3), delays: Delays()).send(request)
                XCTFail("expected an error")
            } catch KubeError.transport(let t) {
                XCTAssertEqual(t.kind, kind)
            } catch {
                XCTFail("unexpected \(error)")
            }
            return inner.count
        }
        let n1 = await attempts(get, .connectionClosed)
        XCTAssertEqual(n1, 3)
        let n2 = await attempts(post, .connectionClosed)
        XCTAssertEqual(n2, 1, "a write may have been processed")
        let n3 = await attempts(post, .connect)
        XCTAssertEqual(n3, 3, "nothing was sent when the connection failed")
        let n4 = await attempts(get, .tlsUnknownCA)
        XCTAssertEqual(n4, 1, "TLS errors are not transient")
        let n5 = await attempts(get, .cancelled)
        XCTAssertEqual(n5, 1)
    }

    func testAttemptsAndTotalDelayBounded() async throws {
        let inner = ScriptedTransport { _, _ in json(statusBody(503, reason: "ServiceUnavailable", message: "x"), status: 503) }
        let delays = Delays()
        let r = try await retrying(inner, policy: RetryPolicy(maxAttempts: 10, maxTotalDelay: 1000), delays: delays).send(get)
        XCTAssertEqual(r.statusCode, 503)
        XCTAssertEqual(inner.count, 10)

        let slow = ScriptedTransport { _, _ in json(statusBody(429, reason: "TooManyRequests", message: "x"), status: 429, headers: [(name: "Retry-After", value: "100")]) }
        let d2 = Delays()
        let r2 = try await retrying(slow, policy: RetryPolicy(maxTotalDelay: 60), delays: d2).send(get)
        XCTAssertEqual(r2.statusCode, 429)
        XCTAssertEqual(slow.count, 1, "a Retry-After beyond the time budget ends the retries")

        let budget = ScriptedTransport { _, _ in json(statusBody(503, reason: "ServiceUnavailable", message: "x"), status: 503) }
        let d3 = Delays()
        _ = try await retrying(budget, policy: RetryPolicy(maxTotalDelay: 2), delays: d3).send(get)
        XCTAssertEqual(d3.all, [0.2, 0.4, 0.8], "the next wait (1.6 s) would exceed 2 s in total")
    }

    func testWatchEstablishmentRetriedAndFailedBodyCancelled() async throws {
        let first = FixedChunks([Data("{}".utf8)])
        let second = FixedChunks([Data("{\"type\":\"ADDED\",\"object\":{}}\n".utf8)])
        let inner = ScriptedTransport({ _, _ in json([:]) }, stream: { _, n in
            n == 1 ? KubeStreamResponse(statusCode: 503, headers: [(name: "Retry-After", value: "1")], body: first)
                : KubeStreamResponse(statusCode: 200, headers: [], body: second)
        })
        let delays = Delays()
        let watch = KubeRequest(method: .get, path: "/api/v1/configmaps", query: [.init("watch", "true")], isWatch: true)
        let r = try await retrying(inner, delays: delays).stream(watch)
        XCTAssertEqual(r.statusCode, 200)
        XCTAssertTrue(first.cancelled, "the refused attempt's body is released")
        XCTAssertFalse(second.cancelled)
        XCTAssertEqual(delays.all, [1])
    }

    func testCancelledTaskStopsRetrying() async throws {
        let inner = ScriptedTransport { _, _ in json(statusBody(503, reason: "ServiceUnavailable", message: "x"), status: 503) }
        let real = RetryingTransport(inner, policy: RetryPolicy(initialBackoff: 30))
        let get = self.get
        let task = Task { try await real.send(get) }
        let ok0 = await eventually { inner.count >= 1 }
        XCTAssertTrue(ok0)
        task.cancel()
        let start = ContinuousClock.now
        _ = try? await task.value
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        XCTAssertEqual(inner.count, 1)
    }
}

final class RateLimiterTests: XCTestCase {
    func testTokenBucketArithmetic() {
        var b = TokenBucketState(qps: 2, burst: 3)
        XCTAssertEqual(b.reserve(at: 0), 0)
        XCTAssertEqual(b.reserve(at: 0), 0)
        XCTAssertEqual(b.reserve(at: 0), 0)
        XCTAssertEqual(b.reserve(at: 0), 0.5, "the fourth waits for the next token")
        XCTAssertEqual(b.reserve(at: 0), 1.0, "reservations queue up")
        XCTAssertEqual(b.reserve(at: 1.0), 0.5, "two tokens came in a second, both were reserved already")
        XCTAssertEqual(b.reserve(at: 100), 0, "refilled")
        XCTAssertEqual(b.tokens, 2, "never more than the burst")
        var unlimited = TokenBucketState(qps: 0, burst: 1)
        XCTAssertEqual(unlimited.reserve(at: 0), 0)
        XCTAssertEqual(unlimited.reserve(at: 0), 0)
    }

    func testOverAHoldingTransportTheLimiterHandsRequestsDownWithTheirTurn() async throws {
        let inner = ScriptedTransport({ _, _ in json([:]) }, holdsRequestsUntilDue: true)
        let limited = RetryingTransport(RateLimitedTransport(inner, qps: 2, burst: 3), policy: RetryPolicy())
        XCTAssertTrue(limited.holdsRequestsUntilDue, "the decorators pass the transport's ability up")
        for _ in 0..<8 { _ = try await limited.send(KubeRequest(method: .get, path: "/version")) }
        let dues = inner.requests.map(\.notBefore)
        XCTAssertEqual(dues.prefix(3).filter { $0 != nil }.count, 0, "the burst leaves at once")
        let held = dues.dropFirst(3).compactMap { $0 }
        XCTAssertEqual(held.count, 5, "every later request carries the moment its token comes")
        // One token per half second: each turn comes 500 ms after the one before, whenever it was
        // reserved (the requests are sent within a few milliseconds; nothing here sleeps).
        for (earlier, later) in zip(held, held.dropFirst()) {
            let gap = earlier.duration(to: later)
            XCTAssertGreaterThan(gap, .milliseconds(499))
            XCTAssertLessThan(gap, .milliseconds(501))
        }
        XCTAssertFalse(RateLimitedTransport(ScriptedTransport { _, _ in json([:]) }, qps: 1, burst: 1).holdsRequestsUntilDue)
    }

    func testRateLimitedTransportWaitsInsteadOfFailing() async throws {
        let inner = ScriptedTransport { _, _ in json([:]) }
        let limited = RateLimitedTransport(inner, qps: 20, burst: 5)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<15 {
                group.addTask { try await limited.send(KubeRequest(method: .get, path: "/version")).statusCode }
            }
            for try await code in group { XCTAssertEqual(code, 200) }
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(inner.count, 15)
        // 5 at once, then 10 more at 20/s: at least 0.5 s (minus scheduling slack).
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(450))
        XCTAssertLessThan(elapsed, .seconds(3))
    }
}
