#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// Reasons of the BackupHealthy condition and of backup Events.
public enum BackupHealthReason {
    /// The newest finished backup Job failed (condition False; Warning Event).
    public static let backupFailed = ConditionReason.backupFailed
    /// `spec.backup.suspend` is set (condition False).
    public static let suspended = ConditionReason.backupSuspended
    /// Nothing succeeded within two schedule periods (condition False).
    public static let backupOverdue = ConditionReason.backupOverdue
    /// A backup succeeded and none failed since (condition True; Normal Event).
    public static let backupSucceeded = ConditionReason.backupSucceeded
    /// Nothing ran yet and nothing is overdue (condition Unknown).
    public static let noBackupYet = ConditionReason.noBackupYet
}

/// `status.backup` and the BackupHealthy condition, from the backup CronJob and Jobs: pure.
///
/// Jobs disappear (CronJob history limits, TTL), so every time in the status is the latest of what
/// the objects show now and what the previous status recorded: a deleted Job never takes back a
/// backup it proved.
public struct BackupHealth: Sendable, Hashable {
    public typealias Backup = PynomalyDeploymentStatus.Backup

    /// The new `status.backup`.
    public var status: Backup
    /// The BackupHealthy condition (no transition time: `[Condition].set` keeps or sets it).
    public var condition: Condition
    /// At most one `BackupSucceeded` and one `BackupFailed` Event, for Jobs the previous status had not seen.
    public var events: [PlannedEvent]
    /// When the verdict may change by time alone (just after the next fire time); nil without a schedule.
    public var recheckAt: Date?

    public init(status: Backup, condition: Condition, events: [PlannedEvent], recheckAt: Date?) {
        self.status = status
        self.condition = condition
        self.events = events
        self.recheckAt = recheckAt
    }

    /// Margin after a fire time before looking again, so the CronJob controller has acted.
    static let recheckDelay: TimeInterval = 5

    /// Evaluates the backups of one deployment.
    /// - Parameters:
    ///   - cronJob: the CronJob `NAME-backup`, nil while it does not exist.
    ///   - jobs: the deployment's backup Jobs, scheduled and on-demand (the caller filters).
    ///   - schedule: the parsed `spec.backup.schedule`, nil if it does not parse.
    ///   - suspended: `spec.backup.suspend`.
    ///   - previous: the `status.backup` the CR carries.
    ///   - generation: the CR's `metadata.generation`, for the condition's observedGeneration.
    public static func evaluate(cronJob: CronJob?, jobs: [Job], schedule: CronSchedule?, suspended: Bool,
                                previous: Backup?, generation: Int64, now: Date) -> BackupHealth {
        let observed = jobs.map(ObservedJob.init)

        // Times: the latest of the CronJob's status, the Jobs and the previous status.
        let newestStart = observed.compactMap(\.started).max()
        let lastSchedule = latest(previous?.lastScheduleTime, parse(cronJob?.status?.lastScheduleTime), newestStart)

        let newestSuccess = observed.filter { $0.completed != nil }.max { ($0.completed ?? .distantPast, $0.name) < ($1.completed ?? .distantPast, $1.name) }
        let lastSuccess = latest(previous?.lastSuccessfulTime, parse(cronJob?.status?.lastSuccessfulTime), newestSuccess?.completed)

        let newestFailure = observed.filter { $0.failed != nil }.max { ($0.failed ?? .distantPast, $0.name) < ($1.failed ?? .distantPast, $1.name) }
        var failedTime = previous?.lastFailedTime
        var failureReason = previous?.lastFailureReason
        var failureMessage = previous?.lastFailureMessage
        if let newestFailure, let at = newestFailure.failed, parse(failedTime).map({ at >= $0 }) ?? true {
            failedTime = KubeTime.format(at)
            failureReason = newestFailure.failureReason
            failureMessage = newestFailure.failureMessage
        }

        let newestJob = observed.max { ($0.created ?? .distantPast, $0.name) < ($1.created ?? .distantPast, $1.name) }

        let status = Backup(lastScheduleTime: lastSchedule, lastSuccessfulTime: lastSuccess, lastFailedTime: failedTime,
                            lastJob: newestJob?.name ?? previous?.lastJob, lastFailureReason: failureReason,
                            lastFailureMessage: failureMessage)

        let condition = verdict(status: status, cronJob: cronJob, schedule: schedule, suspended: suspended,
                                newestSuccess: newestSuccess, newestFailure: newestFailure, generation: generation, now: now)

        // Events: only what the previous status had not recorded yet; the newest of each kind.
        var events: [PlannedEvent] = []
        if let job = newestSuccess, let at = job.completed, parse(previous?.lastSuccessfulTime).map({ at > $0 }) ?? true {
            events.append(PlannedEvent(.normal, BackupHealthReason.backupSucceeded, "Backup Job \(job.name) completed at \(KubeTime.format(at))"))
        }
        if let job = newestFailure, let at = job.failed, parse(previous?.lastFailedTime).map({ at > $0 }) ?? true {
            events.append(PlannedEvent(.warning, BackupHealthReason.backupFailed,
                                       "Backup Job \(job.name) failed at \(KubeTime.format(at))\(detail(job.failureReason, job.failureMessage))"))
        }

        let recheckAt = schedule?.nextFireTime(after: now).map { $0.addingTimeInterval(recheckDelay) }
        return BackupHealth(status: status, condition: condition, events: events, recheckAt: recheckAt)
    }

