#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// core/v1 Pod (read by the operator: phase, conditions, container states).
public struct Pod: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.pods
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PodSpec?
    public var status: PodStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: PodSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }

    /// Whether the pod's `Ready` condition is `True`.
    public var isReady: Bool { status?.conditions?.first(type: "Ready")?.isTrue ?? false }
}

/// core/v1 PodStatus.
public struct PodStatus: Codable, Sendable, Hashable {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    public var phase: String?
    public var conditions: [Condition]?
    public var message: String?
    public var reason: String?
    public var hostIP: String?
    public var podIP: String?
    public var podIPs: JSONValue?
    public var startTime: String?
    public var initContainerStatuses: [ContainerStatus]?
    public var containerStatuses: [ContainerStatus]?
    public var qosClass: String?

    public init(phase: String? = nil, conditions: [Condition]? = nil, containerStatuses: [ContainerStatus]? = nil) {
        self.phase = phase
        self.conditions = conditions
        self.containerStatuses = containerStatuses
    }
}

/// core/v1 ContainerStatus.
public struct ContainerStatus: Codable, Sendable, Hashable {
    public var name: String
    public var state: ContainerState?
    public var lastState: ContainerState?
    public var ready: Bool
    public var restartCount: Int32
    public var image: String?
    public var imageID: String?
    public var containerID: String?
    public var started: Bool?

    public init(name: String, state: ContainerState? = nil, ready: Bool = false, restartCount: Int32 = 0, image: String? = nil) {
        self.name = name
        self.state = state
        self.ready = ready
        self.restartCount = restartCount
        self.image = image
    }
}

/// core/v1 ContainerState: at most one of the three is set.
public struct ContainerState: Codable, Sendable, Hashable {
    public var waiting: ContainerStateWaiting?
    public var running: ContainerStateRunning?
    public var terminated: ContainerStateTerminated?
    public init(waiting: ContainerStateWaiting? = nil, running: ContainerStateRunning? = nil, terminated: ContainerStateTerminated? = nil) {
        self.waiting = waiting
        self.running = running
        self.terminated = terminated
    }
}

/// core/v1 ContainerStateWaiting (`reason`: `CrashLoopBackOff`, `ImagePullBackOff`, ...).
public struct ContainerStateWaiting: Codable, Sendable, Hashable {
    public var reason: String?
    public var message: String?
    public init(reason: String? = nil, message: String? = nil) {
        self.reason = reason
        self.message = message
    }
}

/// core/v1 ContainerStateRunning.
public struct ContainerStateRunning: Codable, Sendable, Hashable {
    public var startedAt: String?
    public init(startedAt: String? = nil) { self.startedAt = startedAt }
}

/// core/v1 ContainerStateTerminated.
public struct ContainerStateTerminated: Codable, Sendable, Hashable {
    public var exitCode: Int32
    public var signal: Int32?
    public var reason: String?
    public var message: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var containerID: String?
    public init(exitCode: Int32, reason: String? = nil, message: String? = nil) {
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
    }
}
