#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The Jobs of a PynomalyRestore: the emergency backup of the current database
/// (`Scripts/backup.sh` with a fixed file name, no pruning) and the restore
/// (`Scripts/restore.sh`: `pg_restore --clean --if-exists` from the chosen file).
///
/// Both are controlled by the PynomalyRestore (not the deployment), so they go with it, and are
/// labelled managed-by + instance=<deployment> + component + `pynomaly.ai/restore: <restore name>`.
public enum RestoreJobBuilder {
    public static let emergencyComponent = "emergency-backup"
    public static let restoreComponent = "restore"

    /// `<restore>-emergency-backup`, shortened with a hash when longer than 63 characters.
    public static func emergencyJobName(_ restoreName: String) -> String {
        DatabaseJobTemplate.jobName(restoreName, suffix: "-\(emergencyComponent)")
    }

    /// `<restore>-restore`, shortened with a hash when longer than 63 characters.
    public static func restoreJobName(_ restoreName: String) -> String {
        DatabaseJobTemplate.jobName(restoreName, suffix: "-\(restoreComponent)")
    }

    /// `<NAME>-<yyyyMMdd'T'HHmmss'Z'>-emergency.dump` (UTC): outside the scheduled pattern, so
    /// pruning never deletes it and `latest` never restores it.
    public static func emergencyFileName(deployment: String, at date: Date) -> String {
        // RFC 3339 in UTC without its separators: 2030-01-02T03:04:05Z -> 20300102T030405Z.
        let stamp = KubeTime.format(date).filter { $0 != "-" && $0 != ":" }
        return "\(deployment)-\(stamp)-emergency.dump"
    }

    /// The emergency backup Job writing `fileName`, or nil without a backup or database spec.
    public static func emergencyBackupJob(_ ctx: BuildContext, restore: PynomalyRestore, fileName: String) -> Job? {
        let restoreName = restore.metadata.name ?? ""
        let extra = [DatabaseJobTemplate.restoreLabelKey: restoreName]
        guard let spec = DatabaseJobTemplate.backupJobSpec(ctx, component: emergencyComponent, fileName: fileName, extraPodLabels: extra)
        else { return nil }
        return Job(metadata: metadata(ctx, restore: restore, name: emergencyJobName(restoreName), component: emergencyComponent), spec: spec)
    }

    /// The restore Job, or nil without a backup or database spec. `spec.backupFile` gives
    /// `RESTORE_FILE`; otherwise `latest: true` gives `RESTORE_LATEST=true` (with neither, the
    /// script fails with a clear message; the CRD requires one of them).
    public static func restoreJob(_ ctx: BuildContext, restore: PynomalyRestore) -> Job? {
        guard let backup = ctx.spec.backup, let database = ctx.spec.database else { return nil }
        let restoreName = restore.metadata.name ?? ""
        typealias Env = DatabaseJobTemplate.Env
        var env = DatabaseJobTemplate.connectionEnv(database)
        env.append(EnvVar(name: Env.backupDir, value: DatabaseJobTemplate.backupMountPath))
        env.append(EnvVar(name: Env.backupPrefix, value: ctx.name))
        if let file = restore.spec.backupFile {
            env.append(EnvVar(name: Env.restoreFile, value: file))
        } else if restore.spec.latest == true {
            env.append(EnvVar(name: Env.restoreLatest, value: "true"))
        }
        let podLabels = DatabaseJobTemplate.podLabels(instance: ctx.name, component: restoreComponent,
                                                      extra: [DatabaseJobTemplate.restoreLabelKey: restoreName])
        let spec = DatabaseJobTemplate.jobSpec(
            ctx, container: restoreComponent, image: backup.image, script: .restore, env: env,
            backupClaim: BackupClaimBuilder.claimName(ctx), podLabels: podLabels,
            backoffLimit: DatabaseJobTemplate.restoreBackoffLimit,
            activeDeadlineSeconds: DatabaseJobTemplate.backupActiveDeadlineSeconds)
        return Job(metadata: metadata(ctx, restore: restore, name: restoreJobName(restoreName), component: restoreComponent), spec: spec)
    }

    /// Namespace, labels and the controller reference to the PynomalyRestore.
    static func metadata(_ ctx: BuildContext, restore: PynomalyRestore, name: String, component: String) -> ObjectMeta {
        let restoreName = restore.metadata.name ?? ""
        let labels = DatabaseJobTemplate.podLabels(instance: ctx.name, component: component,
                                                   extra: [DatabaseJobTemplate.restoreLabelKey: restoreName])
        let owner = OwnerReference(apiVersion: PynomalyRestore.resourceType.apiVersion, kind: PynomalyRestore.resourceType.kind,
                                   name: restoreName, uid: restore.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)
        return ObjectMeta(name: name, namespace: restore.metadata.namespace ?? ctx.namespace, labels: labels, ownerReferences: [owner])
    }
}
