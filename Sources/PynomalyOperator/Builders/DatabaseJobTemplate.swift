#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The parts shared by the database Jobs (scheduled and on-demand backup, maintenance, emergency
/// backup, restore): the scripts, the libpq environment, the restricted pod, the Job spec and the
/// numbers they run with.
///
/// Spec values reach the scripts only through environment variables (`env`), never through the
/// script text: the container runs `/bin/sh -c <script> <script name>` with the script exactly as it
/// is in `Sources/PynomalyOperator/Scripts/`, compiled into the binary.
public enum DatabaseJobTemplate {
    // MARK: Numbers

    /// Forbid: two dumps or vacuums of one database at once only add load, and a second backup of
    /// the same minute would race for the same file name.
    public static let concurrencyPolicy = "Forbid"
    /// A run missed by more than an hour (operator or controller down) is skipped rather than started
    /// at a surprising time; the next schedule runs normally.
    public static let startingDeadlineSeconds: Int64 = 3600
    /// Enough finished Jobs to read the last outcomes (status.backup) and their logs, few enough to
    /// keep the namespace tidy.
    public static let successfulJobsHistoryLimit: Int32 = 3
    public static let failedJobsHistoryLimit: Int32 = 3
    /// Backup Jobs retry twice: a dump usually fails for a passing reason (a restarting database, a
    /// network blip); the partial-file rename makes a retry safe.
    public static let backupBackoffLimit: Int32 = 2
    /// A restore runs once more at most: `pg_restore --clean` is repeatable, but a restore that fails
    /// twice needs a human, and the app stays scaled down meanwhile.
    public static let restoreBackoffLimit: Int32 = 1
    /// Three hours for a dump or a restore: far above a normal run, low enough that a hung
    /// connection does not hold the CronJob (Forbid) for the next day's run.
    public static let backupActiveDeadlineSeconds: Int64 = 10_800
    /// Six hours for VACUUM ANALYZE, which scans every table and can be slow on large databases.
    public static let maintenanceActiveDeadlineSeconds: Int64 = 21_600
    /// A fixed non-root uid (the postgres image's USER is root); fsGroup gives it write access to
    /// the backup volume.
    public static let runAsUser: Int64 = 65532
    public static let fsGroup: Int64 = 65532

    // MARK: Names

    /// The backup volume and where it is mounted; `BACKUP_DIR` is this path.
    public static let backupVolume = "backups"
    public static let backupMountPath = "/backups"
    /// The writable scratch directory (the root filesystem is read-only); `HOME` points here.
    public static let tmpVolume = "tmp"
    public static let tmpMountPath = "/tmp"
    /// Labels the restore Jobs with the PynomalyRestore's name.
    public static let restoreLabelKey = "pynomaly.ai/restore"
    /// The request token of an on-demand backup Job, an annotation (tokens need not be label values).
    public static let backupTokenAnnotation = "pynomaly.ai/backup-token"

    /// The environment variables the scripts read.
    public enum Env {
        public static let host = "PGHOST", port = "PGPORT", user = "PGUSER", database = "PGDATABASE"
        public static let sslMode = "PGSSLMODE", password = "PGPASSWORD", home = "HOME"
        /// `dbname='…'` (libpq conninfo quoting): what the scripts pass to `-d`, see `databaseConninfo`.
        public static let databaseConninfo = "DATABASE_CONNINFO"
        public static let backupDir = "BACKUP_DIR", backupPrefix = "BACKUP_PREFIX", retentionDays = "RETENTION_DAYS"
        public static let backupFileName = "BACKUP_FILE_NAME"
        public static let restoreFile = "RESTORE_FILE", restoreLatest = "RESTORE_LATEST"
    }

    // MARK: Scripts

    /// The scripts, as embedded from `Sources/PynomalyOperator/Scripts/`.
    public enum Script: String, Sendable, CaseIterable {
        case backup = "backup.sh"
        case maintenance = "maintenance.sh"
        case restore = "restore.sh"

        /// The script's bytes as compiled into the binary.
        public var bytes: [UInt8] {
            switch self {
            case .backup: PackageResources.backup_sh
            case .maintenance: PackageResources.maintenance_sh
            case .restore: PackageResources.restore_sh
            }
        }

        /// The script text.
        public var text: String { String(decoding: bytes, as: UTF8.self) }

        /// The container command: the script runs as `sh -c` text with its file name as `$0`
        /// (so its error messages name it). No arguments: every input is an environment variable.
        public var command: [String] { ["/bin/sh", "-c", text, rawValue] }
    }

    // MARK: Building blocks

    /// The libpq environment of a database: plain values from the spec, the password only through
    /// `secretKeyRef`, and `HOME` in the writable scratch directory.
    public static func connectionEnv(_ database: ResolvedSpec.Database) -> [EnvVar] {
        var env = [
            EnvVar(name: Env.host, value: database.host),
            EnvVar(name: Env.port, value: String(database.port)),
            EnvVar(name: Env.user, value: database.user),
            EnvVar(name: Env.database, value: database.name),
            EnvVar(name: Env.sslMode, value: database.sslMode.rawValue),
        ]
        env.append(EnvVar(name: Env.databaseConninfo, value: databaseConninfo(database.name)))
        if let ref = database.passwordSecretRef {
            env.append(EnvVar(name: Env.password, valueFrom: EnvVarSource(secretKeyRef: SecretKeySelector(name: ref.name, key: ref.key))))
        }
        env.append(EnvVar(name: Env.home, value: tmpMountPath))
        return env
    }

