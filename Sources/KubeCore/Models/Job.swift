#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// batch/v1 Job.
public struct Job: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.jobs
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: JobSpec?
    public var status: JobStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: JobSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }

    /// `Complete=True`.
    public var isComplete: Bool { status?.conditions?.first(type: "Complete")?.isTrue ?? false }
    /// `Failed=True`.
    public var isFailed: Bool { status?.conditions?.first(type: "Failed")?.isTrue ?? false }
}

/// batch/v1 JobSpec.
public struct JobSpec: Codable, Sendable, Hashable {
    public var parallelism: Int32?
    public var completions: Int32?
    public var activeDeadlineSeconds: Int64?
    public var backoffLimit: Int32?
    public var ttlSecondsAfterFinished: Int32?
    public var completionMode: String?
    public var suspend: Bool?
    public var selector: LabelSelector?
    public var manualSelector: Bool?
    public var podFailurePolicy: JSONValue?
    public var podReplacementPolicy: String?
    public var template: PodTemplateSpec

    public init(template: PodTemplateSpec, backoffLimit: Int32? = nil, activeDeadlineSeconds: Int64? = nil,
                ttlSecondsAfterFinished: Int32? = nil, parallelism: Int32? = nil, completions: Int32? = nil) {
        self.template = template
        self.backoffLimit = backoffLimit
        self.activeDeadlineSeconds = activeDeadlineSeconds
        self.ttlSecondsAfterFinished = ttlSecondsAfterFinished
        self.parallelism = parallelism
        self.completions = completions
    }
}

/// batch/v1 JobStatus.
public struct JobStatus: Codable, Sendable, Hashable {
    public var conditions: [Condition]?
    public var startTime: String?
    public var completionTime: String?
    public var active: Int32?
    public var succeeded: Int32?
    public var failed: Int32?
    public var ready: Int32?
    public var terminating: Int32?
    public var uncountedTerminatedPods: JSONValue?

    public init(conditions: [Condition]? = nil, active: Int32? = nil, succeeded: Int32? = nil, failed: Int32? = nil) {
        self.conditions = conditions
        self.active = active
        self.succeeded = succeeded
        self.failed = failed
    }
}
