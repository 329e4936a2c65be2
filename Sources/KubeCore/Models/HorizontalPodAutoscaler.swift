#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// autoscaling/v2 HorizontalPodAutoscaler.
public struct HorizontalPodAutoscaler: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.horizontalPodAutoscalers
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: HorizontalPodAutoscalerSpec?
    public var status: HorizontalPodAutoscalerStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: HorizontalPodAutoscalerSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// autoscaling/v2 HorizontalPodAutoscalerSpec.
public struct HorizontalPodAutoscalerSpec: Codable, Sendable, Hashable {
    public var scaleTargetRef: CrossVersionObjectReference
    public var minReplicas: Int32?
    public var maxReplicas: Int32
    public var metrics: [MetricSpec]?
    public var behavior: JSONValue?

    public init(scaleTargetRef: CrossVersionObjectReference, minReplicas: Int32? = nil, maxReplicas: Int32, metrics: [MetricSpec]? = nil,
                behavior: JSONValue? = nil) {
        self.scaleTargetRef = scaleTargetRef
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.metrics = metrics
        self.behavior = behavior
    }
}

/// autoscaling/v2 CrossVersionObjectReference.
public struct CrossVersionObjectReference: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String
    public var name: String
    public init(apiVersion: String? = nil, kind: String, name: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
    }
}

/// autoscaling/v2 MetricSpec; `Resource` metrics typed, the other sources as JSON.
public struct MetricSpec: Codable, Sendable, Hashable {
    /// `Resource`, `ContainerResource`, `Pods`, `Object` or `External`.
    public var type: String
    public var resource: ResourceMetricSource?
    public var containerResource: JSONValue?
    public var pods: JSONValue?
    public var object: JSONValue?
    public var external: JSONValue?

    public init(type: String, resource: ResourceMetricSource? = nil) {
        self.type = type
        self.resource = resource
    }

    /// Average utilization of a resource (`cpu`, `memory`) in percent of the requests.
    public static func resourceUtilization(_ name: String, averageUtilization: Int32) -> MetricSpec {
        MetricSpec(type: "Resource", resource: ResourceMetricSource(name: name, target: MetricTarget(type: "Utilization", averageUtilization: averageUtilization)))
    }
}

/// autoscaling/v2 ResourceMetricSource.
public struct ResourceMetricSource: Codable, Sendable, Hashable {
    public var name: String
    public var target: MetricTarget
    public init(name: String, target: MetricTarget) {
        self.name = name
        self.target = target
    }
}

/// autoscaling/v2 MetricTarget.
public struct MetricTarget: Codable, Sendable, Hashable {
    /// `Utilization`, `Value` or `AverageValue`.
    public var type: String
    public var value: Quantity?
    public var averageValue: Quantity?
    public var averageUtilization: Int32?
    public init(type: String, value: Quantity? = nil, averageValue: Quantity? = nil, averageUtilization: Int32? = nil) {
        self.type = type
        self.value = value
        self.averageValue = averageValue
        self.averageUtilization = averageUtilization
    }
}

/// autoscaling/v2 HorizontalPodAutoscalerStatus.
public struct HorizontalPodAutoscalerStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int64?
    public var lastScaleTime: String?
    public var currentReplicas: Int32?
    public var desiredReplicas: Int32?
    public var currentMetrics: JSONValue?
    public var conditions: [Condition]?
    public init(currentReplicas: Int32? = nil, desiredReplicas: Int32? = nil, conditions: [Condition]? = nil) {
        self.currentReplicas = currentReplicas
        self.desiredReplicas = desiredReplicas
        self.conditions = conditions
    }
}
