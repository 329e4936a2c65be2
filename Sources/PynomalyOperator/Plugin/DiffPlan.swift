#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// What `kubectl pynomaly diff` reads from the cluster before it plans: the live state a pass of the
/// operator would see. The plugin fills it with a few GETs and LISTs; `DiffPlan.plan` is pure.
public struct DiffLiveState: Sendable {
    /// `KIND/NAME` of each referenced Secret or ConfigMap that exists, and the hash of its content
    /// (`ReferencedContentHashes.contentHash`). An absent key is an object that does not exist.
    public var referencedContentHashes: [String: String]
    /// Pod templates of this CR's ControllerRevisions, by template hash.
    public var revisionTemplates: [String: PodTemplateSpec]
    /// The live children this CR controls, by `RESOURCE/NAME` (e.g. `deployments/pynomaly-blue`).
    public var children: [String: JSONValue]
    /// The smoke Jobs of this CR (blue-green).
    public var smokeJobs: [Job]
    public var now: Date

    public init(referencedContentHashes: [String: String] = [:], revisionTemplates: [String: PodTemplateSpec] = [:],
                children: [String: JSONValue] = [:], smokeJobs: [Job] = [], now: Date = Date()) {
        self.referencedContentHashes = referencedContentHashes
        self.revisionTemplates = revisionTemplates
        self.children = children
        self.smokeJobs = smokeJobs
        self.now = now
    }

    public static func key(_ resource: ResourceType, _ name: String) -> String { "\(resource.resource)/\(name)" }

    func child(_ resource: ResourceType, _ name: String) -> JSONValue? { children[Self.key(resource, name)] }
}

/// One write the next pass of the operator would make to a child.
public struct ChildChange: Sendable, Hashable {
    public enum Operation: Sendable, Hashable {
        /// Server-side apply of the whole object (field manager `pynomaly-operator`, force).
        case apply(JSONValue)
        /// Created only when missing, never updated (the backup claim, a smoke Job).
        case createIfMissing(JSONValue)
        /// A JSON merge patch of `spec.replicas` (how the operator scales a blue-green colour).
        case scale(Int32)
        case delete
    }

    public var resource: ResourceType
    public var name: String
    public var operation: Operation

    public init(_ resource: ResourceType, _ name: String, _ operation: Operation) {
        self.resource = resource
        self.name = name
        self.operation = operation
    }
}

/// What the change would do to the rollout.
public struct RolloutPreview: Sendable, Hashable {
    /// The revision the pass deploys.
    public var revision: Int64
    /// The spec's pod template is new: revision `revision` would be created.
    public var newRevision: Bool
    /// The target is a rollback's pinned revision, not the spec's template.
    public var pinned: Bool
    /// Why the serving pods would be replaced (image, configuration, referenced Secrets or
    /// ConfigMaps, a restart request, other template fields); empty: no pod restarts.
    public var restartReasons: [String]
    /// Blue-green: the colour that would get the new revision as the preview, and the one that
    /// keeps serving until promotion.
    public var previewColor: String?
    public var activeColor: String?
    /// Why no workload change is made at all (paused, a missing reference, a restore hold), if so.
    public var heldBecause: String?
    /// Things the preview cannot show, said plainly.
    public var notes: [String]

    public var restartsPods: Bool { !restartReasons.isEmpty }
}

/// The plan of `kubectl pynomaly diff`: the children the operator's next pass would write for a
/// spec, composed from the same pure builders, revision planner and blue-green state machine the
/// reconciler runs, over the live state the plugin read.
public struct DiffPlan: Sendable {
    public var changes: [ChildChange]
    public var rollout: RolloutPreview