    /// The BackupHealthy condition, by the first rule that applies: last finished run failed,
    /// suspended, overdue, succeeded, nothing yet.
    static func verdict(status: Backup, cronJob: CronJob?, schedule: CronSchedule?, suspended: Bool,
                        newestSuccess: ObservedJob?, newestFailure: ObservedJob?, generation: Int64, now: Date) -> Condition {
        func condition(_ value: String, _ reason: String, _ message: String) -> Condition {
            Condition(type: ConditionType.backupHealthy, status: value, observedGeneration: generation, reason: reason, message: message)
        }
        let lastSuccess = parse(status.lastSuccessfulTime)
        let lastFailure = parse(status.lastFailedTime)

        // Compared through the merged times, so a failure still counts after its Job was deleted.
        // Times have one-second resolution: a failure in the same second as the last success counts
        // when its Job is the newer one (created later, or the later name, as CronJob names grow).
        let failureIsNewerJob = newestFailure.map { failure in
            newestSuccess.map { (failure.created ?? .distantPast, failure.name) > ($0.created ?? .distantPast, $0.name) } ?? true
        } ?? false
        if let lastFailure, lastSuccess.map({ lastFailure > $0 || (lastFailure == $0 && failureIsNewerJob) }) ?? true {
            let job = newestFailure.flatMap { sameSecond($0.failed, lastFailure) ? $0.name : nil }
            let subject = job.map { "Backup Job \($0)" } ?? "The last backup"
            return condition("False", BackupHealthReason.backupFailed,
                             "\(subject) failed at \(KubeTime.format(lastFailure))\(detail(status.lastFailureReason, status.lastFailureMessage))")
        }
        if suspended {
            return condition("False", BackupHealthReason.suspended, "Backups are suspended by spec.backup.suspend")
        }
        if let schedule, let created = parse(cronJob?.metadata.creationTimestamp),
           let f1 = schedule.previousFireTime(atOrBefore: now),
           let f2 = schedule.previousFireTime(atOrBefore: f1.addingTimeInterval(-1)),
           created < f2, lastSuccess.map({ $0 < f2 }) ?? true {
            let last = status.lastSuccessfulTime.map { "; the last success was at \($0)" } ?? "; none has succeeded yet"
            return condition("False", BackupHealthReason.backupOverdue,
                             "No backup succeeded within two schedule periods (since \(KubeTime.format(f2)))\(last)")
        }
        if let lastSuccess {
            let job = newestSuccess.flatMap { sameSecond($0.completed, lastSuccess) ? $0.name : nil }
            return condition("True", BackupHealthReason.backupSucceeded,
                             "Last backup succeeded at \(KubeTime.format(lastSuccess))\(job.map { " (Job \($0))" } ?? "")")
        }
        let next = schedule?.nextFireTime(after: now).map { "; the next is scheduled for \(KubeTime.format($0))" } ?? ""
        return condition("Unknown", BackupHealthReason.noBackupYet, "No backup has run yet\(next)")
    }

    /// What a Job shows about a backup run.
    struct ObservedJob {
        var name: String
        var created: Date?
        var started: Date?
        /// When it completed (`Complete=True`).
        var completed: Date?
        /// When it failed (`Failed=True`), with the condition's reason and message.
        var failed: Date?
        var failureReason: String?
        var failureMessage: String?

        init(_ job: Job) {
            name = job.metadata.name ?? ""
            created = parse(job.metadata.creationTimestamp)
            started = parse(job.status?.startTime)
            let conditions = job.status?.conditions ?? []
            if let complete = conditions.first(type: "Complete"), complete.isTrue {
                completed = parse(job.status?.completionTime) ?? parse(complete.lastTransitionTime) ?? started ?? created
            }
            if let failure = conditions.first(type: "Failed"), failure.isTrue {
                failed = parse(failure.lastTransitionTime) ?? started ?? created
                failureReason = failure.reason
                failureMessage = failure.message
            }
        }
    }

    /// Status times have second precision; the Job's may not.
    static func sameSecond(_ a: Date?, _ b: Date) -> Bool { a.map { abs($0.timeIntervalSince(b)) < 1 } ?? false }

    static func parse(_ text: String?) -> Date? { text.flatMap(KubeTime.parse) }

    /// The latest of a recorded time and observed ones, formatted; the recorded text is kept
    /// as it is when nothing observed is later.
    static func latest(_ recorded: String?, _ observed: Date?...) -> String? {
        guard let newest = observed.compactMap({ $0 }).max() else { return recorded }
        if let recordedDate = parse(recorded), recordedDate >= newest { return recorded }
        return KubeTime.format(newest)
    }

    /// `: Reason: message` for a failure, with whatever of the two is known.
    static func detail(_ reason: String?, _ message: String?) -> String {
        let parts = [reason, message].compactMap { $0 }.filter { !$0.isEmpty }
        return parts.isEmpty ? "" : ": " + parts.joined(separator: ": ")
    }
}
