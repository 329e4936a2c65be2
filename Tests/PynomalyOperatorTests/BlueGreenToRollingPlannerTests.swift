import Foundation
import KubeCore
import XCTest

@testable import PynomalyOperator

/// The pure BlueGreen → RollingUpdate planner, step by step (the shell only executes its actions).
final class BlueGreenToRollingPlannerTests: XCTestCase {
    typealias Obs = BlueGreenColorObservation

    static func ready(_ hash: String, _ replicas: Int32) -> Obs {
        Obs(exists: true, templateHash: hash, specReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
            updatedReplicas: replicas, rollout: .complete)
    }

    static func input(rolling: Obs = .absent, blue: Obs = .absent, green: Obs = ready("h2", 3), autoscaled: Bool = false) -> BlueGreenToRollingInput {
        BlueGreenToRollingInput(
            name: "app", status: PynomalyDeploymentStatus.BlueGreen(activeColor: .green, previewColor: .blue, step: "Idle", activeRevision: 2),
            activeTemplateHash: "h2", desiredReplicas: 3, autoscaled: autoscaled, rolling: rolling, blue: blue, green: green)
    }

    func testFirstAppliesNAMEWithTheActiveRevisionAndKeepsTraffic() {
        let decision = BlueGreenToRollingPlanner.plan(Self.input(blue: Self.ready("h1", 3)))
        XCTAssertFalse(decision.finished)
        XCTAssertTrue(decision.actions.contains(.scaleColor(.blue, replicas: 0)), "the non-serving colour drains first")
        XCTAssertTrue(decision.actions.contains(.applyRolling(revision: 2, templateHash: "h2", replicas: 3)))
        XCTAssertFalse(decision.actions.contains(.switchToRolling))
        XCTAssertFalse(decision.actions.contains(.deleteBlueGreenObjects))
    }

    /// Back to RollingUpdate while a revision is under blue-green test: only the active revision
    /// moves, and the untested one is given up rather than rolled out without its gate.
    func testARevisionUnderTestIsAbandonedNotHandedToRollingUpdate() {
        for step in ["DeployingPreview", "SmokeTesting", "AwaitingPromotion", "ScalingUpPreview"] {
            var input = Self.input(blue: Self.ready("h3", 3))
            input.status = PynomalyDeploymentStatus.BlueGreen(activeColor: .green, previewColor: .blue, step: step, activeRevision: 2, previewRevision: 3)
            let decision = BlueGreenToRollingPlanner.plan(input)
            XCTAssertEqual(decision.abandonedPreview, 3, step)
            XCTAssertFalse(decision.actions.contains { if case .applyRolling(let revision, _, _) = $0 { return revision != 2 } else { return false } }, step)
        }
        for step in ["Idle", "Switched", "Aborted"] {
            var input = Self.input()
            input.status = PynomalyDeploymentStatus.BlueGreen(activeColor: .green, previewColor: .blue, step: step, activeRevision: 2, previewRevision: 3)
            XCTAssertNil(BlueGreenToRollingPlanner.plan(input).abandonedPreview, step)
        }
    }

    func testAutoscaledAppliesWithoutReplicasThenScales() {
        let first = BlueGreenToRollingPlanner.plan(Self.input(autoscaled: true))
        XCTAssertTrue(first.actions.contains(.applyRolling(revision: 2, templateHash: "h2", replicas: nil)))
        let applied = Obs(exists: true, templateHash: "h2", specReplicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1, rollout: .complete)
        let second = BlueGreenToRollingPlanner.plan(Self.input(rolling: applied, autoscaled: true))
        XCTAssertEqual(second.actions, [.scaleRolling(replicas: 3)])
        XCTAssertFalse(second.finished)
    }

    func testWaitsUntilNAMEIsFullyReady() {
        let starting = Obs(exists: true, templateHash: "h2", specReplicas: 3, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 3,
                           rollout: .progressing("2/3"))
        let decision = BlueGreenToRollingPlanner.plan(Self.input(rolling: starting))
        XCTAssertEqual(decision.actions, [])
        XCTAssertFalse(decision.finished)
        XCTAssertTrue(decision.message.contains("fully ready"), decision.message)
    }

    func testWaitsUntilTheOtherColourHasNoReadyPod() {
        let draining = Obs(exists: true, templateHash: "h1", specReplicas: 0, readyReplicas: 1, rollout: .progressing("scaling down"))
        let decision = BlueGreenToRollingPlanner.plan(Self.input(rolling: Self.ready("h2", 3), blue: draining))
        XCTAssertFalse(decision.finished)
        XCTAssertFalse(decision.actions.contains(.switchToRolling))
    }

    func testSwitchesThenDeletesWhenNAMEIsFullyReady() throws {
        let decision = BlueGreenToRollingPlanner.plan(Self.input(rolling: Self.ready("h2", 3), blue: Obs(exists: true, templateHash: "h1", specReplicas: 0, rollout: .complete)))
        XCTAssertTrue(decision.finished)
        let switchAt = try XCTUnwrap(decision.actions.firstIndex(of: .switchToRolling))
        let deleteAt = try XCTUnwrap(decision.actions.firstIndex(of: .deleteBlueGreenObjects))
        XCTAssertLessThan(switchAt, deleteAt, "traffic moves before the colours go")
    }

    func testAnInterruptedSwitchIsFinished() {
        // Restarted after the active colour was deleted but before status.blueGreen was cleared.
        let decision = BlueGreenToRollingPlanner.plan(Self.input(rolling: Self.ready("h2", 3), green: .absent))
        XCTAssertTrue(decision.finished)
        XCTAssertTrue(decision.actions.contains(.switchToRolling))
    }

    func testAFailedNAMEKeepsTheColourServing() {
        let failed = Obs(exists: true, templateHash: "h2", specReplicas: 3, rollout: .failed(reason: "ProgressDeadlineExceeded", message: "slow"))
        let decision = BlueGreenToRollingPlanner.plan(Self.input(rolling: failed))
        XCTAssertTrue(decision.failed)
        XCTAssertFalse(decision.finished)
        XCTAssertFalse(decision.actions.contains(.switchToRolling))
    }

    func testNothingServedThroughAColourOnlyCleansUp() {
        var input = Self.input(green: .absent)
        input.status = PynomalyDeploymentStatus.BlueGreen(previewColor: .blue, step: "DeployingPreview", previewRevision: 1)
        let decision = BlueGreenToRollingPlanner.plan(input)
        XCTAssertTrue(decision.finished)
        XCTAssertTrue(decision.actions.contains(.deleteBlueGreenObjects))
        XCTAssertFalse(decision.actions.contains(.switchToRolling))
    }
}
