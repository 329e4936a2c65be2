#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// What the common part of a pass hands to the blue-green part.
struct BlueGreenPassContext {
    var cr: PynomalyDeployment
    /// Every write of the pass goes through it (its owner is the CR as stored).
    var writer: ChildWriter
    var ctx: BuildContext
    var old: PynomalyDeploymentStatus
    var plan: RevisionPlan
    var configMap: ConfigMap
    var specTemplate: PynomalyDeploymentReconciler.SpecTemplate
    var waiting: (reason: String, message: String)?
    var calculator: StatusCalculator
    var now: Date
}

/// The BlueGreen shell: gathers the state machine's input from the caches, runs the pure
/// `BlueGreenStateMachine.step`, executes its actions in order (compare-then-apply), applies the
/// traffic objects from `status.blueGreen.activeColor`, then writes the status once.
extension PynomalyDeploymentReconciler {
    typealias Color = PynomalyDeploymentStatus.Color

    static func colorName(_ name: String, _ color: Color) -> String { "\(name)-\(color.rawValue)" }

    func reconcileBlueGreen(_ pass: BlueGreenPassContext) async throws -> ReconcileResult {
        let ctx = pass.ctx
        let writer = pass.writer
        var plan = pass.plan
        guard let settings = ctx.spec.strategy.blueGreen else { throw KubeError.configuration("BlueGreen strategy without settings") }

        // Paused or waiting for a referenced object: nothing moves, the status says why.
        if ctx.spec.paused || pass.waiting != nil {
            let active = pass.old.blueGreen?.activeColor.flatMap { colorDeployment(ctx, $0) }
            let status = pass.calculator.blueGreenHeld(plan.status, deployment: active, selector: PynomalyLabels.selectorString(for: ctx.name),
                                                    paused: ctx.spec.paused, waiting: pass.waiting)
            for event in plan.events { writer.record(event) }
            if let event = PlannedEvent.pauseChange(from: pass.old.phase, to: status.phase) { writer.record(event) }
            if let waiting = pass.waiting, pass.old.conditions?.first(type: ConditionType.ready)?.reason != waiting.reason {
                writer.record(PlannedEvent(.warning, waiting.reason, waiting.message))
            }
            try await writeStatus(status, of: pass.cr, writer: writer)
            return .done
        }

        // The revision the rolling Deployment ran is stored before blue-green takes over from it.
        try await keepLeftRevision(ctx, replacingWith: nil, plan: plan, writer: writer)
        try await writer.apply(pass.configMap)
        try await ensureServiceAccount(ctx, writer: writer)
        if !plan.pinned, let hash = plan.target.templateHash {
            try await ensureRevision(ctx, revision: plan.target, encodedTemplate: pass.specTemplate.encodedTemplate(), templateHash: hash, writer: writer)
        }

        // The input, from the caches only.
        let observation = observeBlueGreen(ctx)
        // The analysis the status's step needs is measured first; the state machine reads its verdict.
        var analysisEvents: [PlannedEvent] = []
        var analysis: BlueGreenAnalysis?
        var analysisTarget: AnalysisTarget?
        if let settings = ctx.spec.analysis {
            var gate = BlueGreenAnalysis(prePromotion: settings.prePromotion, postPromotion: settings.postPromotion)
            analysisTarget = Self.analysisTarget(of: plan.status.blueGreen, settings: settings)
            if let target = analysisTarget {
                let recorded = await runAnalysis(ctx, settings: settings, target: target, old: plan.status.analysis, now: pass.now)
                plan.status.analysis = recorded.run
                analysisEvents = recorded.events
                gate.verdict = recorded.verdict
                gate.message = recorded.run.message
            }
            analysis = gate
        }
        var input = observation.input(ctx, plan: plan, settings: settings, now: pass.now)
        input.analysis = analysis
        let decision = BlueGreenStateMachine.step(input)

        // Actions in list order: a switch comes before the scale-down that follows it.
        var events = plan.events + analysisEvents
        for action in decision.actions {
            switch action {
            case .applyColor(let color, let revision, let hash, let replicas):
                let template = try await podTemplate(ctx, revision: revision, hash: hash, spec: pass.specTemplate)
                var deployment = DeploymentBuilder.build(ctx, name: Self.colorName(ctx.name, color), template: template, replicas: replicas,
                                                         selectorExtra: [PynomalyLabels.colorKey: color.rawValue])
                deployment.metadata.labels?[PynomalyLabels.templateHashKey] = hash
                try await writer.apply(ServiceBuilder.build(ctx, name: Self.colorName(ctx.name, color), selectorExtra: [PynomalyLabels.colorKey: color.rawValue]))
                try await writer.apply(deployment)
            case .scaleColor(let color, let replicas):
                try await writer.scale(deployment: Self.colorName(ctx.name, color), replicas: replicas)
            case .createSmokeJob(let revision, let color):
                if let job = SmokeTestJobBuilder.build(ctx, revision: revision, color: color.rawValue, previewService: Self.colorName(ctx.name, color)) {
                    try await writer.createOnce(job)
                }
            case .deleteSmokeJob(let revision):
                try await deleteSmokeJob(ctx, revision: revision, writer: writer)
            case .switchTraffic(let color):
                try await applyTraffic(ctx, active: color, preview: decision.status.previewColor, writer: writer)
            case .deleteRollingUpdateDeployment:
                try await writer.deleteIfOwned(.deployments, name: ctx.name)
            case .event(let event):
                events.append(event)
            case .recordOutcome(let revision, let outcome):
                var history = plan.status.history ?? []
                if let i = history.firstIndex(where: { $0.revision == revision }) { history[i].outcome = outcome }
                plan.status.history = history
            }
        }
        if decision.status.activeColor == nil, decision.status.step != BlueGreenStep.migrating.rawValue {
            try await closeRollingServiceBeforeFirstSwitch(ctx, writer: writer)
        } else if decision.status.activeColor != nil, !decision.actions.contains(.deleteRollingUpdateDeployment),
                  writer.controlledChild(.deployments, name: ctx.name) != nil,
                  caches.owned(.services, namespace: ctx.namespace, name: ctx.name)?[path: ["spec", "selector", PynomalyLabels.colorKey]] != nil {
            // A RollingUpdate Deployment left from before blue-green (one that never completed, so it
            // was not migrated): the stable Service routes to a colour, so nothing selects its pods.
            // While the Service is colourless, `NAME` may be what serves (a status one write behind).
            try await writer.deleteIfOwned(.deployments, name: ctx.name)
        }
        // Level-based: the traffic objects follow the active colour on every pass. Before the first
        // switch nothing is applied, so no untested pod is ever selected by the stable Service.
        if let active = decision.status.activeColor, try await mayRouteTraffic(to: active, ctx) {
            try await applyTraffic(ctx, active: active, preview: decision.status.previewColor, writer: writer)
        }

        // The status.
        var status = plan.status
        status.blueGreen = decision.status
        if var rollback = decision.lastRollback {
            // Pinned against the spec's template: only a new template retries what was given up.
            if rollback.specTemplateHash == nil { rollback.specTemplateHash = plan.specTemplateKey }
            status.lastRollback = rollback
        }
        if let token = decision.handledPromote { status.markHandled(.promote, token: token) }
        if let token = decision.handledAbort { status.markHandled(.abort, token: token) }
        if let token = decision.handledSkipAnalysis { status.markHandled(.skipAnalysis, token: token) }
        // A run whose step was left before it ended (skip, abort, a new revision) is closed.
        let stillNeeded = ctx.spec.analysis.flatMap { Self.analysisTarget(of: decision.status, settings: $0) }
        status.analysis = Self.closeAbandoned(status.analysis, unless: stillNeeded, skipped: decision.handledSkipAnalysis != nil, now: pass.now)
        if let active = decision.status.activeRevision {
            status.stableRevision = active
            status.currentRevision = active
            status.image = status.history?.first { $0.revision == active }?.image ?? status.image
        }
        // Prune, but never the revision a colour still carries.
        var pruning = plan
        pruning.status = status
        pruning.prune(limit: Int(ctx.spec.revisionHistoryLimit))
        if !pruning.pruned.contains(where: { $0.revision == decision.status.previewRevision || $0.revision == decision.status.activeRevision }) {
            status = pruning.status
            try await deletePrunedRevisions(pruning.pruned, ctx: ctx, writer: writer)
        }

        let activeDeployment = decision.status.activeColor.flatMap { colorDeployment(ctx, $0) }
            ?? decision.status.previewColor.flatMap { colorDeployment(ctx, $0) }
        status = pass.calculator.blueGreenStatus(status, hint: decision.hint, deployment: activeDeployment,
                                              selector: PynomalyLabels.selectorString(for: ctx.name))
        Self.setAnalysisCondition(&status, analysisEnabled: ctx.spec.analysis != nil, generation: pass.calculator.generation, now: pass.now)
        if let event = PlannedEvent.pauseChange(from: pass.old.phase, to: status.phase) { events.append(event) }
        for event in events { writer.record(event) }
        try await writeStatus(status, of: pass.cr, writer: writer)
        if let after = decision.requeueAfter { return .requeue(after: max(after, 0.05)) }
        return .done
    }

