import Foundation
import KubeCore
import PynomalyOperator
import Testing

/// The restore flow as a pure function: every phase, both outcomes, conflicts and holds.
@Suite struct RestoreStateMachineTests {
    typealias Phase = PynomalyRestoreStatus.Phase
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func restore(_ name: String = "fix", phase: Phase? = nil, file: String? = nil, emergency: Bool? = nil, created: String = "2027-01-15T08:00:00Z",
                 startedAt: String? = nil, deployment: String = "pynomaly") -> PynomalyRestore {
        var meta = ObjectMeta(name: name, namespace: "default")
        meta.uid = "uid-\(name)"
        meta.generation = 1
        meta.creationTimestamp = created
        let status = phase.map { PynomalyRestoreStatus(phase: $0, startedAt: startedAt ?? "2027-01-15T08:00:01Z") }
        return PynomalyRestore(metadata: meta, spec: PynomalyRestoreSpec(deploymentName: deployment, backupFile: file, latest: file == nil ? true : nil,
                                                                           emergencyBackup: emergency), status: status)
    }

    func deployment(backup: Bool = true, database: Bool = true) -> PynomalyDeployment {
        var spec = PynomalyDeploymentSpec(image: "ghcr.io/elgerytme/pynomaly:v1")
        if database { spec.database = .init(host: "db") }
        if backup { spec.backup = .init(storage: .init(persistentVolumeClaim: .init(size: Quantity("1Gi")))) }
        var meta = ObjectMeta(name: "pynomaly", namespace: "default")
        meta.uid = "uid-app"
        return PynomalyDeployment(metadata: meta, spec: spec)
    }

    func step(_ restore: PynomalyRestore, deployment: PynomalyDeployment? = nil, _ change: (inout RestoreStateMachine.Observation) -> Void = { _ in })
        -> RestoreStateMachine.Step {
        var o = RestoreStateMachine.Observation(restore: restore, deployment: deployment ?? self.deployment(), now: now)
        change(&o)
        return RestoreStateMachine.step(o)
    }

    @Test func pendingChecksThenScalesDownRecordingReplicas() {
        let s = step(restore()) { $0.currentReplicas = 3 }
        #expect(s.status.phase == .scalingDown)
        #expect(s.status.originalReplicas == 3)
        #expect(s.status.startedAt == KubeTime.format(now))
        #expect(s.actions.isEmpty, "nothing runs against the database before the app is down")
        #expect(s.events.map(\.reason) == ["RestoreStarted"])
        #expect(s.status.conditions?.first(type: "Reconciling")?.status == "True")
    }

    @Test(arguments: [
        ("missing", "does not exist"), ("nobackup", "no spec.backup"), ("nodatabase", "no spec.database"), ("conflict", "already restoring"),
    ])
    func pendingRefusesWithoutTouchingAnything(_ c: (String, String)) {
        let s = step(restore(), deployment: c.0 == "nobackup" ? deployment(backup: false) : c.0 == "nodatabase" ? deployment(database: false) : nil) {
            if c.0 == "missing" { $0.deployment = nil }
            if c.0 == "conflict" { $0.conflictingRestore = "other" }
        }
        #expect(s.status.phase == .failed)
        #expect(s.status.message?.contains(c.1) == true, "\(s.status.message ?? "")")
        #expect(s.status.startedAt == nil, "never started: the deployment is not held")
        #expect(s.actions.isEmpty)
        #expect(s.status.conditions?.first(type: "Stalled")?.status == "True")
    }

    @Test func pendingRefusesAnAmbiguousOrPathLikeSource() {
        var both = restore(file: "a.dump")
        both.spec.latest = true
        #expect(step(both).status.message?.contains("exactly one") == true)
        var neither = restore(file: "a.dump")
        neither.spec.backupFile = nil
        #expect(step(neither).status.phase == .failed)
        for bad in ["../etc/passwd", ".hidden", "a/b.dump"] {
            let s = step(restore(file: bad))
            #expect(s.status.phase == .failed, "\(bad)")
            #expect(s.status.startedAt == nil)
        }
    }

