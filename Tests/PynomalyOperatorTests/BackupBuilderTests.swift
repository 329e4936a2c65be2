import Foundation
import KubeCore
import PynomalyOperator
import Testing

@Suite("BackupBuilders")
struct BackupBuilderTests {
    static func context(change: (inout PynomalyDeployment) -> Void = { _ in }) throws -> BuildContext {
        try BuilderTests.context("pynomaly-backup.yaml", change: change)
    }

    static func restore(_ name: String = "pynomaly-restore", file: String? = nil, latest: Bool? = true) -> PynomalyRestore {
        PynomalyRestore(metadata: ObjectMeta(name: name, namespace: "pynomaly"),
                        spec: PynomalyRestoreSpec(deploymentName: "pynomaly", backupFile: file, latest: latest))
            .with { $0.metadata.uid = "7d1e0c2b-0000-4000-8000-000000000002" }
    }

    static let emergencyFile = "pynomaly-20260102T030405Z-emergency.dump"

    /// Every Job spec the builders make for a context, with what it is.
    static func jobSpecs(_ ctx: BuildContext) throws -> [(String, JobSpec)] {
        [
            ("backup", try #require(BackupCronJobBuilder.build(ctx)?.spec?.jobTemplate.spec)),
            ("maintenance", try #require(MaintenanceCronJobBuilder.build(ctx)?.spec?.jobTemplate.spec)),
            ("on-demand", try #require(BackupCronJobBuilder.onDemandJob(ctx, token: "1767225600")?.spec)),
            ("emergency", try #require(RestoreJobBuilder.emergencyBackupJob(ctx, restore: restore(), fileName: emergencyFile)?.spec)),
            ("restore", try #require(RestoreJobBuilder.restoreJob(ctx, restore: restore())?.spec)),
        ]
    }

    static func env(_ spec: JobSpec?) -> [String: EnvVar] {
        Dictionary((spec?.template.spec?.containers.first?.env ?? []).map { ($0.name, $0) }) { first, _ in first }
    }

    @Test func aRestoreHoldSuspendsBothSchedulesWhateverTheSpecSays() throws {
        let ctx = try Self.context()
        #expect(BackupCronJobBuilder.build(ctx)?.spec?.suspend == false)
        #expect(MaintenanceCronJobBuilder.build(ctx)?.spec?.suspend == false)
        #expect(BackupCronJobBuilder.build(ctx, heldByRestore: true)?.spec?.suspend == true)
        #expect(MaintenanceCronJobBuilder.build(ctx, heldByRestore: true)?.spec?.suspend == true)
    }

    // MARK: Golden files

    @Test func goldens() throws {
        let ctx = try Self.context()
        try Golden.check(try #require(BackupCronJobBuilder.build(ctx)), "BackupCronJob.yaml")
        try Golden.check(try #require(MaintenanceCronJobBuilder.build(ctx)), "MaintenanceCronJob.yaml")
        try Golden.check(try #require(BackupCronJobBuilder.onDemandJob(ctx, token: "1767225600")), "BackupJob.yaml")
        try Golden.check(try #require(RestoreJobBuilder.restoreJob(ctx, restore: Self.restore())), "RestoreJob.yaml")
        try Golden.check(try #require(RestoreJobBuilder.emergencyBackupJob(ctx, restore: Self.restore(), fileName: Self.emergencyFile)),
                         "EmergencyBackupJob.yaml")
        try Golden.check(try #require(BackupClaimBuilder.build(ctx)), "BackupClaim.yaml")
    }

    // MARK: When

    @Test func nothingWithoutTheSpec() throws {
        let plain = try BuilderTests.context("pynomaly.yaml")
        #expect(BackupCronJobBuilder.build(plain) == nil)
        #expect(BackupCronJobBuilder.onDemandJob(plain, token: "t") == nil)
        #expect(MaintenanceCronJobBuilder.build(plain) == nil)
        #expect(RestoreJobBuilder.restoreJob(plain, restore: Self.restore()) == nil)
        #expect(RestoreJobBuilder.emergencyBackupJob(plain, restore: Self.restore(), fileName: Self.emergencyFile) == nil)
        #expect(BackupClaimBuilder.build(plain) == nil)

        let disabled = try Self.context { $0.spec.backup?.enabled = false }
        #expect(BackupCronJobBuilder.build(disabled) == nil)
        #expect(MaintenanceCronJobBuilder.build(disabled) != nil)  // maintenance is its own setting
        let noDatabase = try Self.context { $0.spec.database = nil }
        #expect(BackupCronJobBuilder.build(noDatabase) == nil)
        #expect(MaintenanceCronJobBuilder.build(noDatabase) == nil)
        #expect(RestoreJobBuilder.restoreJob(noDatabase, restore: Self.restore()) == nil)
    }

    // MARK: Scripts and values

    /// The containers run the embedded scripts verbatim; spec values reach them only as env.
    @Test func scriptsComeFromPackageResourcesAndCarryNoSpecValues() throws {
        let distinctive = try Self.context {
            $0.metadata.name = "zq-deploy"
            $0.spec.database?.host = "zq-host.example"
            $0.spec.database?.name = "zq_database"
            $0.spec.database?.user = "zq_user"
            $0.spec.database?.port = 6543
            $0.spec.database?.passwordSecretRef = .init(name: "zq-secret", key: "zq-key")
            $0.spec.backup?.retentionDays = 97
            $0.spec.backup?.storage.persistentVolumeClaim = .init(claimName: "zq-claim")
        }
        // The script files in the repository; `embeddedScriptsMatchTheFiles` holds the embedded copies to them.
        let expected: [String: String] = ["backup": try Self.scriptText("backup.sh"), "maintenance": try Self.scriptText("maintenance.sh"),
                                          "on-demand": try Self.scriptText("backup.sh"), "emergency": try Self.scriptText("backup.sh"),
                                          "restore": try Self.scriptText("restore.sh")]
        for (what, spec) in try Self.jobSpecs(distinctive) {
            let container = try #require(spec.template.spec?.containers.first)
            let command = try #require(container.command)
            #expect(command.count == 4, "\(what)")
            #expect(Array(command.prefix(2)) == ["/bin/sh", "-c"], "\(what)")
            // (Compared without printing: a failure would dump the whole script.)
            let same = command[2] == expected[what]
            #expect(same, "\(what): the script must be the file, unchanged")
            #expect(command[2] == DatabaseJobTemplate.Script(rawValue: command[3])?.text, "\(what)")
            #expect(container.args == nil, "\(what)")
            let text = (command + (container.args ?? [])).joined(separator: "\n")
            for value in ["zq-deploy", "zq-host", "zq_database", "zq_user", "6543", "zq-secret", "zq-key", "97", "zq-claim", "1767225600",
                          "20260102T030405Z", "pynomaly-restore"] {
                #expect(!text.contains(value), "\(what): \(value) pasted into the command")
            }
            let env = Self.env(spec)
            #expect(env["PGHOST"]?.value == "zq-host.example", "\(what)")
            #expect(env["PGPORT"]?.value == "6543", "\(what)")
            #expect(env["PGUSER"]?.value == "zq_user", "\(what)")
            #expect(env["PGDATABASE"]?.value == "zq_database", "\(what)")
            #expect(env["DATABASE_CONNINFO"]?.value == "dbname='zq_database'", "\(what)")
            #expect(env["PGSSLMODE"]?.value == "prefer", "\(what)")
            #expect(env["HOME"]?.value == "/tmp", "\(what)")
            #expect(env["PGPASSWORD"]?.value == nil, "\(what)")
            #expect(env["PGPASSWORD"]?.valueFrom?.secretKeyRef == SecretKeySelector(name: "zq-secret", key: "zq-key"), "\(what)")
        }
    }

    /// The bytes of a script file, read from the repository.
    static func script(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: APIFixtures.repositoryRoot.appendingPathComponent("Sources/PynomalyOperator/Scripts/\(name)")))
    }

    /// `Script.bytes` is `PackageResources.<name>_sh`: the embedded copy equals the file.
    static func scriptText(_ name: String) throws -> String { String(decoding: try script(name), as: UTF8.self) }

    @Test func embeddedScriptsMatchTheFiles() throws {
        for script in DatabaseJobTemplate.Script.allCases {
            let same = script.bytes == (try Self.script(script.rawValue))
            #expect(same, "\(script.rawValue): the embedded copy differs from the file (rebuild)")
            #expect(script.text.hasPrefix("#!/bin/sh\n"))
            #expect(script.text.contains("set -eu"))
        }
    }

    @Test func scriptEnvironments() throws {
        let ctx = try Self.context()
        let specs = Dictionary(try Self.jobSpecs(ctx).map { ($0.0, $0.1) }) { a, _ in a }
        let backup = Self.env(specs["backup"])
        #expect(backup["BACKUP_DIR"]?.value == "/backups")
        #expect(backup["BACKUP_PREFIX"]?.value == "pynomaly")
        #expect(backup["RETENTION_DAYS"]?.value == "7")
        #expect(backup["BACKUP_FILE_NAME"] == nil)
        #expect(Self.env(specs["on-demand"]) == backup)
        let emergency = Self.env(specs["emergency"])
        #expect(emergency["BACKUP_FILE_NAME"]?.value == Self.emergencyFile)
        #expect(emergency["RETENTION_DAYS"] == nil)
        #expect(emergency["BACKUP_PREFIX"]?.value == "pynomaly")
        let maintenance = Self.env(specs["maintenance"])
        #expect(maintenance["BACKUP_DIR"] == nil)
        #expect(Set(maintenance.keys) == ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "DATABASE_CONNINFO", "PGSSLMODE", "PGPASSWORD", "HOME"])
        let latest = Self.env(specs["restore"])
        #expect(latest["RESTORE_LATEST"]?.value == "true")
        #expect(latest["RESTORE_FILE"] == nil)
        #expect(latest["BACKUP_PREFIX"]?.value == "pynomaly")
        let fromFile = Self.env(RestoreJobBuilder.restoreJob(ctx, restore: Self.restore(file: "pynomaly-20260101T020000Z.dump", latest: nil))?.spec)
        #expect(fromFile["RESTORE_FILE"]?.value == "pynomaly-20260101T020000Z.dump")
        #expect(fromFile["RESTORE_LATEST"] == nil)
        // No password Secret: no PGPASSWORD at all.
        let noPassword = Self.env(BackupCronJobBuilder.build(try Self.context { $0.spec.database?.passwordSecretRef = nil })?.spec?.jobTemplate.spec)
        #expect(noPassword["PGPASSWORD"] == nil)
    }

    // MARK: Pods

    @Test func restrictedPodsAndVolumes() throws {
        let ctx = try Self.context { $0.spec.imagePullSecrets = [.init(name: "regcred")] }
        for (what, spec) in try Self.jobSpecs(ctx) {
            let pod = try #require(spec.template.spec)
            #expect(pod.restartPolicy == "Never", "\(what)")
            #expect(pod.automountServiceAccountToken == false, "\(what)")
            #expect(pod.securityContext?.runAsNonRoot == true, "\(what)")
            #expect(pod.securityContext?.runAsUser == 65532, "\(what)")
            #expect(pod.securityContext?.fsGroup == 65532, "\(what)")
            #expect(pod.securityContext?.seccompProfile?.type == "RuntimeDefault", "\(what)")
            #expect(pod.imagePullSecrets == [LocalObjectReference(name: "regcred")], "\(what)")
            #expect(pod.containers.count == 1, "\(what)")
            let container = try #require(pod.containers.first)
            let sc = try #require(container.securityContext)
            #expect(sc.allowPrivilegeEscalation == false, "\(what)")
            #expect(sc.capabilities?.drop == ["ALL"], "\(what)")
            #expect(sc.runAsNonRoot == true, "\(what)")
            #expect(sc.readOnlyRootFilesystem == true, "\(what)")
            #expect(sc.privileged != true, "\(what)")
            #expect(container.image == "postgres:16-alpine", "\(what)")
            let mounts = Dictionary((container.volumeMounts ?? []).map { ($0.name, $0.mountPath) }) { a, _ in a }
            #expect(mounts["tmp"] == "/tmp", "\(what)")
            let volumes = Dictionary((pod.volumes ?? []).map { ($0.name, $0) }) { a, _ in a }
            #expect(volumes["tmp"]?.emptyDir != nil, "\(what)")
            if what == "maintenance" {
                #expect(mounts["backups"] == nil)
                #expect(volumes["backups"] == nil)
            } else {
                #expect(mounts["backups"] == "/backups", "\(what)")
                #expect(volumes["backups"]?.persistentVolumeClaim?.claimName == "pynomaly-backups", "\(what)")
            }
            // The app's Services select name + instance: a database pod must never match.
            let labels = spec.template.metadata?.labels ?? [:]
            #expect(labels[PynomalyLabels.nameKey] == nil, "\(what)")
            #expect(labels[PynomalyLabels.managedByKey] == PynomalyLabels.managerName, "\(what)")
            #expect(labels[PynomalyLabels.instanceKey] == "pynomaly", "\(what)")
        }
    }

    @Test func cronJobSettings() throws {
        let ctx = try Self.context {
            $0.spec.backup?.suspend = true
            $0.spec.backup?.timeZone = "Europe/Berlin"
            $0.spec.backup?.schedule = "15 1 * * *"
        }
        let backup = try #require(BackupCronJobBuilder.build(ctx))
        let maintenance = try #require(MaintenanceCronJobBuilder.build(ctx))
        #expect(backup.metadata.name == "pynomaly-backup")
        #expect(maintenance.metadata.name == "pynomaly-db-maintenance")
        #expect(backup.spec?.schedule == "15 1 * * *")
        #expect(backup.spec?.timeZone == "Europe/Berlin")
        #expect(backup.spec?.suspend == true)
        #expect(maintenance.spec?.schedule == "0 3 * * 0")
        #expect(maintenance.spec?.timeZone == "Etc/UTC")
        #expect(maintenance.spec?.suspend == false)
        for (cron, component, deadline) in [(backup, "backup", Int64(10_800)), (maintenance, "db-maintenance", Int64(21_600))] {
            let spec = try #require(cron.spec)
            #expect(spec.concurrencyPolicy == "Forbid")
            #expect(spec.startingDeadlineSeconds == 3600)
            #expect(spec.successfulJobsHistoryLimit == 3)
            #expect(spec.failedJobsHistoryLimit == 3)
            #expect(spec.jobTemplate.spec?.backoffLimit == 2)
            #expect(spec.jobTemplate.spec?.activeDeadlineSeconds == deadline)
            // Jobs the CronJob creates carry these labels: the operator's Job informer selects on managed-by.
            let labels = try #require(spec.jobTemplate.metadata?.labels)
            #expect(labels[PynomalyLabels.managedByKey] == PynomalyLabels.managerName)
            #expect(labels[PynomalyLabels.instanceKey] == "pynomaly")
            #expect(labels[PynomalyLabels.componentKey] == component)
            #expect(cron.metadata.ownerReferences == [ctx.ownerReference])
            #expect(cron.metadata.labels?[PynomalyLabels.componentKey] == component)
        }
    }

    // MARK: Names and ownership

    @Test func onDemandJobNames() throws {
        #expect(BackupCronJobBuilder.onDemandJobName("pynomaly", token: "1767225600") == "pynomaly-backup-1767225600")
        #expect(BackupCronJobBuilder.onDemandJobName("pynomaly", token: "Manual-Run") == "pynomaly-backup-manual-run")
        // Not a DNS label, or too long: 10 hex digits of the raw token's hash, still deterministic.
        for token in ["2026-01-01T00:00:00Z", "-x", "x-", "a_b", "", String(repeating: "7", count: 60)] {
            let name = BackupCronJobBuilder.onDemandJobName("pynomaly", token: token)
            #expect(name.wholeMatch(of: #/pynomaly-backup-[0-9a-f]{10}/#) != nil, "\(token) → \(name)")
            #expect(name == BackupCronJobBuilder.onDemandJobName("pynomaly", token: token))
        }
        #expect(BackupCronJobBuilder.onDemandJobName("pynomaly", token: "A_1") != BackupCronJobBuilder.onDemandJobName("pynomaly", token: "a_1"))
        let long = String(repeating: "n", count: 45)
        #expect(BackupCronJobBuilder.onDemandJobName(long, token: "1767225600").count <= 63)
    }

    @Test func onDemandJobIsOwnedByTheDeployment() throws {
        let ctx = try Self.context()
        let job = try #require(BackupCronJobBuilder.onDemandJob(ctx, token: "Now"))
        #expect(job.metadata.name == "pynomaly-backup-now")
        #expect(job.metadata.namespace == "pynomaly")
        #expect(job.metadata.ownerReferences == [ctx.ownerReference])
        #expect(job.metadata.labels?[PynomalyLabels.managedByKey] == PynomalyLabels.managerName)
        #expect(job.metadata.labels?[PynomalyLabels.componentKey] == "backup")
        #expect(job.metadata.annotations?[DatabaseJobTemplate.backupTokenAnnotation] == "Now")
        // The same template as the CronJob's Jobs.
        #expect(job.spec == BackupCronJobBuilder.build(ctx)?.spec?.jobTemplate.spec)
    }

    @Test func restoreJobsAreOwnedByTheRestore() throws {
        let ctx = try Self.context()
        let restore = Self.restore()
        let jobs = [try #require(RestoreJobBuilder.emergencyBackupJob(ctx, restore: restore, fileName: Self.emergencyFile)),
                    try #require(RestoreJobBuilder.restoreJob(ctx, restore: restore))]
        #expect(jobs.map(\.metadata.name) == ["pynomaly-restore-emergency-backup", "pynomaly-restore-restore"])
        #expect(jobs.map { $0.spec?.backoffLimit } == [2, 1])
        #expect(jobs.map { $0.spec?.activeDeadlineSeconds } == [10_800, 10_800])
        for (job, component) in zip(jobs, ["emergency-backup", "restore"]) {
            let owner = try #require(job.metadata.ownerReferences?.first)
            #expect(job.metadata.ownerReferences?.count == 1)
            #expect(owner.kind == "PynomalyRestore")
            #expect(owner.apiVersion == "pynomaly.ai/v1alpha1")
            #expect(owner.name == "pynomaly-restore")
            #expect(owner.uid == "7d1e0c2b-0000-4000-8000-000000000002")
            #expect(owner.controller == true)
            for labels in [job.metadata.labels, job.spec?.template.metadata?.labels] {
                #expect(labels?[PynomalyLabels.managedByKey] == PynomalyLabels.managerName)
                #expect(labels?[PynomalyLabels.instanceKey] == "pynomaly")
                #expect(labels?[PynomalyLabels.componentKey] == component)
                #expect(labels?["pynomaly.ai/restore"] == "pynomaly-restore")
            }
        }
    }

    @Test func restoreJobNamesStayWithin63() throws {
        let long = String(repeating: "r", count: 60)
        let other = String(repeating: "r", count: 59) + "s"
        for name in [RestoreJobBuilder.restoreJobName(long), RestoreJobBuilder.emergencyJobName(long)] {
            #expect(name.count <= 63, "\(name)")
            #expect(name.wholeMatch(of: #/r+-[0-9a-f]{8}-(restore|emergency-backup)/#) != nil, "\(name)")
        }
        #expect(RestoreJobBuilder.restoreJobName(long) != RestoreJobBuilder.restoreJobName(other))
        #expect(RestoreJobBuilder.emergencyJobName(long) != RestoreJobBuilder.emergencyJobName(other))
        #expect(RestoreJobBuilder.restoreJobName(long) == RestoreJobBuilder.restoreJobName(long))
        // A cut that would end in '-' or '.' is trimmed.
        let dashed = String(repeating: "a", count: 44) + "-.-" + String(repeating: "b", count: 20)
        #expect(RestoreJobBuilder.restoreJobName(dashed).wholeMatch(of: #/a{44}-[0-9a-f]{8}-restore/#) != nil)
        // Not a DNS label (a restore name may hold dots): cleaned, with the hash to keep "a.b" and "a-b" apart.
        #expect(RestoreJobBuilder.restoreJobName("db.restore").wholeMatch(of: #/db-restore-[0-9a-f]{8}-restore/#) != nil)
        #expect(RestoreJobBuilder.restoreJobName("db.restore") != RestoreJobBuilder.restoreJobName("db-restore"))
        #expect(RestoreJobBuilder.restoreJobName("short") == "short-restore")
        #expect(RestoreJobBuilder.emergencyJobName("short") == "short-emergency-backup")
        let exact = String(repeating: "e", count: 55)  // 55 + "-restore" = 63
        #expect(RestoreJobBuilder.restoreJobName(exact) == exact + "-restore")
    }

    @Test func emergencyFileName() throws {
        let date = Date(timeIntervalSince1970: 1_767_323_045)  // 2026-01-02T03:04:05Z
        #expect(RestoreJobBuilder.emergencyFileName(deployment: "pynomaly", at: date) == "pynomaly-20260102T030405Z-emergency.dump")
    }

    // MARK: Claim

    @Test func claimIsNeverOwned() throws {
        let ctx = try Self.context { $0.spec.backup?.storage.persistentVolumeClaim.storageClassName = "fast" }
        let claim = try #require(BackupClaimBuilder.build(ctx))
        #expect(claim.metadata.name == "pynomaly-backups")
        #expect(claim.metadata.namespace == "pynomaly")
        #expect(claim.metadata.ownerReferences == nil)
        #expect(claim.spec?.accessModes == ["ReadWriteOnce"])
        #expect(claim.spec?.storageClassName == "fast")
        #expect(claim.spec?.resources?.requests?["storage"] == "20Gi")
        #expect(claim.metadata.labels == [PynomalyLabels.managedByKey: PynomalyLabels.managerName, PynomalyLabels.instanceKey: "pynomaly",
                                          PynomalyLabels.componentKey: "backup-storage"])
        // An existing claim: mounted by name, not created.
        let existing = try Self.context { $0.spec.backup?.storage.persistentVolumeClaim = .init(claimName: "shared-backups") }
        #expect(BackupClaimBuilder.build(existing) == nil)
        #expect(BackupClaimBuilder.claimName(existing) == "shared-backups")
        let volumes = BackupCronJobBuilder.build(existing)?.spec?.jobTemplate.spec?.template.spec?.volumes ?? []
        #expect(volumes.contains { $0.persistentVolumeClaim?.claimName == "shared-backups" })
    }
}

extension PynomalyRestore {
    fileprivate func with(_ change: (inout PynomalyRestore) -> Void) -> PynomalyRestore {
        var copy = self
        change(&copy)
        return copy
    }
}

@Suite struct DatabaseConninfoTests {
    @Test func quotesBackslashesAndSingleQuotes() {
        #expect(DatabaseJobTemplate.databaseConninfo("pynomaly") == "dbname='pynomaly'")
        #expect(DatabaseJobTemplate.databaseConninfo(#"a'b\c"#) == #"dbname='a\'b\\c'"#)
        #expect(DatabaseJobTemplate.databaseConninfo("host=evil dbname=x") == "dbname='host=evil dbname=x'")
    }
}
