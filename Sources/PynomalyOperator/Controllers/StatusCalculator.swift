#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The status of a pass, computed once from what the pass saw (pure): counts from the Deployment,
/// kstatus conditions (Ready, Reconciling, Stalled) plus Available, Progressing and RolledBack,
/// the phase and a one-line message.
public struct StatusCalculator: Sendable {
    public typealias Status = PynomalyDeploymentStatus

    public var generation: Int64
    public var now: Date
    /// Paused while the spec's template differs from the running revision's.
    public var pausedWithPendingChange = false

    public init(generation: Int64, now: Date) {
        self.generation = generation
        self.now = now
    }

    /// What the pass observed.
    public struct Observation: Sendable {
        public var plan: RevisionPlan
        public var rollout: RolloutObservation
        public var deployment: Deployment?
        public var selector: String
        public var paused: Bool
        public var podProblems: String?
        /// Set while the pass waits for something outside the spec (a missing Secret): Ready=False with this reason.
        public var waiting: (reason: String, message: String)?

        public init(plan: RevisionPlan, rollout: RolloutObservation, deployment: Deployment?, selector: String, paused: Bool,
                    podProblems: String? = nil, waiting: (reason: String, message: String)? = nil) {
            self.plan = plan
            self.rollout = rollout
            self.deployment = deployment
            self.selector = selector
            self.paused = paused
            self.podProblems = podProblems
            self.waiting = waiting
        }
    }