    /// `dbname='NAME'` with libpq's conninfo quoting (backslash and single quote escaped). The tools
    /// (pg_dump -d, pg_restore -d, vacuumdb, even PGDATABASE for vacuumdb) expand a database name
    /// containing `=` as a whole connection string; given this way, the name stays a name.
    public static func databaseConninfo(_ name: String) -> String {
        "dbname='" + name.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }

    /// The labels of a database Job's pod (and of a CronJob's job template): managed-by (the
    /// operator's Job informer selects on it), instance and component. No `app.kubernetes.io/name`,
    /// so the app's Services and PodDisruptionBudget never select these pods.
    public static func podLabels(instance: String, component: String, extra: [String: String] = [:]) -> [String: String] {
        var labels = extra
        labels[PynomalyLabels.managedByKey] = PynomalyLabels.managerName
        labels[PynomalyLabels.instanceKey] = instance
        labels[PynomalyLabels.componentKey] = component
        return labels
    }

    /// A Job spec running `script` in `image` as a restricted pod.
    /// - Parameters:
    ///   - env: the script's environment (after the connection variables).
    ///   - backupClaim: the claim mounted at `backupMountPath`, or nil for no backup volume.
    static func jobSpec(_ ctx: BuildContext, container name: String, image: String, script: Script, env: [EnvVar],
                        backupClaim: String?, podLabels: [String: String], backoffLimit: Int32, activeDeadlineSeconds: Int64) -> JobSpec {
        var mounts = [VolumeMount(name: tmpVolume, mountPath: tmpMountPath)]
        var volumes = [Volume(name: tmpVolume, emptyDir: EmptyDirVolumeSource())]
        if let backupClaim {
            mounts.append(VolumeMount(name: backupVolume, mountPath: backupMountPath))
            volumes.append(Volume(name: backupVolume, persistentVolumeClaim: PersistentVolumeClaimVolumeSource(claimName: backupClaim)))
        }
        let container = Container(
            name: name,
            image: image,
            command: script.command,
            env: env,
            volumeMounts: mounts,
            securityContext: SecurityContext(
                runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
                capabilities: Capabilities(drop: ["ALL"]), seccompProfile: SeccompProfile(type: "RuntimeDefault")))
        var podSpec = PodSpec(
            containers: [container],
            volumes: volumes,
            restartPolicy: "Never",
            securityContext: PodSecurityContext(runAsUser: runAsUser, runAsNonRoot: true, fsGroup: fsGroup,
                                                seccompProfile: SeccompProfile(type: "RuntimeDefault")))
        // The scripts talk only to PostgreSQL: no API credentials in the pod.
        podSpec.automountServiceAccountToken = false
        if !ctx.spec.imagePullSecrets.isEmpty { podSpec.imagePullSecrets = ctx.spec.imagePullSecrets.map { LocalObjectReference(name: $0) } }
        return JobSpec(template: PodTemplateSpec(metadata: ObjectMeta(labels: podLabels), spec: podSpec),
                       backoffLimit: backoffLimit, activeDeadlineSeconds: activeDeadlineSeconds)
    }

    /// The Job spec of a backup (scheduled, on-demand or emergency) of the deployment's database, or
    /// nil without a database or backup spec. `fileName` set: write exactly that file and prune
    /// nothing (emergency backup); nil: a timestamped file and pruning by `retentionDays`.
    static func backupJobSpec(_ ctx: BuildContext, component: String, fileName: String? = nil,
                              extraPodLabels: [String: String] = [:]) -> JobSpec? {
        guard let backup = ctx.spec.backup, let database = ctx.spec.database else { return nil }
        var env = connectionEnv(database)
        env.append(EnvVar(name: Env.backupDir, value: backupMountPath))
        env.append(EnvVar(name: Env.backupPrefix, value: ctx.name))
        if let fileName {
            env.append(EnvVar(name: Env.backupFileName, value: fileName))
        } else {
            env.append(EnvVar(name: Env.retentionDays, value: String(backup.retentionDays)))
        }
        return jobSpec(ctx, container: component, image: backup.image, script: .backup, env: env,
                       backupClaim: BackupClaimBuilder.claimName(ctx),
                       podLabels: podLabels(instance: ctx.name, component: component, extra: extraPodLabels),
                       backoffLimit: backupBackoffLimit, activeDeadlineSeconds: backupActiveDeadlineSeconds)
    }

    /// `base` + `suffix` as a Job name that is a DNS label of at most 63 characters (the
    /// `job-name` pod label). When `base` is too long or not a DNS label (a restore name may hold
    /// dots), it is cut and cleaned, and `-` + 8 hex digits of its hash keep different bases apart.
    static func jobName(_ base: String, suffix: String) -> String {
        let full = "\(base)\(suffix)"
        if full.count <= 63 && BackupCronJobBuilder.isDNSLabel(base) { return full }
        let hash = hexHash(of: base, digits: 8)
        let room = max(0, 63 - suffix.count - 1 - hash.count)
        let cleaned = base.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" }
        var prefix = String(cleaned.prefix(room))
        // A cut name must still end in an alphanumeric (DNS label rules).
        while prefix.last == "-" { prefix.removeLast() }
        while prefix.first == "-" { prefix.removeFirst() }
        return prefix.isEmpty ? "\(hash)\(suffix)" : "\(prefix)-\(hash)\(suffix)"
    }

    /// The first `digits` lower-case hex digits of the FNV-1a 64 hash of the text's UTF-8 bytes.
    static func hexHash(of text: String, digits: Int) -> String {
        let hex = String(StableHash.fnv1a64(Array(text.utf8)), radix: 16)
        return String((String(repeating: "0", count: 16 - hex.count) + hex).prefix(digits))
    }
}
