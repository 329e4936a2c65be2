#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime
import Logging

/// A pinned revision (a rollback's target) whose ControllerRevision is gone: its template cannot be
/// deployed, and the spec's template is the one that was rolled back from.
struct RevisionTemplateMissing: Error, CustomStringConvertible {
    var revision: Int64
    var name: String
    var description: String {
        "revision \(revision) cannot be deployed: its ControllerRevision \(name) does not exist (deleted by hand?). "
            + "Change the spec's pod template or request a rollback to another revision"
    }
}

/// Reconciles one PynomalyDeployment: reads the CR and its children from the caches, plans the
/// revision (pure), applies what differs with server-side apply, observes the rollout, then writes
/// the status once, only when it changed. A converged CR costs no request at all. BlueGreen branches
/// after the revision plan into `reconcileBlueGreen` (BlueGreenPass.swift).
public struct PynomalyDeploymentReconciler: Reconciler {
    public typealias Client = KubernetesReader & KubernetesWriter
    public static let fieldManager = ChildWriter.fieldManager

    let client: any Client
    let caches: OperatorCaches
    let events: EventRecorder?
    /// Whether the monitoring.coreos.com kinds are served; nil: the client cannot tell.
    let discovery: MonitoringDiscovery?
    /// How often a CR blocked by someone else's object under a child's name looks again (no watch
    /// event tells when that object is gone: it is not ours).
    let conflictRecheckPeriod: Double
    /// How long after a new revision's Deployment is written its status may wait for the rollout
    /// (`RevisionPlan.statusDeferral`).
    let statusSettle: Double
    /// Runs `spec.analysis` queries; nil: every measurement is inconclusive (never a pass).
    let prometheus: (any PrometheusQuerying)?
    /// Where the spec's time zones (backups, maintenance) are looked up.
    let timeZones: TimeZoneDatabase
    let clock: @Sendable () -> Date

    public init(client: any Client, caches: OperatorCaches, events: EventRecorder?, discovery: MonitoringDiscovery? = nil,
                conflictRecheckPeriod: Double = 30, statusSettle: Double = Self.defaultStatusSettle, prometheus: (any PrometheusQuerying)? = nil,
                timeZones: TimeZoneDatabase = .system, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.caches = caches
        self.events = events
        self.discovery = discovery
        self.conflictRecheckPeriod = conflictRecheckPeriod
        self.statusSettle = statusSettle
        self.prometheus = prometheus
        self.timeZones = timeZones
        self.clock = clock
    }

    var logger: Logger { ReconcileContext.current?.logger ?? .disabled }

    public func reconcile(_ key: ObjectKey) async -> ReconcileResult {
        guard let storedCR = caches.primary.store.get(key) else {
            caches.passMemo.forget(key)
            caches.certificates.forgetAnnouncements(key)
            return .done
        }
        guard storedCR[path: ["metadata", "deletionTimestamp"]] == nil else { return .done }
        let cr: PynomalyDeployment
        do {
            cr = try storedCR.decode(PynomalyDeployment.self)
        } catch {
            // The schema should make this impossible; say what failed and change nothing.
            logger.error("cannot decode the PynomalyDeployment", metadata: ["error": "\(error)"])
            return .terminalError("cannot decode \(key): \(error)")
        }
        // A running restore holds the app at zero: until the restores are known, no pass may act as if
        // there were none (it would scale the app up mid-restore). The informer logs why it cannot list;
        // once it syncs, every CR is queued again.
        if case .unknown(let why) = caches.restoresAvailability {
            logger.debug("PynomalyRestores are not known yet; changing nothing until they are", metadata: ["reason": .string(why)])
            return .requeue(after: Self.restoresUnknownRecheck)
        }
        let writer = writer(for: storedCR)
        do {
            return try await reconcile(cr, writer: writer)
        } catch let error as NotOwnedError {
            // The conflicting object is not ours, so no watch event says when it is gone: look again.
            return await stall(cr, writer: writer, reason: "ResourceConflict", message: error.description, after: .requeue(after: conflictRecheckPeriod))
        } catch let error as RevisionTemplateMissing {
            return await stall(cr, writer: writer, reason: "RevisionTemplateMissing", message: error.description, after: nil)
        } catch let error as KubeError where error.isConflict {
            // A write based on a cache one event behind (409): not a failure; the backoff spaces the
            // retries while the watch catches up, and grows if it keeps happening.
            return .retry("stale cache: the write met a newer resourceVersion (\(error))", atLeast: 0)
        } catch let error as ChildWriteRefused {
            // Retrying at once cannot help: say so where users look, then back off.
            return await stall(cr, writer: writer, reason: "ChildRejected", message: error.description, after: .failed(error))
        } catch {
            return .failed(error)
        }
    }