    /// Plans the next pass for `cr` (the changed spec, with the live CR's metadata and status).
    /// A spec the operator would refuse is `PluginError.invalidSpec` naming each field.
    public static func plan(_ cr: PynomalyDeployment, live: DiffLiveState) throws(PluginError) -> DiffPlan {
        let problems = validate(cr)
        if !problems.isEmpty {
            throw .rejectedSpec(name: cr.metadata.name ?? "", message: problems.map(\.description).joined(separator: "; "))
        }
        let generation = cr.metadata.generation ?? 0
        let now = live.now
        let old = cr.status ?? PynomalyDeploymentStatus()

        // The pod template exactly as the reconciler builds it: config hash, then the content hash
        // of what the template references, then the template with both.
        let restartToken = cr.metadata.annotations?[RequestAnnotation.restart.name]
        let specOnly = BuildContext(cr: cr, restartToken: restartToken)
        let configMap = ConfigMapBuilder.build(specOnly)
        let configHash = ConfigMapBuilder.configHash(of: configMap)
        let references = ReferencedObjects(specOnly)
        let (referencedHash, missing) = references.contentHash { kind, name in live.referencedContentHashes["\(kind)/\(name)"] }
        let ctx = BuildContext(cr: cr, referencedContentHash: referencedHash, restartToken: restartToken)
        let identified = PodTemplateBuilder.identified(ctx, configHash: configHash)
        let specTemplate = identified.template
        let specHash = identified.hash
        let specEntry = PynomalyDeploymentStatus.HistoryEntry(revision: 0, image: ctx.spec.image, configHash: configHash, templateHash: specHash)
        let specTemplateKey = identified.key
        // The revision the rolling Deployment runs may so far be stored only in its annotation.
        var templates = live.revisionTemplates
        var keptInDeployment: RevisionTemplateAnnotation.Kept?
        if let rolling = live.child(.deployments, ctx.name), case .template(let kept) = RevisionTemplateAnnotation.read(rolling),
           templates[kept.hash] == nil {
            templates[kept.hash] = kept.template
            keptInDeployment = kept
        }
        let plan = RevisionPlan.plan(status: old, generation: generation, spec: specEntry,
                                     rollbackRequest: cr.metadata.annotations?[RequestAnnotation.rollbackTo.name],
                                     now: KubeTime.format(now), specTemplateKey: specTemplateKey, knownRevisions: Set(templates.keys))

        var preview = RolloutPreview(revision: plan.target.revision, newRevision: plan.createdRevision, pinned: plan.pinned,
                                     restartReasons: [], previewColor: nil, activeColor: nil, heldBecause: nil, notes: [])
        var changes: [ChildChange] = []
        func apply<T: KubeResource>(_ object: T, _ resource: ResourceType) {
            guard let json = try? JSONValue(encoding: object), let name = json[path: ["metadata", "name"]]?.stringValue else { return }
            changes.append(ChildChange(resource, name, .apply(json)))
        }
        func optional<T: KubeResource>(_ object: T?, _ resource: ResourceType, name: String) {
            if let object { apply(object, resource) } else if live.child(resource, name) != nil { changes.append(ChildChange(resource, name, .delete)) }
        }

        // Backups and monitoring run on every pass that is not held by a restore.
        let held = old.restore.map { $0.phase != "Succeeded" } ?? false
        if held {
            preview.heldBecause = "PynomalyRestore \(old.restore?.name ?? "?") holds the app at zero replicas: the operator makes no workload change until it ends"
            return DiffPlan(changes: changes, rollout: preview)
        }
        if let claim = BackupClaimBuilder.build(ctx), let json = try? JSONValue(encoding: claim), let name = claim.metadata.name {
            changes.append(ChildChange(.persistentVolumeClaims, name, .createIfMissing(json)))
        }
        optional(BackupCronJobBuilder.build(ctx), .cronJobs, name: BackupCronJobBuilder.cronJobName(ctx.name))
        optional(MaintenanceCronJobBuilder.build(ctx), .cronJobs, name: MaintenanceCronJobBuilder.cronJobName(ctx.name))
        for (resource, body) in [(MonitoringBuilder.serviceMonitorType, MonitoringBuilder.serviceMonitor(ctx)),
                                 (MonitoringBuilder.prometheusRuleType, MonitoringBuilder.prometheusRule(ctx))] {
            if let body { changes.append(ChildChange(resource, ctx.name, .apply(body))) }
            else if live.child(resource, ctx.name) != nil { changes.append(ChildChange(resource, ctx.name, .delete)) }
        }

        let waiting = !missing.isEmpty && !plan.pinned
        if ctx.spec.paused {
            preview.heldBecause = "spec.paused is true: the operator makes no workload change until it is false"
            return DiffPlan(changes: changes, rollout: preview)
        }
        if waiting {
            preview.heldBecause = "waiting for \(missing.joined(separator: ", ")) referenced by the spec: the operator makes no workload change until it exists"
            return DiffPlan(changes: changes, rollout: preview)
        }

        // The template the target revision runs: the spec's, or a pinned revision's from its ControllerRevision.
        func template(of revision: Int64, hash: String) throws(PluginError) -> PodTemplateSpec {
            if !plan.pinned, revision == plan.target.revision, hash == plan.target.templateHash { return specTemplate }
            guard let stored = templates[hash] else {
                throw .diffUnavailable("revision \(revision) has no ControllerRevision \(ControllerRevisionBuilder.name(ctx.name, templateHash: hash)); the operator would stall on it")
            }
            return stored
        }
        // Blue-green stores the spec's revision before a colour runs it; a rolling pass keeps it in
        // the Deployment's annotation and stores it once it is left behind (`keepLeftRevision`).
        if !plan.pinned, ctx.spec.strategy.type == .blueGreen {
            let built = ControllerRevisionBuilder.build(ctx, revision: plan.target.revision, template: specTemplate, templateHash: specHash,
                                                        image: plan.target.image ?? ctx.spec.image, configHash: plan.target.configHash)
            if let json = try? JSONValue(encoding: built) {
                changes.insert(ChildChange(.controllerRevisions, ControllerRevisionBuilder.name(ctx.name, templateHash: specHash), .createIfMissing(json)), at: 0)
            }
        }
        // As the operator: every blue-green pass stores it; a rolling pass once it deploys another.
        if let kept = keptInDeployment, ctx.spec.strategy.type == .blueGreen || (old.blueGreen == nil && kept.hash != plan.target.templateHash),
           let entry = plan.historyAfterPruning(limit: Int(ctx.spec.revisionHistoryLimit)).first(where: { $0.templateHash == kept.hash }) {
            let built = ControllerRevisionBuilder.build(ctx, revision: entry.revision, encodedTemplate: kept.encoded, templateHash: kept.hash,
                                                        image: entry.image ?? ctx.spec.image, configHash: entry.configHash)
            if let json = try? JSONValue(encoding: built) {
                changes.insert(ChildChange(.controllerRevisions, ControllerRevisionBuilder.name(ctx.name, templateHash: kept.hash), .createIfMissing(json)), at: 0)
            }
        }
        changes.insert(ChildChange(.configMaps, ctx.configMapName, .apply((try? JSONValue(encoding: configMap)) ?? .null)), at: 0)
        // The app's ServiceAccount, applied by every strategy before its Deployments (ServiceAccountPass.swift).
        if ctx.cr.spec.serviceAccountName != ctx.name {
            if let account = ServiceAccountBuilder.build(ctx), let json = try? JSONValue(encoding: account) {
                changes.insert(ChildChange(.serviceAccounts, ctx.name, .apply(json)), at: 1)
            } else if live.child(.serviceAccounts, ctx.name) != nil {
                changes.insert(ChildChange(.serviceAccounts, ctx.name, .delete), at: 1)
            }
        }

        if ctx.spec.strategy.type == .blueGreen {
            try blueGreen(ctx, plan: plan, live: live, template: template, changes: &changes, preview: &preview)
            return DiffPlan(changes: changes, rollout: preview)
        }
        if old.blueGreen != nil {
            // The way back from blue-green moves traffic over several passes (BlueGreenToRollingPass).
            preview.notes.append("the strategy changes from BlueGreen to RollingUpdate: the operator first moves the active colour's revision to \(ctx.name) over several passes; the workload objects of that migration are not previewed")
            return DiffPlan(changes: changes, rollout: preview)
        }
        guard let hash = plan.target.templateHash else {
            throw .diffUnavailable("revision \(plan.target.revision) has no template hash in status.history")
        }
        let revisionTemplate = try template(of: plan.target.revision, hash: hash)
        var runs = revisionTemplate
        // A restart requested while a rollback is pinned restarts the pinned revision's pods.
        if plan.pinned, let token = restartToken { runs.metadata?.annotations?[PynomalyAnnotations.restart] = token }
        let deployment = DeploymentBuilder.build(ctx, name: ctx.name, template: runs, replicas: ctx.desiredReplicas)
        if var body = try? JSONValue(encoding: deployment) {
            body[path: ["metadata", "annotations", RevisionTemplateAnnotation.key]] = .string(RevisionTemplateAnnotation.value(of: PodTemplateBuilder.encode(revisionTemplate)))
            changes.append(ChildChange(.deployments, ctx.name, .apply(body)))
        }
        preview.restartReasons = restartReasons(live: live.child(.deployments, ctx.name), desired: deployment)
        apply(ServiceBuilder.build(ctx, name: ctx.name), .services)
        optional(IngressBuilder.build(ctx, backendService: ctx.name, previewService: nil), .ingresses, name: ctx.name)
        optional(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: ctx.name), .horizontalPodAutoscalers, name: ctx.name)
        optional(PodDisruptionBudgetBuilder.build(ctx), .podDisruptionBudgets, name: ctx.name)
        changes += prunedRevisions(plan, ctx: ctx, live: live, keeping: [])
        return DiffPlan(changes: changes, rollout: preview)
    }

    /// The ControllerRevisions of history entries the pass prunes beyond `revisionHistoryLimit`
    /// (never the target, the stable revision, or one in `keeping`: a blue-green colour's), as
    /// deletions of those that exist.
    static func prunedRevisions(_ plan: RevisionPlan, ctx: BuildContext, live: DiffLiveState, keeping: Set<Int64>) -> [ChildChange] {
        var pruning = plan
        pruning.prune(limit: Int(ctx.spec.revisionHistoryLimit))
        guard !pruning.pruned.contains(where: { keeping.contains($0.revision) }) else { return [] }
        return pruning.pruned.compactMap { entry in
            guard let hash = entry.templateHash, live.revisionTemplates[hash] != nil else { return nil }
            return ChildChange(.controllerRevisions, ControllerRevisionBuilder.name(ctx.name, templateHash: hash), .delete)
        }
    }

    /// The blue-green part: the state machine's next step over the live colours, then the traffic
    /// objects that follow the active colour (as `BlueGreenPass` executes them).
    private static func blueGreen(_ ctx: BuildContext, plan: RevisionPlan, live: DiffLiveState,
                                  template: (Int64, String) throws(PluginError) -> PodTemplateSpec,
                                  changes: inout [ChildChange], preview: inout RolloutPreview) throws(PluginError) {
        guard let settings = ctx.spec.strategy.blueGreen else { throw .diffUnavailable("strategy BlueGreen without settings") }
        typealias Color = PynomalyDeploymentStatus.Color
        func colorName(_ color: Color) -> String { "\(ctx.name)-\(color.rawValue)" }
        func deployment(_ color: Color) -> Deployment? { try? live.child(.deployments, colorName(color))?.decode(Deployment.self) }
        func encode<T: KubeResource>(_ object: T) -> JSONValue { (try? JSONValue(encoding: object)) ?? .null }

        let observation = BlueGreenObservation(
            blue: deployment(.blue), green: deployment(.green),
            autoscaler: try? live.child(.horizontalPodAutoscalers, ctx.name)?.decode(HorizontalPodAutoscaler.self), jobs: live.smokeJobs)
        var input = observation.input(ctx, plan: plan, settings: settings, now: live.now)
        if let analysis = ctx.spec.analysis {
            // The verdict of a running analysis is measured by the operator, not here: the step waits.
            input.analysis = BlueGreenAnalysis(prePromotion: analysis.prePromotion, postPromotion: analysis.postPromotion)
        }
        let decision = BlueGreenStateMachine.step(input)

        func traffic(active: Color, preview previewColor: Color?) {
            let extra = [PynomalyLabels.colorKey: active.rawValue]
            changes.append(ChildChange(.services, colorName(active), .apply(encode(ServiceBuilder.build(ctx, name: colorName(active), selectorExtra: extra)))))
            changes.append(ChildChange(.services, ctx.name, .apply(encode(ServiceBuilder.build(ctx, name: ctx.name, selectorExtra: extra)))))
            let previewService = previewColor.flatMap { $0 == active ? nil : colorName($0) }
            if let previewColor, previewColor != active {
                changes.append(ChildChange(.services, colorName(previewColor), .apply(encode(ServiceBuilder.build(
                    ctx, name: colorName(previewColor), selectorExtra: [PynomalyLabels.colorKey: previewColor.rawValue])))))
            }
            let ingress = IngressBuilder.build(ctx, backendService: colorName(active), previewService: previewService)
            let hpa = HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: colorName(active))
            let pdb = PodDisruptionBudgetBuilder.build(ctx, selectorExtra: extra)
            for (resource, body) in [(ResourceType.ingresses, ingress.map(encode)), (.horizontalPodAutoscalers, hpa.map(encode)),
                                     (.podDisruptionBudgets, pdb.map(encode))] {
                if let body { changes.append(ChildChange(resource, ctx.name, .apply(body))) }
                else if live.child(resource, ctx.name) != nil { changes.append(ChildChange(resource, ctx.name, .delete)) }
            }
        }

        let active = decision.status.activeColor
        preview.activeColor = active?.rawValue
        for action in decision.actions {
            switch action {
            case .applyColor(let color, let revision, let hash, let replicas):
                var built = DeploymentBuilder.build(ctx, name: colorName(color), template: try template(revision, hash), replicas: replicas,
                                                    selectorExtra: [PynomalyLabels.colorKey: color.rawValue])
                built.metadata.labels?[PynomalyLabels.templateHashKey] = hash
                changes.append(ChildChange(.services, colorName(color), .apply(encode(ServiceBuilder.build(
                    ctx, name: colorName(color), selectorExtra: [PynomalyLabels.colorKey: color.rawValue])))))
                changes.append(ChildChange(.deployments, colorName(color), .apply(encode(built))))
                let reasons = restartReasons(live: live.child(.deployments, colorName(color)), desired: built)
                if color == active {
                    preview.restartReasons += reasons
                } else if revision == plan.target.revision {
                    preview.previewColor = color.rawValue
                }
            case .scaleColor(let color, let replicas):
                changes.append(ChildChange(.deployments, colorName(color), .scale(replicas)))
            case .createSmokeJob(let revision, let color):
                if let job = SmokeTestJobBuilder.build(ctx, revision: revision, color: color.rawValue, previewService: colorName(color)) {
                    changes.append(ChildChange(.jobs, SmokeTestJobBuilder.jobName(ctx.name, revision: revision), .createIfMissing(encode(job))))
                }
            case .deleteSmokeJob(let revision):
                let name = SmokeTestJobBuilder.jobName(ctx.name, revision: revision)
                if live.child(.jobs, name) != nil { changes.append(ChildChange(.jobs, name, .delete)) }
            case .switchTraffic(let color):
                traffic(active: color, preview: decision.status.previewColor)
            case .deleteRollingUpdateDeployment:
                if live.child(.deployments, ctx.name) != nil { changes.append(ChildChange(.deployments, ctx.name, .delete)) }
            case .event, .recordOutcome:
                break
            }
        }
        if let active {
            // Level-based, as every pass: the traffic objects follow the active colour.
            traffic(active: active, preview: decision.status.previewColor)
        }
        if preview.previewColor == nil, !plan.pinned, plan.target.revision != decision.status.activeRevision,
           let color = decision.status.previewColor, decision.status.previewRevision == plan.target.revision {
            preview.previewColor = color.rawValue
        }
        var history = plan
        for case .recordOutcome(let revision, let outcome) in decision.actions {
            if let i = history.status.history?.firstIndex(where: { $0.revision == revision }) { history.status.history?[i].outcome = outcome }
        }
        changes += prunedRevisions(history, ctx: ctx, live: live,
                                   keeping: Set([decision.status.previewRevision, decision.status.activeRevision].compactMap { $0 }))
        // Each object once, the last write winning (the pass applies the same body again).
        var seen: Set<String> = []
        changes = Array(changes.reversed().filter { seen.insert("\($0.resource.resource)/\($0.name)").inserted }.reversed())
    }

    /// Why replacing `live`'s pod template with `desired`'s would restart its pods; empty when the
    /// live template already holds everything the desired one says (the operator's compare).
    static func restartReasons(live: JSONValue?, desired: Deployment) -> [String] {
        guard let live, let want = (try? JSONValue(encoding: desired))?[path: ["spec", "template"]] else { return [] }
        let have = live[path: ["spec", "template"]] ?? .null
        if have.contains(want) { return [] }
        var reasons: [String] = []
        func container(_ template: JSONValue) -> JSONValue? {
            template[path: ["spec", "containers"]]?.arrayValue?.first { $0["name"]?.stringValue == PodTemplateBuilder.containerName }
        }
        let haveImage = container(have)?["image"]?.stringValue, wantImage = container(want)?["image"]?.stringValue
        if haveImage != wantImage { reasons.append("image \(haveImage ?? "none") -> \(wantImage ?? "none")") }
        func annotation(_ template: JSONValue, _ key: String) -> String? { template[path: ["metadata", "annotations", key]]?.stringValue }
        if annotation(have, PynomalyAnnotations.configHash) != annotation(want, PynomalyAnnotations.configHash) {
            reasons.append("configuration (ConfigMap data) changed")
        }
        if annotation(have, PynomalyAnnotations.referencedHash) != annotation(want, PynomalyAnnotations.referencedHash) {
            reasons.append("content of a referenced Secret or ConfigMap changed")
        }
        if annotation(have, PynomalyAnnotations.restart) != annotation(want, PynomalyAnnotations.restart) {
            reasons.append("restart requested")
        }
        if reasons.isEmpty { reasons.append("pod template changed") }
        return reasons
    }
}