    /// The run a blue-green step measures: the preview colour before promotion, the active colour after.
    static func analysisTarget(of bg: PynomalyDeploymentStatus.BlueGreen?, settings: ResolvedSpec.Analysis) -> AnalysisTarget? {
        guard let bg, let step = bg.step.flatMap(BlueGreenStep.init(rawValue:)) else { return nil }
        switch step {
        case .prePromotionAnalysis:
            guard settings.prePromotion, let revision = bg.previewRevision,
                  let color = bg.previewColor ?? bg.activeColor?.other else { return nil }
            return AnalysisTarget(stage: .prePromotion, revision: revision, color: color)
        case .postPromotionAnalysis:
            guard settings.postPromotion, let revision = bg.activeRevision, let color = bg.activeColor else { return nil }
            return AnalysisTarget(stage: .postPromotion, revision: revision, color: color)
        default:
            return nil
        }
    }

    /// Before the first switch, a stable Service `NAME` left by RollingUpdate (its selector has no
    /// colour) would select the preview colour's pods before their smoke test: until a colour has
    /// passed, it selects no pod at all (`pynomaly.ai/color: none`). Only a RollingUpdate revision
    /// that never completed can be in this place; one that completed is migrated, and keeps serving.
    func closeRollingServiceBeforeFirstSwitch(_ ctx: BuildContext, writer: ChildWriter) async throws {
        guard let live = writer.controlledChild(.services, name: ctx.name), live[path: ["spec", "selector", PynomalyLabels.colorKey]] == nil else { return }
        try await writer.apply(ServiceBuilder.build(ctx, name: ctx.name, selectorExtra: [PynomalyLabels.colorKey: "none"]))
    }