    /// Stalled: the pass cannot go on until something outside the operator changes. The status
    /// says why (Stalled=True, Ready=False, phase Failed) and a Warning Event is sent once per message;
    /// what runs keeps running. Answers `after` (or the write's error).
    private func stall(_ cr: PynomalyDeployment, writer: ChildWriter, reason: String, message: String, after: ReconcileResult?) async -> ReconcileResult {
        if cr.status?.conditions?.first(type: ConditionType.stalled)?.message != message {
            writer.record(PlannedEvent(.warning, reason, message))
        }
        let now = clock()
        var status = cr.status ?? PynomalyDeploymentStatus()
        var conditions = status.conditions ?? []
        let generation = cr.metadata.generation ?? 0
        conditions.markStalled(reason: reason, message: message, generation: generation, now: now)
        conditions.set(Condition(type: ConditionType.ready, status: "False", observedGeneration: generation, reason: reason, message: message), now: now)
        status.conditions = conditions
        status.observedGeneration = generation
        status.phase = .failed
        status.message = message
        do { try await writeStatus(status, of: cr, writer: writer) } catch { return .failed(error) }
        return after ?? .done
    }

    private func reconcile(_ cr: PynomalyDeployment, writer: ChildWriter) async throws -> ReconcileResult {
        let now = clock()
        let nowText = KubeTime.format(now)
        let generation = cr.metadata.generation ?? 0
        var calculator = StatusCalculator(generation: generation, now: now)
        let old = cr.status ?? PynomalyDeploymentStatus()

        // Passes woken by a child's status see the same spec: what only the spec decides is
        // remembered per generation (PassMemo), and a CR without a uid or generation is never memoised.
        let key = ObjectKey(namespace: cr.metadata.namespace, name: cr.metadata.name ?? "")
        let uid = cr.metadata.uid ?? ""
        let memo = uid.isEmpty || cr.metadata.generation == nil ? nil : caches.passMemo
        let problems = memo?.isValid(key, uid: uid, generation: generation) == true ? [] : validate(cr, timeZones: timeZones)
        // A restore holds the app at zero before anything else, whatever the spec says: the restore
        // waits for the app to stop, and stopping it needs nothing from the spec. With an invalid
        // spec the hold builds nothing from it (RestoreHoldPass.swift).
        let crNamespace = cr.metadata.namespace ?? "default"
        if let holder = RestoreHold.holder(of: cr.metadata.name ?? "", uid: cr.metadata.uid, among: restores(in: crNamespace)) {
            return try await reconcileRestoreHold(BuildContext(cr: cr), restore: holder, old: old, writer: writer, calculator: calculator, now: now,
                                                  specProblems: problems)
        }
        if !problems.isEmpty {
            var status = calculator.invalidSpec(old, problems: problems)
            // A hold that has ended gives the app its replicas back all the same: what ran before the
            // restore runs again, and the spec's problems wait for a person.
            if let previous = old.restore {
                try await releaseRestoreHold(BuildContext(cr: cr), previous: previous, status: &status, writer: writer, now: now)
            }
            if old.conditions?.first(type: ConditionType.stalled)?.message != status.conditions?.first(type: ConditionType.stalled)?.message {
                writer.record(PlannedEvent(.warning, ConditionReason.invalidSpec, status.message ?? "invalid spec"))
            }
            try await writeStatus(status, of: cr, writer: writer)
            return .done
        }
        memo?.noteValid(key, uid: uid, generation: generation)

        // The pod template from the spec, with the content hash of what it references. `specOnly`:
        // the context before that hash is known (the ConfigMap and the references do not need it).
        let restartToken = cr.metadata.annotations?[RequestAnnotation.restart.name]
        let specOnly = BuildContext(cr: cr, restartToken: restartToken)
        let configMap = ConfigMapBuilder.build(specOnly)
        let configHash = ConfigMapBuilder.configHash(of: configMap)
        let references: ReferencedObjects
        if let held = memo?.references(key, uid: uid, generation: generation) {
            references = held
        } else {
            references = ReferencedObjects(specOnly)
            memo?.noteReferences(key, uid: uid, generation: generation, objects: references)
        }
        let namespace = specOnly.namespace
        var contentHashes: [String: String] = [:]
        for (kind, names) in [("Secret", references.secrets), ("ConfigMap", references.configMaps)] {
            for name in names.sorted() {
                if let hash = try await referencedContentHash(kind: kind, namespace: namespace, name: name) { contentHashes["\(kind)/\(name)"] = hash }
            }
        }
        let (referencedHash, missing) = references.contentHash { kind, name in contentHashes["\(kind)/\(name)"] }
        let ctx = BuildContext(cr: cr, referencedContentHash: referencedHash, restartToken: restartToken)
        let specInputs = memo.map { _ in
            PassMemo.SpecInputs(uid: uid, generation: generation, restartToken: restartToken, referencedHash: referencedHash, configHash: configHash)
        }
        var built: (template: PodTemplateSpec, encoded: JSONValue)?
        let digest: PassMemo.TemplateDigest
        if let specInputs, let held = memo?.template(key, for: specInputs) {
            digest = held
        } else {
            let identified = PodTemplateBuilder.identified(ctx, configHash: configHash)
            built = (identified.template, identified.encoded)
            digest = PassMemo.TemplateDigest(templateHash: identified.hash, templateKey: identified.key)
            if let specInputs { memo?.noteTemplate(key, inputs: specInputs, digest: digest) }
        }
        let specTemplate = SpecTemplate(ctx: ctx, configHash: configHash, hash: digest.templateHash, built: built?.template, encoded: built?.encoded)
        let specEntry = PynomalyDeploymentStatus.HistoryEntry(revision: 0, image: ctx.spec.image, configHash: configHash, templateHash: digest.templateHash)
        let specTemplateKey = digest.templateKey
        let rollbackRequest = cr.metadata.annotations?[RequestAnnotation.rollbackTo.name]
        // Only a new rollback request needs to know which revisions can still be deployed.
        let knownRevisions = rollbackRequest.flatMap { old.hasHandled(.rollbackTo, token: $0) ? nil : $0 }
            .map { _ in revisionTemplateHashes(ctx) }
        var plan = RevisionPlan.plan(status: old, generation: generation, spec: specEntry, rollbackRequest: rollbackRequest, now: nowText,
                                     specTemplateKey: specTemplateKey, knownRevisions: knownRevisions)
        if cr.spec.paused == true {
            // Paused: nothing is planned. Ready turns False while the spec differs from what runs, so
            // GitOps tools do not report a paused, un-applied change as current.
            let running = old.history?.first { $0.revision == old.currentRevision }?.templateHash
            calculator.pausedWithPendingChange = running != specEntry.templateHash
            plan = RevisionPlan.paused(status: old)
        } else if let token = restartToken, !old.hasHandled(.restart, token: token) {
            plan.status.markHandled(.restart, token: token)
            plan.events.append(PlannedEvent(.normal, "RestartRequested", "rolling restart requested"))
        }

        // Wait for referenced objects rather than roll pods that cannot start; what runs stays.
        var waiting: (reason: String, message: String)?
        if !missing.isEmpty && !plan.pinned {
            waiting = ("ReferenceMissing", "waiting for \(missing.joined(separator: ", ")) referenced by the spec")
        }

        if let previous = old.restore {
            try await releaseRestoreHold(ctx, previous: previous, status: &plan.status, writer: writer, now: now)
        }
        let backups = try await reconcileBackups(ctx, status: &plan.status, held: false, now: now, writer: writer)
        let monitoringRecheck = try await reconcileMonitoring(ctx, status: &plan.status, now: now, writer: writer)
        let certificateRecheck = try await reconcileCertificate(ctx, status: &plan.status, now: now, writer: writer)
        let result = try await reconcileStrategy(cr: cr, writer: writer, ctx: ctx, old: old, plan: plan, configMap: configMap,
                                                 specTemplate: specTemplate, specInputs: specInputs, waiting: waiting, calculator: calculator, now: now)
        guard let recheckAt = [backups.recheckAt, monitoringRecheck, certificateRecheck].compactMap({ $0 }).min() else { return result }
        let after = max(1, recheckAt.timeIntervalSince(now))
        switch result {
        case .done: return .requeue(after: after)
        case .requeue(let other): return .requeue(after: min(other, after))
        default: return result
        }
    }

