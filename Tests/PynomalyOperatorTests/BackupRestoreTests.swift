import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import Logging
import OperatorTestSupport
import Synchronization
import XCTest

@testable import PynomalyOperator

/// Backups and restores end to end over HTTPS: backup CronJobs and claim, `status.backup` and BackupHealthy,
/// on-demand backups once per token, and the PynomalyRestore flow (success, failure, restarts).
/// The scripts themselves run against a real PostgreSQL in DatabaseScriptTests.
final class BackupRestoreTests: XCTestCase {
    static let name = "pynomaly"

    func testBackupObjectsClaimStatusAndHealth() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createBackupSample()
        let cr = try await rig.cr()
        let uid = try XCTUnwrap(cr[path: ["metadata", "uid"]]?.stringValue)

        // The claim is created from `size` and never owned: backups outlive the CR.
        let claim = try await rig.get(.persistentVolumeClaims, "pynomaly-backups")
        XCTAssertNotNil(claim, "the backup claim is created")
        XCTAssertNil(claim?[path: ["metadata", "ownerReferences"]], "the backup claim has no owner")
        XCTAssertEqual(claim?[path: ["spec", "resources", "requests", "storage"]]?.stringValue, "20Gi")

        for (name, schedule) in [("pynomaly-backup", "0 2 * * *"), ("pynomaly-db-maintenance", "0 3 * * 0")] {
            let cron = try await rig.get(.cronJobs, name)
            XCTAssertEqual(cron?[path: ["spec", "schedule"]]?.stringValue, schedule, name)
            XCTAssertEqual(cron?[path: ["spec", "concurrencyPolicy"]]?.stringValue, "Forbid", name)
            XCTAssertEqual(cron?[path: ["spec", "timeZone"]]?.stringValue, "Etc/UTC", name)
            XCTAssertEqual(cron?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue, uid, "\(name) is owned by the CR")
        }

        // A scheduled run that succeeds: status.backup and BackupHealthy follow the CronJob and its Job.
        let first = try rig.server.simulation.fireCronJob(namespace: "default", name: "pynomaly-backup")
        try await rig.waitForCondition(ConditionType.backupHealthy, "True", reason: "BackupSucceeded")
        var status = try await rig.cr()[path: ["status", "backup"]]
        XCTAssertNotNil(status?["lastSuccessfulTime"]?.stringValue)
        XCTAssertNotNil(status?["lastScheduleTime"]?.stringValue)
        XCTAssertEqual(status?["lastJob"]?.stringValue, first)

