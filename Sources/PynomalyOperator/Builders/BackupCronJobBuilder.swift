#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The scheduled backup (CronJob `NAME-backup`) and on-demand backups (Job `NAME-backup-<token>`):
/// `Scripts/backup.sh` dumps the database with `pg_dump -Fc` into the backup volume, then prunes
/// this deployment's scheduled files older than `retentionDays`.
public enum BackupCronJobBuilder {
    /// `app.kubernetes.io/component` of the CronJob's Jobs, the on-demand Jobs and their pods.
    public static let component = "backup"

    /// `NAME-backup`.
    public static func cronJobName(_ name: String) -> String { "\(name)-\(component)" }

    /// The CronJob, or nil when `spec.backup` (enabled) or `spec.database` is missing.
    /// - Parameter heldByRestore: a restore holds the app: the schedule is suspended whatever the
    ///   spec says, since a run in the middle of `pg_restore --clean` sees a half-restored database.
    public static func build(_ ctx: BuildContext, heldByRestore: Bool = false) -> CronJob? {
        guard let backup = ctx.spec.backup, let jobSpec = DatabaseJobTemplate.backupJobSpec(ctx, component: component) else { return nil }
        let extra = [PynomalyLabels.componentKey: component]
        // Jobs created by the CronJob inherit these labels: managed-by for the operator's Job
        // informer, instance and component to tell whose backup it is.
        let templateLabels = DatabaseJobTemplate.podLabels(instance: ctx.name, component: component)
        let spec = CronJobSpec(
            schedule: backup.schedule,
            jobTemplate: JobTemplateSpec(metadata: ObjectMeta(labels: templateLabels), spec: jobSpec),
            timeZone: backup.timeZone,
            concurrencyPolicy: DatabaseJobTemplate.concurrencyPolicy,
            suspend: heldByRestore || backup.suspend,
            startingDeadlineSeconds: DatabaseJobTemplate.startingDeadlineSeconds,
            successfulJobsHistoryLimit: DatabaseJobTemplate.successfulJobsHistoryLimit,
            failedJobsHistoryLimit: DatabaseJobTemplate.failedJobsHistoryLimit)
        return CronJob(metadata: ctx.metadata(name: cronJobName(ctx.name), extraLabels: extra), spec: spec)
    }

    /// `NAME-backup-<token>`, the token lower-cased. A token that is not a DNS label after
    /// lower-casing, or that would make the name longer than 63 characters, is replaced by the first
    /// 10 hex digits of its hash, so every token still gives one deterministic, valid name.
    public static func onDemandJobName(_ name: String, token: String) -> String {
        let lowered = token.lowercased()
        let candidate = "\(name)-\(component)-\(lowered)"
        if isDNSLabel(lowered) && candidate.count <= 63 { return candidate }
        return "\(name)-\(component)-\(DatabaseJobTemplate.hexHash(of: token, digits: 10))"
    }

    /// The on-demand backup Job for a request token: the CronJob's job template as a Job owned by
    /// the PynomalyDeployment. Its name is a function of the token, so a request runs exactly once
    /// (creating it again conflicts). Nil without a backup or database spec.
    public static func onDemandJob(_ ctx: BuildContext, token: String) -> Job? {
        guard let spec = DatabaseJobTemplate.backupJobSpec(ctx, component: component) else { return nil }
        let metadata = ctx.metadata(name: onDemandJobName(ctx.name, token: token),
                                    extraLabels: [PynomalyLabels.componentKey: component],
                                    annotations: [DatabaseJobTemplate.backupTokenAnnotation: token])
        return Job(metadata: metadata, spec: spec)
    }

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
    static func isDNSLabel(_ text: String) -> Bool {
        let allowed = { (c: Character) in c.isASCII && (c.isLowercase || c.isNumber || c == "-") }
        guard let first = text.first, let last = text.last, first != "-", last != "-" else { return false }
        return text.allSatisfy(allowed)
    }
}
