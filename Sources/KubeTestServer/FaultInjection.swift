import Foundation
import KubeCore
import Synchronization

/// Which requests a fault applies to. nil = any. Verbs are the API verbs (get, list, watch, create,
/// update, patch, delete, deletecollection); resources are plurals or "plural/subresource";
/// user agents are matched exactly against the `User-Agent` header (so a test can fault its
/// operator's client and not its own set-up client).
public struct FaultScope: Sendable, Hashable {
    public var verbs: Set<String>?
    public var resources: Set<String>?
    public var userAgents: Set<String>?

    public init(verbs: Set<String>? = nil, resources: Set<String>? = nil, userAgents: Set<String>? = nil) {
        self.verbs = verbs
        self.resources = resources
        self.userAgents = userAgents
    }

    /// Every resource request.
    public static let all = FaultScope()

    func matches(verb: String, resource: String, userAgent: String?) -> Bool {
        if let verbs, !verbs.contains(verb) { return false }
        if let resources, !resources.contains(resource) { return false }
        if let userAgents, !userAgents.contains(userAgent ?? "") { return false }
        return true
    }
}

/// The error an injected request failure answers with.
public enum InjectedFailure: Sendable, Hashable {
    /// 500 InternalError, as kube-apiserver reports an internal failure.
    case internalError
    /// 429 TooManyRequests with `Retry-After: N` and `details.retryAfterSeconds: N`, as
    /// kube-apiserver's max-in-flight and priority-and-fairness filters answer.
    case tooManyRequests(retryAfterSeconds: Int)
    /// 422 Invalid naming `field`, as kube-apiserver refuses an object its validation rejects.
    case invalid(field: String, message: String)
    /// 403 Forbidden, as kube-apiserver answers a request RBAC does not allow (without turning on
    /// `rbacEnabled` and writing the roles).
    case forbidden
}

/// One resource request as the server saw it (kept while `FaultInjector.recordRequests` is on).
public struct RecordedRequest: Sendable, Hashable {
    /// When the request reached the handler.
    public var time: Date
    public var method: String
    /// Path and query.
    public var target: String
    public var verb: String
    public var resource: String
    public var userAgent: String?
    /// FNV-1a of the body: a retried request carries the same body as the attempt it repeats.
    public var bodyHash: UInt64
    /// The status code of an injected failure; nil when the request was handled normally.
    public var injectedStatus: Int?

    /// Requests with the same method, target and body (an attempt and its retries).
    public func isSameRequest(as other: RecordedRequest) -> Bool {
        method == other.method && target == other.target && bodyHash == other.bodyHash
    }
}

/// Faults a test switches on and off while the server runs: failed requests (500 or 429 +
/// Retry-After), response delays, watches dropped after N events, forced 410 on watches,
/// responses cut mid-body. Random choices come from a seeded generator, so a run is repeatable
/// for a given order of requests. Reached through `KubeTestServer.faults`. See docs/test-server.md.
public final class FaultInjector: Sendable {
    struct FailureRule: Sendable {
        var share: Double
        var failure: InjectedFailure
        var scope: FaultScope
    }

    struct State: Sendable {
        var rng = SplitMix64(seed: 1)
        var failures: [FailureRule] = []
        var delay: (seconds: Double, scope: FaultScope)?
        var dropWatchesAfter: Int?
        var expireWatches = 0
        var cutBodies: (count: Int, scope: FaultScope)?
        var injected: [Int: Int] = [:]
        var droppedWatches = 0
        var expiredWatches = 0
        var cutResponses = 0
        var recording = false
        var log: [RecordedRequest] = []
    }

    /// The header by which the handler tells the transports to cut a response (never sent to clients).
    static let cutBodyHeader = "X-KubeTestServer-Cut-Body"
    static let logLimit = 200_000

    let state = Mutex(State())

    init() {}

    // MARK: Configuration

