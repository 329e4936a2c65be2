import Foundation
import KubeCore
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// The user's path with the real kubectl: apply the sample, wait for Ready, read the printer
/// columns, scale through the scale subresource; the operator (the real manager) does the rest.
final class KubectlOperatorTests: XCTestCase {
    func testApplyWaitGetAndScaleWithKubectl() async throws {
        let rig = try await OperatorRig()
        rig.start()
        let kubeconfig = rig.cluster.kubeconfig
        let sample = repositoryRoot.appendingPathComponent("manifests/samples/pynomaly.yaml").path

        let applied = try await kubectl(kubeconfig, ["apply", "-f", sample])
        XCTAssertEqual(applied.status, 0, applied.output)
        XCTAssertTrue(applied.output.contains("pynomalydeployment.pynomaly.ai/pynomaly created"), applied.output)

        let waited = try await kubectl(kubeconfig, ["wait", "--for=condition=Ready", "pyd/pynomaly", "--timeout=60s"])
        XCTAssertEqual(waited.status, 0, waited.output)
        XCTAssertTrue(waited.output.contains("condition met"), waited.output)

        let table = try await kubectl(kubeconfig, ["get", "pyd"])
        XCTAssertEqual(table.status, 0, table.output)
        let lines = table.output.split(separator: "\n")
        let header = lines.first.map(String.init) ?? ""
        for column in ["NAME", "IMAGE", "STRATEGY", "ACTIVE", "READY", "DESIRED", "PHASE", "REVISION", "AGE"] {
            XCTAssertTrue(header.contains(column), "\(column) missing from: \(header)")
        }
        let row = lines.dropFirst().first.map(String.init) ?? ""
        for value in ["pynomaly", "ghcr.io/elgerytme/pynomaly:v0.1.3", "RollingUpdate", "Healthy"] {
            XCTAssertTrue(row.contains(value), "\(value) missing from: \(row)")
        }

        let wide = try await kubectl(kubeconfig, ["get", "pyd", "-o", "wide"])
        XCTAssertTrue(wide.output.contains("MESSAGE") && wide.output.contains("3/3 ready at revision 1"), wide.output)

        let scaled = try await kubectl(kubeconfig, ["scale", "pyd", "pynomaly", "--replicas=5"])
        XCTAssertEqual(scaled.status, 0, scaled.output)
        try await waitUntil("the Deployment has 5 replicas") {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "replicas"]]?.intValue == 5
        }
        try await waitUntil("5 ready") { try await rig.cr()[path: ["status", "readyReplicas"]]?.intValue == 5 }
        let described = try await kubectl(kubeconfig, ["describe", "pyd", "pynomaly"])
        XCTAssertEqual(described.status, 0, described.output)
        XCTAssertTrue(described.output.contains("RolloutComplete"), described.output)
        try await rig.stop()
    }

    func testPauseHoldsTheWorkloadAndRestartRollsItOnce() async throws {
        let rig = try await OperatorRig()
        try await rig.startWithReadySample(idle: false)

        // Revision 1's RevisionCreated is folded into its RolloutComplete when the status waited for it.
        try await rig.waitForIdle()
        let createdBeforePause = try await rig.eventReasons().filter { $0 == "RevisionCreated" }.count

        // Paused: the spec changes, the workload does not; the status says so.
        try await rig.patchSpec(["paused": true])
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.2.0"])
        try await waitUntil("the phase is Paused") {
            let cr = try await rig.cr()
            return cr[path: ["status", "phase"]]?.stringValue == "Paused" && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
        }
        try await rig.waitForIdle()
        let pausedImage = try await rig.deploymentImage()
        XCTAssertEqual(pausedImage, "ghcr.io/elgerytme/pynomaly:v0.1.3")
        // No revision is planned while paused, and Ready says the change waits (GitOps sees it as not current).
        let paused = try await rig.cr()
        XCTAssertEqual(paused[path: ["status", "history"]]?.arrayValue?.count, 1, "no history entry while paused")
        XCTAssertEqual(paused[path: ["status", "currentRevision"]]?.intValue, 1)
        XCTAssertEqual(rig.condition(paused, ConditionType.ready)?["status"]?.stringValue, "False")
        XCTAssertEqual(rig.condition(paused, ConditionType.ready)?["reason"]?.stringValue, "Paused")
        XCTAssertEqual(rig.condition(paused, ConditionType.stalled)?["status"]?.stringValue, "False")
        let pausedReasons = try await rig.eventReasons()
        XCTAssertEqual(pausedReasons.filter { $0 == "RevisionCreated" }.count, createdBeforePause, "no RevisionCreated while paused: \(pausedReasons)")

        // Resumed: the change rolls out.
        try await rig.patchSpec(["paused": false])
        try await waitUntil("the new image runs") { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.2.0" }
        try await rig.waitForCondition(ConditionType.ready)
        try await waitUntil("pause and resume are Events") {
            let reasons = try await rig.eventReasons()
            return reasons.contains("Paused") && reasons.contains("Resumed")
        }

        // A restart request rolls the pods once; re-applying the same token does nothing more.
        func restartAnnotation() async throws -> String? {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", "pynomaly.ai/restart"]]?.stringValue
        }
        try await rig.annotate(RequestAnnotation.restart.name, "2026-11-27T10:00:00Z")
        try await waitUntil("the pods restart") { try await restartAnnotation() == "2026-11-27T10:00:00Z" }
        try await waitUntil("the restart is recorded and complete") {
            let cr = try await rig.cr()
            return cr[path: ["status", "handledRequests", "restart"]]?.stringValue == "2026-11-27T10:00:00Z"
                && cr[path: ["status", "phase"]]?.stringValue == "Healthy"
        }
        let revisionAfterRestart = try await rig.cr()[path: ["status", "currentRevision"]]?.intValue
        try await rig.waitForIdle()
        let writes = rig.writeCount
        try await rig.annotate(RequestAnnotation.restart.name, "2026-11-27T10:00:00Z")
        try await rig.waitForIdle()
        XCTAssertEqual(rig.writeCount, writes + 1, "the same token again is not a new restart (only the test's own patch)")
        let revisionNow = try await rig.cr()[path: ["status", "currentRevision"]]?.intValue
        XCTAssertEqual(revisionNow, revisionAfterRestart)
        try await rig.stop()
    }
}