    /// The strategy's own work: rolling update, blue-green, or the way back from blue-green.
    private func reconcileStrategy(cr: PynomalyDeployment, writer: ChildWriter, ctx: BuildContext, old: PynomalyDeploymentStatus, plan: RevisionPlan,
                                   configMap: ConfigMap, specTemplate: SpecTemplate, specInputs: PassMemo.SpecInputs?, waiting: (reason: String, message: String)?,
                                   calculator: StatusCalculator, now: Date) async throws -> ReconcileResult {
        var plan = plan
        let namespace = ctx.namespace
        let generation = cr.metadata.generation ?? 0
        let nowText = KubeTime.format(now)
        if ctx.spec.strategy.type == .blueGreen {
            return try await reconcileBlueGreen(BlueGreenPassContext(
                cr: cr, writer: writer, ctx: ctx, old: old, plan: plan, configMap: configMap, specTemplate: specTemplate.prepared,
                waiting: waiting, calculator: calculator, now: now))
        }
        // Back from BlueGreen: `NAME` takes over the active revision before anything rolls (BlueGreenToRollingPass.swift).
        // Traffic on a colour that the status does not name (a status write lost a 409 to the user's
        // own edit after the pass had switched: no `status.blueGreen`, or one still migrating) is the
        // same situation: the live objects say which colour serves, and the migration moves it to
        // `NAME` before anything routes there.
        let stranded = old.blueGreen?.activeColor == nil ? strandedBlueGreen(ctx, history: plan.status.history ?? []) : nil
        if let blueGreen = stranded ?? old.blueGreen {
            return try await reconcileBlueGreenToRolling(BlueGreenPassContext(
                cr: cr, writer: writer, ctx: ctx, old: old, plan: plan, configMap: configMap, specTemplate: specTemplate.prepared,
                waiting: waiting, calculator: calculator, now: now), blueGreen: blueGreen)
        }

        var deployment: Deployment?
        var deploymentWritten = false
        if !ctx.spec.paused && waiting == nil {
            let before = caches.cachedResourceVersion(.deployments, namespace: namespace, name: ctx.name)
            deployment = try await applyChildren(ctx, configMap: configMap, plan: plan, specTemplate: specTemplate, specInputs: specInputs, writer: writer)
            deploymentWritten = deployment?.metadata.resourceVersion != before
        } else {
            deployment = try caches.ownedRolloutFields(namespace: namespace, name: ctx.name).map { try $0.decode(Deployment.self) }
        }

        let rollout = deployment.map(RolloutObservation.init(deployment:)) ?? .progressing("the Deployment does not exist yet")
        // The bake: a completed rollout of a new revision is judged by its metrics before it becomes stable.
        var bake = BakeOutcome(rollout: rollout)
        if waiting == nil && !ctx.spec.paused {
            bake = await bakeAnalysis(ctx, plan: &plan, rollout: rollout, now: now)
            plan.observe(bake.rollout, rollbackOnFailure: ctx.spec.rollbackOnFailure, generation: generation, now: nowText)
        }
        plan.prune(limit: Int(ctx.spec.revisionHistoryLimit))
        if !ctx.spec.paused { try await deletePrunedRevisions(plan.pruned, ctx: ctx, writer: writer) }
        if let wait = statusDeferral(cr, plan: plan, deploymentWritten: deploymentWritten, rollout: rollout, old: old, now: now) {
            // The Deployment controller's answers queue the passes in between; the requeue ends the
            // window when the rollout is still going (or the controller never answers).
            return .requeue(after: wait)
        }

        // Pod problems only matter (and cost a LIST) while the rollout is not complete.
        var podProblems: String?
        if !rollout.isComplete, let deployment {
            podProblems = try await summarisePods(namespace: namespace, selector: deployment.spec?.selector)
        }

        var status = calculator.status(StatusCalculator.Observation(
            plan: plan, rollout: bake.rollout, deployment: deployment, selector: PynomalyLabels.selectorString(for: ctx.name),
            paused: ctx.spec.paused, podProblems: podProblems, waiting: waiting))
        plan.events.append(contentsOf: bake.events)
        Self.setAnalysisCondition(&status, analysisEnabled: ctx.spec.analysis != nil, generation: generation, now: now)
        if let invalid = bake.invalid { Self.holdForInvalidAnalysis(&status, message: invalid, generation: generation, now: now) }
        if let event = PlannedEvent.pauseChange(from: old.phase, to: status.phase) { plan.events.append(event) }
        for event in plan.events { writer.record(event) }
        if let waiting, old.conditions?.first(type: ConditionType.ready)?.reason != waiting.reason {
            writer.record(PlannedEvent(.warning, waiting.reason, waiting.message))
        }
        try await writeStatus(status, of: cr, writer: writer)
        if plan.rolledBackNow { return .requeue(after: 0) }
        return bake.requeueAfter.map { .requeue(after: max($0, 0.05)) } ?? .done
    }

