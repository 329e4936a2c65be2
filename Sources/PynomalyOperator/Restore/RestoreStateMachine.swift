#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The PynomalyRestore flow as a pure state machine over `status.phase` (the runbook's "data
/// corruption: stop writes, emergency backup, restore, restart"):
///
/// | phase           | waits for                                   | then                                         |
/// |-----------------|---------------------------------------------|----------------------------------------------|
/// | Pending         | checks: deployment, backup volume, no other | ScalingDown (or Failed, app untouched)       |
/// | ScalingDown     | every app pod gone (the deployment holds 0) | EmergencyBackup, or Restoring without one    |
/// | EmergencyBackup | the emergency backup Job                    | Restoring; Failed when the Job failed        |
/// | Restoring       | the pg_restore Job                          | ScalingUp; Failed when the Job failed        |
/// | ScalingUp       | the deployment Ready again (hold released)  | Succeeded                                    |
///
/// A restore is bound to the exact PynomalyDeployment (uid) and database (host, port, name, user)
/// it started with (`status.target`). If the deployment is deleted, created again under the same
/// name, or pointed at another database before the restore Job ran, the restore fails and no Job
/// is created: `pg_restore --clean` must only ever run against the database that was just backed
/// up and scaled down. A Job the status says was created and that is gone fails the restore too;
/// it is never silently created a second time, since its first run may have started.
///
/// The PynomalyDeployment holds its replicas at zero from ScalingDown through Restoring, and after a
/// Failed that had started (`RestoreHold`): a failed restore never brings the app back against a
/// half-restored database. Every Job is created under a deterministic name, so a pass repeated
/// after a crash finds the Job instead of creating a second one.
public enum RestoreStateMachine {
    public typealias Phase = PynomalyRestoreStatus.Phase

    /// What the shell observed for one pass.
    public struct Observation: Sendable {
        public var restore: PynomalyRestore
        /// The target PynomalyDeployment; nil when it does not exist.
        public var deployment: PynomalyDeployment?
        /// Another restore of the same deployment that runs, or that was created first and waits.
        public var conflictingRestore: String?
        /// Replicas of the app's serving Deployment before the hold (recorded when scaling down).
        public var currentReplicas: Int32?
        /// Pods of the app still present (0 once scaled down); nil when not known yet.
        public var appPods: Int?
        /// The deployment's status shows this restore's hold (`status.restore.name`).
        public var holdAcknowledged: Bool
        public var emergencyJob: JobState
        public var restoreJob: JobState
        /// The deployment is Ready again after the hold was released.
        public var appReady: Bool
        /// The file the restore Job reported restoring (its termination message), when known.
        public var reportedRestoredFile: String?
        public var now: Date

        public init(restore: PynomalyRestore, deployment: PynomalyDeployment?, conflictingRestore: String? = nil, currentReplicas: Int32? = nil,
                    appPods: Int? = nil, holdAcknowledged: Bool = false, emergencyJob: JobState = .absent, restoreJob: JobState = .absent,
                    appReady: Bool = false, reportedRestoredFile: String? = nil, now: Date) {
            self.restore = restore
            self.deployment = deployment
            self.conflictingRestore = conflictingRestore
            self.currentReplicas = currentReplicas
            self.appPods = appPods
            self.holdAcknowledged = holdAcknowledged
            self.emergencyJob = emergencyJob
            self.restoreJob = restoreJob
            self.appReady = appReady
            self.reportedRestoredFile = reportedRestoredFile
            self.now = now
        }
    }

    /// A Job's state as far as the machine cares.
    public enum JobState: Sendable, Hashable {
        case absent
        case running
        case succeeded
        case failed(reason: String, message: String)

        /// The state of a live batch/v1 Job.
        public init(job: Job?) {
            guard let job else { self = .absent; return }
            for condition in job.status?.conditions ?? [] where condition.status == "True" {
                if condition.type == "Complete" { self = .succeeded; return }
                if condition.type == "Failed" {
                    self = .failed(reason: condition.reason ?? "Failed", message: condition.message ?? "")
                    return
                }
            }
            self = .running
        }
    }

    /// What the shell must do.
    public enum Action: Sendable, Hashable {
        case createEmergencyBackupJob(fileName: String)
        case createRestoreJob
    }