    /// Whether the level-based traffic pass may point at `color`: it already does, or the colour is
    /// fully ready. The status it reads can be one write behind (a status write that lost a 409 to
    /// the user's own edit, after the pass had already moved children), so traffic never follows a
    /// status alone to a colour that is missing or not ready.
    func mayRouteTraffic(to color: Color, _ ctx: BuildContext) async throws -> Bool {
        let stable = caches.owned(.services, namespace: ctx.namespace, name: ctx.name)
        if stable?[path: ["spec", "selector", PynomalyLabels.colorKey]]?.stringValue == color.rawValue { return true }
        guard let deployment = colorDeployment(ctx, color), let want = deployment.spec?.replicas, want > 0 else { return false }
        let status = deployment.status
        return (status?.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0)
            && (status?.readyReplicas ?? 0) >= want && (status?.updatedReplicas ?? 0) >= want && (status?.availableReplicas ?? 0) >= want
    }

    /// The cached Deployment of one colour.
    func colorDeployment(_ ctx: BuildContext, _ color: Color) -> Deployment? {
        try? caches.owned(.deployments, namespace: ctx.namespace, name: Self.colorName(ctx.name, color))?.decode(Deployment.self)
    }

    /// What the blue-green state machine reads, from the caches.
    func observeBlueGreen(_ ctx: BuildContext) -> BlueGreenObservation {
        let autoscaler = ctx.spec.autoscaling == nil ? nil
            : try? caches.owned(.horizontalPodAutoscalers, namespace: ctx.namespace, name: ctx.name)?.decode(HorizontalPodAutoscaler.self)
        return BlueGreenObservation(blue: colorDeployment(ctx, .blue), green: colorDeployment(ctx, .green), autoscaler: autoscaler,
                                    jobs: ownedJobs(ctx))
    }

    /// The Jobs this CR controls, from the Jobs cache.
    func ownedJobs(_ ctx: BuildContext) -> [Job] {
        let objects = ctx.cr.metadata.uid.map { caches.ownedObjects(.jobs, controlledBy: $0) } ?? []
        return objects.compactMap { try? $0.decode(Job.self) }
    }

    /// Smoke Jobs of this CR from the Jobs cache, by the revision they test.
    func smokeJobs(_ ctx: BuildContext) -> [Int64: BlueGreenSmokeJob] {
        BlueGreenObservation.smokeJobs(ownedJobs(ctx), of: ctx.name)
    }

    /// Deletes a stale smoke Job (background propagation: its pods go with it).
    func deleteSmokeJob(_ ctx: BuildContext, revision: Int64, writer: ChildWriter) async throws {
        try await writer.deleteIfOwned(.jobs, name: SmokeTestJobBuilder.jobName(ctx.name, revision: revision), propagation: "Background")
    }

    /// The objects that follow the active colour: stable Service `NAME`, Ingress (backend: the active
    /// colour's Service; preview rule: the preview colour's), HPA target and PDB selector.
    func applyTraffic(_ ctx: BuildContext, active: Color, preview: Color?, writer: ChildWriter) async throws {
        let extra = [PynomalyLabels.colorKey: active.rawValue]
        // The colour Service the Ingress points at must exist first.
        try await writer.apply(ServiceBuilder.build(ctx, name: Self.colorName(ctx.name, active), selectorExtra: extra))
        try await writer.apply(ServiceBuilder.build(ctx, name: ctx.name, selectorExtra: extra))
        let previewService = preview.flatMap { $0 == active ? nil : Self.colorName(ctx.name, $0) }
        if let previewColor = preview, previewColor != active {
            try await writer.apply(ServiceBuilder.build(ctx, name: Self.colorName(ctx.name, previewColor),
                                                        selectorExtra: [PynomalyLabels.colorKey: previewColor.rawValue]))
        }
        try await writer.apply(IngressBuilder.build(ctx, backendService: Self.colorName(ctx.name, active), previewService: previewService), orDelete: ctx.name)
        try await writer.apply(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: Self.colorName(ctx.name, active)), orDelete: ctx.name)
        try await writer.apply(PodDisruptionBudgetBuilder.build(ctx, selectorExtra: extra), orDelete: ctx.name)
    }
}