    /// The blue-green layout the live objects show while the status has none: the stable Service
    /// routes to a colour whose Deployment carries a revision of the history.
    func strandedBlueGreen(_ ctx: BuildContext, history: [PynomalyDeploymentStatus.HistoryEntry]) -> PynomalyDeploymentStatus.BlueGreen? {
        let uid = ctx.cr.metadata.uid ?? ""
        // Without a colour's Deployment in the cache there is nothing to find, and no Service to parse.
        guard Color.allCases.contains(where: { caches.cachedResourceVersion(.deployments, namespace: ctx.namespace, name: Self.colorName(ctx.name, $0)) != nil }),
              let service = caches.owned(.services, namespace: ctx.namespace, name: ctx.name), service.isControlled(by: uid),
              let color = service[path: ["spec", "selector", PynomalyLabels.colorKey]]?.stringValue.flatMap(Color.init(rawValue:)),
              let deployment = caches.owned(.deployments, namespace: ctx.namespace, name: Self.colorName(ctx.name, color)),
              deployment.isControlled(by: uid),
              let hash = deployment[path: ["metadata", "labels", PynomalyLabels.templateHashKey]]?.stringValue,
              let revision = history.first(where: { $0.templateHash == hash })?.revision else { return nil }
        return PynomalyDeploymentStatus.BlueGreen(activeColor: color, previewColor: color.other, step: BlueGreenStep.idle.rawValue, activeRevision: revision)
    }

