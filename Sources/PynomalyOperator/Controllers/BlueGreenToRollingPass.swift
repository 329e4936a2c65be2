#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// The BlueGreen → RollingUpdate shell: runs while the strategy is RollingUpdate and
/// `status.blueGreen` is set. Gathers `BlueGreenToRollingInput` from the caches, executes the pure
/// `BlueGreenToRollingPlanner`'s actions in order, writes the status once. When the planner
/// finishes, `status.blueGreen` is cleared and the next pass reconciles as RollingUpdate.
extension PynomalyDeploymentReconciler {
    func reconcileBlueGreenToRolling(_ pass: BlueGreenPassContext, blueGreen: PynomalyDeploymentStatus.BlueGreen) async throws -> ReconcileResult {
        let ctx = pass.ctx
        let writer = pass.writer
        let plan = pass.plan
        let serving = blueGreen.activeColor.flatMap { colorDeployment(ctx, $0) }
        let selector = PynomalyLabels.selectorString(for: ctx.name)

        if ctx.spec.paused || pass.waiting != nil {
            let status = pass.calculator.blueGreenHeld(plan.status, deployment: serving, selector: selector, paused: ctx.spec.paused, waiting: pass.waiting)
            for event in plan.events { writer.record(event) }
            try await writeStatus(status, of: pass.cr, writer: writer)
            return .done
        }
        try await writer.apply(pass.configMap)
        try await ensureServiceAccount(ctx, writer: writer)

        let rollingLive = try caches.owned(.deployments, namespace: ctx.namespace, name: ctx.name)?.decode(Deployment.self)
        let autoscaler = ctx.spec.autoscaling == nil ? nil
            : try? caches.owned(.horizontalPodAutoscalers, namespace: ctx.namespace, name: ctx.name)?.decode(HorizontalPodAutoscaler.self)
        let desired = BlueGreenObservation.servingReplicas(ctx.spec, autoscaler: autoscaler)
        let activeHash = blueGreen.activeRevision.flatMap { revision in plan.status.history?.first { $0.revision == revision }?.templateHash }
        let decision = BlueGreenToRollingPlanner.plan(BlueGreenToRollingInput(
            name: ctx.name, status: blueGreen, activeTemplateHash: activeHash, desiredReplicas: desired, autoscaled: ctx.spec.autoscaling != nil,
            rolling: BlueGreenColorObservation(deployment: rollingLive),
            blue: BlueGreenColorObservation(deployment: colorDeployment(ctx, .blue)),
            green: BlueGreenColorObservation(deployment: colorDeployment(ctx, .green))))

        var events = plan.events
        for action in decision.actions {
            switch action {
            case .applyRolling(let revision, let hash, let replicas):
                let template = try await podTemplate(ctx, revision: revision, hash: hash, spec: pass.specTemplate)
                var deployment = DeploymentBuilder.build(ctx, name: ctx.name, template: template, replicas: replicas)
                // Lets the planner recognise the revision NAME carries (the RollingUpdate apply drops it later).
                deployment.metadata.labels?[PynomalyLabels.templateHashKey] = hash
                try await writer.apply(deployment)
            case .scaleRolling(let replicas):
                try await writer.scale(deployment: ctx.name, replicas: replicas)
            case .scaleColor(let color, let replicas):
                try await writer.scale(deployment: Self.colorName(ctx.name, color), replicas: replicas)
            case .switchToRolling:
                // The colour key leaves the selectors: a subset of the live object, so applied regardless.
                try await writer.apply(ServiceBuilder.build(ctx, name: ctx.name), removesOldFields: true)
                try await writer.apply(IngressBuilder.build(ctx, backendService: ctx.name, previewService: nil), orDelete: ctx.name)
                try await writer.apply(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: ctx.name), orDelete: ctx.name)
                if let budget = PodDisruptionBudgetBuilder.build(ctx) {
                    try await writer.apply(budget, removesOldFields: true)
                } else {
                    try await writer.deleteIfOwned(.podDisruptionBudgets, name: ctx.name)
                }
            case .deleteBlueGreenObjects:
                try await deleteBlueGreenObjects(ctx, writer: writer)
            case .event(let event):
                events.append(event)
            }
        }

        var status = plan.status
        if let preview = decision.abandonedPreview { abandon(preview, blueGreen: blueGreen, status: &status, events: &events, pass) }
        let hint: BlueGreenStatusHint
        if decision.finished {
            status.blueGreen = nil
            hint = BlueGreenStatusHint(phase: .progressing, ready: false, reconciling: true, stalled: false,
                                       reason: "MigratingToRollingUpdate", message: decision.message)
        } else if decision.failed {
            hint = BlueGreenStatusHint(phase: .degraded, ready: false, reconciling: false, stalled: true, reason: "MigrationFailed", message: decision.message)
        } else {
            hint = BlueGreenStatusHint(phase: .progressing, ready: false, reconciling: true, stalled: false,
                                       reason: "MigratingToRollingUpdate", message: decision.message)
        }
        status = pass.calculator.blueGreenStatus(status, hint: hint, deployment: decision.finished ? rollingLive : serving, selector: selector)
        for event in events { writer.record(event) }
        try await writeStatus(status, of: pass.cr, writer: writer)
        return decision.finished ? .requeue(after: 0.05) : .done
    }

    /// Records the preview revision that was under test when the strategy changed as Aborted and pins
    /// the active revision until the spec's template changes, so RollingUpdate never rolls out a
    /// revision that did not pass its smoke test (once: later passes find the record).
    private func abandon(_ preview: Int64, blueGreen: PynomalyDeploymentStatus.BlueGreen, status: inout PynomalyDeploymentStatus,
                         events: inout [PlannedEvent], _ pass: BlueGreenPassContext) {
        guard let active = blueGreen.activeRevision,
              status.lastRollback?.fromRevision != preview || status.lastRollback?.reason != "StrategyChanged" else { return }
        var history = status.history ?? []
        if let i = history.firstIndex(where: { $0.revision == preview }), history[i].outcome != .succeeded {
            history[i].outcome = .aborted
        }
        status.history = history
        let step = blueGreen.step ?? "?"
        let message = "the strategy changed to RollingUpdate while revision \(preview) was under blue-green test (\(step)): it was not promoted "
            + "and revision \(active) keeps serving. Change the pod template to roll out a new revision, or request a rollback to \(preview) to deploy it anyway"
        status.lastRollback = PynomalyDeploymentStatus.LastRollback(
            fromRevision: preview, toRevision: active, reason: "StrategyChanged", message: message, at: KubeTime.format(pass.now),
            generation: pass.calculator.generation, specTemplateHash: pass.plan.specTemplateKey)
        events.append(PlannedEvent(.warning, "PreviewAbandoned", message))
    }

    /// Deletes both colour Deployments and Services and every smoke Job this CR controls.
    private func deleteBlueGreenObjects(_ ctx: BuildContext, writer: ChildWriter) async throws {
        for color in Color.allCases {
            for resource in [ResourceType.deployments, .services] {
                try await writer.deleteIfOwned(resource, name: Self.colorName(ctx.name, color))
            }
        }
        for revision in smokeJobs(ctx).keys.sorted() {
            try await deleteSmokeJob(ctx, revision: revision, writer: writer)
        }
    }
}
