import Foundation
import KubeCore
import KubeRuntime
import Logging

/// A child that exists under the name the operator wants but is not controlled by this CR: the
/// operator refuses to take it over (it could be someone's hand-made Deployment).
struct NotOwnedError: Error, CustomStringConvertible {
    var kind: String
    var name: String
    var description: String { "\(kind) \(name) exists and is not controlled by this PynomalyDeployment; rename or delete it" }
}

/// Reconciles one PynomalyDeployment: reads the CR and its children from the caches, plans the
/// revision (pure), applies what differs with server-side apply, observes the rollout, then writes
/// the status once, only when it changed. A converged CR costs no request at all. BlueGreen branches
/// after the revision plan into `reconcileBlueGreen` (BlueGreenPass.swift).
public struct PynomalyDeploymentReconciler: Reconciler {
    public typealias Client = KubernetesReader & KubernetesWriter
    public static let fieldManager = "pynomaly-operator"


    let client: any Client
    let caches: OperatorCaches
    let events: EventRecorder?
    /// Whether the monitoring.coreos.com kinds are served; nil: the client cannot tell.
    let discovery: MonitoringDiscovery?
    /// How often a CR blocked by someone else's object under a child's name looks again (no watch
    /// event tells when that object is gone: it is not ours).
    let conflictRecheckPeriod: Double
    let clock: @Sendable () -> Date

    public init(client: any Client, caches: OperatorCaches, events: EventRecorder?, discovery: MonitoringDiscovery? = nil,
                conflictRecheckPeriod: Double = 30, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.caches = caches
        self.events = events
        self.discovery = discovery
        self.conflictRecheckPeriod = conflictRecheckPeriod
        self.clock = clock
    }

    var logger: Logger { ReconcileContext.current?.logger ?? .disabled }

    public func reconcile(_ key: ObjectKey) async -> ReconcileResult {
        guard let raw = caches.primary.store.get(key), raw[path: ["metadata", "deletionTimestamp"]] == nil else { return .done }
        let cr: PynomalyDeployment
        do {
            cr = try raw.decode(PynomalyDeployment.self)
        } catch {
            // The schema should make this impossible; say what failed and change nothing.
            logger.error("cannot decode the PynomalyDeployment", metadata: ["error": "\(error)"])
            return .terminalError("cannot decode \(key): \(error)")
        }
        do {
            return try await reconcile(cr, raw: raw)
        } catch let error as NotOwnedError {
            if cr.status?.conditions?.first(type: ConditionType.stalled)?.message != error.description {
                record(raw, PlannedEvent(.warning, "ResourceConflict", error.description))
            }
            let now = clock()
            var status = cr.status ?? PynomalyDeploymentStatus()
            var conditions = status.conditions ?? []
            let generation = cr.metadata.generation ?? 0
            conditions.set(Condition(type: ConditionType.stalled, status: "True", observedGeneration: generation, reason: "ResourceConflict",
                                     message: error.description), now: now)
            conditions.set(Condition(type: ConditionType.ready, status: "False", observedGeneration: generation, reason: "ResourceConflict",
                                     message: error.description), now: now)
            // kstatus reads Stalled only when Reconciling is not True.
            conditions.set(Condition(type: ConditionType.reconciling, status: "False", observedGeneration: generation, reason: "ResourceConflict",
                                     message: ""), now: now)
            status.conditions = conditions
            status.observedGeneration = generation
            status.phase = .failed
            status.message = error.description
            do { try await writeStatus(status, of: cr, raw: raw) } catch { return .failed(error) }
            // The conflicting object is not ours, so no watch event says when it is gone: look again.
            return .requeue(after: conflictRecheckPeriod)
        } catch let error as KubeError where error.isConflict {
            // A write based on a cache one event behind (409): not a failure, look again shortly.
            logger.info("stale cache: the write met a newer resourceVersion; retrying", metadata: ["error": "\(error)"])
            return .requeue(after: 1)
        } catch {
            return .failed(error)
        }
    }

