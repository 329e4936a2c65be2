import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

@Suite("ControllerLogic: StatusCalculator")
struct StatusCalculatorLogicTests {
    typealias Status = PynomalyDeploymentStatus
    static let t0 = Date(timeIntervalSince1970: 1_900_000_000)
    static let t1 = t0.addingTimeInterval(60)
    static let t2 = t0.addingTimeInterval(120)
    static let selector = "app.kubernetes.io/instance=app,app.kubernetes.io/name=pynomaly"

    func available(_ value: Bool) -> JSONValue {
        LogicFixture.condition("Available", value ? "True" : "False", reason: value ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable")
    }

    func observation(_ plan: RevisionPlan, _ rollout: RolloutObservation, deployment: Deployment?, paused: Bool = false,
                     podProblems: String? = nil, waiting: (reason: String, message: String)? = nil) -> StatusCalculator.Observation {
        StatusCalculator.Observation(plan: plan, rollout: rollout, deployment: deployment, selector: Self.selector, paused: paused,
                                     podProblems: podProblems, waiting: waiting)
    }

    func condition(_ status: Status, _ type: String) throws -> Condition {
        try #require(status.conditions?.first(type: type), "no \(type) condition")
    }

    func expectCondition(_ status: Status, _ type: String, _ value: String, _ reason: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        let c = try condition(status, type)
        #expect(c.status == value, "\(type)", sourceLocation: sourceLocation)
        if let reason { #expect(c.reason == reason, "\(type) reason", sourceLocation: sourceLocation) }
    }

    func expectObservedGeneration(_ status: Status, _ generation: Int64, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status.observedGeneration == generation, sourceLocation: sourceLocation)
        for c in status.conditions ?? [] {
            #expect(c.observedGeneration == generation, "\(c.type)", sourceLocation: sourceLocation)
        }
    }

    @Test func progressing() throws {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, statusReplicas: 1, updated: 1, ready: 0, available: 0,
                                       conditions: [available(false)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .progressing("1 of 3 replicas updated"), deployment: d))
        #expect(status.phase == .progressing)
        #expect(status.message == "revision 1 rolling out: 1 of 3 replicas updated")
        try expectCondition(status, ConditionType.ready, "False", ConditionReason.rolloutInProgress)
        try expectCondition(status, ConditionType.reconciling, "True", ConditionReason.rolloutInProgress)
        try expectCondition(status, ConditionType.stalled, "False")
        try expectCondition(status, ConditionType.progressing, "True", ConditionReason.rolloutInProgress)
        try expectCondition(status, ConditionType.available, "False", ConditionReason.minimumReplicasUnavailable)
        #expect(status.conditions?.first(type: ConditionType.rolledBack) == nil)
        #expect(status.selector == Self.selector)
        #expect(status.replicas == 1)
        #expect(status.updatedReplicas == 1)
        #expect(status.readyReplicas == 0)
        expectObservedGeneration(status, 1)

        // A pod problem replaces the Deployment's reason in the message.
        let withProblem = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, .progressing("1 of 3 replicas updated"), deployment: d, podProblems: "1/1 pods ImagePullBackOff"))
        #expect(withProblem.message == "revision 1 rolling out: 1/1 pods ImagePullBackOff")
        #expect(try condition(withProblem, ConditionType.ready).message == "revision 1 rolling out: 1/1 pods ImagePullBackOff")
    }

    @Test func theDeploymentMissingYetCountsZero() throws {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let status = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, .progressing("the Deployment does not exist yet"), deployment: nil))
        #expect(status.replicas == 0)
        #expect(status.readyReplicas == 0)
        #expect(status.availableReplicas == 0)
        try expectCondition(status, ConditionType.available, "False")
        #expect(status.phase == .progressing)
    }

    @Test func complete() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .complete, deployment: d))
        #expect(status.phase == .healthy)
        #expect(status.message == "3/3 ready at revision 1")
        try expectCondition(status, ConditionType.ready, "True", ConditionReason.rolloutComplete)
        try expectCondition(status, ConditionType.reconciling, "False")
        try expectCondition(status, ConditionType.stalled, "False")
        try expectCondition(status, ConditionType.progressing, "True", ConditionReason.rolloutComplete)
        try expectCondition(status, ConditionType.available, "True", ConditionReason.minimumReplicasAvailable)
        #expect(status.readyReplicas == 3)
        #expect(status.availableReplicas == 3)
        #expect(status.currentRevision == 1)
        #expect(status.stableRevision == 1)
        expectObservedGeneration(status, 1)
    }

    @Test func failedWithRollbackRollsBackThenIsDegraded() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 2, now: LogicFixture.now)
        let failing = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3, conditions: [
            available(true), LogicFixture.condition("Progressing", "False", reason: "ProgressDeadlineExceeded", message: "deadline")])
        let calculator = StatusCalculator(generation: 2, now: Self.t0)
        let rollingBack = calculator.status(observation(plan, LogicFixture.failed("deadline"), deployment: failing,
                                                        podProblems: "1/4 pods ImagePullBackOff"))
        #expect(rollingBack.phase == .rollingBack)
        #expect(rollingBack.message == "revision 2 failed: 1/4 pods ImagePullBackOff")
        try expectCondition(rollingBack, ConditionType.ready, "False", ConditionReason.progressDeadlineExceeded)
        try expectCondition(rollingBack, ConditionType.reconciling, "True", ConditionReason.rolledBack)
        try expectCondition(rollingBack, ConditionType.stalled, "False")
        try expectCondition(rollingBack, ConditionType.progressing, "False", ConditionReason.progressDeadlineExceeded)
        try expectCondition(rollingBack, ConditionType.rolledBack, "True", ConditionReason.progressDeadlineExceeded)
        #expect(try condition(rollingBack, ConditionType.rolledBack).message == "rolled back from revision 2 to 1")
        expectObservedGeneration(rollingBack, 2)

        // The next pass deploys revision 1 (pinned); while it rolls, the phase says RollingBack.
        let next = RevisionPlan.plan(status: rollingBack, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        #expect(next.pinned)
        let rolling = calculator.status(observation(next, .progressing("1 old replicas pending termination"), deployment: failing))
        #expect(rolling.phase == .rollingBack)
        try expectCondition(rolling, ConditionType.rolledBack, "True")

        // Revision 1 runs again: Degraded, Ready=False (RolledBack), Stalled=True, Progressing=True.
        var done = RevisionPlan.plan(status: rolling, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        done.observe(.complete, rollbackOnFailure: true, generation: 2, now: LogicFixture.now)
        let healthy = try LogicFixture.deployment(conditions: [available(true)])
        let degraded = calculator.status(observation(done, .complete, deployment: healthy))
        #expect(degraded.phase == .degraded)
        #expect(degraded.message == "revision 2 failed (ProgressDeadlineExceeded); running revision 1, 3/3 ready")
        try expectCondition(degraded, ConditionType.ready, "False", ConditionReason.rolledBack)
        try expectCondition(degraded, ConditionType.reconciling, "False")
        try expectCondition(degraded, ConditionType.stalled, "True", ConditionReason.progressDeadlineExceeded)
        try expectCondition(degraded, ConditionType.progressing, "True", ConditionReason.rolloutComplete)
        try expectCondition(degraded, ConditionType.rolledBack, "True")
        try expectCondition(degraded, ConditionType.available, "True")
        #expect(degraded.currentRevision == 1)
        expectObservedGeneration(degraded, 2)

        // A spec change: RolledBack=False (SpecChanged), a normal rollout again.
        let changed = RevisionPlan.plan(status: degraded, generation: 3, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.now)
        let fresh = StatusCalculator(generation: 3, now: Self.t1).status(observation(changed, .progressing("0 of 3 replicas updated"),
                                                                                     deployment: healthy))
        #expect(fresh.phase == .progressing)
        try expectCondition(fresh, ConditionType.rolledBack, "False", "SpecChanged")
        try expectCondition(fresh, ConditionType.stalled, "False")
        expectObservedGeneration(fresh, 3)
    }

    @Test func failedWithoutRollback() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, statusReplicas: 3, updated: 3, ready: 0, available: 0,
                                       conditions: [available(false)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, LogicFixture.failed("deadline"), deployment: d, podProblems: "3/3 pods ImagePullBackOff"))
        #expect(status.phase == .failed)
        #expect(status.message == "revision 1 failed: 3/3 pods ImagePullBackOff")
        try expectCondition(status, ConditionType.ready, "False", ConditionReason.progressDeadlineExceeded)
        try expectCondition(status, ConditionType.reconciling, "False")
        try expectCondition(status, ConditionType.stalled, "True", ConditionReason.progressDeadlineExceeded)
        #expect(try condition(status, ConditionType.stalled).message == "revision 1 failed: 3/3 pods ImagePullBackOff")
        try expectCondition(status, ConditionType.progressing, "False", ConditionReason.progressDeadlineExceeded)
        #expect(status.conditions?.first(type: ConditionType.rolledBack) == nil)
        expectObservedGeneration(status, 1)

        // Without a pod problem the Deployment's own message is used.
        let plain = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, LogicFixture.failed("deadline"), deployment: d))
        #expect(plain.message == "revision 1 failed: deadline")
    }

    @Test func paused() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .complete, deployment: d, paused: true))
        #expect(status.phase == .paused)
        #expect(status.message == "paused: no workload changes; 3/3 ready at revision 1")
        expectObservedGeneration(status, 1)
    }

    @Test func waitingForAReference() throws {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let waiting = (reason: "ReferenceMissing", message: "waiting for Secret db referenced by the spec")
        let status = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, .progressing("the Deployment does not exist yet"), deployment: nil, waiting: waiting))
        #expect(status.message == waiting.message)
        try expectCondition(status, ConditionType.ready, "False", "ReferenceMissing")
        #expect(try condition(status, ConditionType.ready).message == waiting.message)
        try expectCondition(status, ConditionType.reconciling, "True", "ReferenceMissing")
        try expectCondition(status, ConditionType.stalled, "False")
        #expect(status.phase == .progressing)
        expectObservedGeneration(status, 1)
    }

    @Test func lastTransitionTimeChangesOnlyWithTheStatus() throws {
        let calculatorAt = { (date: Date) in StatusCalculator(generation: 1, now: date) }
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, statusReplicas: 1, updated: 1, ready: 0, available: 0,
                                       conditions: [available(false)])
        let first = calculatorAt(Self.t0).status(observation(plan, .progressing("1 of 3 replicas updated"), deployment: d))
        let t0 = KubeTime.format(Self.t0)
        for c in first.conditions ?? [] { #expect(c.lastTransitionTime == t0, "\(c.type)") }

        // Same statuses a minute later, with a different message: no transition.
        let plan2 = RevisionPlan.plan(status: first, generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let second = calculatorAt(Self.t1).status(observation(plan2, .progressing("2 of 3 replicas updated"), deployment: d))
        #expect(try condition(second, ConditionType.ready).message == "revision 1 rolling out: 2 of 3 replicas updated")
        for c in second.conditions ?? [] { #expect(c.lastTransitionTime == t0, "\(c.type)") }

        // Complete: Ready, Reconciling and Available flip; Progressing and Stalled keep their time.
        var plan3 = RevisionPlan.plan(status: second, generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan3.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let complete = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let third = calculatorAt(Self.t2).status(observation(plan3, .complete, deployment: complete))
        let t2 = KubeTime.format(Self.t2)
        for type in [ConditionType.ready, ConditionType.reconciling, ConditionType.available] {
            #expect(try condition(third, type).lastTransitionTime == t2, "\(type)")
        }
        for type in [ConditionType.progressing, ConditionType.stalled] {
            #expect(try condition(third, type).lastTransitionTime == t0, "\(type)")
        }
    }

    @Test func invalidSpecKeepsHistoryAndCounts() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let healthy = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .complete, deployment: d))

        let problems = [SpecProblem(field: "spec.resources.limits.memory", message: "below the request"),
                        SpecProblem(field: "spec.image", message: "not an image reference")]
        let invalid = StatusCalculator(generation: 2, now: Self.t1).invalidSpec(healthy, problems: problems)
        let message = "spec.resources.limits.memory: below the request; spec.image: not an image reference"
        #expect(invalid.phase == .failed)
        #expect(invalid.message == "invalid spec: " + message)
        #expect(invalid.observedGeneration == 2)
        try expectCondition(invalid, ConditionType.stalled, "True", ConditionReason.invalidSpec)
        #expect(try condition(invalid, ConditionType.stalled).message == message)
        try expectCondition(invalid, ConditionType.ready, "False", ConditionReason.invalidSpec)
        #expect(try condition(invalid, ConditionType.ready).message == message)
        try expectCondition(invalid, ConditionType.reconciling, "False", ConditionReason.invalidSpec)
        for type in [ConditionType.stalled, ConditionType.ready, ConditionType.reconciling] {
            #expect(try condition(invalid, type).observedGeneration == 2, "\(type)")
        }
        // Untouched: history, revisions, counts, Progressing and Available.
        #expect(invalid.history == healthy.history)
        #expect(invalid.currentRevision == healthy.currentRevision)
        #expect(invalid.stableRevision == healthy.stableRevision)
        #expect(invalid.replicas == 3)
        #expect(invalid.readyReplicas == 3)
        #expect(invalid.availableReplicas == 3)
        #expect(invalid.selector == healthy.selector)
        #expect(invalid.conditions?.first(type: ConditionType.progressing) == healthy.conditions?.first(type: ConditionType.progressing))
        #expect(invalid.conditions?.first(type: ConditionType.available) == healthy.conditions?.first(type: ConditionType.available))
        #expect(try condition(invalid, ConditionType.reconciling).lastTransitionTime == KubeTime.format(Self.t0),
                "Reconciling stayed False")
        #expect(try condition(invalid, ConditionType.stalled).lastTransitionTime == KubeTime.format(Self.t1))
    }
}
