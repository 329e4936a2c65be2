import Foundation
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// Rolling updates end to end: the real manager over HTTPS against KubeTestServer with the
/// simulated Deployment controller and kubelet.
final class RollingUpdateTests: XCTestCase {
    func testTheSampleRollsOutWithEveryChildOwnedAndReady() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)

        let cr = try await rig.cr()
        let uid = try XCTUnwrap(cr[path: ["metadata", "uid"]]?.stringValue)
        for (resource, name) in [(ResourceType.configMaps, "pynomaly-config"), (.deployments, "pynomaly"), (.services, "pynomaly"),
                                 (.podDisruptionBudgets, "pynomaly")] {
            let child = try await rig.get(resource, name)
            let owner = child?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first
            XCTAssertEqual(owner?["uid"]?.stringValue, uid, "\(resource.kind) \(name) is owned by the CR")
            XCTAssertEqual(owner?["controller"]?.boolValue, true)
            XCTAssertEqual(child?[path: ["metadata", "labels", "app.kubernetes.io/managed-by"]]?.stringValue, "pynomaly-operator")
        }
        // Revision 1 is kept on the Deployment it runs in (its template, checked by its hash); its
        // ControllerRevision is written once a later revision leaves it behind.
        let revisions = try await rig.admin.list(.controllerRevisions, namespace: "default", options: ListOptions()).items
        XCTAssertEqual(revisions.count, 0)
        let hash = try XCTUnwrap(cr[path: ["status", "history"]]?.arrayValue?.first?["templateHash"]?.stringValue)
        let fetched = try await rig.get(.deployments, "pynomaly")
        let deployment = try XCTUnwrap(fetched)
        XCTAssertNotNil(RevisionTemplateAnnotation.template(in: deployment, hash: hash), "the Deployment keeps revision 1's template")
        let ingress = try await rig.get(.ingresses, "pynomaly")
        XCTAssertNil(ingress, "the sample has no ingress block")
        let hpa = try await rig.get(.horizontalPodAutoscalers, "pynomaly")
        XCTAssertNil(hpa, "nor autoscaling")

        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Healthy")
        XCTAssertEqual(cr[path: ["status", "readyReplicas"]]?.intValue, 3)
        XCTAssertEqual(cr[path: ["status", "replicas"]]?.intValue, 3)
        XCTAssertEqual(cr[path: ["status", "selector"]]?.stringValue, "app.kubernetes.io/instance=pynomaly,app.kubernetes.io/name=pynomaly")
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "stableRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "history"]]?.arrayValue?.first?["outcome"]?.stringValue, "Succeeded")
        for type in [ConditionType.ready, ConditionType.available, ConditionType.progressing] {
            XCTAssertEqual(rig.condition(cr, type)?["status"]?.stringValue, "True", type)
        }
        for type in [ConditionType.reconciling, ConditionType.stalled] {
            XCTAssertEqual(rig.condition(cr, type)?["status"]?.stringValue, "False", type)
        }
        XCTAssertEqual(rig.condition(cr, ConditionType.ready)?["observedGeneration"], cr[path: ["metadata", "generation"]])
        try await waitUntil("the events are recorded") {
            let reasons = try await rig.eventReasons()
            // RevisionCreated is folded into RolloutComplete when the rollout completed before
            // the status was first written.
            return reasons.contains("RolloutComplete")
        }

        // The scale subresource reaches the Deployment (no HPA here), without a new revision.
        let scale: JSONValue = ["apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": ["name": "pynomaly", "namespace": "default"],
                                "spec": ["replicas": 5]]
        _ = try await rig.admin.update(.pynomalyDeployments, namespace: "default", name: "pynomaly", object: scale, subresource: "scale",
                                       options: WriteOptions())
        try await waitUntil("the Deployment has 5 replicas") {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "replicas"]]?.intValue == 5
        }
        try await rig.waitForCondition(ConditionType.ready)
        let scaled = try await rig.cr()
        XCTAssertEqual(scaled[path: ["status", "currentRevision"]]?.intValue, 1, "scaling is not a revision")
        XCTAssertEqual(scaled[path: ["status", "readyReplicas"]]?.intValue, 5)
        XCTAssertEqual(rig.probe.maxConcurrentPerKey, 1, "never two reconciles of one CR at once")
        // Every informer's list and watch, the reconciles' writes and the event recorder go
        // through the manager's one client, which over HTTP/2 is two connections: one for every
        // watch, one for every other request (as against a cluster: two TLS handshakes, two
        // connection slots at the API server's load balancer).
        XCTAssertEqual(rig.server.acceptedConnectionCount, 2)
        XCTAssertEqual(rig.server.http2ConnectionCount, 2)
        try await rig.stop()
    }

    func testImageChangeFailingImageAutomaticRollbackWithoutLoopAndRollbackOnRequest() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)

        // A new image is a new revision.
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await rig.waitForCondition(ConditionType.ready)
        var cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 2)
        XCTAssertEqual(cr[path: ["status", "stableRevision"]]?.intValue, 2)
        let deployedV4 = try await rig.deploymentImage()
        XCTAssertEqual(deployedV4, "ghcr.io/elgerytme/pynomaly:v0.1.4")

        // A failing image: the rollout misses its deadline, the operator rolls back to revision 2.
        rig.server.simulation.failImage("ghcr.io/elgerytme/pynomaly:broken")
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:broken"])
        try await rig.waitForCondition(ConditionType.rolledBack, "True")
        try await rig.waitForCondition(ConditionType.available, "True")
        try await waitUntil("revision 2 runs again") {
            let cr = try await rig.cr()
            return cr[path: ["status", "phase"]]?.stringValue == "Degraded" && rig.condition(cr, ConditionType.progressing)?["status"]?.stringValue == "True"
                && rig.condition(cr, ConditionType.progressing)?["reason"]?.stringValue == ConditionReason.rolloutComplete
        }
        cr = try await rig.cr()
        let deployedAfterRollback = try await rig.deploymentImage()
        XCTAssertEqual(deployedAfterRollback, "ghcr.io/elgerytme/pynomaly:v0.1.4")
        XCTAssertEqual(cr[path: ["status", "lastRollback", "fromRevision"]]?.intValue, 3)
        XCTAssertEqual(cr[path: ["status", "lastRollback", "toRevision"]]?.intValue, 2)
        XCTAssertEqual(cr[path: ["status", "lastRollback", "reason"]]?.stringValue, "ProgressDeadlineExceeded")
        XCTAssertEqual(rig.condition(cr, ConditionType.ready)?["status"]?.stringValue, "False")
        XCTAssertEqual(rig.condition(cr, ConditionType.stalled)?["status"]?.stringValue, "True")
        let history = cr[path: ["status", "history"]]?.arrayValue ?? []
        XCTAssertEqual(history.map { $0["outcome"]?.stringValue ?? "" }, ["Succeeded", "Succeeded", "RolledBack"])
        let warnings = try await rig.events().filter { $0["type"]?.stringValue == "Warning" }.compactMap { $0["reason"]?.stringValue }
        XCTAssertTrue(warnings.contains("RolledBack"), "\(warnings)")

        // No loop: with the spec unchanged the failed revision is not tried again.
        try await rig.waitForIdle()
        let writes = rig.writeCount
        await rig.controller.resyncNow()
        try await rig.waitForIdle()
        XCTAssertEqual(rig.writeCount, writes, "a rolled-back CR at rest costs no writes")
        let stillV4 = try await rig.deploymentImage()
        XCTAssertEqual(stillV4, "ghcr.io/elgerytme/pynomaly:v0.1.4")

        // Rollback on request to revision 1, exactly once per token.
        try await rig.annotate(RequestAnnotation.rollbackTo.name, "1@first")
        try await waitUntil("revision 1 is deployed") { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.1.3" }
        try await rig.waitForCondition(ConditionType.ready)
        cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "handledRequests", "rollback-to"]]?.stringValue, "1@first")
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Healthy")
        // The revisions cache keeps no templates: each rollback read its revision's by a GET, and
        // the memo keeps only those two (the automatic rollback's and this one's).
        let revisions = try XCTUnwrap(rig.caches.ownedInformers[ResourceType.controllerRevisions.resource]).store.list(namespace: "default")
        XCTAssertGreaterThanOrEqual(revisions.count, 3)
        XCTAssertTrue(revisions.allSatisfy { $0["data"] == nil && $0["revision"] != nil }, "revisions are cached without their template")
        XCTAssertEqual(rig.caches.revisionTemplates.count, 2)

        // A new spec generation deploys the spec again (a fixed image).
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.5"])
        try await rig.waitForCondition(ConditionType.ready)
        cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 4)
        XCTAssertEqual(rig.condition(cr, ConditionType.rolledBack)?["status"]?.stringValue, "False")

        // A rollback to a revision not in history is refused with a Warning, and changes nothing.
        try await rig.annotate(RequestAnnotation.rollbackTo.name, "42@second")
        try await waitUntil("the refusal is recorded") { try await rig.eventReasons().contains("RollbackRejected") }
        let stillV5 = try await rig.deploymentImage()
        XCTAssertEqual(stillV5, "ghcr.io/elgerytme/pynomaly:v0.1.5")
        try await rig.stop()
    }

    func testRotatingAReferencedSecretRollsThePodsAndAnUnrelatedSecretDoesNothing() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        _ = try await rig.admin.create(.secrets, namespace: "default", object: [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "unrelated"], "stringData": ["k": "v"]])
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.ready)
        func referencedHash() async throws -> String? {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", "pynomaly.ai/referenced-hash"]]?.stringValue
        }
        let before = try await referencedHash()
        XCTAssertNotNil(before)
        XCTAssertNotEqual(before, "")

        // An unrelated Secret changes: nothing is written.
        try await rig.waitForIdle()
        let writes = rig.writeCount
        _ = try await rig.admin.patch(.secrets, namespace: "default", name: "unrelated", type: .merge,
                                      body: JSONValue.object(["stringData": ["k": "changed"]]).serialized(), subresource: nil, options: WriteOptions())
        try await rig.waitForIdle()
        XCTAssertEqual(rig.writeCount, writes + 1, "only the test's own write")
        let unchanged = try await referencedHash()
        XCTAssertEqual(unchanged, before)

        // The database password rotates: the pod template changes and a new revision rolls out.
        _ = try await rig.admin.patch(.secrets, namespace: "default", name: "pynomaly-secret", type: .merge,
                                      body: JSONValue.object(["stringData": ["database-password": "rotated-secret-value-42"]]).serialized(),
                                      subresource: nil, options: WriteOptions())
        try await waitUntil("the pods roll") { try await referencedHash() != before }
        try await waitUntil("revision 2 is rolled out") {
            let cr = try await rig.cr()
            return cr[path: ["status", "currentRevision"]]?.intValue == 2 && cr[path: ["status", "phase"]]?.stringValue == "Healthy"
        }
        let cr = try await rig.cr()

        // No secret value anywhere the operator writes.
        var written: [String] = []
        for resource in [ResourceType.configMaps, .deployments, .services, .controllerRevisions, .events, .podDisruptionBudgets] {
            written += try await rig.admin.list(resource, namespace: "default", options: ListOptions()).items.map { $0.serializedString() }
        }
        written.append(cr.serializedString())
        written.append(rig.log.text)
        XCTAssertTrue(rig.log.text.contains("\"reconcileID\""), "the operator's log was captured")
        for value in ["rotated-secret-value-42", "CHANGE-ME-not-a-real-db-password", "CHANGE-ME-not-a-real-redis-password"] {
            XCTAssertFalse(written.contains { $0.contains(value) }, "\(value) leaked")
        }
        try await rig.stop()
    }

    /// A referenced ConfigMap is someone else's object in the shared ConfigMap informer, kept as a
    /// stub: its new resourceVersion is enough to GET it once, hash it and roll the pods.
    func testChangingAReferencedConfigMapRollsThePods() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        _ = try await rig.admin.create(.configMaps, namespace: "default", object: [
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "feature-flags"], "data": ["mode": "strict"]])
        try await rig.create(try OperatorRig.sampleDeployment { cr in
            cr[path: ["spec", "env"]] = [["name": "FEATURE_MODE", "valueFrom": ["configMapKeyRef": ["name": "feature-flags", "key": "mode"]]]]
        })
        try await rig.waitForCondition(ConditionType.ready)
        func referencedHash() async throws -> String? {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", "pynomaly.ai/referenced-hash"]]?.stringValue
        }
        let before = try await referencedHash()
        let stub = rig.caches.configMaps.store.get(namespace: "default", name: "feature-flags")
        XCTAssertNotNil(stub?[path: ["metadata", "resourceVersion"]], "the referenced ConfigMap is in the cache")
        XCTAssertNil(stub?["data"], "as a stub: its data is read by one GET per version, not kept")

        _ = try await rig.admin.patch(.configMaps, namespace: "default", name: "feature-flags", type: .merge,
                                      body: JSONValue.object(["data": ["mode": "lenient"]]).serialized(), subresource: nil, options: WriteOptions())
        try await waitUntil("the pods roll") { try await referencedHash() != before }
        try await waitUntil("revision 2 is rolled out") {
            let cr = try await rig.cr()
            return cr[path: ["status", "currentRevision"]]?.intValue == 2 && cr[path: ["status", "phase"]]?.stringValue == "Healthy"
        }
        try await rig.stop()
    }

    func testInvalidSpecsAreRejectedByTheSchemaOrStalledAndNothingRunningChanges() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()

        // The schema says no: 422 naming the field, nothing created.
        let negative = try OperatorRig.sampleDeployment(name: "negative") { $0[path: ["spec", "replicas"]] = -1 }
        do {
            try await rig.create(negative)
            XCTFail("replicas -1 must be rejected")
        } catch let error as KubeError {
            XCTAssertEqual(error.httpCode, 422)
            XCTAssertTrue(String(describing: error).contains("spec.replicas"), "\(error)")
        }
        let autoscaling = try OperatorRig.sampleDeployment(name: "autoscaling") {
            $0[path: ["spec", "autoscaling"]] = ["enabled": true, "minReplicas": 5, "maxReplicas": 2]
        }
        do {
            try await rig.create(autoscaling)
            XCTFail("maxReplicas < minReplicas must be rejected")
        } catch let error as KubeError {
            XCTAssertEqual(error.httpCode, 422)
        }

        // What only the operator can judge: Stalled/InvalidSpec naming the field; what runs stays.
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.ready)
        let deploymentBefore = try await rig.get(.deployments, "pynomaly")
        try await rig.patchSpec(["resources": ["requests": ["memory": "8Gi"], "limits": ["memory": "6Gi"]]])
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: ConditionReason.invalidSpec)
        let cr = try await rig.cr()
        let message = rig.condition(cr, ConditionType.stalled)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("spec.resources"), message)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Failed")
        try await rig.waitForIdle()
        let deploymentAfter = try await rig.get(.deployments, "pynomaly")
        XCTAssertEqual(deploymentAfter?[path: ["metadata", "resourceVersion"]], deploymentBefore?[path: ["metadata", "resourceVersion"]],
                       "nothing running changed")
        try await waitUntil("a Warning names it") { try await rig.eventReasons().contains(ConditionReason.invalidSpec) }

        // Fixing the spec recovers.
        try await rig.patchSpec(["resources": ["requests": ["memory": "2Gi"]]])
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.stop()
    }

    /// While paused, a spec change is only noted: no history entry, no RevisionCreated Event, the
    /// Deployment untouched, and Ready False (reason Paused), so kstatus tools do not read the
    /// un-applied change as Current. Unpausing rolls it out as revision 2.
    func testASpecChangeWhilePausedIsNotARevisionUntilResumed() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)
        try await rig.patchSpec(["paused": true])
        try await rig.waitForIdle()
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await rig.waitForCondition(ConditionType.ready, "False", reason: ConditionReason.paused)
        try await rig.waitForIdle()
        let cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "history"]]?.arrayValue?.count, 1, "no history entry for the paused change")
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 1)
        let createdWhilePaused = try await rig.eventReasons().filter { $0 == "RevisionCreated" }.count
        XCTAssertLessThanOrEqual(createdWhilePaused, 1, "only revision 1's Event")
        let pausedImage = try await rig.deploymentImage()
        XCTAssertEqual(pausedImage, "ghcr.io/elgerytme/pynomaly:v0.1.3", "nothing rolled")

        try await rig.patchSpec(["paused": false])
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        try await waitUntil("revision 2 runs") { try await rig.cr()[path: ["status", "currentRevision"]]?.intValue == 2 }
        let resumedImage = try await rig.deploymentImage()
        XCTAssertEqual(resumedImage, "ghcr.io/elgerytme/pynomaly:v0.1.4")
        try await rig.stop()
    }

    func testWithTheHPAOnTheOperatorNeverOwnsReplicas() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment {
            $0[path: ["spec", "autoscaling"]] = ["enabled": true, "minReplicas": 4, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70]
        })
        try await rig.waitForCondition(ConditionType.ready)
        let hpa = try await rig.get(.horizontalPodAutoscalers, "pynomaly")
        XCTAssertEqual(hpa?[path: ["spec", "scaleTargetRef", "name"]]?.stringValue, "pynomaly")
        XCTAssertEqual(hpa?[path: ["spec", "scaleTargetRef", "kind"]]?.stringValue, "Deployment")
        try await waitUntil("the HPA set 4 replicas") { try await rig.get(.deployments, "pynomaly")?[path: ["spec", "replicas"]]?.intValue == 4 }
        let deployment = try await rig.get(.deployments, "pynomaly")
        let managed = deployment?[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        let ours = managed.filter { $0["manager"]?.stringValue == "pynomaly-operator" }
        XCTAssertFalse(ours.isEmpty)
        for entry in ours {
            XCTAssertNil(entry[path: ["fieldsV1", "f:spec", "f:replicas"]], "the operator never owns spec.replicas with the HPA on")
        }
        // The operator does not fight the HPA: at rest, a resync writes nothing.
        try await rig.waitForIdle()
        let writes = rig.writeCount
        await rig.controller.resyncNow()
        try await rig.waitForIdle()
        XCTAssertEqual(rig.writeCount, writes)
        try await rig.stop()
    }

    func testAResyncOfAHundredConvergedCRsWritesNothing() async throws {
        let rig = try await OperatorRig(podStartDelay: 0)
        rig.start()
        try await rig.createSampleSecret()
        for i in 0..<100 {
            try await rig.create(try OperatorRig.sampleDeployment(name: "app-\(i)") {
                $0[path: ["spec", "replicas"]] = 1
                $0[path: ["spec", "disruptionBudget"]] = nil
            })
        }
        try await waitUntil("all 100 are Ready", timeout: 90) {
            let items = try await rig.admin.list(.pynomalyDeployments, namespace: "default", options: ListOptions()).items
            return items.count == 100 && items.allSatisfy { cr in
                rig.condition(cr, ConditionType.ready)?["status"]?.stringValue == "True"
                    && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
            }
        }
        try await rig.waitForIdle(timeout: 60)
        let writes = rig.writeCount
        let countsBefore = rig.server.requestCounts
        let reconciles = rig.controller.metrics.reconcileTotal.values.reduce(0, +)
        await rig.controller.resyncNow()
        try await waitUntil("the resync ran") { rig.controller.metrics.reconcileTotal.values.reduce(0, +) >= reconciles + 100 }
        try await rig.waitForIdle(timeout: 60)
        let countsAfter = rig.server.requestCounts
        let delta = countsAfter.filter { countsBefore[$0.key] != $0.value }.map { "\($0.key): \($0.value - (countsBefore[$0.key] ?? 0))" }.sorted()
        XCTAssertEqual(rig.writeCount, writes, "a converged resync of 100 CRs writes nothing: \(delta)")
        XCTAssertEqual(rig.probe.maxConcurrentPerKey, 1)
        try await rig.stop()
    }

    /// A child's name taken by someone else's object: the CR is Stalled (ResourceConflict), the
    /// object is left alone, and once it is deleted the CR converges by itself: the deletion's watch
    /// event queues it (the periodic look, 10 minutes here, is only a safety net).
    func testAConflictingObjectIsLeftAloneAndTheCRRecoversWhenItGoes() async throws {
        let rig = try await OperatorRig(conflictRecheckPeriod: 600)
        let handMade: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "pynomaly", "namespace": "default"],
            "spec": ["replicas": 1, "selector": ["matchLabels": ["app": "hand-made"]],
                     "template": ["metadata": ["labels": ["app": "hand-made"]], "spec": ["containers": [["name": "c", "image": "nginx:1.27"]]]]],
        ]
        _ = try await rig.admin.create(.deployments, namespace: "default", object: handMade)
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: "ResourceConflict")
        let live = try await rig.get(.deployments, "pynomaly")
        XCTAssertEqual(live?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue, "nginx:1.27",
                       "someone else's Deployment is not touched")
        XCTAssertNil(live?[path: ["metadata", "ownerReferences"]])
        try await waitUntil("the ResourceConflict Event is recorded") { try await rig.eventReasons().contains("ResourceConflict") }

        _ = try await rig.admin.delete(.deployments, namespace: "default", name: "pynomaly", options: DeleteOptions())
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        let image = try await rig.deploymentImage()
        XCTAssertEqual(image, "ghcr.io/elgerytme/pynomaly:v0.1.3")
        let reasons = try await rig.eventReasons()
        XCTAssertEqual(reasons.filter { $0 == "ResourceConflict" }.count, 1, "one Event, not one per look: \(reasons)")
        try await rig.stop()
    }

    /// ConfigMaps are also cached unfiltered (as metadata), so a create skips the GET when that cache
    /// knows no object of the name; one that exists but is not ours must still be found and left alone.
    func testSomeoneElsesConfigMapIsFoundThoughConfigMapsSkipTheGet() async throws {
        let rig = try await OperatorRig(conflictRecheckPeriod: 0.5)
        let handMade: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "pynomaly-config", "namespace": "default"],
                                   "data": ["mine": "keep"]]
        _ = try await rig.admin.create(.configMaps, namespace: "default", object: handMade)
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: "ResourceConflict")
        let live = try await rig.get(.configMaps, "pynomaly-config")
        XCTAssertEqual(live?["data"], ["mine": "keep"], "someone else's ConfigMap is not touched")
        XCTAssertNil(live?[path: ["metadata", "ownerReferences"]])
        _ = try await rig.admin.delete(.configMaps, namespace: "default", name: "pynomaly-config", options: DeleteOptions())
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.stop()
    }

    /// An image change whose rollout completes within the settle window costs the Deployment, the
    /// ControllerRevision and one status write (Ready for the new revision), plus its Events. The
    /// window here is longer than any rollout, so the rollout's end, not a timing, decides.
    func testARolloutThatCompletesWithinTheSettleWindowWritesTheStatusOnce() async throws {
        let rig = try await OperatorRig(statusSettle: 60)
        try await rig.startWithReadySample()
        rig.server.resetRequestCounts()
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v9.9.9"])
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.waitForIdle()

        let counts = rig.server.requestCounts
        XCTAssertEqual(counts["update pynomalydeployments/status", default: 0] + counts["patch pynomalydeployments/status", default: 0], 1,
                       "one status write: \(counts)")
        XCTAssertEqual(counts["patch deployments"], 1, "\(counts)")
        XCTAssertEqual(counts["create controllerrevisions"], 1, "\(counts)")
        let cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 2)
        // The ControllerRevision written is revision 1's, left behind, with exactly its template.
        let stored = try await rig.admin.list(.controllerRevisions, namespace: OperatorRig.namespace, options: ListOptions()).items
        XCTAssertEqual(stored.compactMap { $0["revision"]?.intValue }, [1])
        let revision1 = try XCTUnwrap(cr[path: ["status", "history"]]?.arrayValue?.first?["templateHash"]?.stringValue)
        let template = try XCTUnwrap(stored.first?[path: ["data", "template"]])
        XCTAssertEqual(PodTemplateBuilder.templateHash(encoded: template), revision1)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Healthy")
        // The status waited for each rollout, so each revision got one Event saying both.
        try await waitUntil("one Event per revision") {
            let events = try await rig.events()
            let complete = events.filter { $0["reason"]?.stringValue == "RolloutComplete" }.compactMap { $0["message"]?.stringValue }
            return complete.count == 2 && complete.allSatisfy { $0.contains("created and available") }
        }
        let reasons = try await rig.eventReasons()
        XCTAssertFalse(reasons.contains("RevisionCreated"), "\(reasons)")
        try await rig.stop()
    }

    /// A rollout longer than the settle window shows as progressing (the new generation observed,
    /// Ready=False) while its pods start, then as Ready.
    func testARolloutLongerThanTheSettleWindowShowsAsProgressingFirst() async throws {
        let rig = try await OperatorRig(podStartDelay: 3, progressDeadline: 60, statusSettle: 0.2)
        try await rig.startWithReadySample()
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v9.9.9"])
        try await rig.waitForCondition(ConditionType.ready, "False")
        let progressing = try await rig.cr()
        XCTAssertEqual(progressing[path: ["status", "phase"]]?.stringValue, "Progressing")
        XCTAssertEqual(rig.condition(progressing, ConditionType.reconciling)?["status"]?.stringValue, "True")
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        let done = try await rig.cr()
        XCTAssertEqual(done[path: ["status", "currentRevision"]]?.intValue, 2)
        try await rig.stop()
    }
}
