#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The backup volume's PersistentVolumeClaim, created by the operator when `spec.backup.storage`
/// gives a `size`. It has no ownerReference: backups must survive the PynomalyDeployment's deletion.
public enum BackupClaimBuilder {
    /// `app.kubernetes.io/component` of the claim.
    public static let component = "backup-storage"

    /// The claim the backup Jobs mount: `claimName` when given, else `NAME-backups`.
    public static func claimName(_ ctx: BuildContext) -> String {
        ctx.spec.backup?.claim.claimName ?? "\(ctx.name)-backups"
    }

    /// The claim to create, or nil when backups are off or the spec names an existing claim without
    /// a size. ReadWriteOnce (one backup Job at a time: the CronJobs forbid overlap); labelled
    /// managed-by + instance + component so it can be found, but never owned.
    public static func build(_ ctx: BuildContext) -> PersistentVolumeClaim? {
        guard let backup = ctx.spec.backup, let size = backup.claim.size else { return nil }
        let labels = [
            PynomalyLabels.managedByKey: PynomalyLabels.managerName,
            PynomalyLabels.instanceKey: ctx.name,
            PynomalyLabels.componentKey: component,
        ]
        return PersistentVolumeClaim(
            metadata: ObjectMeta(name: claimName(ctx), namespace: ctx.namespace, labels: labels),
            spec: PersistentVolumeClaimSpec(accessModes: ["ReadWriteOnce"], storage: size, storageClassName: backup.claim.storageClassName))
    }
}