    @Test func scalingDownWaitsForTheHoldAndTheLastPod() {
        let r = restore(phase: .scalingDown)
        #expect(step(r) { $0.holdAcknowledged = false; $0.appPods = 0 }.status.phase == .scalingDown)
        let waiting = step(r) { $0.holdAcknowledged = true; $0.appPods = 2 }
        #expect(waiting.status.phase == .scalingDown)
        #expect(waiting.status.message?.contains("2 pod(s)") == true)
        #expect(waiting.actions.isEmpty)
    }

    @Test func scaledDownStartsTheEmergencyBackupNamedAfterStartedAt() throws {
        let r = restore(phase: .scalingDown, startedAt: "2027-01-15T08:00:01Z")
        let s = step(r) { $0.holdAcknowledged = true; $0.appPods = 0 }
        #expect(s.status.phase == .emergencyBackup)
        let file = try #require(s.status.emergencyBackupFile)
        #expect(file == "pynomaly-20270115T080001Z-emergency.dump")
        #expect(s.actions == [.createEmergencyBackupJob(fileName: file)])
        #expect(s.status.jobs?.emergencyBackup == "fix-emergency-backup")
        // The same pass repeated later (its status write lost) names the same file.
        let again = step(r) { $0.holdAcknowledged = true; $0.appPods = 0; $0.now = now.addingTimeInterval(300) }
        #expect(again.status.emergencyBackupFile == file)
    }

    @Test func withoutEmergencyBackupGoesStraightToRestoring() {
        let s = step(restore(phase: .scalingDown, emergency: false)) { $0.holdAcknowledged = true; $0.appPods = 0 }
        #expect(s.status.phase == .restoring)
        #expect(s.actions == [.createRestoreJob])
        #expect(s.status.emergencyBackupFile == nil)
    }

    @Test func emergencyBackupOutcomes() {
        var r = restore(phase: .emergencyBackup)
        r.status?.emergencyBackupFile = "pynomaly-x-emergency.dump"
        #expect(step(r) { $0.emergencyJob = .running }.actions.isEmpty)
        let vanished = step(r) { $0.emergencyJob = .absent }
        #expect(vanished.status.phase == .failed, "the Job existed before the status entered this phase: it vanished")
        #expect(vanished.status.message?.contains("vanished") == true)
        #expect(vanished.actions.isEmpty, "never created a second time")
        let ok = step(r) { $0.emergencyJob = .succeeded }
        #expect(ok.status.phase == .restoring)
        #expect(ok.actions == [.createRestoreJob])
        let failed = step(r) { $0.emergencyJob = .failed(reason: "BackoffLimitExceeded", message: "disk full") }
        #expect(failed.status.phase == .failed)
        #expect(failed.status.message?.contains("disk full") == true)
        #expect(failed.status.message?.contains("nothing was restored") == true)
        #expect(failed.actions.isEmpty, "no restore over a database that could not be saved")
    }

    @Test func restoringOutcomes() {
        var r = restore(phase: .restoring, file: "pynomaly-20270101T020000Z.dump")
        r.status?.emergencyBackupFile = "pynomaly-x-emergency.dump"
        let ok = step(r) { $0.restoreJob = .succeeded }
        #expect(ok.status.phase == .scalingUp)
        #expect(ok.status.restoredFile == "pynomaly-20270101T020000Z.dump")
        let failed = step(r) { $0.restoreJob = .failed(reason: "BackoffLimitExceeded", message: "pg_restore: error") }
        #expect(failed.status.phase == .failed)
        #expect(failed.status.message?.contains("pynomaly-x-emergency.dump") == true, "names the file to undo with")
        #expect(failed.status.message?.contains("stays at zero replicas") == true)
        #expect(failed.events.map(\.reason) == ["RestoreFailed"])
        // latest: the file the Job reported.
        let latest = step(restore(phase: .restoring)) { $0.restoreJob = .succeeded; $0.reportedRestoredFile = "pynomaly-20270102T020000Z.dump" }
        #expect(latest.status.restoredFile == "pynomaly-20270102T020000Z.dump")
    }

