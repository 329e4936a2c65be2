#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// Backups and database maintenance of one PynomalyDeployment, run by every pass before the
/// strategy's own work: the backup volume (created, never owned), the CronJobs NAME-backup and
/// NAME-db-maintenance, on-demand backup Jobs (one per request token), and `status.backup` with the
/// BackupHealthy condition. The outcome goes into the plan's status, which every strategy path builds
/// its status from, so the status is still written once per pass.
struct BackupOutcome: Sendable {
    /// When the BackupHealthy verdict may change by time alone (the next schedule).
    var recheckAt: Date?
}

extension PynomalyDeploymentReconciler {
    /// - Parameter held: a restore holds the app; scheduled runs are suspended and on-demand requests
    ///   wait, since a backup or VACUUM in the middle of `pg_restore --clean` sees a half-restored database.
    func reconcileBackups(_ ctx: BuildContext, status: inout PynomalyDeploymentStatus, held: Bool, now: Date, writer: ChildWriter) async throws -> BackupOutcome {
        if let claim = BackupClaimBuilder.build(ctx) { try await createClaim(claim, ctx: ctx, writer: writer) }

        let cronJob = BackupCronJobBuilder.build(ctx, heldByRestore: held)
        let maintenance = MaintenanceCronJobBuilder.build(ctx, heldByRestore: held)
        try await writer.apply(cronJob, orDelete: BackupCronJobBuilder.cronJobName(ctx.name))
        try await writer.apply(maintenance, orDelete: MaintenanceCronJobBuilder.cronJobName(ctx.name))

        // On-demand backup: exactly once per token. The Job's name derives from the token, so a pass
        // repeated after a crash (Job created, status not yet written) finds it instead of a second one.
        let annotations = ctx.cr.metadata.annotations
        if let token = RequestAnnotation.backup.pendingToken(annotations: annotations, status: status), !held {
            if let job = BackupCronJobBuilder.onDemandJob(ctx, token: token) {
                let name = BackupCronJobBuilder.onDemandJobName(ctx.name, token: token)
                try await writer.createOnce(job)
                writer.record(PlannedEvent(.normal, "BackupRequested", "on-demand backup requested: Job \(name)"))
            } else {
                writer.record(PlannedEvent(.warning, "BackupRequestIgnored",
                                         "pynomaly.ai/backup was set but spec.backup is not enabled (or spec.database is missing): no backup taken"))
            }
            status.markHandled(.backup, token: token)
        }

        var conditions = status.conditions ?? []
        guard let backup = ctx.spec.backup, ctx.spec.database != nil else {
            // Disabled: the condition goes, the record of past backups stays.
            conditions.removeAll { $0.type == ConditionType.backupHealthy }
            status.conditions = conditions.isEmpty ? nil : conditions
            return BackupOutcome(recheckAt: nil)
        }
        let schedule = backup.cronSchedule(timeZones: timeZones)
        let liveCron = caches.owned(.cronJobs, namespace: ctx.namespace, name: BackupCronJobBuilder.cronJobName(ctx.name))
        let jobs = backupJobs(ctx)
        let health = BackupHealth.evaluate(
            cronJob: liveCron.flatMap { try? $0.decode(CronJob.self) }, jobs: jobs, schedule: schedule, suspended: backup.suspend,
            previous: status.backup, generation: ctx.cr.metadata.generation ?? 0, now: now)
        status.backup = health.status
        conditions.set(health.condition, now: now)
        status.conditions = conditions
        for event in health.events { writer.record(event) }
        return BackupOutcome(recheckAt: health.recheckAt)
    }

    /// The backup Jobs of this deployment in the cache: scheduled (owned by its CronJob) and on-demand.
    func backupJobs(_ ctx: BuildContext) -> [Job] {
        guard let store = caches.ownedInformers[ResourceType.jobs.resource]?.store else { return [] }
        let sameInstance = (try? store.byIndex(CacheIndex.label(PynomalyLabels.instanceKey).name, value: ctx.name)) ?? []
        return sameInstance.filter { raw in
            raw[path: ["metadata", "namespace"]]?.stringValue == ctx.namespace
                && raw[path: ["metadata", "labels", PynomalyLabels.componentKey]]?.stringValue == BackupCronJobBuilder.component
        }.compactMap { try? $0.decode(Job.self) }
    }

    /// Creates the backup claim when it does not exist. Never updates or deletes one: it may hold
    /// every backup there is. A claim of that name that the operator did not create for this
    /// deployment (labels managed-by and instance) is refused like any child that is not ours: its
    /// size, class and contents are someone else's. Using an existing claim is a deliberate choice,
    /// `spec.backup.storage.persistentVolumeClaim.claimName` without a `size`.
    func createClaim(_ claim: PersistentVolumeClaim, ctx: BuildContext, writer: ChildWriter) async throws {
        let name = ctx.name
        let created = try await writer.createOnce(claim, isOurs: { Self.isBackupClaim($0, of: name) }, hint: Self.claimHint)
        if created.isNew {
            writer.record(PlannedEvent(.normal, "BackupStorageCreated",
                                       "created PersistentVolumeClaim \(claim.metadata.name ?? "") for backups (kept when the PynomalyDeployment is deleted)"))
        }
    }

    static let claimHint = "to keep backups on it deliberately, set spec.backup.storage.persistentVolumeClaim.claimName to it without a size"

    /// Whether a claim is the backup claim the operator created for the deployment `name`.
    static func isBackupClaim(_ object: JSONValue, of name: String) -> Bool {
        let labels = object[path: ["metadata", "labels"]]
        return labels?[PynomalyLabels.managedByKey]?.stringValue == PynomalyLabels.managerName
            && labels?[PynomalyLabels.instanceKey]?.stringValue == name
            && labels?[PynomalyLabels.componentKey]?.stringValue == BackupClaimBuilder.component
    }
}