    public struct Step: Sendable, Hashable {
        public var status: PynomalyRestoreStatus
        public var actions: [Action] = []
        public var events: [PlannedEvent] = []
    }

    /// Event and condition reasons of a restore.
    public enum Reason {
        public static let started = "RestoreStarted"
        public static let scaledDown = "ScaledDown"
        public static let emergencyBackupSucceeded = "EmergencyBackupSucceeded"
        public static let restored = "Restored"
        public static let succeeded = "RestoreSucceeded"
        public static let failed = "RestoreFailed"
        public static let waiting = "Waiting"
    }

    public static func step(_ o: Observation) -> Step {
        var status = o.restore.status ?? PynomalyRestoreStatus()
        status.observedGeneration = o.restore.metadata.generation
        let phase = status.phase ?? .pending
        var step = Step(status: status)
        let deploymentName = o.restore.spec.deploymentName
        let nowText = KubeTime.format(o.now)

        func fail(_ message: String) {
            step.status.phase = .failed
            step.status.message = message
            step.status.completedAt = nowText
            step.events.append(PlannedEvent(.warning, Reason.failed, message))
        }
        func advance(_ to: Phase, _ message: String, event: PlannedEvent? = nil) {
            step.status.phase = to
            step.status.message = message
            if let event { step.events.append(event) }
        }
        func startRestoreJob() {
            step.status.jobs = (step.status.jobs ?? .init())
            step.status.jobs?.restore = RestoreJobBuilder.restoreJobName(o.restore.metadata.name ?? "")
            step.actions.append(.createRestoreJob)
            advance(.restoring, "running pg_restore --clean from \(sourceDescription(o.restore.spec))")
        }

        // Checked until the restore Job exists; that Job was built from the bound target, so later
        // edits of the deployment do not change what it restores into.
        if [.scalingDown, .emergencyBackup].contains(phase), let problem = bindingProblem(o, status: status) {
            fail(problem)
            step.status.conditions = conditions(for: step.status, generation: o.restore.metadata.generation ?? 0, old: status.conditions, now: o.now)
            return step
        }

        switch phase {
        case .succeeded, .failed:
            return step

        case .pending:
            guard let deployment = o.deployment else {
                fail("PynomalyDeployment \(deploymentName) does not exist; nothing was changed")
                break
            }
            let spec = deployment.spec.resolved()
            if (o.restore.spec.backupFile == nil) == (o.restore.spec.latest != true) {
                fail("set exactly one of spec.backupFile or spec.latest: true; nothing was changed")
            } else if let file = o.restore.spec.backupFile, !RestoreStateMachine.isPlainFileName(file) {
                fail("spec.backupFile \"\(file)\" must be a file name in the backup volume (letters, digits, '.', '_', '-'; no '/'); nothing was changed")
            } else if spec.backup == nil {
                fail("PynomalyDeployment \(deploymentName) has no spec.backup (no backup volume to restore from); nothing was changed")
            } else if spec.database == nil {
                fail("PynomalyDeployment \(deploymentName) has no spec.database; nothing was changed")
            } else if let other = o.conflictingRestore {
                fail("PynomalyRestore \(other) is already restoring \(deploymentName); one restore runs at a time. Nothing was changed")
            } else {
                step.status.startedAt = nowText
                step.status.originalReplicas = o.currentReplicas
                step.status.target = PynomalyRestoreStatus.Target(of: deployment)
                advance(.scalingDown, "scaling \(deploymentName) to zero replicas to stop writes",
                        event: PlannedEvent(.normal, Reason.started, "restoring \(deploymentName) from \(sourceDescription(o.restore.spec)): scaling the app to zero"))
            }

        case .scalingDown:
            guard o.holdAcknowledged, o.appPods == 0 else {
                let pods = o.appPods.map { "\($0) pod(s) of \(deploymentName) still running" } ?? "\(deploymentName) to scale down"
                step.status.message = "waiting for \(pods) before touching the database"
                break
            }
            step.events.append(PlannedEvent(.normal, Reason.scaledDown, "\(deploymentName) has no pods left: writes are stopped"))
            if o.restore.spec.resolvedEmergencyBackup {
                // Named after startedAt (persisted), so a pass repeated after a failed status write names
                // the same file as the Job it already created.
                let started = status.startedAt.flatMap(KubeTime.parse) ?? o.now
                let file = RestoreJobBuilder.emergencyFileName(deployment: deploymentName, at: started)
                step.status.emergencyBackupFile = file
                step.status.jobs = (step.status.jobs ?? .init())
                step.status.jobs?.emergencyBackup = RestoreJobBuilder.emergencyJobName(o.restore.metadata.name ?? "")
                step.actions.append(.createEmergencyBackupJob(fileName: file))
                advance(.emergencyBackup, "backing up the current database to \(file) before restoring over it")
            } else {
                startRestoreJob()
            }

        case .emergencyBackup:
            let file = status.emergencyBackupFile ?? ""
            switch o.emergencyJob {
            case .absent:
                // The pass that entered this phase created the Job before writing the status, so it
                // existed: someone or something deleted it before it finished.
                fail("the emergency backup Job \(status.jobs?.emergencyBackup ?? "") vanished before it finished; nothing was restored and "
                     + "\(deploymentName) stays at zero replicas. Create a new PynomalyRestore to try again, or delete this one to bring the app back")
            case .running:
                step.status.message = "backing up the current database to \(file) before restoring over it"
            case .failed(let reason, let message):
                fail("the emergency backup failed (\(reason): \(message)); nothing was restored and \(deploymentName) stays at zero replicas. "
                     + "Fix the cause and create a new PynomalyRestore (or one with emergencyBackup: false), or delete this one to bring the app back")
            case .succeeded:
                step.events.append(PlannedEvent(.normal, Reason.emergencyBackupSucceeded, "the current database is saved as \(file)"))
                startRestoreJob()
            }

        case .restoring:
            switch o.restoreJob {
            case .absent:
                // Created before the status entered this phase: it was deleted, and it may have run.
                fail("the pg_restore Job \(status.jobs?.restore ?? "") vanished before it reported a result; the database may be partly "
                     + "restored, so \(deploymentName) stays at zero replicas.\(status.emergencyBackupFile.map { " The database before the restore is in \($0)." } ?? "") "
                     + "Create a new PynomalyRestore to try again, or repair the database and delete this one to bring the app back")
            case .running:
                step.status.message = "running pg_restore --clean from \(sourceDescription(o.restore.spec))"
            case .failed(let reason, let message):
                let undo = status.emergencyBackupFile.map { " The database before the restore is in \($0)." } ?? ""
                fail("pg_restore failed (\(reason): \(message)); the database may be partly restored, so \(deploymentName) stays at zero replicas.\(undo) "
                     + "Create a new PynomalyRestore to try again, or repair the database and delete this one to bring the app back")
            case .succeeded:
                let file = o.restore.spec.backupFile ?? o.reportedRestoredFile
                step.status.restoredFile = file
                advance(.scalingUp, "database restored; scaling \(deploymentName) back up",
                        event: PlannedEvent(.normal, Reason.restored, "restored the database from \(file ?? sourceDescription(o.restore.spec)); scaling the app back up"))
            }

        case .scalingUp:
            guard let deployment = o.deployment, status.target?.deploymentUID == nil || status.target?.deploymentUID == deployment.metadata.uid else {
                fail("PynomalyDeployment \(deploymentName) was deleted before it came back up; the database is restored")
                break
            }
            if o.appReady {
                step.status.completedAt = nowText
                advance(.succeeded, "restored \(step.status.restoredFile ?? sourceDescription(o.restore.spec)); \(deploymentName) is Ready",
                        event: PlannedEvent(.normal, Reason.succeeded, "restore complete: \(deploymentName) is Ready again"))
            } else {
                step.status.message = "database restored; waiting for \(deploymentName) to become Ready"
            }
        }
        step.status.conditions = conditions(for: step.status, generation: o.restore.metadata.generation ?? 0, old: status.conditions, now: o.now)
        return step
    }

