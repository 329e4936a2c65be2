#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// batch/v1 CronJob.
public struct CronJob: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.cronJobs
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: CronJobSpec?
    public var status: CronJobStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: CronJobSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// batch/v1 CronJobSpec.
public struct CronJobSpec: Codable, Sendable, Hashable {
    public var schedule: String
    public var timeZone: String?
    public var startingDeadlineSeconds: Int64?
    /// `Allow` (default), `Forbid` or `Replace`.
    public var concurrencyPolicy: String?
    public var suspend: Bool?
    public var jobTemplate: JobTemplateSpec
    public var successfulJobsHistoryLimit: Int32?
    public var failedJobsHistoryLimit: Int32?

    public init(schedule: String, jobTemplate: JobTemplateSpec, timeZone: String? = nil, concurrencyPolicy: String? = nil,
                suspend: Bool? = nil, startingDeadlineSeconds: Int64? = nil, successfulJobsHistoryLimit: Int32? = nil,
                failedJobsHistoryLimit: Int32? = nil) {
        self.schedule = schedule
        self.jobTemplate = jobTemplate
        self.timeZone = timeZone
        self.concurrencyPolicy = concurrencyPolicy
        self.suspend = suspend
        self.startingDeadlineSeconds = startingDeadlineSeconds
        self.successfulJobsHistoryLimit = successfulJobsHistoryLimit
        self.failedJobsHistoryLimit = failedJobsHistoryLimit
    }
}

/// batch/v1 JobTemplateSpec.
public struct JobTemplateSpec: Codable, Sendable, Hashable {
    public var metadata: ObjectMeta?
    public var spec: JobSpec?
    public init(metadata: ObjectMeta? = nil, spec: JobSpec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// batch/v1 CronJobStatus.
public struct CronJobStatus: Codable, Sendable, Hashable {
    public var active: [ObjectReference]?
    public var lastScheduleTime: String?
    public var lastSuccessfulTime: String?
    public init(active: [ObjectReference]? = nil, lastScheduleTime: String? = nil, lastSuccessfulTime: String? = nil) {
        self.active = active
        self.lastScheduleTime = lastScheduleTime
        self.lastSuccessfulTime = lastSuccessfulTime
    }
}
