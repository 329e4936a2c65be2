import KubeCore

/// The outcome of one reconcile (controller-runtime's `Result` + error folded into one type).
public enum ReconcileResult: Sendable, Hashable {
    /// Converged (or the primary object is gone): nothing to do until something changes.
    case done
    /// Look again after this many seconds (waiting on something outside the watched objects).
    case requeue(after: Double)
    /// A failure worth retrying: re-queued with per-key exponential backoff.
    case error(String)
    /// Not a failure but not done either (a write met a newer resourceVersion, the server asked to
    /// slow down): re-queued with the same per-key exponential backoff as an error, and no sooner
    /// than `atLeast` seconds (a Retry-After). Repeated retries back off; they never reset it.
    case retry(String, atLeast: Double)
    /// A failure retrying cannot fix (invalid spec): not re-queued until the object changes.
    case terminalError(String)

    /// `.error` describing `error`; a 429 or 5xx with Retry-After becomes a retry no sooner than that.
    public static func failed(_ error: any Error) -> ReconcileResult {
        if let kube = error as? KubeError, let after = kube.retryAfter, after > 0 {
            return .retry(String(describing: error), atLeast: after)
        }
        return .error(String(describing: error))
    }

    /// A short label for logs and metrics (`success`, `requeue_after`, `error`).
    public var label: String {
        switch self {
        case .done: return "success"
        case .requeue: return "requeue_after"
        case .retry: return "requeue"
        case .error, .terminalError: return "error"
        }
    }
}

/// Level-based reconciliation of one object, named by its key. The reconciler reads the current
/// state (from caches or the API) and makes the world match; it never receives the event that
/// triggered it, so it handles missed and coalesced events the same way. A missing primary
/// object means `.done`.
public protocol Reconciler: Sendable {
    func reconcile(_ key: ObjectKey) async -> ReconcileResult
}

/// A reconciler from a closure.
public struct ReconcileFunction: Reconciler {
    private let body: @Sendable (ObjectKey) async -> ReconcileResult
    public init(_ body: @escaping @Sendable (ObjectKey) async -> ReconcileResult) { self.body = body }
    public func reconcile(_ key: ObjectKey) async -> ReconcileResult { await body(key) }
}