        // A failing run: BackupHealthy=False with the Job's reason, an Event, the success time kept.
        rig.server.simulation.failJobs(matching: .namePrefix("pynomaly-backup-"), reason: "BackoffLimitExceeded", message: "pg_dump: connection refused")
        let second = try rig.server.simulation.fireCronJob(namespace: "default", name: "pynomaly-backup", at: Date().addingTimeInterval(120))
        try await rig.waitForCondition(ConditionType.backupHealthy, "False", reason: "BackupFailed")
        status = try await rig.cr()[path: ["status", "backup"]]
        XCTAssertEqual(status?["lastJob"]?.stringValue, second)
        XCTAssertEqual(status?["lastFailureReason"]?.stringValue, "BackoffLimitExceeded")
        XCTAssertEqual(status?["lastFailureMessage"]?.stringValue, "pg_dump: connection refused")
        XCTAssertNotNil(status?["lastSuccessfulTime"]?.stringValue, "the last success is kept")
        let message = rig.condition(try await rig.cr(), ConditionType.backupHealthy)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains(second), "the condition names the failed Job: \(message)")
        try await waitUntil("the BackupFailed and BackupSucceeded Events are recorded") {
            let reasons = try await rig.eventReasons()
            return reasons.contains("BackupFailed") && reasons.contains("BackupSucceeded")
        }
        // Ready is about the app, not the backups.
        let current = try await rig.cr()
        XCTAssertEqual(rig.condition(current, ConditionType.ready)?["status"]?.stringValue, "True")

        // The next run succeeds again: healthy again, the failure kept on record.
        rig.server.simulation.stopFailingJobs()
        let third = try rig.server.simulation.fireCronJob(namespace: "default", name: "pynomaly-backup", at: Date().addingTimeInterval(240))
        try await rig.waitForCondition(ConditionType.backupHealthy, "True", reason: "BackupSucceeded")
        status = try await rig.cr()[path: ["status", "backup"]]
        XCTAssertEqual(status?["lastJob"]?.stringValue, third)
        XCTAssertEqual(status?["lastFailureReason"]?.stringValue, "BackoffLimitExceeded", "the last failure stays on record")

        // Suspended in the spec: the CronJob is suspended and the condition says why.
        try await rig.patchSpec(["backup": ["suspend": true]])
        try await rig.waitForCondition(ConditionType.backupHealthy, "False", reason: "Suspended")
        let suspendedCron = try await rig.get(.cronJobs, "pynomaly-backup")
        XCTAssertEqual(suspendedCron?[path: ["spec", "suspend"]]?.boolValue, true)

        // Disabled: both backup objects' owner is the CR, the CronJob goes, the claim stays.
        try await rig.patchSpec(["backup": ["enabled": false]])
        try await waitUntil("the backup CronJob is deleted") { try await rig.get(.cronJobs, "pynomaly-backup") == nil }
        try await rig.waitForIdle()
        let afterDisable = try await rig.cr()
        XCTAssertNil(rig.condition(afterDisable, ConditionType.backupHealthy), "no BackupHealthy without backups")
        XCTAssertNotNil(afterDisable[path: ["status", "backup", "lastSuccessfulTime"]], "the record of past backups stays")
        let keptClaim = try await rig.get(.persistentVolumeClaims, "pynomaly-backups")
        XCTAssertNotNil(keptClaim, "disabling backups keeps the claim")

        // Deleting the CR keeps the claim (no owner reference for the garbage collector to follow).
        _ = try await rig.admin.delete(.pynomalyDeployments, namespace: "default", name: Self.name, options: DeleteOptions())
        try await waitUntil("the CR is gone") { try await rig.get(.pynomalyDeployments, Self.name) == nil }
        let survivor = try await rig.get(.persistentVolumeClaims, "pynomaly-backups")
        XCTAssertNotNil(survivor, "backups survive the CR")
        try await rig.stop()
    }

    func testAForeignJobUnderAnOnDemandBackupsNameIsRefusedAndKept() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadyBackupSample()
        // Someone's Job already holds the name the request's token gives.
        try await rig.createForeignJob("pynomaly-backup-taken")
        try await rig.annotate(RequestAnnotation.backup.name, "taken")
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: "ResourceConflict")
        let job = try await rig.get(.jobs, "pynomaly-backup-taken")
        XCTAssertNil(job?[path: ["metadata", "ownerReferences"]], "the foreign Job is not taken over")
        XCTAssertNil(job?[path: ["metadata", "labels", PynomalyLabels.managedByKey]])
        let handled = try await rig.cr()[path: ["status", "handledRequests", "backup"]]
        XCTAssertNil(handled, "the request is not marked handled")
    }

    func testOnDemandBackupRunsOncePerToken() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createBackupSample()

        try await rig.annotate(RequestAnnotation.backup.name, "nightly-1")
        try await waitUntil("the on-demand Job exists") { try await rig.get(.jobs, "pynomaly-backup-nightly-1") != nil }
        try await waitUntil("the token is handled") {
            try await rig.cr()[path: ["status", "handledRequests", "backup"]]?.stringValue == "nightly-1"
        }
        let job = try await rig.get(.jobs, "pynomaly-backup-nightly-1")
        let container = job?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first
        let cron = try await rig.get(.cronJobs, "pynomaly-backup")
        XCTAssertEqual(container, cron?[path: ["spec", "jobTemplate", "spec", "template", "spec", "containers"]]?.arrayValue?.first,
                       "the on-demand Job runs the CronJob's container")
        try await rig.waitForCondition(ConditionType.backupHealthy, "True", reason: "BackupSucceeded")

        // More passes (another annotation, a spec change) with the same token create nothing.
        try await rig.annotate("example.com/unrelated", "x")
        try await rig.patchSpec(["config": ["LOG_LEVEL": "DEBUG"]])
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.waitForIdle()
        let jobs = try await onDemandJobs(rig)
        XCTAssertEqual(jobs, ["pynomaly-backup-nightly-1"])

        // A new token is a new backup; a token that is not a DNS label is hashed into the name.
        try await rig.annotate(RequestAnnotation.backup.name, "Before Upgrade!")
        try await waitUntil("the second on-demand Job exists") { try await self.onDemandJobs(rig).count == 2 }
        try await rig.waitForIdle()
        let names = try await onDemandJobs(rig)
        XCTAssertEqual(names.count, 2, "\(names)")
        XCTAssertTrue(names.allSatisfy { $0.count <= 63 })
        let reasons = try await rig.eventReasons()
        XCTAssertEqual(reasons.filter { $0 == "BackupRequested" }.count, 2, "\(reasons)")

        // A GitOps revert sets the first token again after its Job was cleaned up: an old request,
        // not a new one, so no Job and no Event.
        _ = try await rig.admin.delete(.jobs, namespace: "default", name: "pynomaly-backup-nightly-1", options: DeleteOptions(propagationPolicy: "Background"))
        try await waitUntil("the first Job is gone") { try await rig.get(.jobs, "pynomaly-backup-nightly-1") == nil }
        try await rig.annotate(RequestAnnotation.backup.name, "nightly-1")
        try await rig.annotate("example.com/after-revert", "y")
        try await waitUntil("the operator's cache has the reverted annotation") {
            rig.caches.primary.store.get(namespace: "default", name: "pynomaly")?[path: ["metadata", "annotations", "example.com/after-revert"]] != nil
        }
        try await rig.waitForIdle()
        let afterRevert = try await rig.get(.jobs, "pynomaly-backup-nightly-1")
        XCTAssertNil(afterRevert, "the reverted token ran again")
        let reasonsAfterRevert = try await rig.eventReasons()
        XCTAssertEqual(reasonsAfterRevert.filter { $0 == "BackupRequested" }.count, 2, "\(reasonsAfterRevert)")
        try await rig.stop()
    }

    func testRestoreScalesDownBacksUpRestoresAndScalesBack() async throws {
        let rig = try await OperatorRig()
        rig.server.simulation.settings.jobDuration = 0.3
        rig.start()
        try await rig.createBackupSample()
        let watcher = RestoreInvariantWatcher(rig: rig, restore: "fix")
        try await createRestore(rig, name: "fix", spec: ["deploymentName": "pynomaly", "latest": true])

        let restore = try await waitForRestorePhase(rig, "fix", "Succeeded")
        XCTAssertEqual(restore[path: ["status", "originalReplicas"]]?.intValue, 3)
        let emergencyFile = restore[path: ["status", "emergencyBackupFile"]]?.stringValue ?? ""
        XCTAssertTrue(emergencyFile.hasPrefix("pynomaly-") && emergencyFile.hasSuffix("-emergency.dump"), emergencyFile)
        XCTAssertEqual(restore[path: ["status", "jobs", "emergencyBackup"]]?.stringValue, "fix-emergency-backup")
        XCTAssertEqual(restore[path: ["status", "jobs", "restore"]]?.stringValue, "fix-restore")
        XCTAssertNotNil(restore[path: ["status", "completedAt"]]?.stringValue)
        let ready = restore[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Ready" }
        XCTAssertEqual(ready?["status"]?.stringValue, "True")

        // The Jobs: owned by the restore, the restore one told to take the newest file.
        let restoreUID = restore[path: ["metadata", "uid"]]?.stringValue
        for name in ["fix-emergency-backup", "fix-restore"] {
            let job = try await rig.get(.jobs, name)
            XCTAssertEqual(job?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue, restoreUID, name)
        }
        let env = try await rig.get(.jobs, "fix-restore")?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["env"]?.arrayValue ?? []
        XCTAssertTrue(env.contains { $0["name"] == "RESTORE_LATEST" && $0["value"] == "true" }, "\(env)")
        let emergencyEnv = try await rig.get(.jobs, "fix-emergency-backup")?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["env"]?.arrayValue ?? []
        XCTAssertTrue(emergencyEnv.contains { $0["name"] == "BACKUP_FILE_NAME" && $0["value"]?.stringValue == emergencyFile }, "\(emergencyEnv)")

        // The app is back, the hold is gone, and the flow was reported.
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.waitForCondition(ConditionType.restoreInProgress, "False", reason: "RestoreFinished")
        let cr = try await rig.cr()
        XCTAssertNil(cr[path: ["status", "restore"]])
        let replicas1 = try await appReplicas(rig)
        XCTAssertEqual(replicas1, 3)
        // Events are written by the recorder after the status that reports them: awaited, not read once.
        let expectedEvents = ["RestoreStarted", "ScaledDown", "EmergencyBackupSucceeded", "Restored", "RestoreSucceeded"]
        try await waitUntil("the restore's Events are recorded") {
            let reasons = try await self.eventReasons(rig, of: "fix")
            return expectedEvents.allSatisfy(reasons.contains)
        }
        let restoreEvents = try await eventReasons(rig, of: "fix")
        for reason in expectedEvents {
            XCTAssertTrue(restoreEvents.contains(reason), "\(reason) in \(restoreEvents)")
        }
        try await waitUntil("the hold's Events are recorded") {
            let reasons = try await rig.eventReasons()
            return reasons.contains("RestoreHold") && reasons.contains("RestoreHoldReleased")
        }
        let violations = try await watcher.finish()
        XCTAssertEqual(violations, [], "the app had no replica while the database was touched")
        XCTAssertGreaterThan(watcher.jobObservations, 0, "the watcher saw the Jobs run")
        try await rig.stop()
    }

    /// The hold comes before validation: a restore of a deployment whose spec the operator refuses
    /// still gets the app stopped (it would otherwise wait in ScalingDown for ever), runs, and gives
    /// the app its replicas back, while the spec's problem is reported again once the hold ends; the
    /// restore completes when the fixed spec makes the app Ready.
    func testARestoreOfADeploymentWithAnInvalidSpecHoldsAndReleasesTheApp() async throws {
        let rig = try await OperatorRig()
        rig.server.simulation.settings.jobDuration = 0.3
        rig.start()
        try await rig.createBackupSample()
        try await rig.patchSpec([
            "analysis": ["prometheus": ["address": "http://prometheus.monitoring:9090"],
                         "metrics": [["name": "errors", "query": "sum(up{job={{service}}})", "successCondition": ["max": 1]]]],
        ])
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: ConditionReason.invalidSpec)
        let watcher = RestoreInvariantWatcher(rig: rig, restore: "fix")
        try await createRestore(rig, name: "fix", spec: ["deploymentName": "pynomaly", "latest": true])

        // Restored, and the app scaled back; the restore waits for Ready, which the spec's problem withholds.
        _ = try await waitForRestorePhase(rig, "fix", "ScalingUp", timeout: 30)
        try await rig.waitForCondition(ConditionType.restoreInProgress, "False", reason: "RestoreFinished")
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: ConditionReason.invalidSpec)
        try await waitUntil("the app has its replicas back") { try await self.appReplicas(rig) == 3 }
        // The spec fixed: the app is Ready and the restore completes.
        try await rig.patchSpec(["analysis": .null])
        _ = try await waitForRestorePhase(rig, "fix", "Succeeded", timeout: 30)
        let violations = try await watcher.finish()
        XCTAssertEqual(violations, [], "the app had no replica while the database was touched")
        try await waitUntil("the hold's Events are recorded") {
            let reasons = try await rig.eventReasons()
            return reasons.contains("RestoreHold") && reasons.contains("RestoreHoldReleased")
        }
        try await rig.stop()
    }

    func testFailedRestoreKeepsTheAppDownUntilDeleted() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createBackupSample()
        rig.server.simulation.failJobs(matching: .namePrefix("broken-restore"), reason: "BackoffLimitExceeded", message: "pg_restore: error")
        try await createRestore(rig, name: "broken", spec: ["deploymentName": "pynomaly", "backupFile": "pynomaly-20261101T020000Z.dump"])

        let restore = try await waitForRestorePhase(rig, "broken", "Failed")
        let message = restore[path: ["status", "message"]]?.stringValue ?? ""
        XCTAssertTrue(message.contains("pg_restore failed") && message.contains("stays at zero replicas"), message)
        XCTAssertTrue(message.contains(restore[path: ["status", "emergencyBackupFile"]]?.stringValue ?? "?"), "the message names the emergency backup")
        let stalled = restore[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Stalled" }
        XCTAssertEqual(stalled?["status"]?.stringValue, "True")

        try await rig.waitForCondition(ConditionType.restoreInProgress, "True", reason: "RestoreFailed")
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: "RestoreFailed")
        try await rig.waitForIdle()
        let replicas2 = try await appReplicas(rig)
        XCTAssertEqual(replicas2, 0, "the app stays down")
        let pods = try await appPods(rig)
        XCTAssertEqual(pods, 0)
        let cron = try await rig.get(.cronJobs, "pynomaly-backup")
        XCTAssertEqual(cron?[path: ["spec", "suspend"]]?.boolValue, true, "no scheduled backup of a half-restored database")
        let restoreEvents = try await eventReasons(rig, of: "broken")
        XCTAssertTrue(restoreEvents.contains("RestoreFailed"), "\(restoreEvents)")

        // A second restore while... the first has failed takes over (it is not running); deleting it releases the app.
        _ = try await rig.admin.delete(.pynomalyRestores, namespace: "default", name: "broken", options: DeleteOptions())
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        let replicas3 = try await appReplicas(rig)
        XCTAssertEqual(replicas3, 3)
        let cronAfter = try await rig.get(.cronJobs, "pynomaly-backup")
        XCTAssertEqual(cronAfter?[path: ["spec", "suspend"]]?.boolValue, false, "the schedule runs again")
        try await rig.stop()
    }

    /// Someone else's Job under the name of a restore's emergency backup: the restore says so in its
    /// status (Stalled, ResourceConflict, the message naming the Job) and a Warning Event, takes and
    /// changes nothing of the Job, and creates no restore Job after it.
    func testAForeignJobUnderARestoresJobNameStallsTheRestoreAndIsKept() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadyBackupSample()
        try await rig.createForeignJob("blocked-emergency-backup")
        try await createRestore(rig, name: "blocked", spec: ["deploymentName": "pynomaly", "backupFile": "pynomaly-20261101T020000Z.dump"])

        var last: JSONValue = .null
        let stalled = try await eventually(timeout: 20) {
            last = try await rig.admin.get(.pynomalyRestores, namespace: "default", name: "blocked")
            let condition = last[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Stalled" }
            return condition?["status"] == "True" && condition?["reason"] == "ResourceConflict"
        }
        XCTAssertTrue(stalled, "the restore says it is blocked: \(last["status"]?.serializedString() ?? "none")")
        XCTAssertTrue((last[path: ["status", "message"]]?.stringValue ?? "").contains("blocked-emergency-backup"), "the message names the Job")
        let job = try await rig.get(.jobs, "blocked-emergency-backup")
        XCTAssertNil(job?[path: ["metadata", "ownerReferences"]], "the foreign Job is not taken over")
        XCTAssertNil(job?[path: ["metadata", "labels", PynomalyLabels.managedByKey]])
        let restoreJob = try await rig.get(.jobs, "blocked-restore")
        XCTAssertNil(restoreJob, "nothing is restored without the emergency backup")
        try await waitUntil("a Warning Event names the conflict") {
            try await self.eventReasons(rig, of: "blocked").contains("ResourceConflict")
        }
        try await rig.stop()
    }

    func testInvalidOrConflictingRestoresChangeNothing() async throws {
        let rig = try await OperatorRig()
        rig.server.simulation.settings.jobDuration = 2
        rig.start()
        try await rig.createBackupSample()
        // No such deployment: Failed at once, nothing touched.
        try await createRestore(rig, name: "nowhere", spec: ["deploymentName": "missing", "latest": true])
        let missing = try await waitForRestorePhase(rig, "nowhere", "Failed")
        XCTAssertTrue((missing[path: ["status", "message"]]?.stringValue ?? "").contains("does not exist"))
        XCTAssertNil(missing[path: ["status", "startedAt"]])

        // Two restores of one deployment: the second fails without touching anything.
        try await createRestore(rig, name: "first", spec: ["deploymentName": "pynomaly", "latest": true])
        _ = try await waitForRestorePhase(rig, "first", "EmergencyBackup")
        try await createRestore(rig, name: "second", spec: ["deploymentName": "pynomaly", "latest": true])
        let second = try await waitForRestorePhase(rig, "second", "Failed")
        XCTAssertTrue((second[path: ["status", "message"]]?.stringValue ?? "").contains("first"), "names the running restore")
        let secondJob = try await rig.get(.jobs, "second-emergency-backup")
        XCTAssertNil(secondJob)
        _ = try await waitForRestorePhase(rig, "first", "Succeeded", timeout: 30)
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.stop()
    }

    func testOperatorRestartedAtEveryRestorePhaseResumes() async throws {
        let rig = try await OperatorRig(podStartDelay: 0.25, progressDeadline: 5)
        rig.server.simulation.settings.jobDuration = 0.5
        var (manager, task) = try await BlueGreenTests.startManager(rig)
        try await rig.createBackupSample()
        manager.shutDown()
        _ = try await task.value

        try await createRestore(rig, name: "again", spec: ["deploymentName": "pynomaly", "latest": true])
        var phases: [String] = []
        var managers = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            // A fresh manager (new caches, new queue) until the phase changes, then stop it.
            (manager, task) = try await BlueGreenTests.startManager(rig)
            managers += 1
            let before = try await restorePhase(rig, "again")
            if phases.last != before { phases.append(before) }
            if before == "Succeeded" || before == "Failed" {
                manager.shutDown()
                _ = try await task.value
                break
            }
            _ = try await eventually(timeout: 15) { try await self.restorePhase(rig, "again") != before }
            manager.shutDown()
            _ = try await task.value
        }
        for expected in ["Pending", "ScalingDown", "EmergencyBackup", "Restoring", "ScalingUp", "Succeeded"] {
            XCTAssertTrue(phases.contains(expected), "a restart happened in \(expected); phases \(phases)")
        }
        XCTAssertGreaterThan(managers, 4)
        let jobs = try await rig.admin.list(.jobs, namespace: "default", options: ListOptions(labelSelector: "pynomaly.ai/restore=again")).items
        XCTAssertEqual(jobs.compactMap { $0[path: ["metadata", "name"]]?.stringValue }.sorted(), ["again-emergency-backup", "again-restore"],
                       "one Job per step despite the restarts")
        let replicas4 = try await appReplicas(rig)
        XCTAssertEqual(replicas4, 3)
        try await rig.stop()
    }

    /// `kubectl pynomaly backup` and `restore` (the real kubectl finding the plugin on PATH), acted on
    /// by the operator; `status` then shows the last backup.
    func testPluginBackupAndRestoreThroughKubectl() async throws {
        let plugin = PluginEndToEndTests.binary
        // `swift build --build-tests` (make test) builds the plugin; its absence is a failure, not a skip.
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: plugin.path), "build it: swift build --build-tests")
        guard FileManager.default.isExecutableFile(atPath: plugin.path) else { return }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        let kubectlPath = try XCTUnwrap(path.split(separator: ":").map { "\($0)/kubectl" }.first { FileManager.default.isExecutableFile(atPath: $0) })
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createBackupSample()
        let env = ["PATH": "\(plugin.deletingLastPathComponent().path):\(path)", "KUBECONFIG": rig.cluster.kubeconfig]

        let backup = try await PluginEndToEndTests.run(kubectlPath, ["pynomaly", "backup", Self.name], environment: env)
        XCTAssertEqual(backup.status, 0, backup.stderr)
        try await waitUntil("the on-demand backup Job exists") { try await self.onDemandJobs(rig).count == 1 }
        try await rig.waitForCondition(ConditionType.backupHealthy, "True", reason: "BackupSucceeded")

        let restore = try await PluginEndToEndTests.run(kubectlPath, ["pynomaly", "restore", Self.name, "--latest", "--name", "from-plugin"], environment: env)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        _ = try await waitForRestorePhase(rig, "from-plugin", "Succeeded")
        try await rig.waitForCondition(ConditionType.ready)

        let status = try await PluginEndToEndTests.run(kubectlPath, ["pynomaly", "status", Self.name], environment: env)
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("Last backup:") && status.stdout.contains("succeeded"), status.stdout)
        XCTAssertTrue(status.stdout.contains("BackupHealthy"), status.stdout)
        try await rig.stop()
    }

    // MARK: helpers

    /// The deployment deleted during the emergency backup and created again against another
    /// database: the restore must stop, say so, and never run pg_restore against that database.
    func testARestoreStopsWhenItsDeploymentIsReplacedMidway() async throws {
        let rig = try await OperatorRig()
        rig.server.simulation.settings.jobDuration = 2
        rig.start()
        try await rig.createBackupSample()
        try await createRestore(rig, name: "fix", spec: ["deploymentName": "pynomaly", "latest": true])
        try await waitForRestorePhase(rig, "fix", "EmergencyBackup")
        let original = try await rig.cr()
        _ = try await rig.admin.delete(.pynomalyDeployments, namespace: "default", name: "pynomaly", options: DeleteOptions())
        try await waitUntil("the deployment is gone") { (try? await rig.cr()) == nil }
        var replacement = original
        replacement["status"] = nil
        replacement[path: ["metadata"]] = ["name": "pynomaly", "namespace": "default"]
        replacement[path: ["spec", "database", "host"]] = "other-db"
        replacement[path: ["spec", "database", "name"]] = "otherdb"
        try await rig.create(replacement)

        let restore = try await waitForRestorePhase(rig, "fix", "Failed", timeout: 30)
        let message = restore[path: ["status", "message"]]?.stringValue ?? ""
        XCTAssertTrue(message.contains("deleted") || message.contains("created again"), message)
        XCTAssertTrue(message.contains("nothing was restored"), message)
        let restoreJob = try await rig.get(.jobs, "fix-restore")
        XCTAssertNil(restoreJob, "pg_restore never ran against a database nobody backed up")
        try await waitUntil("a Warning Event says the restore failed") { try await self.eventReasons(rig, of: "fix").contains("RestoreFailed") }
        // The new deployment is not held by a restore bound to the old one.
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        try await rig.stop()
    }

    func createRestore(_ rig: OperatorRig, name: String, spec: JSONValue) async throws {
        let restore: JSONValue = ["apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyRestore",
                                  "metadata": ["name": .string(name), "namespace": "default"], "spec": spec]
        _ = try await rig.admin.create(.pynomalyRestores, namespace: "default", object: restore)
    }

    func restorePhase(_ rig: OperatorRig, _ name: String) async throws -> String {
        try await rig.admin.get(.pynomalyRestores, namespace: "default", name: name)[path: ["status", "phase"]]?.stringValue ?? "Pending"
    }

    @discardableResult
    func waitForRestorePhase(_ rig: OperatorRig, _ name: String, _ phase: String, timeout: Double = 20,
                             file: StaticString = #filePath, line: UInt = #line) async throws -> JSONValue {
        var last: JSONValue = .null
        let reached = try await eventually(timeout: timeout) {
            last = try await rig.admin.get(.pynomalyRestores, namespace: "default", name: name)
            return last[path: ["status", "phase"]]?.stringValue == phase
        }
        if !reached {
            XCTFail("restore \(name) did not reach \(phase); status \(last["status"]?.serializedString() ?? "none")", file: file, line: line)
            throw CancellationError()
        }
        return last
    }

    func onDemandJobs(_ rig: OperatorRig) async throws -> [String] {
        let jobs = try await rig.admin.list(.jobs, namespace: "default", options: ListOptions(labelSelector: "app.kubernetes.io/component=backup")).items
        return jobs.filter { ($0[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["kind"]?.stringValue) == "PynomalyDeployment" }
            .compactMap { $0[path: ["metadata", "name"]]?.stringValue }.sorted()
    }

    func appReplicas(_ rig: OperatorRig) async throws -> Int64? {
        try await rig.get(.deployments, Self.name)?[path: ["spec", "replicas"]]?.intValue
    }

    func appPods(_ rig: OperatorRig) async throws -> Int {
        try await rig.admin.list(.pods, namespace: "default", options: ListOptions(labelSelector: PynomalyLabels.selectorString(for: Self.name))).items.count
    }

    func eventReasons(_ rig: OperatorRig, of restore: String) async throws -> [String] {
        let events = try await rig.admin.list(.events, namespace: "default", options: ListOptions()).items
        return events.filter { $0[path: ["involvedObject", "kind"]]?.stringValue == "PynomalyRestore" && $0[path: ["involvedObject", "name"]]?.stringValue == restore }
            .compactMap { $0["reason"]?.stringValue }
    }
}

