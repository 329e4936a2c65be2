import Foundation
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// Revision history end to end: pruning to `revisionHistoryLimit` together with the
/// ControllerRevisions, and a failed rollout with automatic rollback switched off. The real manager
/// over HTTPS against KubeTestServer with the simulated Deployment controller and kubelet.
final class RevisionHistoryTests: XCTestCase {
    static let image = "ghcr.io/elgerytme/pynomaly"

    func testHistoryAndControllerRevisionsArePrunedToTheLimit() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment { $0[path: ["spec", "revisionHistoryLimit"]] = 2 })
        try await rig.waitForCondition(ConditionType.ready)

        var revisions: [Int64] = []
        for tag in ["v0.1.4", "v0.1.5", "v0.1.6", "v0.1.7"] {
            try await rig.patchSpec(["image": .string("\(Self.image):\(tag)")])
            try await rig.waitForCondition(ConditionType.ready)
            let cr = try await rig.cr()
            XCTAssertEqual(cr[path: ["status", "image"]]?.stringValue, "\(Self.image):\(tag)")
            XCTAssertLessThanOrEqual(cr[path: ["status", "history"]]?.arrayValue?.count ?? 0, 2, "never more than the limit (\(tag))")
            revisions.append(cr[path: ["status", "currentRevision"]]?.intValue ?? -1)
        }
        XCTAssertEqual(revisions, [2, 3, 4, 5], "revision numbers keep increasing after pruning")

        try await rig.waitForIdle()
        let cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 5)
        XCTAssertEqual(cr[path: ["status", "stableRevision"]]?.intValue, 5)
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Healthy")
        let history = cr[path: ["status", "history"]]?.arrayValue ?? []
        XCTAssertEqual(history.compactMap { $0["revision"]?.intValue }, [4, 5], "the newest two")
        XCTAssertEqual(history.compactMap { $0["image"]?.stringValue }, ["\(Self.image):v0.1.6", "\(Self.image):v0.1.7"])
        XCTAssertEqual(history.compactMap { $0["outcome"]?.stringValue }, ["Succeeded", "Succeeded"])

        // The revisions history names are stored, NAME-<templateHash>, with their numbers: the ones
        // left behind as ControllerRevisions, the running one in its Deployment's annotation.
        let named = Dictionary(uniqueKeysWithValues: history.compactMap { entry -> (String, Int64)? in
            guard let hash = entry["templateHash"]?.stringValue, let revision = entry["revision"]?.intValue else { return nil }
            return ("pynomaly-\(hash)", revision)
        })
        XCTAssertEqual(named.count, 2, "every history entry has a template hash: \(history)")
        let running = try XCTUnwrap(history.last?["templateHash"]?.stringValue)
        let fetched = try await rig.get(.deployments, "pynomaly")
        let deployment = try XCTUnwrap(fetched)
        XCTAssertNotNil(RevisionTemplateAnnotation.template(in: deployment, hash: running))
        let stored = try await rig.admin.list(.controllerRevisions, namespace: OperatorRig.namespace, options: ListOptions()).items
        let storedNames = stored.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        XCTAssertEqual(Set(storedNames), Set(named.keys).subtracting(["pynomaly-\(running)"]), "stored: \(storedNames)")
        XCTAssertEqual(stored.count, 1)
        for revision in stored {
            let name = revision[path: ["metadata", "name"]]?.stringValue ?? ""
            XCTAssertEqual(revision["revision"]?.intValue, named[name], name)
        }
        // The Deployment runs the template of the newest one.
        let deployed = try await rig.deploymentImage()
        XCTAssertEqual(deployed, "\(Self.image):v0.1.7")
        try await rig.stop()
    }

    func testAFailedRolloutWithoutAutomaticRollbackFailsAndKeepsTheFailingTemplate() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment { $0[path: ["spec", "rollback"]] = ["onFailure": false] })
        try await rig.waitForCondition(ConditionType.ready)

        let broken = "\(Self.image):broken"
        rig.server.simulation.failImage(broken)
        try await rig.patchSpec(["image": .string(broken)])
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: ConditionReason.progressDeadlineExceeded)

        var cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Failed")
        let stalled = rig.condition(cr, ConditionType.stalled)
        let message = stalled?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("pods ImagePullBackOff"), "the Stalled message names the pod problem: \(message)")
        XCTAssertEqual(rig.condition(cr, ConditionType.ready)?["status"]?.stringValue, "False")
        XCTAssertEqual(rig.condition(cr, ConditionType.reconciling)?["status"]?.stringValue, "False")
        XCTAssertEqual(rig.condition(cr, ConditionType.progressing)?["status"]?.stringValue, "False")
        XCTAssertEqual(rig.condition(cr, ConditionType.progressing)?["reason"]?.stringValue, ConditionReason.progressDeadlineExceeded)
        XCTAssertNil(rig.condition(cr, ConditionType.rolledBack), "no rollback happened")
        XCTAssertNil(cr[path: ["status", "lastRollback"]])
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 2)
        XCTAssertEqual(cr[path: ["status", "stableRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "history"]]?.arrayValue?.compactMap { $0["outcome"]?.stringValue }, ["Succeeded", "Failed"])

        // No rollback: the Deployment keeps the failing template, also after a resync.
        try await rig.waitForIdle()
        await rig.controller.resyncNow()
        try await rig.waitForIdle()
        let stillBroken = try await rig.deploymentImage()
        XCTAssertEqual(stillBroken, broken)
        let warnings = try await rig.events().filter { $0["type"]?.stringValue == "Warning" }.compactMap { $0["reason"]?.stringValue }
        XCTAssertTrue(warnings.contains("RolloutFailed"), "\(warnings)")
        XCTAssertFalse(warnings.contains("RolledBack"), "\(warnings)")
        XCTAssertEqual(warnings.filter { $0 == "RolloutFailed" }.count, 1, "reported once: \(warnings)")

        // A fixed image afterwards rolls out.
        try await rig.patchSpec(["image": .string("\(Self.image):v0.1.4")])
        try await rig.waitForCondition(ConditionType.ready)
        cr = try await rig.cr()
        XCTAssertEqual(cr[path: ["status", "phase"]]?.stringValue, "Healthy")
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 3)
        XCTAssertEqual(cr[path: ["status", "stableRevision"]]?.intValue, 3)
        XCTAssertEqual(rig.condition(cr, ConditionType.stalled)?["status"]?.stringValue, "False")
        let fixed = try await rig.deploymentImage()
        XCTAssertEqual(fixed, "\(Self.image):v0.1.4")
        try await rig.stop()
    }
}