    /// Fails `share` (0...1) of the requests in `scope` with `failure`; several rules may be active,
    /// the first that fires wins. `seed` re-seeds the generator that decides.
    public func failRequests(share: Double, with failure: InjectedFailure, scope: FaultScope = .all, seed: UInt64? = nil) {
        state.withLock { s in
            if let seed { s.rng = SplitMix64(seed: seed) }
            s.failures.append(FailureRule(share: min(1, max(0, share)), failure: failure, scope: scope))
        }
    }

    /// Removes every request-failure rule.
    public func stopFailingRequests() { state.withLock { $0.failures.removeAll() } }

    /// Delays every response in `scope` by `seconds` (nil or 0 = no delay).
    public func delayResponses(seconds: Double?, scope: FaultScope = .all) {
        state.withLock { $0.delay = (seconds ?? 0) > 0 ? (seconds ?? 0, scope) : nil }
    }

    /// Every watch started from now on ends cleanly (the chunked stream is terminated) after it
    /// sent `events` events (nil = never). Bookmarks do not count.
    public func dropWatches(afterEvents events: Int?) {
        state.withLock { $0.dropWatchesAfter = events.map { max(1, $0) } }
    }

    /// The next `count` watches that give a resourceVersion answer 200 + one ERROR line with a 410
    /// Expired Status, as after `compactWatchHistory()`.
    public func expireNextWatches(_ count: Int) {
        state.withLock { $0.expireWatches += max(0, count) }
    }

    /// The next `count` responses in `scope` that have a body are cut: over HTTPS the headers (with
    /// the full Content-Length) and half the body are written, then over HTTP/1.1 the TCP connection
    /// is closed and over HTTP/2 the response's stream is reset (RST_STREAM; the connection and its
    /// other streams go on); the in-memory transport throws `TransportError` `connectionClosed`.
    /// Watches are not cut (drop them with `dropWatches`).
    public func cutNextResponses(_ count: Int, scope: FaultScope = .all) {
        state.withLock { $0.cutBodies = count > 0 ? (count, scope) : nil }
    }

    /// Keep a log of every resource request (`recordedRequests`), for timing assertions.
    public var recordRequests: Bool {
        get { state.withLock { $0.recording } }
        set { state.withLock { $0.recording = newValue } }
    }

    /// Switches every fault off (counters and the log are kept).
    public func reset() {
        state.withLock { s in
            s.failures.removeAll()
            s.delay = nil
            s.dropWatchesAfter = nil
            s.expireWatches = 0
            s.cutBodies = nil
        }
    }

    // MARK: Counters

    /// Injected failures served with this status code (403, 422, 429 or 500).
    public func injectedCount(status: Int) -> Int { state.withLock { $0.injected[status] ?? 0 } }
    /// Watches ended by `dropWatches`.
    public var droppedWatchCount: Int { state.withLock { $0.droppedWatches } }
    /// Watches answered with a forced 410.
    public var expiredWatchCount: Int { state.withLock { $0.expiredWatches } }
    /// Responses cut mid-body.
    public var cutResponseCount: Int { state.withLock { $0.cutResponses } }
    /// The recorded requests, oldest first (see `recordRequests`).
    public var recordedRequests: [RecordedRequest] { state.withLock { $0.log } }

    // MARK: Hooks called by the server

    /// What to do with a resource request: maybe wait, maybe answer with an injected failure.
    /// Called after the request was counted, so counters include injected failures.
    func intercept(_ req: APIRequest, verb: String, resource: String) async -> APIResponse? {
        let ua = req.header("User-Agent")
        let (delay, failure) = state.withLock { s -> (Double?, InjectedFailure?) in
            var failure: InjectedFailure?
            for rule in s.failures where rule.scope.matches(verb: verb, resource: resource, userAgent: ua) {
                // Drawn per matching rule, so the sequence depends only on the order of requests.
                if Double(s.rng.next() >> 11) / Double(1 << 53) < rule.share {
                    failure = rule.failure
                    break
                }
            }
            if let f = failure { s.injected[Self.status(of: f), default: 0] += 1 }
            if s.recording, s.log.count < Self.logLimit {
                s.log.append(RecordedRequest(time: Date(), method: req.method, target: Self.target(req), verb: verb, resource: resource,
                                             userAgent: ua, bodyHash: Self.fnv1a(req.body),
                                             injectedStatus: failure.map(Self.status(of:))))
            }
            let delay = s.delay.flatMap { $0.scope.matches(verb: verb, resource: resource, userAgent: ua) ? $0.seconds : nil }
            return (delay, failure)
        }
        if let delay { try? await Task.sleep(for: .seconds(delay)) }
        return failure.map(Self.response(for:))
    }

