import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

/// BackupHealth: `status.backup` and the BackupHealthy condition from the backup CronJob and its
/// Jobs. The schedule is daily at 02:00 UTC; the CronJob exists since 2030-01-01T00:00:00Z.
@Suite("BackupHealth")
struct BackupHealthTests {
    typealias Backup = PynomalyDeploymentStatus.Backup

    static let created = "2030-01-01T00:00:00Z"
    static let failReason = "BackoffLimitExceeded"
    static let failMessage = "Job has reached the specified backoff limit"

    static func date(_ text: String) throws -> Date { try #require(KubeTime.parse(text)) }

    static func daily() throws -> CronSchedule { try CronSchedule(parsing: "0 2 * * *", timeZone: .utc) }

    static func cronJob(created: String = created, lastSchedule: String? = nil, lastSuccess: String? = nil) -> CronJob {
        var meta = ObjectMeta(name: "app-backup", namespace: "default")
        meta.creationTimestamp = created
        var cron = CronJob(metadata: meta, spec: CronJobSpec(schedule: "0 2 * * *", jobTemplate: JobTemplateSpec()))
        if lastSchedule != nil || lastSuccess != nil {
            cron.status = CronJobStatus(lastScheduleTime: lastSchedule, lastSuccessfulTime: lastSuccess)
        }
        return cron
    }

    /// A backup Job: running (only `started`), complete or failed.
    static func job(_ name: String, created: String, started: String? = nil, completed: String? = nil, failed: String? = nil,
                    reason: String? = failReason, message: String? = failMessage) -> Job {
        var meta = ObjectMeta(name: name, namespace: "default")
        meta.creationTimestamp = created
        var job = Job(metadata: meta, spec: JobSpec(template: PodTemplateSpec()))
        var status = JobStatus()
        status.startTime = started ?? created
        if let completed {
            status.completionTime = completed
            status.succeeded = 1
            status.conditions = [Condition(type: "SuccessCriteriaMet", status: "True", lastTransitionTime: completed),
                                 Condition(type: "Complete", status: "True", lastTransitionTime: completed)]
        } else if let failed {
            status.failed = 1
            status.conditions = [Condition(type: "FailureTarget", status: "True", lastTransitionTime: failed),
                                 Condition(type: "Failed", status: "True", lastTransitionTime: failed, reason: reason, message: message)]
        } else {
            status.active = 1
        }
        job.status = status
        return job
    }

    static func evaluate(cronJob: CronJob? = cronJob(), jobs: [Job] = [], schedule: CronSchedule?? = nil, suspended: Bool = false,
                         previous: Backup? = nil, generation: Int64 = 3, now: String) throws -> BackupHealth {
        let schedule = try schedule ?? daily()
        return BackupHealth.evaluate(cronJob: cronJob, jobs: jobs, schedule: schedule, suspended: suspended, previous: previous,
                                     generation: generation, now: try date(now))
    }

    // MARK: - Condition

    @Test func nothingRanYetIsUnknownWithTheNextFireTime() throws {
        for cron in [Self.cronJob(), nil] {
            let health = try Self.evaluate(cronJob: cron, now: "2030-01-01T01:00:00Z")
            #expect(health.condition.type == ConditionType.backupHealthy)
            #expect(health.condition.status == "Unknown")
            #expect(health.condition.reason == "NoBackupYet")
            #expect(health.condition.reason == BackupHealthReason.noBackupYet)
            #expect(health.condition.observedGeneration == 3)
            #expect(health.condition.lastTransitionTime == nil)
            #expect(health.condition.message?.contains("2030-01-01T02:00:00Z") == true)
            #expect(health.status == Backup())
            #expect(health.events.isEmpty)
            #expect(health.recheckAt == (try Self.date("2030-01-01T02:00:05Z")))
        }
    }

    @Test func overdueOnlyAfterTwoMissedPeriods() throws {
        // One fire time passed since creation (01-01 02:00): not overdue yet.
        #expect(try Self.evaluate(now: "2030-01-02T01:59:00Z").condition.reason == "NoBackupYet")
        // Two passed (01-01 and 01-02 02:00) and none succeeded.
        let health = try Self.evaluate(now: "2030-01-02T02:00:00Z")
        #expect(health.condition.status == "False")
        #expect(health.condition.reason == BackupHealthReason.backupOverdue)
        #expect(health.condition.message?.contains("two schedule periods") == true)
        #expect(health.condition.message?.contains("2030-01-01T02:00:00Z") == true)
        // A CronJob created after f2 is not overdue (it could not have run).
        #expect(try Self.evaluate(cronJob: Self.cronJob(created: "2030-01-01T03:00:00Z"), now: "2030-01-02T03:00:00Z").condition.reason
            == "NoBackupYet")
        // Without a CronJob, or without a schedule, nothing can be overdue.
        #expect(try Self.evaluate(cronJob: nil, now: "2030-01-05T03:00:00Z").condition.reason == "NoBackupYet")
        let noSchedule = try Self.evaluate(schedule: .some(nil), now: "2030-01-05T03:00:00Z")
        #expect(noSchedule.condition.reason == "NoBackupYet")
        #expect(noSchedule.recheckAt == nil)
    }