    /// Why the restore may not go on against the deployment as it is now, or nil when it is still the
    /// deployment and database the restore started with.
    static func bindingProblem(_ o: Observation, status: PynomalyRestoreStatus) -> String? {
        let name = o.restore.spec.deploymentName
        let stage = "nothing was restored"
        guard let deployment = o.deployment else {
            return "PynomalyDeployment \(name) was deleted during the restore; \(stage)"
        }
        guard let bound = status.target else { return nil }
        let changes = bound.differences(from: PynomalyRestoreStatus.Target(of: deployment))
        if changes.isEmpty { return nil }
        return "the restore is bound to the deployment and database it started with, and they changed (\(changes.joined(separator: "; "))); "
            + "\(stage). Create a new PynomalyRestore for the deployment as it is now"
    }

    /// A file name in the backup volume, as the CRD pattern says: no path, not hidden.
    static func isPlainFileName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 253 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }

    /// "the newest backup" or "FILE".
    static func sourceDescription(_ spec: PynomalyRestoreSpec) -> String {
        spec.backupFile ?? "the newest backup"
    }

    /// kstatus conditions: Ready once Succeeded; Stalled when Failed; Reconciling while running.
    static func conditions(for status: PynomalyRestoreStatus, generation: Int64, old: [Condition]?, now: Date) -> [Condition] {
        var conditions = old ?? []
        let phase = status.phase ?? .pending
        let message = status.message ?? ""
        func set(_ type: String, _ value: Bool, _ reason: String, _ text: String) {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: reason, message: text), now: now)
        }
        switch phase {
        case .succeeded:
            set(ConditionType.ready, true, Reason.succeeded, message)
            set(ConditionType.reconciling, false, Reason.succeeded, "")
            set(ConditionType.stalled, false, Reason.succeeded, "")
        case .failed:
            set(ConditionType.ready, false, Reason.failed, message)
            set(ConditionType.reconciling, false, Reason.failed, "")
            set(ConditionType.stalled, true, Reason.failed, message)
        default:
            set(ConditionType.ready, false, phase.rawValue, message)
            set(ConditionType.reconciling, true, phase.rawValue, message)
            set(ConditionType.stalled, false, phase.rawValue, "")
        }
        return conditions
    }
}

