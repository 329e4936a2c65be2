#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// While a PynomalyRestore holds this deployment (`RestoreHold.holder`), the pass only keeps every
/// app Deployment at zero replicas, suspends the backup and maintenance CronJobs, and reports the
/// hold (`status.restore`, RestoreInProgress). No revision is created and nothing rolls: the spec
/// is applied again once the hold ends.
extension PynomalyDeploymentReconciler {
    /// The app Deployments this CR may have: `NAME`, `NAME-blue`, `NAME-green`.
    static func appDeploymentNames(_ name: String) -> [String] {
        [name] + Color.allCases.map { colorName(name, $0) }
    }

    /// The restores in the CR's namespace (the restore informer), decoded.
    func restores(in namespace: String) -> [PynomalyRestore] {
        guard let store = caches.restores?.store else { return [] }
        return store.list(namespace: namespace).compactMap { try? $0.decode(PynomalyRestore.self) }
    }

    /// - Parameter specProblems: what validation found wrong with the spec. With problems the CronJobs
    ///   are not built from the spec; the ones that exist are suspended where they are.
    func reconcileRestoreHold(_ ctx: BuildContext, restore: PynomalyRestore, old: PynomalyDeploymentStatus, writer: ChildWriter,
                              calculator: StatusCalculator, now: Date, specProblems: [SpecProblem] = []) async throws -> ReconcileResult {
        var deployments: [Deployment] = []
        for name in Self.appDeploymentNames(ctx.name) {
            guard let live = writer.controlledChild(.deployments, name: name) else { continue }
            try await writer.scale(deployment: name, replicas: 0)
            if let deployment = try? live.decode(Deployment.self) { deployments.append(deployment) }
        }
        var status = old
        var outcome = BackupOutcome(recheckAt: nil)
        if specProblems.isEmpty {
            outcome = try await reconcileBackups(ctx, status: &status, held: true, now: now, writer: writer)
        } else {
            logger.warning("the spec is invalid; holding for the restore without applying it",
                           metadata: ["problems": .string(specProblems.map { "\($0.field): \($0.message)" }.joined(separator: "; "))])
            for name in [BackupCronJobBuilder.cronJobName(ctx.name), MaintenanceCronJobBuilder.cronJobName(ctx.name)] {
                try await writer.suspend(cronJob: name)
            }
        }
        let restoreName = restore.metadata.name ?? ""
        status = calculator.restoreHeld(status, restore: restore, deployments: deployments, selector: PynomalyLabels.selectorString(for: ctx.name))

        if old.restore?.name != restoreName {
            writer.record(PlannedEvent(.warning, "RestoreHold", "PynomalyRestore \(restoreName) holds the app at zero replicas (writes stopped)"))
        }
        if restore.status?.phase == .failed, old.restore?.phase != PynomalyRestoreStatus.Phase.failed.rawValue {
            writer.record(PlannedEvent(.warning, RestoreStateMachine.Reason.failed,
                                     "PynomalyRestore \(restoreName) failed; the app stays at zero replicas: \(restore.status?.message ?? "")"))
        }
        try await writeStatus(status, of: ctx.cr, writer: writer)
        return outcome.recheckAt.map { .requeue(after: max(1, $0.timeIntervalSince(now))) } ?? .done
    }

    /// The first pass after a hold ended: the serving Deployment gets its replica count back. With an
    /// HPA the applied Deployment has no `replicas`, so the zero would otherwise stay (an HPA does not
    /// scale a target at zero); without one the apply that follows sets the spec's count anyway.
    func releaseRestoreHold(_ ctx: BuildContext, previous: PynomalyDeploymentStatus.Restore, status: inout PynomalyDeploymentStatus,
                            writer: ChildWriter, now: Date) async throws {
        let serving = ctx.spec.strategy.type == .blueGreen
            ? status.blueGreen?.activeColor.map { Self.colorName(ctx.name, $0) }
            : (status.blueGreen?.activeColor.map { Self.colorName(ctx.name, $0) } ?? ctx.name)
        let replicas = previous.originalReplicas ?? ctx.desiredReplicas ?? ctx.spec.autoscaling?.minReplicas ?? 1
        if let serving, let live = caches.owned(.deployments, namespace: ctx.namespace, name: serving),
           live[path: ["spec", "replicas"]]?.intValue == 0, replicas > 0 {
            try await writer.scale(deployment: serving, replicas: replicas)
        }
        status.restore = nil
        var conditions = status.conditions ?? []
        conditions.set(Condition(type: ConditionType.restoreInProgress, status: "False", observedGeneration: ctx.cr.metadata.generation ?? 0,
                                 reason: "RestoreFinished", message: "PynomalyRestore \(previous.name ?? "") no longer holds the app"), now: now)
        status.conditions = conditions
        writer.record(PlannedEvent(.normal, "RestoreHoldReleased",
                                 "PynomalyRestore \(previous.name ?? "") released the app: scaling back to \(replicas) replica(s)"))
    }
}

extension StatusCalculator {
    /// The status while a restore holds the app at zero: counts over the app Deployments, the hold in
    /// `status.restore`, RestoreInProgress=True, Ready=False; Stalled once the restore failed (only
    /// a person can decide what the database needs next).
    func restoreHeld(_ base: Status, restore: PynomalyRestore, deployments: [Deployment], selector: String) -> Status {
        var status = base
        let name = restore.metadata.name ?? ""
        let phase = restore.status?.phase ?? .pending
        let failed = phase == .failed
        status.selector = selector
        status.replicas = deployments.reduce(0) { $0 + ($1.status?.replicas ?? 0) }
        status.readyReplicas = deployments.reduce(0) { $0 + ($1.status?.readyReplicas ?? 0) }
        status.updatedReplicas = deployments.reduce(0) { $0 + ($1.status?.updatedReplicas ?? 0) }
        status.availableReplicas = deployments.reduce(0) { $0 + ($1.status?.availableReplicas ?? 0) }
        status.restore = PynomalyDeploymentStatus.Restore(name: name, phase: phase.rawValue, originalReplicas: restore.status?.originalReplicas,
                                                          startedAt: restore.status?.startedAt)
        let message = failed
            ? "PynomalyRestore \(name) failed and holds the app at zero replicas; create a new restore, or delete \(name) to bring the app back"
            : "PynomalyRestore \(name) is in \(phase.rawValue): the app is held at zero replicas"
        var conditions = status.conditions ?? []
        func set(_ type: String, _ value: Bool, _ reason: String, _ text: String) {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: reason, message: text), now: now)
        }
        set(ConditionType.restoreInProgress, true, failed ? RestoreStateMachine.Reason.failed : ConditionReason.restoreRunning, message)
        set(ConditionType.ready, false, ConditionType.restoreInProgress, message)
        // kstatus: Reconciling while the restore runs; Stalled when it failed and waits for a person.
        set(ConditionType.reconciling, !failed, ConditionType.restoreInProgress, failed ? "" : message)
        set(ConditionType.stalled, failed, failed ? RestoreStateMachine.Reason.failed : ConditionType.restoreInProgress, failed ? message : "")
        conditions.remove(type: ConditionType.invalidSpec)
        status.conditions = conditions
        status.observedGeneration = generation
        status.phase = failed ? .failed : .progressing
        status.message = message
        return status
    }
}
