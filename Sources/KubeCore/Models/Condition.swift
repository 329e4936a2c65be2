#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A status condition: metav1.Condition, and wide enough for the per-kind condition types
/// (DeploymentCondition's `lastUpdateTime`, JobCondition's and PodCondition's `lastProbeTime`).
/// Times are RFC 3339 strings as the server writes them (see `KubeTime`).
public struct Condition: Codable, Sendable, Hashable {
    public var type: String
    /// `True`, `False` or `Unknown`.
    public var status: String
    public var observedGeneration: Int64?
    public var lastTransitionTime: String?
    public var lastUpdateTime: String?
    public var lastProbeTime: String?
    public var reason: String?
    public var message: String?

    public init(type: String, status: String, observedGeneration: Int64? = nil, lastTransitionTime: String? = nil,
                reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }

    public var isTrue: Bool { status == "True" }
    public var isFalse: Bool { status == "False" }
}

extension Array where Element == Condition {
    /// The condition of a type, if present.
    public func first(type: String) -> Condition? { first { $0.type == type } }

    /// Adds or updates the condition of `condition.type` like `meta.SetStatusCondition`: the
    /// transition time changes only when the status does (set to `now` then, unless given).
    /// Returns whether anything changed.
    @discardableResult
    public mutating func set(_ condition: Condition, now: Date = Date()) -> Bool {
        var new = condition
        guard let index = firstIndex(where: { $0.type == condition.type }) else {
            if new.lastTransitionTime == nil { new.lastTransitionTime = KubeTime.format(now) }
            append(new)
            return true
        }
        let old = self[index]
        if old.status == new.status {
            new.lastTransitionTime = old.lastTransitionTime
        } else if new.lastTransitionTime == nil {
            new.lastTransitionTime = KubeTime.format(now)
        }
        guard old != new else { return false }
        self[index] = new
        return true
    }

    /// Removes the condition of a type; returns whether it was there.
    @discardableResult
    public mutating func remove(type: String) -> Bool {
        let before = count
        removeAll { $0.type == type }
        return count != before
    }
}
