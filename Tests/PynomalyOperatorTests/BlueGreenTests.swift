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

/// Blue-green end to end: the BlueGreen strategy driven by the real manager over HTTPS against
/// KubeTestServer (simulated Deployment controller, kubelet, Job controller and HPA), with the
/// sample `manifests/samples/pynomaly-bluegreen.yaml`.
final class BlueGreenTests: XCTestCase {
    static let name = OperatorRig.blueGreenName
    static let newImage = "ghcr.io/elgerytme/pynomaly:v0.1.4"

    // MARK: a. first deployment, then an automatic blue-green rollout

    func testFirstDeploymentThenAutoPromotedRolloutToGreen() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])
        try await runScenarioA(rig)
        XCTAssertEqual(rig.probe.maxConcurrentPerKey, 1, "never two reconciles of one CR at once")
        try await watcher.finish()
        try await rig.stop()
    }

    /// Paused: a new image deploys no preview and creates no revision (Ready=False, Paused); a
    /// missing Secret holds the same way (ReferenceMissing); resuming runs the normal rollout.
    func testPausedAndWaitingHoldTheColoursThenResumeRollsOut() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])

        try await rig.patchSpec(["paused": true], name: Self.name)
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await rig.waitForCondition(ConditionType.ready, "False", name: Self.name, reason: "Paused")
        try await rig.waitForIdle()
        var cr = try await rig.cr(Self.name)
        expectEqual(cr[path: ["status", "phase"]]?.stringValue, "Paused")
        expectEqual(cr[path: ["status", "history"]]?.arrayValue?.count, 1, "no revision while paused")
        expectEqual(cr[path: ["status", "blueGreen", "step"]]?.stringValue, "Idle")
        let green = try await replicas(rig, "green")
        XCTAssertTrue(green == nil || green == 0, "no preview while paused")

        // Waiting for a Secret the spec references: nothing moves either, and the reason says why.
        try await rig.patchSpec(["paused": false, "redis": ["host": "pynomaly-redis", "passwordSecretRef": ["name": "missing-secret", "key": "k"]]],
                                name: Self.name)
        try await rig.waitForCondition(ConditionType.ready, "False", name: Self.name, reason: "ReferenceMissing")
        try await rig.waitForIdle()
        let greenWaiting = try await replicas(rig, "green")
        XCTAssertTrue(greenWaiting == nil || greenWaiting == 0, "no preview while a referenced Secret is missing")
        expectEqual(try await backendColor(rig), "blue")

        // Resumed with the reference fixed: preview, smoke test, switch to green.
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "missing-secret", "namespace": .string(OperatorRig.namespace)],
            "stringData": ["k": "v"]])
        try await waitUntil("green serves the new image", timeout: 20) {
            cr = try await rig.cr(Self.name)
            return cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "green" && cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
        }
        // Revision 2 was planned while the Secret was missing; its arrival changed the template's content hash: revision 3.
        expectEqual(cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 3)
        let image = try await rig.get(.deployments, "\(Self.name)-green")?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue
        expectEqual(image, Self.newImage)
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: b. failed smoke test

    /// Someone else's Job under the name of the next revision's smoke test: the operator refuses
    /// to take it for its own test (ResourceConflict), keeps it as it is, and switches nothing.
    func testAForeignJobUnderTheSmokeTestsNameIsRefusedAndKept() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])
        try await rig.createForeignJob("\(Self.name)-smoke-2")
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await rig.waitForCondition(ConditionType.stalled, "True", name: Self.name, reason: "ResourceConflict", timeout: 30)
        let job = try await rig.get(.jobs, "\(Self.name)-smoke-2")
        XCTAssertNil(job?[path: ["metadata", "ownerReferences"]], "the foreign Job is not taken over")
        XCTAssertNil(job?[path: ["metadata", "labels", PynomalyLabels.managedByKey]])
        expectEqual(try await rig.cr(Self.name)[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "blue", "no switch")
        expectEqual(try await backendColor(rig), "blue")
        try await watcher.finish()
        try await rig.stop()
    }

    func testFailedSmokeTestAbortsWithoutSwitchOrRetry() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])

        rig.server.simulation.failJobs(matching: .namePrefix("\(Self.name)-smoke-2"), reason: "BackoffLimitExceeded", message: "curl: (22) 503")
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("the rollout is aborted", timeout: 15) { try await self.step(rig) == "Aborted" }
        try await rig.waitForCondition(ConditionType.stalled, name: Self.name)
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Degraded")
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "blue", "no switch")
        expectEqual(try await backendColor(rig), "blue")
        try await waitUntil("green is scaled down") { try await self.replicas(rig, "green") == 0 }
        try await waitUntil("a Warning names the Job's reason") {
            try await rig.events(for: Self.name).contains {
                $0["type"]?.stringValue == "Warning" && $0["reason"]?.stringValue == "SmokeTestFailed"
                    && ($0["message"]?.stringValue ?? "").contains("BackoffLimitExceeded")
            }
        }
        // No retry at this generation: a resync decides the same and creates no Job.
        await rig.controller.queue.add(ObjectKey(namespace: OperatorRig.namespace, name: Self.name))
        try await rig.waitForIdle()
        let jobs = try await smokeJobNames(rig)
        XCTAssertEqual(jobs, ["\(Self.name)-smoke-1", "\(Self.name)-smoke-2"])
        expectEqual(try await step(rig), "Aborted")
        try await watcher.finish()
        try await rig.stop()
    }

    func testPreviewMissingItsDeadlineAbortsWithoutSwitch() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])
        rig.server.simulation.failImage(Self.newImage)
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("the rollout is aborted", timeout: 15) { try await self.step(rig) == "Aborted" }
        try await waitUntil("a Warning says why") {
            try await rig.events(for: Self.name).contains { $0["type"]?.stringValue == "Warning" && $0["reason"]?.stringValue == "ProgressDeadlineExceeded" }
        }
        expectEqual(try await backendColor(rig), "blue")
        try await waitUntil("green is scaled down") { try await self.replicas(rig, "green") == 0 }
        expectEqual(try await smokeJobNames(rig), ["\(Self.name)-smoke-1"], "an unavailable preview is not smoke-tested")
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Degraded")
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: c. manual promotion

    func testManualPromotionWaitsForTheToken() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1, "autoPromotion": false])
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("the preview awaits promotion", timeout: 15) { try await self.step(rig) == "AwaitingPromotion" }
        try await rig.waitForIdle()
        expectEqual(try await step(rig), "AwaitingPromotion", "no promotion without the token")
        expectEqual(try await backendColor(rig), "blue")
        try await rig.annotate(RequestAnnotation.promote.name, "p1", name: Self.name)
        try await waitUntil("traffic is on green", timeout: 15) { try await self.backendColor(rig) == "green" }
        try await waitUntil("blue is scaled down", timeout: 15) { try await self.step(rig) == "Idle" }
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "handledRequests", RequestAnnotation.promote.statusKey]]?.stringValue, "p1")
        expectEqual(try await replicas(rig, "blue"), 0)
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: d. abort after the switch

    func testAbortAfterTheSwitchFlipsBackAtOnce() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 30])
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("traffic is on green", timeout: 15) { try await self.step(rig) == "Switched" }
        expectEqual(try await backendColor(rig), "green")
        expectEqual(try await replicas(rig, "blue"), 3, "blue stays scaled within the delay")

        try await rig.annotate(RequestAnnotation.abort.name, "a1", name: Self.name)
        try await waitUntil("traffic is back on blue", timeout: 5) { try await self.backendColor(rig) == "blue" }
        try await waitUntil("the abort settles") { try await self.step(rig) == "Aborted" }
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "blue")
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Degraded")
        try await waitUntil("green is scaled down") { try await self.replicas(rig, "green") == 0 }
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: e. requested rollback

    func testRequestedRollbackGoesToTheIdleColourAndSwitches() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("green serves and blue is down", timeout: 15) {
            let step = try await self.step(rig)
            let color = try await self.backendColor(rig)
            return step == "Idle" && color == "green"
        }
        try await rig.annotate(RequestAnnotation.rollbackTo.name, "1@t", name: Self.name)
        try await waitUntil("traffic is back on blue with revision 1", timeout: 15) {
            let cr = try await rig.cr(Self.name)
            return cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue"
                && cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue == 1
        }
        expectEqual(try await backendColor(rig), "blue")
        try await waitUntil("green is scaled down after the delay", timeout: 10) { try await self.replicas(rig, "green") == 0 }
        let image = try await rig.get(.deployments, "\(Self.name)-blue")?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue
        XCTAssertEqual(image, "ghcr.io/elgerytme/pynomaly:v0.1.3")
        expectEqual(try await smokeJobNames(rig).count, 2, "a rollback runs no smoke test")
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: f. restart at every step

    func testRestartAtEveryStepEndsTheSame() async throws {
        // Slower pods and Jobs and a promotion delay, so every step lasts long enough to restart in.
        let rig = try await OperatorRig(podStartDelay: 0.25, progressDeadline: 5)
        rig.server.simulation.settings.jobDuration = 0.4
        let watcher = IngressWatcher(rig: rig)
        // AwaitingPromotion lasts 3 s: a manager start on a loaded CI machine (the chaos suite runs beside it) can take over 1 s.
        try await rig.createBlueGreenSample { OperatorRig.setBlueGreen(&$0, ["scaleDownDelaySeconds": 1, "autoPromotionSeconds": 3]) }
        var steps: [String] = []
        var image = false
        var managers = 0
        var done = false
        let deadline = Date().addingTimeInterval(30)
        while !done && Date() < deadline {
            // A fresh manager (new caches, new queue) until status.blueGreen.step changes, then stop it.
            let (manager, task) = try await Self.startManager(rig)
            managers += 1
            let before = try await step(rig)
            if let before, steps.last != before { steps.append(before) }
            _ = try await eventually(timeout: 10) {
                let now = try await self.step(rig)
                if now != before { return true }
                if !image, now == "Idle", try await self.backendColor(rig) == "blue" { return true }
                return false
            }
            manager.shutDown()
            _ = try await task.value
            let now = try await step(rig)
            if let now, steps.last != now { steps.append(now) }
            if !image, now == "Idle", try await backendColor(rig) == "blue" {
                image = true
                try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
            } else if image, now == "Idle", try await backendColor(rig) == "green", try await replicas(rig, "blue") == 0 {
                done = true
            }
        }
        for expected in ["DeployingPreview", "SmokeTesting", "AwaitingPromotion", "ScalingUpPreview", "Switched", "Idle"] {
            XCTAssertTrue(steps.contains(expected), "a restart happened in \(expected); steps \(steps)")
        }
        XCTAssertTrue(done, "scenario a completed across restarts; steps \(steps)")
        XCTAssertGreaterThan(managers, 4, "restarted at the steps: \(steps)")
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "green")
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 2)
        expectEqual(try await smokeJobNames(rig), ["\(Self.name)-smoke-1", "\(Self.name)-smoke-2"], "one smoke Job per revision")
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: migration from RollingUpdate

    func testSwitchingARollingUpdateToBlueGreenMovesItToBlue() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)
        try await rig.patchSpec(["strategy": ["type": "BlueGreen", "rollingUpdate": nil, "blueGreen": ["scaleDownDelaySeconds": 1]]])
        try await waitUntil("blue serves the stable revision", timeout: 15) {
            let cr = try await rig.cr()
            return cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
                && cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue"
                && cr[path: ["status", "phase"]]?.stringValue == "Healthy"
        }
        try await waitUntil("the RollingUpdate Deployment is gone") { try await rig.get(.deployments, "pynomaly") == nil }
        let cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 1, "the stable revision moved, no new revision")
        expectEqual(try await rig.get(.services, "pynomaly")?[path: ["spec", "selector", PynomalyLabels.colorKey]]?.stringValue, "blue")
        expectEqual(try await rig.get(.deployments, "pynomaly-blue")?[path: ["status", "readyReplicas"]]?.intValue, 3)
        let jobs = try await rig.admin.list(.jobs, namespace: OperatorRig.namespace, options: ListOptions()).items
        XCTAssertTrue(jobs.isEmpty, "no smoke test for the revision that already served")
        try await rig.stop()
    }

    /// Switched to BlueGreen together with a new image: the revision the RollingUpdate Deployment ran
    /// was kept only on that Deployment; it is stored before blue-green takes over (and the Deployment
    /// goes), so its ControllerRevision exists and revision 2 still rolls out as the preview.
    func testSwitchingToBlueGreenWithANewImageStoresTheRevisionThatRan() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)
        let running = try await rig.cr()[path: ["status", "history"]]?.arrayValue?.first?["templateHash"]?.stringValue
        let revision1 = try XCTUnwrap(running)
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4",
                                 "strategy": ["type": "BlueGreen", "rollingUpdate": nil, "blueGreen": ["scaleDownDelaySeconds": 1]]])
        try await waitUntil("revision 2 serves from a colour", timeout: 30) {
            let cr = try await rig.cr()
            return cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue == 2 && cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
        }
        try await waitUntil("the RollingUpdate Deployment is gone") { try await rig.get(.deployments, "pynomaly") == nil }
        let stored = try await rig.admin.list(.controllerRevisions, namespace: OperatorRig.namespace, options: ListOptions()).items
        let byName = Dictionary(uniqueKeysWithValues: stored.compactMap { item -> (String, Int64)? in
            guard let name = item[path: ["metadata", "name"]]?.stringValue, let revision = item["revision"]?.intValue else { return nil }
            return (name, revision)
        })
        XCTAssertEqual(byName["pynomaly-\(revision1)"], 1, "revision 1 is stored: \(byName)")
        XCTAssertEqual(Set(byName.values), [1, 2])
        let kept = try XCTUnwrap(stored.first { $0[path: ["metadata", "name"]]?.stringValue == "pynomaly-\(revision1)" }?[path: ["data", "template"]])
        XCTAssertEqual(PodTemplateBuilder.templateHash(encoded: kept), revision1, "exactly the template that ran")
        try await rig.stop()
    }

    // MARK: migration back to RollingUpdate

    func testSwitchingBlueGreenBackToRollingUpdateMovesTheActiveRevisionToNAME() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("green serves and blue is down", timeout: 15) {
            let step = try await self.step(rig)
            let color = try await self.backendColor(rig)
            let blue = try await self.replicas(rig, "blue")
            return step == "Idle" && color == "green" && blue == 0
        }

        try await rig.patchSpec(["strategy": ["type": "RollingUpdate", "blueGreen": nil]], name: Self.name)
        try await waitUntil("the RollingUpdate layout serves", timeout: 20) {
            let cr = try await rig.cr(Self.name)
            return cr[path: ["status", "blueGreen"]] == nil && cr[path: ["status", "phase"]]?.stringValue == "Healthy"
                && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
                && rig.condition(cr, ConditionType.ready)?["status"]?.stringValue == "True"
        }
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 2, "the active revision moved, no new revision")
        let deployment = try await rig.get(.deployments, Self.name)
        XCTAssertEqual(deployment?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue, Self.newImage)
        XCTAssertEqual(deployment?[path: ["status", "readyReplicas"]]?.intValue, 3)
        for color in ["blue", "green"] {
            expectNil(try await rig.get(.deployments, "\(Self.name)-\(color)"), "\(color) Deployment gone")
            expectNil(try await rig.get(.services, "\(Self.name)-\(color)"), "\(color) Service gone")
        }
        try await waitUntil("the smoke Jobs are gone") { try await self.smokeJobNames(rig).isEmpty }
        expectNil(try await serviceColor(rig, Self.name), "the stable Service selects no colour")
        let ingress = try await rig.get(.ingresses, Self.name)
        XCTAssertEqual(ingress.flatMap(IngressWatcher.backend(of:)), Self.name)
        expectEqual(try await rig.get(.horizontalPodAutoscalers, Self.name)?[path: ["spec", "scaleTargetRef", "name"]]?.stringValue, Self.name)
        expectNil(try await rig.get(.podDisruptionBudgets, Self.name)?[path: ["spec", "selector", "matchLabels", PynomalyLabels.colorKey]],
                  "the PDB selects no colour")
        try await watcher.finish()
        try await rig.stop()
    }

    /// RollingUpdate ↔ BlueGreen five times while a revision awaits promotion: the revision under
    /// test never serves through a path that skips its smoke test and promotion, and is never
    /// recorded as passed; the revision that was serving keeps serving.
    func testSwitchingStrategiesMidTestNeverPassesTheRevisionUnderTest() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1, "autoPromotion": false])
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("the preview awaits promotion", timeout: 15) { try await self.step(rig) == "AwaitingPromotion" }

        func revisionTwoPassed() async throws -> Bool { Self.revisionTwoPassed(try await rig.cr(Self.name)) }
        // Every state the server commits is checked, not only those the rounds below look at.
        let commits = CommitWatch(rig: rig) { BlueGreenTests.revisionTwoPassed($0) }
        /// Waits until the cluster committed `changes` more changes since the switch (the operator's
        /// writes and what they set off), or the operator settled on the switch first.
        func progress(_ changes: Int, _ what: String) async throws {
            let start = commits.count
            try await waitUntil("\(changes) changes after the switch to \(what), or the operator settled") {
                if commits.count >= start + changes { return true }
                let cr = try await rig.cr(Self.name)
                let depth = await rig.controller.queue.depth
                return depth == 0 && rig.controller.metrics.activeWorkers == 0
                    && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
            }
        }
        let rolling: JSONValue = ["type": "RollingUpdate", "blueGreen": nil]
        let blueGreen: JSONValue = ["type": "BlueGreen", "blueGreen": ["scaleDownDelaySeconds": 1, "autoPromotion": false]]
        for round in 0..<5 {
            try await rig.patchSpec(["strategy": rolling], name: Self.name)
            // A growing amount of progress lands the switches at different stages of the migrations.
            try await progress(3 * (round + 1), "RollingUpdate")
            let passedUnderRolling = try await revisionTwoPassed()
            XCTAssertFalse(passedUnderRolling, "round \(round), RollingUpdate")
            try await rig.patchSpec(["strategy": blueGreen], name: Self.name)
            try await progress(3 * (round + 1), "BlueGreen")
            let passedUnderBlueGreen = try await revisionTwoPassed()
            XCTAssertFalse(passedUnderBlueGreen, "round \(round), BlueGreen")
        }
        try await rig.patchSpec(["strategy": rolling], name: Self.name)
        try await waitUntil("the RollingUpdate layout serves", timeout: 30) {
            let cr = try await rig.cr(Self.name)
            return cr[path: ["status", "blueGreen"]] == nil && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
                && rig.condition(cr, ConditionType.reconciling)?["status"]?.stringValue == "False"
        }
        // (Not waitForIdle: this many switches exceed the Event burst, so the recorder stays busy.)
        let passed = try await revisionTwoPassed()
        XCTAssertFalse(passed, "never recorded as passed")
        XCTAssertEqual(commits.matched, 0, "no committed state of the CR recorded revision 2 as passed")
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 1, "the revision that served keeps serving")
        let outcome = cr[path: ["status", "history"]]?.arrayValue?.first { $0["revision"]?.intValue == 2 }?["outcome"]?.stringValue
        XCTAssertEqual(outcome, "Aborted")
        let image = try await rig.deploymentImage(Self.name)
        XCTAssertNotEqual(image, Self.newImage, "RollingUpdate did not roll the untested revision out")
        try await waitUntil("a Warning says why") {
            try await rig.events(for: Self.name).contains { $0["reason"]?.stringValue == "PreviewAbandoned" }
        }
        // A new pod template is a new decision: it rolls out with RollingUpdate.
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.5"], name: Self.name)
        try await waitUntil("the new template rolls out", timeout: 30) { try await rig.deploymentImage(Self.name) == "ghcr.io/elgerytme/pynomaly:v0.1.5" }
        try await watcher.finish()
        try await rig.stop()
    }

    func testMigrationBackToRollingUpdateSurvivesRestartsAtEveryStage() async throws {
        let rig = try await OperatorRig(podStartDelay: 0.25, progressDeadline: 5)
        let watcher = IngressWatcher(rig: rig)
        try await rig.createBlueGreenSample { OperatorRig.setBlueGreen(&$0, ["scaleDownDelaySeconds": 1]) }
        var (manager, task) = try await Self.startManager(rig)
        try await rig.waitForBlueIdle()
        manager.shutDown()
        _ = try await task.value

        try await rig.patchSpec(["strategy": ["type": "RollingUpdate", "blueGreen": nil]], name: Self.name)
        // A fresh manager until what the migration has done changes, then stop it.
        func stage() async throws -> String {
            let cr = try await rig.cr(Self.name)
            let rolling = try await rig.get(.deployments, Self.name)
            let blue = try await rig.get(.deployments, "\(Self.name)-blue")
            return "\(cr[path: ["status", "blueGreen"]] != nil) \(rolling != nil) \(rolling?[path: ["status", "readyReplicas"]]?.intValue ?? 0) \(blue != nil)"
        }
        var stages: [String] = []
        var managers = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let before = try await stage()
            if stages.last != before { stages.append(before) }
            if before == "false true 3 false" { break }
            (manager, task) = try await Self.startManager(rig)
            managers += 1
            _ = try await eventually(timeout: 10) { try await stage() != before }
            manager.shutDown()
            _ = try await task.value
        }
        XCTAssertEqual(stages.last, "false true 3 false", "migrated across restarts; stages \(stages)")
        // At least one manager stopped mid-migration (NAME applied, the colour still serving) and a
        // successor finished it; how many stages a machine shows depends on its speed.
        XCTAssertGreaterThanOrEqual(managers, 2, "restarted during the migration: \(stages)")
        XCTAssertTrue(stages.contains { $0.hasPrefix("true true") && $0.hasSuffix("true") },
                      "a restart landed while NAME existed and the colour still served: \(stages)")
        (manager, task) = try await Self.startManager(rig)
        try await waitUntil("Ready as RollingUpdate", timeout: 15) {
            let cr = try await rig.cr(Self.name)
            return cr[path: ["status", "phase"]]?.stringValue == "Healthy"
                && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
        }
        expectNil(try await rig.get(.deployments, "\(Self.name)-green"))
        expectNil(try await rig.get(.services, "\(Self.name)-blue"))
        try await waitUntil("the smoke Jobs are gone") { try await self.smokeJobNames(rig).isEmpty }
        manager.shutDown()
        _ = try await task.value
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: SIGKILL of the operator process mid-rollout

    /// The operator as a process against the sandbox server, killed hard (no cleanup, no status
    /// write) in SmokeTesting and again in AwaitingPromotion; each successor ends the rollout as if
    /// nothing happened, with exactly one smoke Job per revision (never re-created).
    func testSIGKILLDuringSmokeTestAndAwaitingPromotionEndsTheSame() async throws {
        // Smoke Jobs run 1.5 s, so the kill reliably lands while the step is SmokeTesting.
        let cluster = try await ExternalCluster(simulatedJobSeconds: 1.5)
        let namespace = "default"
        let arguments = ["run", "--kubeconfig", cluster.kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0"]
        func cr() async throws -> JSONValue { try await cluster.admin.get(.pynomalyDeployments, namespace: namespace, name: Self.name) }
        func step() async throws -> String? { try await cr()[path: ["status", "blueGreen", "step"]]?.stringValue }
        func jobs() async throws -> [String: String] {
            var found: [String: String] = [:]
            for job in try await cluster.admin.list(.jobs, namespace: namespace, options: ListOptions()).items {
                guard let name = job[path: ["metadata", "name"]]?.stringValue, name.contains("-smoke-") else { continue }
                found[name] = job[path: ["metadata", "uid"]]?.stringValue
            }
            return found
        }
        func killed(_ process: ChildProcess, at wanted: String) async throws {
            let seen = try await eventually(timeout: 20, interval: 0.01) { try await step() == wanted }
            process.signal(SIGKILL)
            _ = try await process.waitForExit()
            XCTAssertTrue(seen, "the operator was killed while \(wanted); output:\n\(process.text)")
        }

        let documents = try OperatorRig.sample("pynomaly-bluegreen.yaml")
        guard var secret = documents.first(where: { $0["kind"]?.stringValue == "Secret" }),
              var resource = documents.first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            throw KubeError.configuration("the blue-green sample lacks a Secret or a PynomalyDeployment")
        }
        secret[path: ["metadata", "namespace"]] = .string(namespace)
        resource[path: ["metadata", "namespace"]] = .string(namespace)
        OperatorRig.setBlueGreen(&resource, ["scaleDownDelaySeconds": 1, "autoPromotion": false])
        _ = try await cluster.admin.create(.secrets, namespace: namespace, object: secret)

        var op = try ChildProcess("pynomaly-operator", arguments)
        _ = try await cluster.admin.create(.pynomalyDeployments, namespace: namespace, object: resource)
        // 1. Killed while the first revision's smoke test runs.
        try await killed(op, at: "SmokeTesting")
        let firstJobs = try await jobs()
        op = try ChildProcess("pynomaly-operator", arguments)
        try await waitUntil("blue serves revision 1", timeout: 20) {
            let now = try await cr()
            return now[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
                && now[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue"
                && now[path: ["status", "phase"]]?.stringValue == "Healthy"
        }

        // 2. Killed while the new revision awaits promotion; the successor promotes on the token.
        _ = try await cluster.admin.patch(.pynomalyDeployments, namespace: namespace, name: Self.name, type: .merge,
                                          body: JSONValue.object(["spec": ["image": .string(Self.newImage)]]).serialized(), subresource: nil,
                                          options: WriteOptions())
        try await killed(op, at: "AwaitingPromotion")
        op = try ChildProcess("pynomaly-operator", arguments)
        _ = try await cluster.admin.patch(.pynomalyDeployments, namespace: namespace, name: Self.name, type: .merge,
                                          body: JSONValue.object(["metadata": ["annotations": [RequestAnnotation.promote.name: "p1"]]]).serialized(),
                                          subresource: nil, options: WriteOptions())
        try await waitUntil("green serves revision 2 and blue is down", timeout: 30) {
            let now = try await cr()
            let blue = try? await cluster.admin.get(.deployments, namespace: namespace, name: "\(Self.name)-blue")
            return now[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
                && now[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "green"
                && now[path: ["status", "phase"]]?.stringValue == "Healthy"
                && blue?[path: ["spec", "replicas"]]?.intValue == 0
        }
        let final = try await cr()
        XCTAssertEqual(final[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 2)
        XCTAssertEqual(final[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == ConditionType.ready }?["status"]?.stringValue, "True")
        let endJobs = try await jobs()
        XCTAssertEqual(endJobs.keys.sorted(), ["\(Self.name)-smoke-1", "\(Self.name)-smoke-2"], "one smoke Job per revision")
        if let uid = firstJobs["\(Self.name)-smoke-1"] {
            XCTAssertEqual(endJobs["\(Self.name)-smoke-1"], uid, "the smoke Job running at the kill was kept, not re-created")
        }
        op.signal(SIGTERM)
        _ = try await op.waitForExit()
        try await cluster.stop()
    }

    // MARK: g. converged costs nothing

    func testConvergedResyncWritesNothing() async throws {
        let (rig, watcher) = try await startBlueGreen(["scaleDownDelaySeconds": 1])
        try await runScenarioA(rig)
        try await rig.waitForIdle()
        let before = rig.writeCount
        await rig.controller.queue.add(ObjectKey(namespace: OperatorRig.namespace, name: Self.name))
        try await rig.waitForIdle()
        // A pass that writes nothing makes no watch event, so nothing can follow it: the count right
        // after the pass settles the question.
        XCTAssertEqual(rig.writeCount, before, "a converged resync writes nothing: \(rig.server.requestCounts)")
        try await watcher.finish()
        try await rig.stop()
    }

    // MARK: Scenario a

    func runScenarioA(_ rig: OperatorRig) async throws {
        try await rig.waitForBlueIdle()
        let first = try await rig.cr(Self.name)
        XCTAssertEqual(first[path: ["status", "phase"]]?.stringValue, "Healthy")
        XCTAssertEqual(rig.condition(first, ConditionType.ready)?["status"]?.stringValue, "True")
        expectEqual(try await serviceColor(rig, Self.name), "blue")
        expectEqual(try await backendColor(rig), "blue")
        let job1 = try await rig.get(.jobs, "\(Self.name)-smoke-1")
        XCTAssertEqual(job1?[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"]?.stringValue == "Complete" && $0["status"]?.stringValue == "True" }, true)
        expectNil(try await rig.get(.deployments, Self.name), "no RollingUpdate Deployment")

        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.name)
        try await waitUntil("the preview is tested", timeout: 15) { try await rig.get(.jobs, "\(Self.name)-smoke-2") != nil }
        try await waitUntil("traffic is on green", timeout: 15) { try await self.backendColor(rig) == "green" }
        expectEqual(try await serviceColor(rig, Self.name), "green")
        try await waitUntil("blue is scaled to zero after the delay", timeout: 15) {
            let step = try await self.step(rig)
            let blue = try await self.replicas(rig, "blue")
            return step == "Idle" && blue == 0
        }
        try await rig.waitForCondition(ConditionType.ready, name: Self.name)
        let cr = try await rig.cr(Self.name)
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "green")
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 2)
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 2)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Healthy")
        expectEqual(try await rig.get(.horizontalPodAutoscalers, Self.name)?[path: ["spec", "scaleTargetRef", "name"]]?.stringValue, "\(Self.name)-green")
        expectEqual(try await smokeJobNames(rig), ["\(Self.name)-smoke-1", "\(Self.name)-smoke-2"])
        // The preview host's rule points at the preview colour's Service (blue, scaled down, after the switch).
        let ingress = try await rig.get(.ingresses, Self.name)
        let previewRule = ingress?[path: ["spec", "rules"]]?.arrayValue?.first { $0["host"]?.stringValue == "preview.pynomaly.example" }
        XCTAssertEqual(previewRule?[path: ["http", "paths"]]?.arrayValue?.first?[path: ["backend", "service", "name"]]?.stringValue, "\(Self.name)-blue")
        // The printer column ACTIVE, as kubectl shows it.
        let table = try await kubectl(rig.cluster.kubeconfig, ["get", "pyd", Self.name])
        XCTAssertEqual(table.status, 0, table.output)
        let lines = table.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let column = lines.first?.firstIndex(of: "ACTIVE")
        let row = lines.dropFirst().first ?? []
        XCTAssertEqual(column.flatMap { row.indices.contains($0) ? row[$0] : nil }, "green", table.output)
    }

    // MARK: Helpers

    /// Where most blue-green tests begin: the operator running with an IngressWatcher checking
    /// every change of where traffic goes from the start, and the sample (with `fields` set in
    /// spec.strategy.blueGreen) served by blue at revision 1.
    func startBlueGreen(_ fields: [String: JSONValue], file: StaticString = #filePath, line: UInt = #line) async throws -> (OperatorRig, IngressWatcher) {
        let rig = try await OperatorRig()
        let watcher = IngressWatcher(rig: rig)
        rig.start()
        try await rig.createBlueGreenSample { OperatorRig.setBlueGreen(&$0, fields) }
        try await rig.waitForBlueIdle(file: file, line: line)
        return (rig, watcher)
    }

    /// Whether the CR's history records revision 2 as passed.
    static func revisionTwoPassed(_ cr: JSONValue) -> Bool {
        let history = cr[path: ["status", "history"]]?.arrayValue ?? []
        return history.contains { $0["revision"]?.intValue == 2 && $0["outcome"]?.stringValue == "Succeeded" }
    }

    func step(_ rig: OperatorRig) async throws -> String? {
        try await rig.cr(Self.name)[path: ["status", "blueGreen", "step"]]?.stringValue
    }

    func replicas(_ rig: OperatorRig, _ color: String) async throws -> Int64? {
        try await rig.get(.deployments, "\(Self.name)-\(color)")?[path: ["spec", "replicas"]]?.intValue
    }

    func serviceColor(_ rig: OperatorRig, _ service: String) async throws -> String? {
        try await rig.get(.services, service)?[path: ["spec", "selector", PynomalyLabels.colorKey]]?.stringValue
    }

    /// The colour of the Service the Ingress's main rule points at.
    func backendColor(_ rig: OperatorRig) async throws -> String? {
        guard let ingress = try await rig.get(.ingresses, Self.name),
              let service = IngressWatcher.backend(of: ingress) else { return nil }
        return try await serviceColor(rig, service)
    }

    func smokeJobNames(_ rig: OperatorRig) async throws -> [String] {
        try await rig.admin.list(.jobs, namespace: OperatorRig.namespace, options: ListOptions()).items
            .compactMap { $0[path: ["metadata", "name"]]?.stringValue }.filter { $0.contains("-smoke-") }.sorted()
    }

    /// A manager like the rig's, against the same server.
    static func startManager(_ rig: OperatorRig) async throws -> (Manager, Task<ManagerOutcome, any Error>) {
        var configuration = try ConfigurationResolver.resolve(kubeconfigPath: rig.cluster.kubeconfig, context: nil)
        configuration.qps = 0
        let client = try makeKubeClient(configuration: configuration)
        let manager = Manager(client: client, options: ManagerOptions(), logger: Logger(label: "pynomaly-operator") { _ in SwiftLogNoOpLogHandler() })
        OperatorSetup.register(on: manager, configuration: OperatorConfiguration(maxConcurrentReconciles: 4, resyncPeriod: 600))
        let task = Task { try await manager.run() }
        return (manager, task)
    }
}

/// Counts every change the server commits, and those that leave the blue-green CR in a state
/// `matches` picks out.
final class CommitWatch: Sendable {
    private let state = Mutex((count: 0, matched: 0))

    init(rig: OperatorRig, name: String = BlueGreenTests.name, matches: @escaping @Sendable (JSONValue) -> Bool) {
        rig.server.observeCommits { [weak self] change in
            guard let self else { return }
            let match = change.type != "DELETED" && change.isOf(.pynomalyDeployments)
                && change.object[path: ["metadata", "name"]]?.stringValue == name && matches(change.object)
            self.state.withLock { state in
                state.count += 1
                if match { state.matched += 1 }
            }
        }
    }

    var count: Int { state.withLock { $0.count } }
    var matched: Int { state.withLock { $0.matched } }
}

/// Polls the Ingress; on every change, the Service its main rule points at must select pods of a
/// colour whose Deployment has every replica ready.
final class IngressWatcher: Sendable {
    private let violations = Mutex<[String]>([])
    private let changes = Mutex(0)
    private let finished = Mutex(false)

    /// Checks, at every change the API server commits to where traffic goes (the Ingress's
    /// backend, or the selector of the Service it names), that the Deployment now receiving it is
    /// fully ready: every replica ready and updated.
    init(rig: OperatorRig, name: String = BlueGreenTests.name) {
        rig.server.observeCommits { [weak self] change in
            guard let self, !self.finished.withLock({ $0 }), change.type != "DELETED" else { return }
            let namespace = OperatorRig.namespace
            guard let ingress = change.get(.ingresses, namespace: namespace, name: name) else { return }
            let routed: Bool
            if change.isOf(.ingresses) {
                routed = change.object[path: ["metadata", "name"]]?.stringValue == name && change.object["spec"] != change.previous?["spec"]
            } else if change.isOf(.services) {
                routed = change.object[path: ["metadata", "name"]]?.stringValue == Self.backend(of: ingress)
                    && change.object[path: ["spec", "selector"]] != change.previous?[path: ["spec", "selector"]]
            } else {
                routed = false
            }
            guard routed else { return }
            self.changes.withLock { $0 += 1 }
            if let problem = Self.check(change, ingress, namespace: namespace) { self.violations.withLock { $0.append(problem) } }
        }
    }

    static func backend(of ingress: JSONValue) -> String? {
        ingress[path: ["spec", "rules"]]?.arrayValue?.first?[path: ["http", "paths"]]?.arrayValue?.first?[path: ["backend", "service", "name"]]?.stringValue
    }

    static func check(_ state: CommittedChange, _ ingress: JSONValue, namespace: String) -> String? {
        guard let service = backend(of: ingress) else { return "the Ingress has no backend" }
        guard let selector = state.get(.services, namespace: namespace, name: service)?[path: ["spec", "selector"]] else { return "no Service \(service)" }
        // A colourless selector is the RollingUpdate layout (after a migration back): Deployment NAME serves.
        let color = selector[PynomalyLabels.colorKey]?.stringValue
        let deploymentName = color.map { "\(BlueGreenTests.name)-\($0)" } ?? service
        guard let deployment = state.get(.deployments, namespace: namespace, name: deploymentName) else { return "no Deployment \(deploymentName)" }
        let want = deployment[path: ["spec", "replicas"]]?.intValue ?? 0
        let ready = deployment[path: ["status", "readyReplicas"]]?.intValue ?? 0
        let updated = deployment[path: ["status", "updatedReplicas"]]?.intValue ?? 0
        if want == 0 || ready < want || updated < want { return "Ingress → \(service) → \(deploymentName) with \(ready)/\(want) ready (\(updated) updated)" }
        return nil
    }

    /// Stops checking and fails the test on any violation.
    func finish(file: StaticString = #filePath, line: UInt = #line) async throws {
        finished.withLock { $0 = true }
        XCTAssertGreaterThan(changes.withLock { $0 }, 0, "the Ingress was observed", file: file, line: line)
        XCTAssertEqual(violations.withLock { $0 }, [], "traffic only ever went to fully ready colours", file: file, line: line)
    }
}

/// XCTAssertEqual without autoclosures, so arguments may `await`.
private func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual, expected, message, file: file, line: line)
}

/// XCTAssertNil without autoclosures.
private func expectNil<T>(_ actual: T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNil(actual, message, file: file, line: line)
}