    @Test func aRestoreJobThatVanishedFailsClearly() {
        var r = restore(phase: .restoring)
        r.status?.jobs = .init(restore: "fix-restore")
        let s = step(r) { $0.restoreJob = .absent }
        #expect(s.status.phase == .failed)
        #expect(s.status.message?.contains("fix-restore vanished") == true, "\(s.status.message ?? "")")
        #expect(s.actions.isEmpty, "pg_restore is never started a second time behind the user's back")
        #expect(s.events.map(\.reason) == ["RestoreFailed"])
    }

    /// The restore is bound to the deployment (uid) and database it started with: deleted, created
    /// again, or pointed elsewhere before the restore Job exists, it stops and creates no Job.
    @Test func aRestoreStopsWhenItsDeploymentOrDatabaseChanges() {
        let started = step(restore()) { $0.currentReplicas = 2 }
        let target = started.status.target
        #expect(target == PynomalyRestoreStatus.Target(deploymentUID: "uid-app", host: "db", port: 5432, database: "pynomaly", user: "pynomaly"),
                "\(String(describing: target))")

        var inBackup = restore(phase: .emergencyBackup)
        inBackup.status?.target = target
        inBackup.status?.emergencyBackupFile = "pynomaly-x-emergency.dump"
        var recreated = deployment()
        recreated.metadata.uid = "uid-app-2"
        recreated.spec.database = .init(host: "other-db", name: "otherdb")
        var moved = deployment()
        moved.spec.database?.host = "other-db"
        var renamed = deployment()
        renamed.spec.database?.name = "otherdb"
        var otherUser = deployment()
        otherUser.spec.database?.user = "admin"
        var otherPort = deployment()
        otherPort.spec.database?.port = 6432
        let cases: [(PynomalyDeployment?, String)] = [
            (nil, "was deleted"), (recreated, "created again"), (moved, "spec.database.host db → other-db"),
            (renamed, "spec.database.name pynomaly → otherdb"), (otherUser, "spec.database.user"), (otherPort, "spec.database.port"),
        ]
        for (current, expected) in cases {
            for phase in [Phase.scalingDown, .emergencyBackup] {
                var r = inBackup
                r.status?.phase = phase
                let s = RestoreStateMachine.step(.init(restore: r, deployment: current, appPods: 0, holdAcknowledged: true,
                                                       emergencyJob: .succeeded, now: now))
                #expect(s.status.phase == .failed, "\(expected) in \(phase)")
                #expect(s.actions.isEmpty, "no Job against a database nobody backed up (\(expected), \(phase))")
                #expect(s.status.message?.contains(expected) == true, "\(s.status.message ?? "")")
                #expect(s.status.message?.contains("nothing was restored") == true)
                #expect(s.events.map(\.reason) == ["RestoreFailed"])
            }
        }
        // Unchanged: the restore goes on.
        let same = RestoreStateMachine.step(.init(restore: inBackup, deployment: deployment(), emergencyJob: .succeeded, now: now))
        #expect(same.status.phase == .restoring)
        #expect(same.actions == [.createRestoreJob])
        // Scaling up, the deployment created again under the name is not the restored one.
        var up = restore(phase: .scalingUp)
        up.status?.target = target
        #expect(RestoreStateMachine.step(.init(restore: up, deployment: recreated, appReady: true, now: now)).status.phase == .failed)
    }

    @Test func aRestoreBoundToAnEarlierDeploymentDoesNotHoldANewOne() {
        var failed = restore(phase: .failed)
        failed.status?.target = .init(deploymentUID: "uid-old", host: "db", port: 5432, database: "pynomaly", user: "pynomaly")
        #expect(RestoreHold.holder(of: "pynomaly", uid: "uid-new", among: [failed]) == nil)
        #expect(RestoreHold.holder(of: "pynomaly", uid: "uid-old", among: [failed])?.metadata.name == "fix")
    }

    @Test func scalingUpSucceedsWhenTheAppIsReady() {
        let r = restore(phase: .scalingUp)
        #expect(step(r) { $0.appReady = false }.status.phase == .scalingUp)
        let done = step(r) { $0.appReady = true }
        #expect(done.status.phase == .succeeded)
        #expect(done.status.completedAt != nil)
        #expect(done.status.conditions?.first(type: "Ready")?.status == "True")
        #expect(step(restore(phase: .succeeded)).events.isEmpty, "final phases do nothing")
    }

    @Test func jobStateFromConditions() {
        #expect(RestoreStateMachine.JobState(job: nil) == .absent)
        var job = Job(metadata: ObjectMeta(name: "j"))
        #expect(RestoreStateMachine.JobState(job: job) == .running)
        job.status = JobStatus(conditions: [Condition(type: "Failed", status: "True", reason: "DeadlineExceeded", message: "too slow")])
        #expect(RestoreStateMachine.JobState(job: job) == .failed(reason: "DeadlineExceeded", message: "too slow"))
        job.status = JobStatus(conditions: [Condition(type: "Complete", status: "True")])
        #expect(RestoreStateMachine.JobState(job: job) == .succeeded)
    }

    @Test func holdFollowsTheNewestStartedRestore() {
        #expect(RestoreHold.holder(of: "pynomaly", among: [restore(phase: nil)]) == nil, "pending holds nothing")
        for phase in [Phase.scalingDown, .emergencyBackup, .restoring, .failed] {
            #expect(RestoreHold.holder(of: "pynomaly", among: [restore(phase: phase)])?.metadata.name == "fix", "\(phase)")
        }
        for phase in [Phase.scalingUp, .succeeded] {
            #expect(RestoreHold.holder(of: "pynomaly", among: [restore(phase: phase)]) == nil, "\(phase)")
        }
        #expect(RestoreHold.holder(of: "other", among: [restore(phase: .restoring)]) == nil)
        // A newer restore that succeeded releases an older failed one; deleting the failed one releases too.
        let failed = restore("a", phase: .failed, created: "2027-01-15T08:00:00Z")
        let newer = restore("b", phase: .succeeded, created: "2027-01-15T09:00:00Z")
        #expect(RestoreHold.holder(of: "pynomaly", among: [failed, newer]) == nil)
        var deleting = failed
        deleting.metadata.deletionTimestamp = "2027-01-15T10:00:00Z"
        #expect(RestoreHold.holder(of: "pynomaly", among: [deleting]) == nil)
    }

    @Test func conflictsAreRunningOrOlderPendingRestoresOfTheSameDeployment() {
        let mine = restore("b", created: "2027-01-15T09:00:00Z")
        #expect(RestoreHold.conflict(for: mine, among: [mine]) == nil)
        #expect(RestoreHold.conflict(for: mine, among: [mine, restore("a", phase: .restoring)])?.metadata.name == "a")
        #expect(RestoreHold.conflict(for: mine, among: [mine, restore("a", created: "2027-01-15T08:00:00Z")])?.metadata.name == "a")
        #expect(RestoreHold.conflict(for: mine, among: [mine, restore("c", created: "2027-01-15T10:00:00Z")]) == nil, "a newer pending one waits for me")
        #expect(RestoreHold.conflict(for: mine, among: [mine, restore("a", phase: .failed)]) == nil, "a failed one is taken over")
        #expect(RestoreHold.conflict(for: mine, among: [mine, restore("a", phase: .restoring, deployment: "other")]) == nil)
    }

    @Test func terminationMessageValues() {
        #expect(TerminationMessage.value(of: "restored-file", in: "restored-file=a.dump\n") == "a.dump")
        #expect(TerminationMessage.value(of: "restored-file", in: "backup-file=b.dump") == nil)
        #expect(TerminationMessage.value(of: "restored-file", in: "restored-file=") == nil)
    }
}
