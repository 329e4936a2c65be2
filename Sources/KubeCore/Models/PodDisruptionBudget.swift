#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// policy/v1 PodDisruptionBudget.
public struct PodDisruptionBudget: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.podDisruptionBudgets
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PodDisruptionBudgetSpec?
    public var status: PodDisruptionBudgetStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: PodDisruptionBudgetSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// policy/v1 PodDisruptionBudgetSpec: one of `minAvailable` / `maxUnavailable`.
public struct PodDisruptionBudgetSpec: Codable, Sendable, Hashable {
    public var minAvailable: IntOrString?
    public var maxUnavailable: IntOrString?
    public var selector: LabelSelector?
    /// `IfHealthyBudget` (default) or `AlwaysAllow`.
    public var unhealthyPodEvictionPolicy: String?
    public init(minAvailable: IntOrString? = nil, maxUnavailable: IntOrString? = nil, selector: LabelSelector? = nil,
                unhealthyPodEvictionPolicy: String? = nil) {
        self.minAvailable = minAvailable
        self.maxUnavailable = maxUnavailable
        self.selector = selector
        self.unhealthyPodEvictionPolicy = unhealthyPodEvictionPolicy
    }
}

/// policy/v1 PodDisruptionBudgetStatus.
public struct PodDisruptionBudgetStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int64?
    public var disruptedPods: [String: String]?
    public var disruptionsAllowed: Int32?
    public var currentHealthy: Int32?
    public var desiredHealthy: Int32?
    public var expectedPods: Int32?
    public var conditions: [Condition]?
    public init(disruptionsAllowed: Int32? = nil, currentHealthy: Int32? = nil, desiredHealthy: Int32? = nil, expectedPods: Int32? = nil) {
        self.disruptionsAllowed = disruptionsAllowed
        self.currentHealthy = currentHealthy
        self.desiredHealthy = desiredHealthy
        self.expectedPods = expectedPods
    }
}
