import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

@Suite("ControllerLogic: RolloutObservation")
struct RolloutObservationLogicTests {
    @Test func anUnobservedGenerationIsProgressing() throws {
        let stale = try LogicFixture.deployment(generation: 3, observedGeneration: 2)
        #expect(RolloutObservation(deployment: stale) == .progressing("waiting for the Deployment controller to observe generation 3"))
        let noStatus = try LogicFixture.deployment(generation: 1, hasStatus: false)
        #expect(RolloutObservation(deployment: noStatus) == .progressing("waiting for the Deployment controller to observe generation 1"))
        // A deadline from the previous generation does not count.
        let staleFailure = try LogicFixture.deployment(generation: 3, observedGeneration: 2, conditions: [
            LogicFixture.condition("Progressing", "False", reason: "ProgressDeadlineExceeded")])
        #expect(!RolloutObservation(deployment: staleFailure).isComplete)
        if case .failed = RolloutObservation(deployment: staleFailure) { Issue.record("a stale deadline is not this generation's failure") }
    }

    @Test func fewerUpdatedReplicasThanDesiredIsProgressing() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3)
        #expect(RolloutObservation(deployment: d) == .progressing("1 of 3 replicas updated"))
    }

    @Test func oldReplicasLeftIsProgressing() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 3, ready: 4, available: 4)
        #expect(RolloutObservation(deployment: d) == .progressing("1 old replicas pending termination"))
    }

    @Test func updatedButNotAvailableIsProgressing() throws {
        let d = try LogicFixture.deployment(statusReplicas: 3, updated: 3, ready: 2, available: 2)
        #expect(RolloutObservation(deployment: d) == .progressing("2 of 3 updated replicas available"))
    }

    @Test func everythingUpdatedAndAvailableIsComplete() throws {
        let d = try LogicFixture.deployment(conditions: [LogicFixture.condition("Progressing", "True", reason: "NewReplicaSetAvailable")])
        #expect(RolloutObservation(deployment: d) == .complete)
        #expect(RolloutObservation(deployment: d).isComplete)
    }

    @Test func unsetReplicasMeanOne() throws {
        let d = try LogicFixture.deployment(replicas: nil, statusReplicas: 1, updated: 1, ready: 1, available: 1)
        #expect(RolloutObservation(deployment: d) == .complete)
        let zero = try LogicFixture.deployment(replicas: nil, statusReplicas: 0, updated: 0, ready: 0, available: 0)
        #expect(RolloutObservation(deployment: zero) == .progressing("0 of 1 replicas updated"))
    }

    @Test func progressDeadlineExceededIsAFailureEvenMidRollout() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3, conditions: [
            LogicFixture.condition("Available", "True", reason: "MinimumReplicasAvailable"),
            LogicFixture.condition("Progressing", "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet \"app-2\" has timed out progressing."),
        ])
        #expect(RolloutObservation(deployment: d) == .failed(reason: "ProgressDeadlineExceeded",
                                                            message: "ReplicaSet \"app-2\" has timed out progressing."))
        #expect(!RolloutObservation(deployment: d).isComplete)
    }

    @Test func progressingFalseForAnotherReasonIsNotAFailure() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3, conditions: [
            LogicFixture.condition("Progressing", "False", reason: "DeploymentPaused")])
        #expect(RolloutObservation(deployment: d) == .progressing("1 of 3 replicas updated"))
    }
}
