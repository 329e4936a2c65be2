import Synchronization

/// Hooks a controller calls around each reconcile (for metrics, logs, and assertions in tests).
public protocol ReconcileHooks: Sendable {
    func willReconcile(_ key: ObjectKey, controller: String)
    func didReconcile(_ key: ObjectKey, controller: String, result: ReconcileResult, seconds: Double)
}

/// Records what reconciles ran, so a test can assert instead of assume: how often each key was
/// reconciled, the highest number of concurrent reconciles of one key (must stay 1) and overall.
public final class ConcurrencyProbe: ReconcileHooks {
    private struct State {
        var active: [ObjectKey: Int] = [:]
        var totalActive = 0
        var maxPerKey = 0
        var maxTotal = 0
        var overlaps: [ObjectKey] = []
        var counts: [ObjectKey: Int] = [:]
        var results: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public func willReconcile(_ key: ObjectKey, controller: String) {
        state.withLock { s in
            let n = (s.active[key] ?? 0) + 1
            s.active[key] = n
            if n > 1 { s.overlaps.append(key) }
            s.maxPerKey = max(s.maxPerKey, n)
            s.totalActive += 1
            s.maxTotal = max(s.maxTotal, s.totalActive)
            s.counts[key, default: 0] += 1
        }
    }

    public func didReconcile(_ key: ObjectKey, controller: String, result: ReconcileResult, seconds: Double) {
        state.withLock { s in
            s.active[key] = (s.active[key] ?? 1) - 1
            if s.active[key] == 0 { s.active[key] = nil }
            s.totalActive -= 1
            s.results[result.label, default: 0] += 1
        }
    }

    /// The most reconciles of a single key that ever ran at the same time.
    public var maxConcurrentPerKey: Int { state.withLock { $0.maxPerKey } }
    /// The most reconciles (of any keys) that ever ran at the same time.
    public var maxConcurrentTotal: Int { state.withLock { $0.maxTotal } }
    /// Keys that were reconciled by two workers at once (should be empty).
    public var overlappingKeys: [ObjectKey] { state.withLock { $0.overlaps } }
    public var reconcileCounts: [ObjectKey: Int] { state.withLock { $0.counts } }
    public var totalReconciles: Int { state.withLock { $0.counts.values.reduce(0, +) } }
    /// Reconciles by result label (`success`, `requeue_after`, `error`).
    public var results: [String: Int] { state.withLock { $0.results } }
    public var activeNow: Int { state.withLock { $0.totalActive } }
}

/// Calls several hooks in order.
public struct CombinedHooks: ReconcileHooks {
    public var hooks: [any ReconcileHooks]
    public init(_ hooks: [any ReconcileHooks]) { self.hooks = hooks }
    public func willReconcile(_ key: ObjectKey, controller: String) {
        for h in hooks { h.willReconcile(key, controller: controller) }
    }
    public func didReconcile(_ key: ObjectKey, controller: String, result: ReconcileResult, seconds: Double) {
        for h in hooks { h.didReconcile(key, controller: controller, result: result, seconds: seconds) }
    }
}
