import Foundation
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// What a careless or hostile user does to the objects around a PynomalyDeployment, end to end
/// against KubeTestServer: hand-made objects under the operator's names, hand edits of its
/// children, refusals by the API server, restarts while a rollback is pinned.
final class HostileInputTests: XCTestCase {
    /// A claim someone made by hand under the backup claim's name is someone else's volume: refused
    /// (ResourceConflict), never used as the backup volume, never changed.
    func testAHandMadeBackupClaimIsNotTakenOver() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        let claim: JSONValue = [
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": ["name": "pynomaly-backups", "namespace": .string(OperatorRig.namespace), "labels": ["team": "data"]],
            "spec": ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": "1Gi"]]],
        ]
        _ = try await rig.admin.create(.persistentVolumeClaims, namespace: OperatorRig.namespace, object: claim)
        try await rig.create(try OperatorRig.sampleDeployment {
            $0[path: ["spec", "backup"]] = ["schedule": "0 2 * * *", "storage": ["persistentVolumeClaim": ["size": "20Gi"]]]
        })
        try await rig.waitForCondition(ConditionType.stalled, reason: "ResourceConflict")
        let cr = try await rig.cr()
        let message = rig.condition(cr, ConditionType.stalled)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("PersistentVolumeClaim pynomaly-backups"), message)
        XCTAssertTrue(message.contains("claimName"), "says how to use it deliberately: \(message)")
        let live = try await rig.get(.persistentVolumeClaims, "pynomaly-backups")
        XCTAssertEqual(live?[path: ["metadata", "labels"]], ["team": "data"], "the claim is not relabelled")
        XCTAssertEqual(live?[path: ["spec", "resources", "requests", "storage"]]?.stringValue, "1Gi")
        let cronJob = try await rig.get(.cronJobs, "pynomaly-backup")
        XCTAssertNil(cronJob, "no backup Job writes to someone else's volume")
        try await rig.stop()
    }

    /// Fields that decide what runs and where traffic goes are owned whole: a paused Deployment, an
    /// injected sidecar, an extra env variable and an extra Service selector key are reverted, and
    /// the user is told. Other managers' annotations stay.
    func testHandEditsToWhatRunsAndWhereTrafficGoesAreReverted() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample()

        let deploymentEdit: JSONValue = [
            "metadata": ["annotations": ["someone.else/note": "kept"]],
            "spec": ["paused": true, "template": ["spec": ["containers": [
                ["name": "pynomaly", "env": [["name": "DEBUG", "value": "true"]]],
                ["name": "sidecar", "image": "registry.example/proxy:1"],
            ]]]],
        ]
        _ = try await rig.admin.patch(.deployments, namespace: OperatorRig.namespace, name: "pynomaly", type: .strategicMerge,
                                      body: deploymentEdit.serialized(), subresource: nil, options: WriteOptions(fieldManager: "kubectl-edit"))
        let selectorEdit: JSONValue = ["spec": ["selector": ["extra": "x"]]]
        _ = try await rig.admin.patch(.services, namespace: OperatorRig.namespace, name: "pynomaly", type: .merge,
                                      body: selectorEdit.serialized(), subresource: nil,
                                      options: WriteOptions(fieldManager: "kubectl-edit"))
        // The next pass (the image change) must find and revert them.
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await waitUntil("the hand edits are reverted", timeout: 30) {
            guard let deployment = try await rig.get(.deployments, "pynomaly"), let service = try await rig.get(.services, "pynomaly") else { return false }
            let containers = deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
            let env = containers.first?["env"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            return deployment[path: ["spec", "paused"]]?.boolValue != true && containers.count == 1 && !env.contains("DEBUG")
                && service[path: ["spec", "selector", "extra"]] == nil
        }
        try await rig.waitForCondition(ConditionType.ready, name: "pynomaly")
        let deployment = try await rig.get(.deployments, "pynomaly")
        XCTAssertEqual(deployment?[path: ["metadata", "annotations", "someone.else/note"]]?.stringValue, "kept", "not ours: left alone")
        let image = try await rig.deploymentImage()
        XCTAssertEqual(image, "ghcr.io/elgerytme/pynomaly:v0.1.4", "and the rollout completes")
        try await waitUntil("the user is told what was reverted") {
            try await rig.events().contains {
                $0["reason"]?.stringValue == "DriftReverted" && ($0["message"]?.stringValue ?? "").contains("spec.paused")
            }
        }
        try await rig.stop()
    }

    /// Passes woken by a child's status skip the children they found converged (PassMemo); a
    /// hand edit with no spec change is still found, because it changes the child's SpecStamp.
    func testAHandEditWithoutASpecChangeIsRevertedAfterPassesRememberedTheChildrenConverged() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample()
        XCTAssertEqual(rig.caches.passMemo.count, 1, "the converged CR's passes are remembered")

        let labelEdit: JSONValue = ["metadata": ["labels": [PynomalyLabels.nameKey: "other"]]]
        _ = try await rig.admin.patch(.configMaps, namespace: OperatorRig.namespace, name: "pynomaly-config", type: .merge,
                                      body: labelEdit.serialized(), subresource: nil, options: WriteOptions(fieldManager: "kubectl-edit"))
        let pauseEdit: JSONValue = ["spec": ["paused": true]]
        _ = try await rig.admin.patch(.deployments, namespace: OperatorRig.namespace, name: "pynomaly", type: .merge,
                                      body: pauseEdit.serialized(), subresource: nil, options: WriteOptions(fieldManager: "kubectl-edit"))
        try await waitUntil("the hand edits are reverted", timeout: 30) {
            guard let deployment = try await rig.get(.deployments, "pynomaly"), let configMap = try await rig.get(.configMaps, "pynomaly-config") else { return false }
            return deployment[path: ["spec", "paused"]]?.boolValue != true
                && configMap[path: ["metadata", "labels", "app.kubernetes.io/name"]]?.stringValue != "other"
        }
        try await rig.stop()
    }

    /// The API server refusing a child the operator built is not retried silently for ever: the
    /// CR says which child and why (Stalled), a Warning Event says it once, and the pass backs off.
    func testAChildTheAPIServerRefusesStallsTheCRWithItsReason() async throws {
        let rig = try await OperatorRig()
        rig.server.faults.failRequests(share: 1.0, with: .invalid(field: "metadata.name", message: "\"pynomaly\": a DNS-1035 label must start with a letter"),
                                       scope: FaultScope(verbs: ["patch"], resources: ["services"]))
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.stalled, reason: "ChildRejected")
        let cr = try await rig.cr()
        let message = rig.condition(cr, ConditionType.stalled)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("Service pynomaly") && message.contains("DNS-1035"), message)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Failed")
        try await waitUntil("a Warning Event names the refusal") {
            try await rig.events().contains { $0["reason"]?.stringValue == "ChildRejected" && $0["type"]?.stringValue == "Warning" }
        }
        // Once the refusal is gone (the spec, RBAC or the cluster changed), the CR recovers.
        rig.server.faults.stopFailingRequests()
        try await rig.waitForCondition(ConditionType.ready, timeout: 60)
        try await rig.stop()
    }

    /// `restart` while a rollback pins an earlier revision restarts that revision's pods, and keeps
    /// the pin (the restart token is no new revision of the spec).
    func testARestartWhileARollbackIsPinnedRestartsThePinnedRevision() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await waitUntil("revision 2 is stable", timeout: 30) { try await rig.cr()[path: ["status", "stableRevision"]]?.intValue == 2 }
        try await rig.annotate(RequestAnnotation.rollbackTo.name, "1@back")
        try await waitUntil("revision 1 runs again", timeout: 30) { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.1.3" }

        try await rig.annotate(RequestAnnotation.restart.name, "r1")
        try await waitUntil("the pinned revision's pods restart", timeout: 30) {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", PynomalyAnnotations.restart]]?.stringValue == "r1"
        }
        try await waitUntil("the status records the restart on the pinned revision", timeout: 30) {
            let cr = try await rig.cr()
            return cr[path: ["status", "handledRequests", "restart"]]?.stringValue == "r1" && cr[path: ["status", "phase"]]?.stringValue == "Healthy"
        }
        let image = try await rig.deploymentImage()
        XCTAssertEqual(image, "ghcr.io/elgerytme/pynomaly:v0.1.3", "still the pinned revision, not the spec's")
        let cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "lastRollback", "toRevision"]]?.intValue, 1)
        try await rig.stop()
    }

    /// The running revision's template is kept in an annotation on its Deployment until a change
    /// leaves it behind. An annotation edited by hand is never stored or deployed: the change the
    /// spec asks for still rolls out, a Warning says the old revision could not be kept, and a
    /// rollback to it is refused instead of deploying the edited template.
    func testAnEditedRevisionCopyIsNeverStoredAndTheChangeStillRollsOut() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)
        // Paused, the operator makes no workload change, so the edit stays until the spec moves on.
        try await rig.patchSpec(["paused": true])
        try await waitUntil("the CR is paused") { try await rig.cr()[path: ["status", "phase"]]?.stringValue == "Paused" }
        let live = try await rig.get(.deployments, "pynomaly")
        var edited = try XCTUnwrap(live?[path: ["spec", "template"]])
        edited[path: ["spec", "containers"]] = [["name": "pynomaly", "image": "evil.example/miner:latest"]]
        var patch: JSONValue = [:]
        patch[path: ["metadata", "annotations", RevisionTemplateAnnotation.key]] = .string(RevisionTemplateAnnotation.value(of: edited))
        _ = try await rig.admin.patch(.deployments, namespace: OperatorRig.namespace, name: "pynomaly", type: .merge, body: patch.serialized())

        try await rig.patchSpec(["paused": false, "image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await waitUntil("revision 2 is stable", timeout: 30) { try await rig.cr()[path: ["status", "stableRevision"]]?.intValue == 2 }
        let revisions = try await rig.admin.list(.controllerRevisions, namespace: OperatorRig.namespace, options: ListOptions()).items
        XCTAssertEqual(revisions.count, 0, "nothing was stored from the edited copy")
        let notKept = try await rig.events().filter { $0["reason"]?.stringValue == PynomalyDeploymentReconciler.revisionNotKeptReason }
        XCTAssertEqual(notKept.first?["type"]?.stringValue, "Warning")
        XCTAssertTrue(notKept.first?["message"]?.stringValue?.contains("revision 1 cannot be rolled back to") ?? false, "\(notKept)")
        let fetched = try await rig.get(.deployments, "pynomaly")
        let deployment = try XCTUnwrap(fetched)
        let history = try await rig.cr()[path: ["status", "history"]]?.arrayValue
        let kept = try XCTUnwrap(history?.last?["templateHash"]?.stringValue)
        XCTAssertNotNil(RevisionTemplateAnnotation.template(in: deployment, hash: kept), "revision 2's own copy replaced the edit")

        try await rig.annotate(RequestAnnotation.rollbackTo.name, "1@edited")
        try await waitUntil("the rollback is refused") {
            try await rig.events().contains { $0["reason"]?.stringValue == "RollbackRejected" && ($0["message"]?.stringValue?.contains("revision 1 has no ControllerRevision") ?? false) }
        }
        let image = try await rig.deploymentImage()
        XCTAssertEqual(image, "ghcr.io/elgerytme/pynomaly:v0.1.4")
        try await rig.stop()
    }
}