    @Test func aSuccessIsHealthyUntilItIsTwoPeriodsOld() throws {
        let job = Self.job("app-backup-1", created: "2030-01-01T02:00:00Z", started: "2030-01-01T02:00:01Z", completed: "2030-01-01T02:03:00Z")
        let health = try Self.evaluate(jobs: [job], now: "2030-01-01T12:00:00Z")
        #expect(health.condition.status == "True")
        #expect(health.condition.reason == BackupHealthReason.backupSucceeded)
        #expect(health.condition.message?.contains("2030-01-01T02:03:00Z") == true)
        #expect(health.condition.message?.contains("app-backup-1") == true)
        #expect(health.status == Backup(lastScheduleTime: "2030-01-01T02:00:01Z", lastSuccessfulTime: "2030-01-01T02:03:00Z",
                                        lastJob: "app-backup-1"))
        // At or after f2 counts: f2 = 01-01 02:00 at now = 01-02 03:00.
        #expect(try Self.evaluate(jobs: [job], now: "2030-01-02T03:00:00Z").condition.status == "True")
        // 01-03 02:00: f2 = 01-02 02:00, the success is older.
        let overdue = try Self.evaluate(jobs: [job], now: "2030-01-03T02:00:00Z")
        #expect(overdue.condition.reason == BackupHealthReason.backupOverdue)
        #expect(overdue.condition.message?.contains("2030-01-01T02:03:00Z") == true)
    }

    @Test func theNewestFinishedJobFailing() throws {
        let ok = Self.job("app-backup-1", created: "2030-01-01T02:00:00Z", completed: "2030-01-01T02:03:00Z")
        let bad = Self.job("app-backup-2", created: "2030-01-02T02:00:00Z", failed: "2030-01-02T02:10:00Z")
        let health = try Self.evaluate(jobs: [ok, bad], now: "2030-01-02T03:00:00Z")
        #expect(health.condition.status == "False")
        #expect(health.condition.reason == BackupHealthReason.backupFailed)
        let message = try #require(health.condition.message)
        #expect(message.contains("app-backup-2") && message.contains(Self.failReason) && message.contains(Self.failMessage))
        #expect(health.status == Backup(lastScheduleTime: "2030-01-02T02:00:00Z", lastSuccessfulTime: "2030-01-01T02:03:00Z",
                                        lastFailedTime: "2030-01-02T02:10:00Z", lastJob: "app-backup-2",
                                        lastFailureReason: Self.failReason, lastFailureMessage: Self.failMessage))

        // A newer success clears the verdict; the failure stays on record.
        let ok2 = Self.job("app-backup-3", created: "2030-01-02T05:00:00Z", completed: "2030-01-02T05:02:00Z")
        let recovered = try Self.evaluate(jobs: [ok, bad, ok2], previous: health.status, now: "2030-01-02T06:00:00Z")
        #expect(recovered.condition.status == "True")
        #expect(recovered.status.lastFailedTime == "2030-01-02T02:10:00Z")
        #expect(recovered.status.lastFailureReason == Self.failReason)
        #expect(recovered.status.lastJob == "app-backup-3")
    }

    @Test func finishOrderNotCreationOrderDecides() throws {
        // An on-demand Job created later but failing before a scheduled one completes.
        let failedFirst = Self.job("app-backup-manual", created: "2030-01-01T02:01:00Z", failed: "2030-01-01T02:02:00Z")
        let completedLater = Self.job("app-backup-1", created: "2030-01-01T02:00:00Z", completed: "2030-01-01T02:05:00Z")
        #expect(try Self.evaluate(jobs: [failedFirst, completedLater], now: "2030-01-01T03:00:00Z").condition.status == "True")
    }

    @Test func suspendedUnlessTheLastRunFailed() throws {
        let suspended = try Self.evaluate(suspended: true, now: "2030-01-05T03:00:00Z")
        #expect(suspended.condition.status == "False")
        #expect(suspended.condition.reason == BackupHealthReason.suspended)
        #expect(suspended.condition.message?.contains("spec.backup.suspend") == true)
        // Suspended wins over a success too (backups have stopped).
        let ok = Self.job("app-backup-1", created: "2030-01-05T02:00:00Z", completed: "2030-01-05T02:03:00Z")
        #expect(try Self.evaluate(jobs: [ok], suspended: true, now: "2030-01-05T03:00:00Z").condition.reason == "Suspended")
        // A failure is reported first.
        let bad = Self.job("app-backup-2", created: "2030-01-05T02:10:00Z", failed: "2030-01-05T02:20:00Z")
        #expect(try Self.evaluate(jobs: [ok, bad], suspended: true, now: "2030-01-05T03:00:00Z").condition.reason == "BackupFailed")
    }

    @Test func aRunningJobDoesNotChangeTheVerdict() throws {
        let ok = Self.job("app-backup-1", created: "2030-01-01T02:00:00Z", completed: "2030-01-01T02:03:00Z")
        let bad = Self.job("app-backup-2", created: "2030-01-02T02:00:00Z", failed: "2030-01-02T02:10:00Z")
        let running = Self.job("app-backup-3", created: "2030-01-02T04:00:00Z", started: "2030-01-02T04:00:02Z")
        let healthy = try Self.evaluate(jobs: [ok, running], now: "2030-01-02T04:30:00Z")
        #expect(healthy.condition.reason == "BackupSucceeded")
        #expect(healthy.status.lastJob == "app-backup-3")
        #expect(healthy.status.lastScheduleTime == "2030-01-02T04:00:02Z")
        #expect(try Self.evaluate(jobs: [ok, bad, running], now: "2030-01-02T04:30:00Z").condition.reason == "BackupFailed")
        #expect(try Self.evaluate(jobs: [running], now: "2030-01-01T05:00:00Z").condition.reason == "NoBackupYet")
    }

    // MARK: - Status times

    @Test func cronJobStatusAndJobsTakeTheLaterTime() throws {
        let job = Self.job("app-backup-1", created: "2030-01-01T02:00:00Z", started: "2030-01-01T02:00:03Z", completed: "2030-01-01T02:03:00Z")
        // The CronJob saw a later schedule (its Job is not in the list) and a later success.
        let later = try Self.evaluate(cronJob: Self.cronJob(lastSchedule: "2030-01-02T02:00:00Z", lastSuccess: "2030-01-02T02:04:00Z"),
                                      jobs: [job], now: "2030-01-02T03:00:00Z")
        #expect(later.status.lastScheduleTime == "2030-01-02T02:00:00Z")
        #expect(later.status.lastSuccessfulTime == "2030-01-02T02:04:00Z")
        #expect(later.condition.status == "True")
        // The CronJob's times are older than the Job's (an on-demand Job ran since).
        let earlier = try Self.evaluate(cronJob: Self.cronJob(lastSchedule: "2029-12-31T02:00:00Z", lastSuccess: "2029-12-31T02:04:00Z"),
                                        jobs: [job], now: "2030-01-01T03:00:00Z")
        #expect(earlier.status.lastScheduleTime == "2030-01-01T02:00:03Z")
        #expect(earlier.status.lastSuccessfulTime == "2030-01-01T02:03:00Z")
    }

    @Test func historyLimitDeletionKeepsTheRecordedTimes() throws {
        let previous = Backup(lastScheduleTime: "2030-01-03T02:00:00Z", lastSuccessfulTime: "2030-01-03T02:03:00Z",
                              lastFailedTime: "2030-01-02T02:10:00Z", lastJob: "app-backup-3", lastFailureReason: "DeadlineExceeded",
                              lastFailureMessage: "Job was active longer than specified deadline")
        // Every Job is gone and the CronJob status is older: nothing recorded is lost.
        let gone = try Self.evaluate(cronJob: Self.cronJob(lastSchedule: "2030-01-01T02:00:00Z", lastSuccess: "2030-01-01T02:03:00Z"),
                                     jobs: [], previous: previous, now: "2030-01-03T12:00:00Z")
        #expect(gone.status == previous)
        #expect(gone.condition.reason == "BackupSucceeded")
        #expect(gone.events.isEmpty)
        // Only an old failed Job is left: the newer recorded failure stays.
        let oldFailure = Self.job("app-backup-0", created: "2030-01-01T02:00:00Z", failed: "2030-01-01T02:09:00Z", reason: "Old", message: "old")
        let kept = try Self.evaluate(jobs: [oldFailure], previous: previous, now: "2030-01-03T12:00:00Z")
        #expect(kept.status.lastFailedTime == "2030-01-02T02:10:00Z")
        #expect(kept.status.lastFailureReason == "DeadlineExceeded")
        #expect(kept.status.lastJob == "app-backup-0")
        #expect(kept.events.isEmpty)
    }

    @Test func aFailureWhoseJobWasDeletedStillCounts() throws {
        let previous = Backup(lastScheduleTime: "2030-01-02T02:00:00Z", lastSuccessfulTime: "2030-01-01T02:03:00Z",
                              lastFailedTime: "2030-01-02T02:10:00Z", lastJob: "app-backup-2", lastFailureReason: Self.failReason,
                              lastFailureMessage: Self.failMessage)
        let health = try Self.evaluate(jobs: [], previous: previous, now: "2030-01-02T03:00:00Z")
        #expect(health.condition.reason == BackupHealthReason.backupFailed)
        let message = try #require(health.condition.message)
        #expect(message.contains("2030-01-02T02:10:00Z") && message.contains(Self.failReason) && message.contains(Self.failMessage))
    }

    @Test func lastJobIsTheNewestCreatedWithTheNameAsTiebreak() throws {
        let a = Self.job("app-backup-a", created: "2030-01-01T02:00:00Z", completed: "2030-01-01T02:09:00Z")
        let b = Self.job("app-backup-b", created: "2030-01-01T02:00:00Z", completed: "2030-01-01T02:03:00Z")
        let older = Self.job("app-backup-z", created: "2030-01-01T01:00:00Z", completed: "2030-01-01T01:03:00Z")
        #expect(try Self.evaluate(jobs: [b, older, a], now: "2030-01-01T03:00:00Z").status.lastJob == "app-backup-b")
        #expect(try Self.evaluate(jobs: [a, b, older], now: "2030-01-01T03:00:00Z").status.lastJob == "app-backup-b")
    }

    // MARK: - Events

    @Test func eventsForNewlyFinishedJobsOnlyAndAtMostOneOfEach() throws {
        let ok1 = Self.job("app-backup-1", created: "2030-01-01T02:00:00Z", completed: "2030-01-01T02:03:00Z")
        let ok2 = Self.job("app-backup-2", created: "2030-01-01T05:00:00Z", completed: "2030-01-01T05:03:00Z")
        let bad1 = Self.job("app-backup-3", created: "2030-01-01T03:00:00Z", failed: "2030-01-01T03:10:00Z")
        let bad2 = Self.job("app-backup-4", created: "2030-01-01T04:00:00Z", failed: "2030-01-01T04:10:00Z", reason: "DeadlineExceeded",
                            message: "too slow")
        // First evaluation without a previous status: the newest of each kind.
        let first = try Self.evaluate(jobs: [ok1, bad1, ok2, bad2], now: "2030-01-01T06:00:00Z")
        #expect(first.events.count == 2)
        let success = try #require(first.events.first { $0.reason == BackupHealthReason.backupSucceeded })
        #expect(success.type == .normal)
        #expect(success.message.contains("app-backup-2"))
        let failure = try #require(first.events.first { $0.reason == BackupHealthReason.backupFailed })
        #expect(failure.type == .warning)
        #expect(failure.message.contains("app-backup-4") && failure.message.contains("DeadlineExceeded") && failure.message.contains("too slow"))
        #expect(first.condition.status == "True")

        // Evaluated again with the status it wrote: nothing new, no Events.
        #expect(try Self.evaluate(jobs: [ok1, bad1, ok2, bad2], previous: first.status, now: "2030-01-01T06:01:00Z").events.isEmpty)

        // A new failure: one Warning, no Normal.
        let bad3 = Self.job("app-backup-5", created: "2030-01-01T06:30:00Z", failed: "2030-01-01T06:40:00Z")
        let next = try Self.evaluate(jobs: [ok1, ok2, bad2, bad3], previous: first.status, now: "2030-01-01T07:00:00Z")
        #expect(next.events.map(\.reason) == [BackupHealthReason.backupFailed])
        #expect(next.events.first?.message.contains("app-backup-5") == true)
        #expect(next.condition.reason == BackupHealthReason.backupFailed)
    }

    @Test func noEventForWhatOnlyTheCronJobStatusShows() throws {
        let health = try Self.evaluate(cronJob: Self.cronJob(lastSchedule: "2030-01-01T02:00:00Z", lastSuccess: "2030-01-01T02:03:00Z"),
                                       now: "2030-01-01T03:00:00Z")
        #expect(health.condition.status == "True")
        #expect(health.events.isEmpty)
    }
}