    public func status(_ o: Observation) -> Status {
        var status = o.plan.status
        status.observedGeneration = generation
        status.selector = o.selector
        let counts = o.deployment?.status
        status.replicas = counts?.replicas ?? 0
        status.readyReplicas = counts?.readyReplicas ?? 0
        status.updatedReplicas = counts?.updatedReplicas ?? 0
        status.availableReplicas = counts?.availableReplicas ?? 0
        let desired = o.deployment?.spec?.replicas ?? 1
        let ready = counts?.readyReplicas ?? 0
        let revision = o.plan.target.revision
        let automaticRollback = o.plan.rollbackIsAutomatic

        var conditions = status.conditions ?? []
        func set(_ type: String, _ value: Bool, _ reason: String, _ message: String) {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: reason,
                                     message: message), now: now)
        }

        // Available follows the Deployment's own judgement (maxUnavailable respected).
        let available = counts?.conditions?.first(type: "Available")
        set(ConditionType.available, available?.isTrue ?? false,
            available?.isTrue == true ? ConditionReason.minimumReplicasAvailable : ConditionReason.minimumReplicasUnavailable,
            "\(counts?.availableReplicas ?? 0)/\(desired) replicas available")

        let phase: Status.Phase
        var message: String
        switch o.rollout {
        case .complete:
            set(ConditionType.progressing, true, ConditionReason.rolloutComplete, "revision \(revision) is available")
            set(ConditionType.reconciling, false, ConditionReason.rolloutComplete, "")
            if automaticRollback {
                let from = status.lastRollback?.fromRevision.map(String.init) ?? "?"
                message = "revision \(from) failed (\(status.lastRollback?.reason ?? "rollout failed")); running revision \(revision), \(ready)/\(desired) ready"
                set(ConditionType.ready, false, ConditionReason.rolledBack, message)
                set(ConditionType.stalled, true, status.lastRollback?.reason ?? ConditionReason.rolledBack,
                    "the spec's revision failed and was rolled back; change the spec to try again")
                phase = .degraded
            } else {
                message = "\(ready)/\(desired) ready at revision \(revision)"
                set(ConditionType.ready, true, ConditionReason.rolloutComplete, message)
                set(ConditionType.stalled, false, ConditionReason.rolloutComplete, "")
                phase = .healthy
            }
        case .progressing(let why):
            message = o.podProblems.map { "revision \(revision) rolling out: \($0)" } ?? "revision \(revision) rolling out: \(why)"
            set(ConditionType.progressing, true, ConditionReason.rolloutInProgress, message)
            set(ConditionType.reconciling, true, ConditionReason.rolloutInProgress, message)
            set(ConditionType.ready, false, ConditionReason.rolloutInProgress, message)
            set(ConditionType.stalled, false, ConditionReason.rolloutInProgress, "")
            phase = automaticRollback ? .rollingBack : .progressing
        case .failed(let reason, let detail):
            message = "revision \(revision) failed: \(o.podProblems ?? detail)"
            set(ConditionType.progressing, false, reason, message)
            if o.plan.rolledBackNow {
                set(ConditionType.reconciling, true, ConditionReason.rolledBack, "rolling back to revision \(status.lastRollback?.toRevision ?? 0)")
                set(ConditionType.stalled, false, ConditionReason.rolledBack, "")
                phase = .rollingBack
            } else {
                set(ConditionType.reconciling, false, reason, "")
                set(ConditionType.stalled, true, reason, message)
                phase = .failed
            }
            set(ConditionType.ready, false, reason, message)
        }

        if let rollback = status.lastRollback {
            if o.plan.pinned || o.plan.rolledBackNow {
                set(ConditionType.rolledBack, true, rollback.reason ?? ConditionReason.rolledBack,
                    "rolled back from revision \(rollback.fromRevision.map(String.init) ?? "?") to \(rollback.toRevision.map(String.init) ?? "?")")
            } else {
                set(ConditionType.rolledBack, false, "SpecChanged", "the spec changed after the last rollback")
            }
        }

        if let waiting = o.waiting {
            message = waiting.message
            set(ConditionType.ready, false, waiting.reason, waiting.message)
            set(ConditionType.reconciling, true, waiting.reason, waiting.message)
        }
        conditions.remove(type: ConditionType.invalidSpec)
        status.conditions = conditions
        status.message = message
        status.phase = o.paused ? .paused : phase
        if o.paused { status.message = "paused: no workload changes; " + message }
        if o.paused { markPendingChange(&status, revision: o.plan.target.revision) }
        return status
    }

    /// Paused with a spec change waiting: Ready=False (reason Paused), not Reconciling, not Stalled.
    func markPendingChange(_ status: inout Status, revision: Int64) {
        guard pausedWithPendingChange else { return }
        let message = "paused: revision \(revision) keeps running; the spec's changes are applied when spec.paused is false"
        var conditions = status.conditions ?? []
        for (type, value) in [(ConditionType.ready, false), (ConditionType.reconciling, false), (ConditionType.stalled, false)] {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: ConditionReason.paused,
                                     message: type == ConditionType.ready ? message : ""), now: now)
        }
        status.conditions = conditions
        status.message = message
    }

    /// The status of a spec the operator refuses: Stalled=True with reason InvalidSpec naming the
    /// fields; the counts and history stay as they were, and nothing running is touched.
    public func invalidSpec(_ old: Status, problems: [SpecProblem]) -> Status {
        var status = old
        let message = problems.map(\.description).joined(separator: "; ")
        var conditions = status.conditions ?? []
        for (type, value) in [(ConditionType.stalled, true), (ConditionType.ready, false), (ConditionType.reconciling, false)] {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation,
                                     reason: ConditionReason.invalidSpec, message: value || type == ConditionType.ready ? message : ""), now: now)
        }
        status.conditions = conditions
        status.observedGeneration = generation
        status.phase = .failed
        status.message = "invalid spec: " + message
        return status
    }

    // MARK: BlueGreen

    /// The status of a BlueGreen pass: counts from the serving colour's Deployment, conditions and
    /// phase from the state machine's hint.
    public func blueGreenStatus(_ base: Status, hint: BlueGreenStatusHint, deployment: Deployment?, selector: String) -> Status {
        var status = base
        setCounts(&status, deployment: deployment, selector: selector)
        var conditions = status.conditions ?? []
        func set(_ type: String, _ value: Bool, _ reason: String, _ message: String) {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: reason,
                                     message: message), now: now)
        }
        setAvailable(&conditions, deployment: deployment)
        set(ConditionType.ready, hint.ready, hint.ready ? ConditionReason.rolloutComplete : hint.reason, hint.message)
        set(ConditionType.reconciling, hint.reconciling, hint.reason, hint.reconciling ? hint.message : "")
        set(ConditionType.stalled, hint.stalled, hint.reason, hint.stalled ? hint.message : "")
        if hint.ready {
            set(ConditionType.progressing, true, ConditionReason.rolloutComplete, hint.message)
        } else if hint.reconciling {
            set(ConditionType.progressing, true, ConditionReason.rolloutInProgress, hint.message)
        } else {
            set(ConditionType.progressing, false, hint.reason, hint.message)
        }
        if let rollback = status.lastRollback {
            if rollback.generation == generation {
                set(ConditionType.rolledBack, true, rollback.reason ?? ConditionReason.rolledBack,
                    "rolled back from revision \(rollback.fromRevision.map(String.init) ?? "?") to \(rollback.toRevision.map(String.init) ?? "?")")
            } else {
                set(ConditionType.rolledBack, false, "SpecChanged", "the spec changed after the last rollback")
            }
        }
        conditions.remove(type: ConditionType.invalidSpec)
        status.conditions = conditions
        status.observedGeneration = generation
        status.phase = hint.phase
        status.message = hint.message
        return status
    }

    /// A BlueGreen pass that changed nothing (paused, or waiting for a referenced object).
    public func blueGreenHeld(_ base: Status, deployment: Deployment?, selector: String, paused: Bool,
                              waiting: (reason: String, message: String)?) -> Status {
        var status = base
        setCounts(&status, deployment: deployment, selector: selector)
        var conditions = status.conditions ?? []
        setAvailable(&conditions, deployment: deployment)
        if let waiting {
            for (type, value) in [(ConditionType.ready, false), (ConditionType.reconciling, true)] {
                conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: waiting.reason,
                                         message: waiting.message), now: now)
            }
        }
        conditions.remove(type: ConditionType.invalidSpec)
        status.conditions = conditions
        status.observedGeneration = generation
        let message = waiting?.message ?? base.message ?? ""
        status.message = paused ? "paused: no workload changes; " + message : message
        if paused { status.phase = .paused } else if status.phase == .paused || status.phase == nil { status.phase = .progressing }
        if paused { markPendingChange(&status, revision: status.blueGreen?.activeRevision ?? status.currentRevision ?? 0) }
        return status
    }

    private func setCounts(_ status: inout Status, deployment: Deployment?, selector: String) {
        let counts = deployment?.status
        status.selector = selector
        status.replicas = counts?.replicas ?? 0
        status.readyReplicas = counts?.readyReplicas ?? 0
        status.updatedReplicas = counts?.updatedReplicas ?? 0
        status.availableReplicas = counts?.availableReplicas ?? 0
    }

    private func setAvailable(_ conditions: inout [Condition], deployment: Deployment?) {
        let counts = deployment?.status
        let available = counts?.conditions?.first(type: "Available")
        conditions.set(Condition(type: ConditionType.available, status: available?.isTrue == true ? "True" : "False", observedGeneration: generation,
                                 reason: available?.isTrue == true ? ConditionReason.minimumReplicasAvailable : ConditionReason.minimumReplicasUnavailable,
                                 message: "\(counts?.availableReplicas ?? 0)/\(deployment?.spec?.replicas ?? 0) replicas available"), now: now)
    }
}
