#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The scheduled `vacuumdb --analyze` (CronJob `NAME-db-maintenance`, `Scripts/maintenance.sh`),
/// from `spec.database.maintenance`. It mounts no backup volume.
public enum MaintenanceCronJobBuilder {
    /// `app.kubernetes.io/component` of the CronJob's Jobs and their pods.
    public static let component = "db-maintenance"

    /// `NAME-db-maintenance`.
    public static func cronJobName(_ name: String) -> String { "\(name)-\(component)" }

    /// The CronJob, or nil when `spec.database` or `spec.database.maintenance` is missing.
    /// - Parameter heldByRestore: a restore holds the app: the schedule is suspended whatever the
    ///   spec says, since a run in the middle of `pg_restore --clean` sees a half-restored database.
    public static func build(_ ctx: BuildContext, heldByRestore: Bool = false) -> CronJob? {
        guard let database = ctx.spec.database, let maintenance = database.maintenance else { return nil }
        let templateLabels = DatabaseJobTemplate.podLabels(instance: ctx.name, component: component)
        let jobSpec = DatabaseJobTemplate.jobSpec(
            ctx, container: component, image: maintenance.image, script: .maintenance,
            env: DatabaseJobTemplate.connectionEnv(database), backupClaim: nil, podLabels: templateLabels,
            backoffLimit: DatabaseJobTemplate.backupBackoffLimit,
            activeDeadlineSeconds: DatabaseJobTemplate.maintenanceActiveDeadlineSeconds)
        let spec = CronJobSpec(
            schedule: maintenance.schedule,
            jobTemplate: JobTemplateSpec(metadata: ObjectMeta(labels: templateLabels), spec: jobSpec),
            timeZone: maintenance.timeZone,
            concurrencyPolicy: DatabaseJobTemplate.concurrencyPolicy,
            suspend: heldByRestore || maintenance.suspend,
            startingDeadlineSeconds: DatabaseJobTemplate.startingDeadlineSeconds,
            successfulJobsHistoryLimit: DatabaseJobTemplate.successfulJobsHistoryLimit,
            failedJobsHistoryLimit: DatabaseJobTemplate.failedJobsHistoryLimit)
        return CronJob(metadata: ctx.metadata(name: cronJobName(ctx.name), extraLabels: [PynomalyLabels.componentKey: component]),
                       spec: spec)
    }
}