    /// Applies every child; answers the Deployment as the server (or the cache, when converged) has it.
    /// Children a pass with the same inputs found converged, and that changed in nothing but
    /// their status since (`SpecStamp`), are not built or compared again.
    private func applyChildren(_ ctx: BuildContext, configMap: ConfigMap, plan: RevisionPlan, specTemplate: SpecTemplate,
                               specInputs: PassMemo.SpecInputs?, writer: ChildWriter) async throws -> Deployment {
        let key = ObjectKey(namespace: ctx.namespace, name: ctx.name)
        let inputs = specInputs.map {
            PassMemo.ChildrenInputs(spec: $0, revision: plan.target.revision, templateHash: plan.target.templateHash, pinned: plan.pinned)
        }
        let children: [(ResourceType, String)] = [
            (.configMaps, ctx.configMapName), (.serviceAccounts, ctx.name), (.deployments, ctx.name), (.services, ctx.name), (.ingresses, ctx.name),
            (.horizontalPodAutoscalers, ctx.name), (.podDisruptionBudgets, ctx.name),
        ]
        let stamps = children.map { caches.specStamp($0.0, namespace: ctx.namespace, name: $0.1) }
        if let inputs, caches.passMemo.childrenConverged(key, inputs: inputs, stamps: stamps),
           let live = caches.ownedRolloutFields(namespace: ctx.namespace, name: ctx.name) {
            return try live.decode(Deployment.self)
        }

        // The template of the revision this pass deploys: the spec's, or a pinned revision's as stored.
        let revisionTemplate = try await podTemplate(ctx, revision: plan.target.revision, hash: plan.target.templateHash, spec: specTemplate)
        // The spec's template comes encoded from this pass's build when it had to build it; any
        // other template is encoded here, once, for both the annotation and the Deployment.
        let asBuilt = plan.target.templateHash.map { $0 == specTemplate.hash } ?? true
        let revisionEncoded = asBuilt ? specTemplate.encodedTemplate() : PodTemplateBuilder.encode(revisionTemplate)
        var encodedTemplate = revisionEncoded
        if plan.pinned, let token = ctx.restartToken {
            // A restart requested while pinned restarts the pinned revision's pods (the token is not
            // part of a revision's identity, so the revision, and the copy kept of it, stay the same).
            var template = revisionTemplate
            template.metadata?.annotations?[PynomalyAnnotations.restart] = token
            encodedTemplate = PodTemplateBuilder.encode(template)
        }
        // What each child is after this pass, in the order of `children`: compared equal, or
        // written (the answer), or nil when not wanted.
        var results: [JSONValue?] = []
        results.append(try await writer.apply(configMap))
        results.append(try await ensureServiceAccount(ctx, writer: writer))
        var deployment = try DeploymentBuilder.encoded(ctx, name: ctx.name, encodedTemplate: encodedTemplate, replicas: ctx.desiredReplicas)
        var keptCopy: String?
        if plan.target.templateHash != nil {
            // The revision's own copy rides on the Deployment; the revision it replaces is stored first.
            let copy = RevisionTemplateAnnotation.value(of: revisionEncoded)
            deployment[path: ["metadata", "annotations", RevisionTemplateAnnotation.key]] = .string(copy)
            keptCopy = copy
        }
        try await keepLeftRevision(ctx, replacingWith: keptCopy, plan: plan, writer: writer)
        let applied = try await writer.apply(json: deployment, .deployments)
        results.append(applied)
        results.append(try await writer.apply(ServiceBuilder.build(ctx, name: ctx.name)))
        results.append(try await writer.apply(IngressBuilder.build(ctx, backendService: ctx.name, previewService: nil), orDelete: ctx.name))
        results.append(try await writer.apply(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: ctx.name), orDelete: ctx.name))
        results.append(try await writer.apply(PodDisruptionBudgetBuilder.build(ctx), orDelete: ctx.name))
        // Later passes skip the children until one changes in more than its status.
        let held = children.map { caches.specStamp($0.0, namespace: ctx.namespace, name: $0.1) }
        if let inputs, PassMemo.cacheHolds(results, stamps: held) {
            caches.passMemo.noteChildrenConverged(key, inputs: inputs, stamps: held)
        } else {
            caches.passMemo.forgetChildren(key)
        }
        return try Self.rolloutView(applied)
    }

    /// The spec's pod template, built only when a pass needs the object and not just its hash.
    struct SpecTemplate {
        let ctx: BuildContext
        let configHash: String
        /// `PodTemplateBuilder.templateHash` of the template.
        let hash: String
        /// Already built by this pass.
        var built: PodTemplateSpec?
        /// `built` as JSON, when this pass encoded it (for its hash).
        var encoded: JSONValue?

        func template() -> PodTemplateSpec { built ?? PodTemplateBuilder.build(ctx, configHash: configHash) }

        /// The template as JSON: as this pass encoded it for its hash, else encoded now.
        func encodedTemplate() -> JSONValue { encoded ?? PodTemplateBuilder.encode(template()) }

        /// Built now, so the passes that use it several times build it once.
        var prepared: SpecTemplate {
            var copy = self
            copy.built = template()
            return copy
        }
    }

    /// The Deployment as the rollout observation and the status read it: name, generation,
    /// resourceVersion, replicas, selector and status. Nothing else is decoded: the pod template and
    /// the rest of the metadata are most of what decoding a Deployment costs, and nothing downstream
    /// reads them.
    static func rolloutView(_ deployment: JSONValue) throws -> Deployment {
        try rolloutFields(deployment).decode(Deployment.self)
    }

    /// The fields `rolloutView` decodes, as JSON, and the managed-by label that tells the operator's
    /// Deployments from anyone else's: the Deployment cache keeps them beside each Deployment
    /// (`CacheView`), so a pass reads a few hundred bytes instead of the whole Deployment.
    @Sendable static func rolloutFields(_ deployment: JSONValue) -> JSONValue {
        var metadata: JSONObject = [:]
        for key in ["name", "namespace", "generation", "resourceVersion"] { metadata[key] = deployment[path: ["metadata", key]] }
        if let managedBy = deployment[path: ["metadata", "labels", PynomalyLabels.managedByKey]] {
            metadata["labels"] = .object([PynomalyLabels.managedByKey: managedBy])
        }
        var spec: JSONObject = ["template": .object([:])]
        for key in ["replicas", "selector"] { spec[key] = deployment[path: ["spec", key]] }
        var view: JSONObject = ["metadata": .object(metadata), "spec": .object(spec)]
        view["status"] = deployment["status"]
        return .object(view)
    }

    /// Creates the ControllerRevision of `revision` unless this CR's exists. A revision is
    /// immutable (its name is its template's hash), so one that exists needs no compare, and the
    /// template is not encoded into a new one on every pass.
    @discardableResult
    func ensureRevision(_ ctx: BuildContext, revision entry: PynomalyDeploymentStatus.HistoryEntry, encodedTemplate: @autoclosure () -> JSONValue,
                        templateHash: String, writer: ChildWriter) async throws -> JSONValue {
        let name = ControllerRevisionBuilder.name(ctx.name, templateHash: templateHash)
        if let cached = writer.controlledChild(.controllerRevisions, name: name) { return cached }
        let built = ControllerRevisionBuilder.build(ctx, revision: entry.revision, encodedTemplate: encodedTemplate(), templateHash: templateHash,
                                                    image: entry.image ?? ctx.spec.image, configHash: entry.configHash)
        return try await writer.createOnce(built).object
    }

    /// Stores the revision the rolling Deployment `NAME` runs before anything replaces it: before a
    /// pass gives `NAME` another revision (`replacingWith`: the copy that pass writes), and before a
    /// blue-green pass leaves `NAME` behind (nil). Until then the revision's template lives only in
    /// `NAME`'s annotation (`RevisionTemplateAnnotation`); from it, checked against its hash, the
    /// ControllerRevision is created, so the revision can still be rolled back to. A copy that fails
    /// the check is never stored: the revision is reported as not kept, and the change the spec asks
    /// for goes ahead. A revision this pass prunes is not stored only to be deleted.
    func keepLeftRevision(_ ctx: BuildContext, replacingWith copy: String?, plan: RevisionPlan, writer: ChildWriter) async throws {
        guard let live = writer.controlledChild(.deployments, name: ctx.name) else { return }
        let held = live[path: ["metadata", "annotations", RevisionTemplateAnnotation.key]]
        // The same copy: the same revision stays; no need to read it.
        if held == nil || (copy != nil && held?.stringValue == copy) { return }
        let history = plan.status.history ?? []
        let cause: String
        switch RevisionTemplateAnnotation.read(live) {
        case .absent:
            return
        case .template(let kept) where history.contains(where: { $0.templateHash == kept.hash }):
            // Not stored when this pass prunes it: it would be deleted at once.
            let remaining = plan.historyAfterPruning(limit: Int(ctx.spec.revisionHistoryLimit))
            guard let entry = remaining.first(where: { $0.templateHash == kept.hash }) else { return }
            try await ensureRevision(ctx, revision: entry, encodedTemplate: kept.encoded, templateHash: kept.hash, writer: writer)
            return
        case .template:
            cause = "annotation \(RevisionTemplateAnnotation.key) holds a template of no revision in the history (edited?)"
        case .unreadable(let message):
            cause = message
        }
        // The copy cannot be trusted: the running revision is reported, unless it is stored already
        // or stays (the apply that follows puts its copy back).
        guard let running = plan.status.currentRevision, let hash = history.first(where: { $0.revision == running })?.templateHash,
              copy == nil || hash != plan.target.templateHash,
              writer.controlledChild(.controllerRevisions, name: ControllerRevisionBuilder.name(ctx.name, templateHash: hash)) == nil else { return }
        writer.record(PlannedEvent(.warning, Self.revisionNotKeptReason,
                                   "revision \(running) cannot be rolled back to: \(cause) on Deployment \(ctx.name), so its template was not stored"))
    }

    static let revisionNotKeptReason = "RevisionNotKept"

    func deletePrunedRevisions(_ pruned: [PynomalyDeploymentStatus.HistoryEntry], ctx: BuildContext, writer: ChildWriter) async throws {
        for hash in pruned.compactMap(\.templateHash) {
            try await writer.deleteIfOwned(.controllerRevisions, name: ControllerRevisionBuilder.name(ctx.name, templateHash: hash))
        }
    }

    /// The content hash of a referenced Secret or ConfigMap, or nil when it does not exist. The
    /// metadata-only cache says whether it exists and at which version; the hash of that version is
    /// remembered, so only a new version costs a GET (whose answer is hashed and dropped at once).
    func referencedContentHash(kind: String, namespace: String, name: String) async throws -> String? {
        let store = kind == "Secret" ? caches.secrets.store : caches.configMaps.store
        guard let meta = store.get(namespace: namespace, name: name) else {
            caches.contentHashes.forget(kind: kind, namespace: namespace, name: name)
            return nil
        }
        let uid = meta[path: ["metadata", "uid"]]?.stringValue ?? ""
        let version = meta[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        if let hash = caches.contentHashes.hash(kind: kind, namespace: namespace, name: name, uid: uid, resourceVersion: version) { return hash }
        let object: JSONValue
        do {
            object = try await client.get(kind == "Secret" ? .secrets : .configMaps, namespace: namespace, name: name, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            return nil
        }
        let hash = ReferencedContentHashes.contentHash(of: object)
        caches.contentHashes.store(kind: kind, namespace: namespace, name: name, uid: object[path: ["metadata", "uid"]]?.stringValue ?? uid,
                                   resourceVersion: object[path: ["metadata", "resourceVersion"]]?.stringValue ?? version, hash: hash)
        return hash
    }

    /// The pod template of the revision whose template hash is `hash`: the spec's own when the hash
    /// is the spec template's (or unknown), else the one its ControllerRevision stores.
    func podTemplate(_ ctx: BuildContext, revision: Int64, hash: String?, spec: SpecTemplate) async throws -> PodTemplateSpec {
        guard let hash, hash != spec.hash else { return spec.template() }
        return try await storedRevisionTemplate(ctx, revision: revision, hash: hash)
    }

    /// A revision's pod template as stored: from its ControllerRevision, or, for the revision the
    /// rolling Deployment `NAME` runs and no ControllerRevision holds yet, from `NAME`'s annotation
    /// (checked against the hash). The cache keeps revisions without their template (`data`): it
    /// comes from the memo while the cached revision has the same uid, else from one GET. Gone,
    /// `RevisionTemplateMissing`.
    func storedRevisionTemplate(_ ctx: BuildContext, revision: Int64, hash: String) async throws -> PodTemplateSpec {
        let name = ControllerRevisionBuilder.name(ctx.name, templateHash: hash)
        let ownerUID = ctx.cr.metadata.uid ?? ""
        if let cached = caches.owned(.controllerRevisions, namespace: ctx.namespace, name: name), cached.isControlled(by: ownerUID),
           let uid = cached[path: ["metadata", "uid"]]?.stringValue,
           let template = caches.revisionTemplates.template(namespace: ctx.namespace, name: name, uid: uid) {
            return template
        }
        if let rolling = caches.owned(.deployments, namespace: ctx.namespace, name: ctx.name), rolling.isControlled(by: ownerUID),
           let kept = RevisionTemplateAnnotation.template(in: rolling, hash: hash) {
            return kept.template
        }
        var stored: JSONValue?
        do {
            let live = try await client.get(.controllerRevisions, namespace: ctx.namespace, name: name, subresource: nil)
            stored = live.isControlled(by: ownerUID) ? live : nil
        } catch let error as KubeError where error.isNotFound {}
        guard let stored, let controllerRevision = try? stored.decode(ControllerRevision.self),
              let template = ControllerRevisionBuilder.template(from: controllerRevision) else {
            throw RevisionTemplateMissing(revision: revision, name: name)
        }
        if let uid = controllerRevision.metadata.uid {
            caches.revisionTemplates.store(namespace: ctx.namespace, name: name, uid: uid, template: template)
        }
        return template
    }

    /// Template hashes of the revisions this CR has stored (what a rollback can deploy): its
    /// ControllerRevisions, and the revision kept in the rolling Deployment's annotation.
    func revisionTemplateHashes(_ ctx: BuildContext) -> Set<String> {
        let prefix = "\(ctx.name)-"
        let uid = ctx.cr.metadata.uid ?? ""
        let names = uid.isEmpty ? [] : caches.ownedObjects(.controllerRevisions, controlledBy: uid)
        var hashes = Set(names.compactMap { object -> String? in
            guard let name = object[path: ["metadata", "name"]]?.stringValue, name.hasPrefix(prefix) else { return nil }
            return String(name.dropFirst(prefix.count))
        })
        if let rolling = caches.owned(.deployments, namespace: ctx.namespace, name: ctx.name), rolling.isControlled(by: uid),
           case .template(let kept) = RevisionTemplateAnnotation.read(rolling) {
            hashes.insert(kept.hash)
        }
        return hashes
    }

    func summarisePods(namespace: String, selector: LabelSelector?) async throws -> String? {
        guard let selector else { return nil }
        // Each pod reduced to what the summary reads (its name and status) while the list is parsed:
        // a pod's spec and managedFields are most of its size and cost most of the decoding.
        let list = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: selector.description),
                                         transformingItems: Self.podStatusOnly, droppingManagedFields: true)
        let pods = list.items.compactMap { try? $0.decode(Pod.self) }
        return PodProblems.summary(of: pods)
    }

    /// A pod as `PodProblems` reads it: name, namespace and status.
    @Sendable static func podStatusOnly(_ pod: JSONValue) -> JSONValue {
        var kept: JSONObject = [:]
        kept["metadata"] = .object(["name": pod[path: ["metadata", "name"]] ?? .null, "namespace": pod[path: ["metadata", "namespace"]] ?? .null])
        kept["status"] = pod["status"]
        return .object(kept)
    }

    /// The status settle window: long enough for a rollout of pods that start at once, short enough
    /// that `kubectl get` shows a longer one as progressing within a second.
    public static let defaultStatusSettle = 1.0

    /// When the window of `RevisionPlan.statusDeferral` opened for this CR's target revision (noted
    /// in the pass that writes its Deployment, kept in memory: after a restart the status is written
    /// at once), and how long the status may still wait.
    private func statusDeferral(_ cr: PynomalyDeployment, plan: RevisionPlan, deploymentWritten: Bool, rollout: RolloutObservation,
                                old: PynomalyDeploymentStatus, now: Date) -> Double? {
        guard plan.createdRevision, let uid = cr.metadata.uid, !uid.isEmpty, let hash = plan.target.templateHash else { return nil }
        let key = ObjectKey(namespace: cr.metadata.namespace, name: cr.metadata.name ?? "")
        if deploymentWritten { caches.passMemo.noteRolloutStarted(key, uid: uid, templateHash: hash, at: now) }
        let ago = caches.passMemo.rolloutStarted(key, uid: uid, templateHash: hash).map { now.timeIntervalSince($0) }
        return plan.statusDeferral(rolloutStartedAgo: ago, rollout: rollout, old: old, settle: statusSettle)
    }

    /// How long a pass that found the restores unknown waits before looking again (the informer's
    /// sync queues every CR anyway; this covers a sync that never comes, e.g. RBAC fixed later).
    static let restoresUnknownRecheck = 3.0

    /// Writes the status when it differs from what the CR has (`ChildWriter.writeStatus`). Every
    /// status the operator writes passes here, so this is where `RestoresAvailable` is kept up to date.
    func writeStatus(_ status: PynomalyDeploymentStatus, of cr: PynomalyDeployment, writer: ChildWriter) async throws {
        var status = status
        let announce = Self.noteRestoresAvailability(caches.restoresAvailability, in: &status, previous: cr.status,
                                                     generation: cr.metadata.generation ?? 0, now: clock())
        guard status != cr.status else { return }
        try await writer.writeStatus(status)
        // Once, when the condition appears (it stays put while the CRD is missing: no write, no Event).
        if let announce { writer.record(PlannedEvent(.warning, "RestoresUnavailable", announce)) }
    }

    /// The writer of every change this pass makes for the CR `storedCR`.
    func writer(for storedCR: JSONValue) -> ChildWriter {
        ChildWriter(client: client, caches: caches, events: events,
                    owner: ChildWriter.Owner(stored: storedCR, resource: .pynomalyDeployments, cache: caches.primary))
    }

    /// Sets `RestoresAvailable=False` (`CRDNotInstalled`) while PynomalyRestores are not served and
    /// removes it once they are; while unknown, keeps what the CR had. Answers the message to announce
    /// in an Event when the condition appears, else nil.
    static func noteRestoresAvailability(_ availability: RestoresAvailability, in status: inout PynomalyDeploymentStatus,
                                         previous: PynomalyDeploymentStatus?, generation: Int64, now: Date) -> String? {
        let type = ConditionType.restoresAvailable
        var conditions = status.conditions ?? []
        // A status built afresh by a pass still carries the condition (and its transition time), so
        // an unchanged condition never makes a write.
        if conditions.first(type: type) == nil, let before = previous?.conditions?.first(type: type) {
            conditions.append(before)
        }
        switch availability {
        case .known:
            if conditions.remove(type: type) { status.conditions = conditions.isEmpty ? nil : conditions }
            return nil
        case .notServed:
            let message = "the API server does not serve \(ResourceType.pynomalyRestores.groupResource): is its CRD installed? "
                + "\(OperatorSetup.crdHint) — PynomalyRestores cannot run until it is; everything else is reconciled"
            conditions.set(Condition(type: type, status: "False", observedGeneration: generation, reason: ConditionReason.crdNotInstalled,
                                     message: message), now: now)
            status.conditions = conditions
            let before = previous?.conditions?.first(type: type)
            return before?.reason == ConditionReason.crdNotInstalled && before?.status == "False" ? nil : message
        case .unknown:
            if !conditions.isEmpty { status.conditions = conditions }
            return nil
        }
    }
}
