#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// apps/v1 Deployment.
public struct Deployment: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.deployments
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: DeploymentSpec?
    public var status: DeploymentStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: DeploymentSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// apps/v1 DeploymentSpec.
public struct DeploymentSpec: Codable, Sendable, Hashable {
    /// nil leaves the count to whoever else owns it (an HPA); the server defaults it to 1.
    public var replicas: Int32?
    public var selector: LabelSelector
    public var template: PodTemplateSpec
    public var strategy: DeploymentStrategy?
    public var minReadySeconds: Int32?
    public var revisionHistoryLimit: Int32?
    public var paused: Bool?
    public var progressDeadlineSeconds: Int32?

    public init(replicas: Int32? = nil, selector: LabelSelector, template: PodTemplateSpec, strategy: DeploymentStrategy? = nil,
                minReadySeconds: Int32? = nil, revisionHistoryLimit: Int32? = nil, progressDeadlineSeconds: Int32? = nil) {
        self.replicas = replicas
        self.selector = selector
        self.template = template
        self.strategy = strategy
        self.minReadySeconds = minReadySeconds
        self.revisionHistoryLimit = revisionHistoryLimit
        self.progressDeadlineSeconds = progressDeadlineSeconds
    }
}

/// apps/v1 DeploymentStrategy.
public struct DeploymentStrategy: Codable, Sendable, Hashable {
    /// `RollingUpdate` (default) or `Recreate`.
    public var type: String?
    public var rollingUpdate: RollingUpdateDeployment?
    public init(type: String? = nil, rollingUpdate: RollingUpdateDeployment? = nil) {
        self.type = type
        self.rollingUpdate = rollingUpdate
    }
}

/// apps/v1 RollingUpdateDeployment.
public struct RollingUpdateDeployment: Codable, Sendable, Hashable {
    public var maxUnavailable: IntOrString?
    public var maxSurge: IntOrString?
    public init(maxUnavailable: IntOrString? = nil, maxSurge: IntOrString? = nil) {
        self.maxUnavailable = maxUnavailable
        self.maxSurge = maxSurge
    }
}

/// apps/v1 DeploymentStatus.
public struct DeploymentStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int64?
    public var replicas: Int32?
    public var updatedReplicas: Int32?
    public var readyReplicas: Int32?
    public var availableReplicas: Int32?
    public var unavailableReplicas: Int32?
    public var terminatingReplicas: Int32?
    public var conditions: [Condition]?
    public var collisionCount: Int32?

    public init(observedGeneration: Int64? = nil, replicas: Int32? = nil, updatedReplicas: Int32? = nil, readyReplicas: Int32? = nil,
                availableReplicas: Int32? = nil, conditions: [Condition]? = nil) {
        self.observedGeneration = observedGeneration
        self.replicas = replicas
        self.updatedReplicas = updatedReplicas
        self.readyReplicas = readyReplicas
        self.availableReplicas = availableReplicas
        self.conditions = conditions
    }
}