    private func reconcile(_ cr: PynomalyDeployment, raw: JSONValue) async throws -> ReconcileResult {
        let now = clock()
        let nowText = KubeTime.format(now)
        let generation = cr.metadata.generation ?? 0
        var calculator = StatusCalculator(generation: generation, now: now)
        let old = cr.status ?? PynomalyDeploymentStatus()

        let problems = validate(cr)
        if !problems.isEmpty {
            let status = calculator.invalidSpec(old, problems: problems)
            if old.conditions?.first(type: ConditionType.stalled)?.message != status.conditions?.first(type: ConditionType.stalled)?.message {
                record(raw, PlannedEvent(.warning, ConditionReason.invalidSpec, status.message ?? "invalid spec"))
            }
            try await writeStatus(status, of: cr, raw: raw)
            return .done
        }

        // The pod template from the spec, with the content hash of what it references.
        let restartToken = cr.metadata.annotations?[RequestAnnotation.restart.name]
        let bare = BuildContext(cr: cr, restartToken: restartToken)
        let configMap = ConfigMapBuilder.build(bare)
        let configHash = ConfigMapBuilder.configHash(of: configMap)
        let references = ReferencedObjects(template: PodTemplateBuilder.build(bare, configHash: configHash), ownConfigMap: bare.configMapName)
        let namespace = bare.namespace
        let (referencedHash, missing) = references.contentHash { kind, name in
            let store = kind == "Secret" ? caches.secrets.store : caches.configMaps.store
            return store.get(namespace: namespace, name: name)?[ObjectTransform.contentHashKey]?.stringValue
        }
        let ctx = BuildContext(cr: cr, referencedContentHash: referencedHash, restartToken: restartToken)
        let specTemplate = PodTemplateBuilder.build(ctx, configHash: configHash)
        let specEntry = PynomalyDeploymentStatus.HistoryEntry(
            revision: 0, image: ctx.spec.image, configHash: configHash, templateHash: PodTemplateBuilder.templateHash(specTemplate))

        var plan = RevisionPlan.plan(status: old, generation: generation, spec: specEntry,
                                     rollbackRequest: cr.metadata.annotations?[RequestAnnotation.rollbackTo.name], now: nowText)
        if cr.spec.paused == true {
            // Paused: nothing is planned. Ready turns False while the spec differs from what runs, so
            // GitOps tools do not report a paused, un-applied change as current.
            let running = old.history?.first { $0.revision == old.currentRevision }?.templateHash
            calculator.pausedWithPendingChange = running != specEntry.templateHash
            plan = RevisionPlan.paused(status: old)
        } else if let token = restartToken, old.handledRequests?[RequestAnnotation.restart.statusKey] != token {
            var handled = plan.status.handledRequests ?? [:]
            handled[RequestAnnotation.restart.statusKey] = token
            plan.status.handledRequests = handled
            plan.events.append(PlannedEvent(.normal, "RestartRequested", "rolling restart requested"))
        }

        // Wait for referenced objects rather than roll pods that cannot start; what runs stays.
        var waiting: (reason: String, message: String)?
        if !missing.isEmpty && !plan.pinned {
            waiting = ("ReferenceMissing", "waiting for \(missing.joined(separator: ", ")) referenced by the spec")
        }

        // A restore holds the app at zero: nothing else happens until it ends (RestoreHoldPass.swift).
        if let holder = RestoreHold.holder(of: ctx.name, among: restores(in: namespace)) {
            return try await reconcileRestoreHold(ctx, restore: holder, old: old, raw: raw, calculator: calculator, now: now)
        }
        if let previous = old.restore {
            try await releaseRestoreHold(ctx, previous: previous, status: &plan.status, raw: raw, now: now)
        }
        let backups = try await reconcileBackups(ctx, status: &plan.status, held: false, now: now, raw: raw)
        let monitoringRecheck = try await reconcileMonitoring(ctx, status: &plan.status, now: now, raw: raw)
        let result = try await reconcileStrategy(cr: cr, raw: raw, ctx: ctx, old: old, plan: plan, configMap: configMap,
                                                 specTemplate: specTemplate, waiting: waiting, calculator: calculator, now: now)
        guard let recheckAt = [backups.recheckAt, monitoringRecheck].compactMap({ $0 }).min() else { return result }
        let after = max(1, recheckAt.timeIntervalSince(now))
        switch result {
        case .done: return .requeue(after: after)
        case .requeue(let other): return .requeue(after: min(other, after))
        default: return result
        }
    }

