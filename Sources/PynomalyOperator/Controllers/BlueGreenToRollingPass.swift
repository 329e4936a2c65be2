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
        let namespace = ctx.namespace
        let uid = ctx.cr.metadata.uid ?? ""
        let plan = pass.plan
        let serving = blueGreen.activeColor.flatMap { colorDeployment(ctx, $0) }
        let selector = PynomalyLabels.selectorString(for: ctx.name)

        if ctx.spec.paused || pass.waiting != nil {
            let status = pass.calculator.blueGreenHeld(plan.status, deployment: serving, selector: selector, paused: ctx.spec.paused, waiting: pass.waiting)
            for event in plan.events { record(pass.storedCR, event) }
            try await writeStatus(status, of: pass.cr, storedCR: pass.storedCR)
            return .done
        }
        _ = try await ensure(pass.configMap, .configMaps, ownerUID: uid)
        try await ensureServiceAccount(ctx)

        let rollingLive = try caches.owned(.deployments, namespace: namespace, name: ctx.name)?.decode(Deployment.self)
        var desired = ctx.spec.replicas
        if let autoscaling = ctx.spec.autoscaling {
            let hpa = try? caches.owned(.horizontalPodAutoscalers, namespace: namespace, name: ctx.name)?.decode(HorizontalPodAutoscaler.self)
            desired = hpa?.status?.currentReplicas.flatMap { $0 > 0 ? $0 : nil } ?? autoscaling.minReplicas
        }
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
                let template = try await storedTemplate(ctx, revision: revision, hash: hash, fallback: pass)
                var deployment = DeploymentBuilder.build(ctx, name: ctx.name, template: template, replicas: replicas)
                // Lets the planner recognise the revision NAME carries (the RollingUpdate apply drops it later).
                deployment.metadata.labels?[PynomalyLabels.templateHashKey] = hash
                _ = try await ensure(deployment, .deployments, ownerUID: uid)
            case .scaleRolling(let replicas):
                try await scaleDeployment(ctx, name: ctx.name, replicas: replicas)
            case .scaleColor(let color, let replicas):
                try await scale(ctx, color, replicas: replicas)
            case .switchToRolling:
                // The colour key leaves the selectors: a subset of the live object, so applied regardless.
                _ = try await ensure(ServiceBuilder.build(ctx, name: ctx.name), .services, ownerUID: uid, removesOldFields: true)
                try await ensureOptional(IngressBuilder.build(ctx, backendService: ctx.name, previewService: nil), .ingresses, name: ctx.name, ctx: ctx)
                try await ensureOptional(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: ctx.name), .horizontalPodAutoscalers, name: ctx.name, ctx: ctx)
                if let budget = PodDisruptionBudgetBuilder.build(ctx) {
                    _ = try await ensure(budget, .podDisruptionBudgets, ownerUID: uid, removesOldFields: true)
                } else {
                    try await ensureOptional(PodDisruptionBudgetBuilder.build(ctx), .podDisruptionBudgets, name: ctx.name, ctx: ctx)
                }
            case .deleteBlueGreenObjects:
                try await deleteBlueGreenObjects(ctx)
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
        for event in events { record(pass.storedCR, event) }
        try await writeStatus(status, of: pass.cr, storedCR: pass.storedCR)
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

    /// The pod template of a revision from its ControllerRevision (the spec's when the hash is the spec's).
    private func storedTemplate(_ ctx: BuildContext, revision: Int64, hash: String, fallback pass: BlueGreenPassContext) async throws -> PodTemplateSpec {
        if PodTemplateBuilder.templateHash(pass.specTemplate) == hash { return pass.specTemplate }
        return try await storedRevisionTemplate(ctx, revision: revision, hash: hash)
    }

    /// Sets only the replica count of a Deployment this CR controls (merge patch).
    func scaleDeployment(_ ctx: BuildContext, name: String, replicas: Int32) async throws {
        guard let live = caches.owned(.deployments, namespace: ctx.namespace, name: name),
              Self.isControlled(live, by: ctx.cr.metadata.uid ?? "") else { return }
        if live[path: ["spec", "replicas"]]?.intValue.map(Int32.init) == replicas { return }
        logger.info("scaling", metadata: ["object": .string(name), "replicas": .stringConvertible(replicas)])
        let body: JSONValue = ["spec": ["replicas": .int(Int64(replicas))]]
        _ = try await client.patch(.deployments, namespace: ctx.namespace, name: name, type: .merge, body: body.serialized(), subresource: nil,
                                   options: WriteOptions(fieldManager: Self.fieldManager))
    }

    /// Deletes both colour Deployments and Services and every smoke Job this CR controls.
    private func deleteBlueGreenObjects(_ ctx: BuildContext) async throws {
        let uid = ctx.cr.metadata.uid ?? ""
        for color in [Color.blue, .green] {
            let name = Self.colorName(ctx.name, color)
            for resource in [ResourceType.deployments, .services] {
                if let live = caches.owned(resource, namespace: ctx.namespace, name: name), Self.isControlled(live, by: uid) {
                    try await delete(resource, live: live, namespace: ctx.namespace, name: name)
                }
            }
        }
        for revision in smokeJobs(ctx).keys.sorted() {
            try await deleteSmokeJob(ctx, revision: revision)
        }
    }
}