/// Which restore holds a PynomalyDeployment at zero replicas, and which restores conflict: both
/// controllers decide with these same functions over the cached restores.
public enum RestoreHold {
    /// Phases that hold the app at zero.
    static let holdingPhases: Set<PynomalyRestoreStatus.Phase> = [.scalingDown, .emergencyBackup, .restoring]
    /// Phases of a restore that runs (a new one must not start).
    static let runningPhases: Set<PynomalyRestoreStatus.Phase> = [.scalingDown, .emergencyBackup, .restoring, .scalingUp]

    /// The restore holding `deployment` at zero: the newest restore of it that has started decides.
    /// It holds while it runs up to ScalingUp, and after it Failed (a half-restored database must not
    /// serve); a newer restore takes over from a failed one, and deleting the failed one releases the app.
    /// A restore bound to another incarnation of the name (`deploymentUID`: deleted and created again)
    /// never holds this one.
    public static func holder(of deployment: String, uid: String? = nil, among restores: [PynomalyRestore]) -> PynomalyRestore? {
        let started = restores.filter {
            $0.spec.deploymentName == deployment && $0.metadata.deletionTimestamp == nil && $0.status?.startedAt != nil
                && (uid == nil || $0.status?.target?.deploymentUID == nil || $0.status?.target?.deploymentUID == uid)
        }
        guard let newest = started.max(by: isOrderedBefore) else { return nil }
        let phase = newest.status?.phase ?? .pending
        return holdingPhases.contains(phase) || phase == .failed ? newest : nil
    }

    /// Another restore of the same deployment that runs, or was created before `restore` and waits.
    public static func conflict(for restore: PynomalyRestore, among restores: [PynomalyRestore]) -> PynomalyRestore? {
        restores.filter { other in
            guard other.metadata.uid != restore.metadata.uid, other.spec.deploymentName == restore.spec.deploymentName,
                  other.metadata.deletionTimestamp == nil else { return false }
            let phase = other.status?.phase ?? .pending
            return runningPhases.contains(phase) || (phase == .pending && isOrderedBefore(other, restore))
        }.min(by: isOrderedBefore)
    }

    /// Creation order, with the name breaking ties (timestamps have one-second resolution).
    static func isOrderedBefore(_ a: PynomalyRestore, _ b: PynomalyRestore) -> Bool {
        let ta = a.metadata.creationTimestamp ?? "", tb = b.metadata.creationTimestamp ?? ""
        return ta != tb ? ta < tb : (a.metadata.name ?? "") < (b.metadata.name ?? "")
    }
}