    /// The strategy's own work: rolling update, blue-green, or the way back from blue-green.
    private func reconcileStrategy(cr: PynomalyDeployment, raw: JSONValue, ctx: BuildContext, old: PynomalyDeploymentStatus, plan: RevisionPlan,
                                   configMap: ConfigMap, specTemplate: PodTemplateSpec, waiting: (reason: String, message: String)?,
                                   calculator: StatusCalculator, now: Date) async throws -> ReconcileResult {
        var plan = plan
        let namespace = ctx.namespace
        let generation = cr.metadata.generation ?? 0
        let nowText = KubeTime.format(now)
        if ctx.spec.strategy.type == .blueGreen {
            return try await reconcileBlueGreen(BlueGreenPassContext(
                cr: cr, raw: raw, ctx: ctx, old: old, plan: plan, configMap: configMap, specTemplate: specTemplate,
                waiting: waiting, calculator: calculator, now: now))
        }
        // Back from BlueGreen: `NAME` takes over the active revision before anything rolls (BlueGreenToRollingPass.swift).
        if let blueGreen = old.blueGreen {
            return try await reconcileBlueGreenToRolling(BlueGreenPassContext(
                cr: cr, raw: raw, ctx: ctx, old: old, plan: plan, configMap: configMap, specTemplate: specTemplate,
                waiting: waiting, calculator: calculator, now: now), blueGreen: blueGreen)
        }

        // The template this pass deploys: the spec's, or a pinned revision's from its ControllerRevision.
        var template = specTemplate
        if plan.pinned {
            guard let hash = plan.target.templateHash,
                  let stored = caches.owned(.controllerRevisions, namespace: namespace, name: ControllerRevisionBuilder.name(ctx.name, templateHash: hash)),
                  let revision = try? stored.decode(ControllerRevision.self), let pinnedTemplate = ControllerRevisionBuilder.template(from: revision) else {
                throw KubeError.configuration("the ControllerRevision of revision \(plan.target.revision) is not in the cache yet")
            }
            template = pinnedTemplate
        }

        var deployment: Deployment?
        if !ctx.spec.paused && waiting == nil {
            deployment = try await applyChildren(ctx, configMap: configMap, plan: plan, template: template)
        } else {
            deployment = try caches.owned(.deployments, namespace: namespace, name: ctx.name)?.decode(Deployment.self)
        }

        let rollout = deployment.map(RolloutObservation.init(deployment:)) ?? .progressing("the Deployment does not exist yet")
        if waiting == nil && !ctx.spec.paused {
            plan.observe(rollout, rollbackOnFailure: ctx.spec.rollbackOnFailure, generation: generation, now: nowText)
        }
        plan.prune(limit: Int(ctx.spec.revisionHistoryLimit))
        if !ctx.spec.paused { try await deletePrunedRevisions(plan.pruned, ctx: ctx) }

        // Pod problems only matter (and cost a LIST) while the rollout is not complete.
        var podProblems: String?
        if !rollout.isComplete, let deployment {
            podProblems = try await summarisePods(namespace: namespace, selector: deployment.spec?.selector)
        }

        let status = calculator.status(StatusCalculator.Observation(
            plan: plan, rollout: rollout, deployment: deployment, selector: PynomalyLabels.selectorString(for: ctx.name),
            paused: ctx.spec.paused, podProblems: podProblems, waiting: waiting))
        if status.phase == .paused, old.phase != .paused {
            plan.events.append(PlannedEvent(.normal, "Paused", "spec.paused is true: no workload changes until it is false"))
        } else if old.phase == .paused, status.phase != .paused {
            plan.events.append(PlannedEvent(.normal, "Resumed", "spec.paused is false: reconciling the workload again"))
        }
        for event in plan.events { record(raw, event) }
        if let waiting, old.conditions?.first(type: ConditionType.ready)?.reason != waiting.reason {
            record(raw, PlannedEvent(.warning, waiting.reason, waiting.message))
        }
        try await writeStatus(status, of: cr, raw: raw)
        return plan.rolledBackNow ? .requeue(after: 0) : .done
    }