    /// Whether a response in `scope` should be cut (consumes one of `cutNextResponses`).
    func takeCut(verb: String, resource: String, userAgent: String?) -> Bool {
        state.withLock { s in
            guard verb != "watch", let cut = s.cutBodies, cut.scope.matches(verb: verb, resource: resource, userAgent: userAgent) else { return false }
            s.cutBodies = cut.count > 1 ? (cut.count - 1, cut.scope) : nil
            s.cutResponses += 1
            return true
        }
    }

    /// Whether this watch must get a forced 410 (consumes one of `expireNextWatches`).
    func takeExpiredWatch() -> Bool {
        state.withLock { s in
            guard s.expireWatches > 0 else { return false }
            s.expireWatches -= 1
            s.expiredWatches += 1
            return true
        }
    }

    /// A forced 410 for a watch from a resourceVersion (consumes one of `expireNextWatches`): 200 +
    /// one ERROR line with the Expired Status, worded as for a compacted history. nil = no fault.
    func forcedExpiry(_ req: APIRequest) -> APIResponse? {
        guard let rv = req.query("resourceVersion").flatMap({ Int64($0) }), rv > 0,
              req.query("sendInitialEvents") != "true", takeExpiredWatch() else { return nil }
        let status: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                 "message": .string("too old resource version: \(rv) (\(rv + 1))"), "reason": "Expired", "code": 410]
        let channel = WatchChannel(limit: 1)
        channel.push(JSONValue.object(["type": "ERROR", "object": status]).serialized(), bypassLimit: true)
        channel.finish()
        return APIResponse(status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-cache, private"),
                                                  ("Transfer-Encoding", "chunked")], body: .stream(channel))
    }

    /// The event budget of a new watch (nil = unlimited).
    var watchEventBudget: Int? { state.withLock { $0.dropWatchesAfter } }

    func noteDroppedWatch() { state.withLock { $0.droppedWatches += 1 } }

    static func status(of f: InjectedFailure) -> Int {
        switch f {
        case .internalError: return 500
        case .tooManyRequests: return 429
        case .invalid: return 422
        case .forbidden: return 403
        }
    }

    /// The answer kube-apiserver gives for these failures.
    static func response(for f: InjectedFailure) -> APIResponse {
        switch f {
        case .internalError:
            let message = "injected fault"
            return APIError(code: 500, reason: StatusReason.internalError, message: "Internal error occurred: \(message)",
                            details: ["causes": [["message": .string(message)]]]).response
        case .tooManyRequests(let seconds):
            return APIError(code: 429, reason: StatusReason.tooManyRequests, message: "Too many requests, please try again later.",
                            details: ["retryAfterSeconds": .int(Int64(seconds))],
                            headers: [("Retry-After", String(seconds))]).response
        case .invalid(let field, let message):
            return APIError(code: 422, reason: StatusReason.invalid, message: "\(field): Invalid value: \(message)",
                            details: ["causes": [["reason": "FieldValueInvalid", "message": .string("Invalid value: \(message)"), "field": .string(field)]]]).response
        case .forbidden:
            return APIError(code: 403, reason: StatusReason.forbidden, message: "forbidden: injected fault (RBAC does not allow this request)",
                            details: .object([:])).response
        }
    }

    /// Path and (decoded) query, enough to tell requests apart.
    static func target(_ req: APIRequest) -> String {
        req.query.isEmpty ? req.path : req.path + "?" + req.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    static func fnv1a(_ d: Data) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in d { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }
}