/// Polls while a restore runs: whenever one of its Jobs exists and has not finished, the app must
/// have zero replicas and no pod (nothing writes while the database is dumped or restored).
final class RestoreInvariantWatcher: Sendable {
    private let violations = Mutex<[String]>([])
    private let observed = Mutex(0)
    private let finished = Mutex(false)

    /// Checks, at every change the API server commits, that while a Job of the restore runs, the
    /// app's Deployment asks for zero replicas and no app pod exists (terminating ones included).
    init(rig: OperatorRig, restore: String, app: String = BackupRestoreTests.name) {
        let selector = PynomalyLabels.selector(for: app)
        rig.server.observeCommits { [weak self] change in
            guard let self, !self.finished.withLock({ $0 }),
                  change.isOf(.jobs) || change.isOf(.deployments) || change.isOf(.pods) else { return }
            let running = change.list(.jobs, namespace: "default").filter { job in
                job[path: ["metadata", "labels", "pynomaly.ai/restore"]]?.stringValue == restore
                    && !(job[path: ["status", "conditions"]]?.arrayValue ?? []).contains {
                        ($0["type"] == "Complete" || $0["type"] == "Failed") && $0["status"] == "True"
                    }
            }
            guard !running.isEmpty else { return }
            self.observed.withLock { $0 += 1 }
            let replicas = change.get(.deployments, namespace: "default", name: app)?[path: ["spec", "replicas"]]?.intValue ?? 0
            let pods = change.list(.pods, namespace: "default").filter { pod in
                selector.allSatisfy { pod[path: ["metadata", "labels", $0.key]]?.stringValue == $0.value }
            }.count
            if replicas != 0 || pods != 0 {
                let names = running.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
                self.violations.withLock { $0.append("\(names) running with replicas \(replicas), pods \(pods)") }
            }
        }
    }

    /// Changes seen while a restore Job ran.
    var jobObservations: Int { observed.withLock { $0 } }

    func finish() async throws -> [String] {
        finished.withLock { $0 = true }
        return violations.withLock { $0 }
    }
}