    /// Applies every child; answers the Deployment as the server (or the cache, when converged) has it.
    private func applyChildren(_ ctx: BuildContext, configMap: ConfigMap, plan: RevisionPlan, template: PodTemplateSpec) async throws -> Deployment {
        let uid = ctx.cr.metadata.uid ?? ""
        _ = try await ensure(configMap, .configMaps, ownerUID: uid)
        if let hash = plan.target.templateHash {
            let revision = ControllerRevisionBuilder.build(ctx, revision: plan.target.revision, template: template, templateHash: hash)
            _ = try await ensure(revision, .controllerRevisions, ownerUID: uid, immutable: true)
        }
        let deployment = DeploymentBuilder.build(ctx, name: ctx.name, template: template, replicas: ctx.desiredReplicas)
        let applied = try await ensure(deployment, .deployments, ownerUID: uid)
        _ = try await ensure(ServiceBuilder.build(ctx, name: ctx.name), .services, ownerUID: uid)
        try await ensureOptional(IngressBuilder.build(ctx, backendService: ctx.name, previewService: nil), .ingresses, name: ctx.name, ctx: ctx)
        try await ensureOptional(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: ctx.name), .horizontalPodAutoscalers, name: ctx.name, ctx: ctx)
        try await ensureOptional(PodDisruptionBudgetBuilder.build(ctx), .podDisruptionBudgets, name: ctx.name, ctx: ctx)
        return try applied.decode(Deployment.self)
    }

    /// Applies `desired` unless the live object already contains it (compare, then write). A name
    /// taken by an object this CR does not control is refused. `immutable` kinds are only created.
    /// `dropsFields`: apply even when the live object contains `desired`, because a field this
    /// manager applied before must go (a superset would otherwise look converged).
    func ensure<T: KubeResource>(_ desired: T, _ resource: ResourceType, ownerUID: String, immutable: Bool = false,
                                 dropsFields: Bool = false) async throws -> JSONValue {
        try await ensureJSON(try JSONValue(encoding: desired), resource, ownerUID: ownerUID, immutable: immutable, dropsFields: dropsFields)
    }

    /// `ensure` for an object built as JSON (kinds without a typed model, e.g. ServiceMonitor).
    func ensureJSON(_ body: JSONValue, _ resource: ResourceType, ownerUID: String, immutable: Bool = false,
                    dropsFields: Bool = false) async throws -> JSONValue {
        guard let name = body[path: ["metadata", "name"]]?.stringValue else { throw KubeError.configuration("a built \(resource.kind) has no name") }
        let namespace = body[path: ["metadata", "namespace"]]?.stringValue
        let cached = caches.owned(resource, namespace: namespace ?? "", name: name)
        var live = cached
        if live == nil && !caches.knownAbsent(resource, namespace: namespace ?? "", name: name) {
            // Not in the (label-filtered) cache: new, just created and not seen yet, or someone else's.
            do {
                live = try await client.get(resource, namespace: namespace, name: name, subresource: nil)
            } catch let error as KubeError where error.isNotFound {
                live = nil
            }
        }
        if let live {
            guard Self.isControlled(live, by: ownerUID) else { throw NotOwnedError(kind: resource.kind, name: name) }
            if immutable || (live.contains(body) && !dropsFields) { return live }
        }
        logger.info("applying", metadata: ["kind": .string(resource.kind), "object": .string(name)])
        let answer = try await client.patch(resource, namespace: namespace, name: name, type: .apply, body: body.serialized(), subresource: nil,
                                            options: WriteOptions(fieldManager: Self.fieldManager, force: true))
        caches.storeWritten(resource, answer, basedOn: cached?[path: ["metadata", "resourceVersion"]]?.stringValue)
        return answer
    }

    /// Applies an optional child, or deletes the one this CR controls when it is no longer wanted.
    func ensureOptional<T: KubeResource>(_ desired: T?, _ resource: ResourceType, name: String, ctx: BuildContext) async throws {
        let uid = ctx.cr.metadata.uid ?? ""
        if let desired {
            _ = try await ensure(desired, resource, ownerUID: uid)
        } else if let live = caches.owned(resource, namespace: ctx.namespace, name: name), Self.isControlled(live, by: uid) {
            try await delete(resource, live: live, namespace: ctx.namespace, name: name)
        }
    }

    func deletePrunedRevisions(_ pruned: [PynomalyDeploymentStatus.HistoryEntry], ctx: BuildContext) async throws {
        let uid = ctx.cr.metadata.uid ?? ""
        for entry in pruned {
            guard let hash = entry.templateHash else { continue }
            let name = ControllerRevisionBuilder.name(ctx.name, templateHash: hash)
            if let live = caches.owned(.controllerRevisions, namespace: ctx.namespace, name: name), Self.isControlled(live, by: uid) {
                try await delete(.controllerRevisions, live: live, namespace: ctx.namespace, name: name)
            }
        }
    }

    /// Deletes with a uid precondition, so only the object that was judged ours goes.
    func delete(_ resource: ResourceType, live: JSONValue, namespace: String, name: String) async throws {
        logger.info("deleting", metadata: ["kind": .string(resource.kind), "object": .string(name)])
        var options = DeleteOptions()
        options.preconditionUID = live[path: ["metadata", "uid"]]?.stringValue
        do {
            _ = try await client.delete(resource, namespace: namespace, name: name, options: options)
        } catch let error as KubeError where error.isNotFound {
            return
        }
    }

    static func isControlled(_ object: JSONValue, by uid: String) -> Bool {
        guard !uid.isEmpty, let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue else { return false }
        return refs.contains { $0["controller"]?.boolValue == true && $0["uid"]?.stringValue == uid }
    }

    func summarisePods(namespace: String, selector: LabelSelector?) async throws -> String? {
        guard let selector else { return nil }
        let list = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: selector.description))
        let pods = list.items.compactMap { try? $0.decode(Pod.self) }
        return PodProblems.summary(of: pods)
    }

    /// Writes the status through the status subresource when it differs from what the CR has; a
    /// stale resourceVersion answers 409 and the pass is retried once the cache caught up. The
    /// answer goes into the cache at once (read-your-writes).
    func writeStatus(_ status: PynomalyDeploymentStatus, of cr: PynomalyDeployment, raw: JSONValue) async throws {
        guard status != cr.status else { return }
        var object = raw
        object["status"] = try JSONValue(encoding: status)
        let answer = try await client.update(.pynomalyDeployments, namespace: cr.metadata.namespace, name: cr.metadata.name ?? "",
                                             object: object, subresource: "status", options: WriteOptions(fieldManager: Self.fieldManager))
        // The next pass (queued by this pass's own child writes) reads this status, not the one before.
        caches.primary.storeWritten(answer, basedOn: raw[path: ["metadata", "resourceVersion"]]?.stringValue)
    }

    func record(_ raw: JSONValue, _ event: PlannedEvent) {
        logger.info("event", metadata: ["reason": .string(event.reason), "message": .string(event.message)])
        events?.record(raw, type: event.type, reason: event.reason, message: event.message)
    }
}
