import KubeCore
import KubeRuntime

/// An Event the reconciler should emit about its CR.
public struct PlannedEvent: Sendable, Hashable {
    public var type: EventType
    public var reason: String
    public var message: String

    public init(_ type: EventType, _ reason: String, _ message: String) {
        self.type = type
        self.reason = reason
        self.message = message
    }

    /// The Event for a pass whose phase entered or left Paused, if it did.
    public static func pauseChange(from old: PynomalyDeploymentStatus.Phase?, to new: PynomalyDeploymentStatus.Phase?) -> PlannedEvent? {
        if new == .paused, old != .paused { return PlannedEvent(.normal, "Paused", "spec.paused is true: no workload changes until it is false") }
        if old == .paused, new != .paused { return PlannedEvent(.normal, "Resumed", "spec.paused is false: reconciling the workload again") }
        return nil
    }
}

/// Which revision a pass deploys, and how the history changes: pure, from the status the CR
/// carries (so a restarted operator decides the same), the spec's pod template and the requests.
///
/// A rollback (automatic after a failed rollout, or requested) pins its target revision for the
/// generation it happened in: the spec's template is deployed again only once the spec changes.
/// That is what stops a failed revision from being retried in a loop.
public struct RevisionPlan: Sendable, Hashable {
    public typealias Status = PynomalyDeploymentStatus

    public var status: Status
    /// The revision this pass deploys.
    public var target: Status.HistoryEntry
    /// The target comes from a rollback, not from the spec.
    public var pinned: Bool
    /// The spec's template became a new revision in this pass (its ControllerRevision must be written).
    public var createdRevision: Bool
    public var events: [PlannedEvent]
    /// The failed rollout was rolled back in this pass: reconcile again at once to deploy the target.
    public var rolledBackNow = false
    /// History entries dropped beyond `revisionHistoryLimit` (their ControllerRevisions go too).
    public var pruned: [Status.HistoryEntry] = []
    /// The spec's pod template identity without the restart token (`LastRollback.specTemplateHash`).
    public var specTemplateKey: String = ""

    /// How long this pass may leave its status write (and its Events) to a later pass, in seconds;
    /// nil: write now. A new revision's Deployment written `rolloutStartedAgo` seconds ago (0: by
    /// this pass) is still rolling out, and all the status would record is that a revision was
    /// created and is on its way. The Deployment controller's answers queue further passes, and for
    /// `settle` seconds those plan the same revision again from the same status (planning is a
    /// function of the status and the spec) and leave it too; a rollout that completes within the
    /// window costs one status write (Ready for the new revision) instead of a "rolling out" write,
    /// one per replica count on the way, and the final one. One that takes longer gets its
    /// progressing status when the window ends (the returned wait is the requeue that ends it).
    /// Meanwhile `observedGeneration` stays behind `generation`, which kstatus and `kubectl wait`
    /// read as "in progress", which is what it is. Anything else the status records (a rollback, a
    /// handled request, backup or restore progress) is written in the pass that decided it.
    public func statusDeferral(rolloutStartedAgo: Double?, rollout: RolloutObservation, old: Status, settle: Double) -> Double? {
        guard let ago = rolloutStartedAgo, ago >= 0, ago < settle, createdRevision, !pinned, !rolledBackNow, case .progressing = rollout else { return nil }
        let onlyTheRevision = status.handledRequests == old.handledRequests && status.handledTokens == old.handledTokens
            && status.lastRollback == old.lastRollback && status.backup == old.backup && status.restore == old.restore && status.blueGreen == old.blueGreen
        return onlyTheRevision ? settle - ago : nil
    }

    /// Plans a pass.
    /// - Parameters:
    ///   - spec: the spec's pod template as a revision candidate (revision number ignored).
    ///   - rollbackRequest: the raw `pynomaly.ai/rollback-to` annotation, if any.
    ///   - specTemplateKey: the spec's template hash without the restart token (default: the spec's
    ///     template hash), so a restart requested while a rollback is pinned does not unpin it.
    ///   - knownRevisions: template hashes whose ControllerRevision exists (nil: not checked); a
    ///     requested rollback to a revision without one is rejected, since it could not be deployed.
    public static func plan(status old: Status, generation: Int64, spec: Status.HistoryEntry, rollbackRequest: String?,
                            now: String, specTemplateKey: String? = nil, knownRevisions: Set<String>? = nil) -> RevisionPlan {
        let key = specTemplateKey ?? spec.templateHash ?? ""
        var status = old
        var history = status.history ?? []
        var events: [PlannedEvent] = []
        if let value = rollbackRequest, !status.hasHandled(.rollbackTo, token: value) {
            status.markHandled(.rollbackTo, token: value)
            switch Result(catching: { try RollbackRequest.parse(value) }) {
            case .failure(let error):
                events.append(PlannedEvent(.warning, "RollbackRejected", "\(error)"))
            case .success(let request):
                let current = status.currentRevision
                let target: Status.HistoryEntry? = request.isPrevious
                    ? history.filter { $0.outcome == .succeeded && $0.revision != current }.max { $0.revision < $1.revision }
                    : history.first { $0.revision == request.revision }
                let deployable = target.map { entry in
                    entry.templateHash.map { hash in knownRevisions?.contains(hash) ?? true } ?? false
                } ?? false
                if let target, !deployable {
                    events.append(PlannedEvent(.warning, "RollbackRejected",
                                               "revision \(target.revision) has no ControllerRevision (never deployed, or deleted by hand): it cannot be rolled back to"))
                } else if let target {
                    status.lastRollback = Status.LastRollback(
                        fromRevision: current, toRevision: target.revision, reason: "RollbackRequested",
                        message: "rollback to revision \(target.revision) requested", at: now, generation: generation, specTemplateHash: key)
                    events.append(PlannedEvent(.normal, "RollbackRequested",
                                               "rolling back from revision \(current.map(String.init) ?? "none") to revision \(target.revision)"))
                } else {
                    let known = history.map { String($0.revision) }.joined(separator: ", ")
                    let what = request.isPrevious ? "no earlier successful revision" : "revision \(request.revision) is not"
                    events.append(PlannedEvent(.warning, "RollbackRejected", "\(what) in history (revisions: \(known.isEmpty ? "none" : known))"))
                }
            }
        }

        // A rollback pins its target while the spec asks for the template it was recorded against.
        if let rollback = status.lastRollback, rollback.holds(specTemplateHash: key, generation: generation), let to = rollback.toRevision,
           let entry = history.first(where: { $0.revision == to }), entry.templateHash != nil {
            status.history = history
            var plan = RevisionPlan(status: status, target: entry, pinned: true, createdRevision: false, events: events)
            plan.specTemplateKey = key
            return plan
        }

        var created = false
        let target: Status.HistoryEntry
        if let index = history.firstIndex(where: { $0.templateHash == spec.templateHash }) {
            // A template seen before: retried only from a newer generation than the one it failed in.
            if [.failed, .rolledBack, .aborted].contains(history[index].outcome), (history[index].generation ?? 0) < generation {
                history[index].outcome = .progressing
                history[index].generation = generation
            }
            target = history[index]
        } else {
            var entry = spec
            entry.revision = (history.map(\.revision).max() ?? 0) + 1
            entry.generation = generation
            entry.createdAt = now
            entry.outcome = .progressing
            history.append(entry)
            target = entry
            created = true
            events.append(PlannedEvent(.normal, Self.revisionCreatedReason, "revision \(entry.revision): image \(entry.image ?? "?")"))
        }
        for i in history.indices where history[i].outcome == .progressing && history[i].revision != target.revision {
            history[i].outcome = .superseded
        }
        status.history = history
        var plan = RevisionPlan(status: status, target: target, pinned: false, createdRevision: created, events: events)
        plan.specTemplateKey = key
        return plan
    }

    /// The plan of a paused pass: the history, the requests and the running revision stay exactly as
    /// they are (no RevisionCreated, no token consumed); the spec's changes are planned on resume.
    public static func paused(status old: Status) -> RevisionPlan {
        let running = old.history?.first { $0.revision == old.currentRevision }
            ?? Status.HistoryEntry(revision: old.currentRevision ?? 0, image: old.image, configHash: nil)
        return RevisionPlan(status: old, target: running, pinned: false, createdRevision: false, events: [])
    }

    /// Folds what the Deployment reports into the history: success makes the target stable; a
    /// failure rolls back to the stable revision (once, when allowed) or marks the target failed.
    public mutating func observe(_ rollout: RolloutObservation, rollbackOnFailure: Bool, generation: Int64, now: String) {
        var history = status.history ?? []
        guard let index = history.firstIndex(where: { $0.revision == target.revision }) else { return }
        switch rollout {
        case .progressing:
            break
        case .complete:
            if history[index].outcome != .succeeded {
                if !pinned, createdRevision, let created = events.firstIndex(where: { $0.reason == Self.revisionCreatedReason }) {
                    // Created and complete before any status showed it rolling out (the status
                    // write waited for it): one Event for the one transition the status records.
                    events.remove(at: created)
                    events.append(PlannedEvent(.normal, "RolloutComplete", "revision \(target.revision) created and available (image \(target.image ?? "?"))"))
                } else if !pinned {
                    events.append(PlannedEvent(.normal, "RolloutComplete", "revision \(target.revision) is available (image \(target.image ?? "?"))"))
                } else {
                    events.append(PlannedEvent(.normal, "RollbackComplete", "revision \(target.revision) is available again"))
                }
                history[index].outcome = .succeeded
            }
            status.stableRevision = target.revision
        case .failed(let reason, let message):
            guard ![.failed, .rolledBack].contains(history[index].outcome) else { break }
            if !pinned, rollbackOnFailure, let stable = status.stableRevision, stable != target.revision,
               history.contains(where: { $0.revision == stable && $0.templateHash != nil }) {
                history[index].outcome = .rolledBack
                status.lastRollback = Status.LastRollback(fromRevision: target.revision, toRevision: stable, reason: reason,
                                                          message: message, at: now, generation: generation,
                                                          specTemplateHash: specTemplateKey.isEmpty ? nil : specTemplateKey)
                events.append(PlannedEvent(.warning, "RolledBack",
                                           "revision \(target.revision) failed (\(reason): \(message)); rolling back to revision \(stable)"))
                rolledBackNow = true
            } else {
                history[index].outcome = .failed
                events.append(PlannedEvent(.warning, "RolloutFailed", "revision \(target.revision) failed (\(reason): \(message))"))
            }
        }
        target = history[index]
        status.history = history
        status.currentRevision = target.revision
        status.image = target.image
    }

    /// Drops the oldest entries beyond `limit`, never the target or the stable revision.
    public mutating func prune(limit: Int) {
        var history = (status.history ?? []).sorted { $0.revision < $1.revision }
        let keep = max(1, limit)
        while history.count > keep,
              let oldest = history.firstIndex(where: { $0.revision != target.revision && $0.revision != status.stableRevision }) {
            pruned.append(history.remove(at: oldest))
        }
        status.history = history
    }

    /// The history as `prune(limit:)` would leave it.
    public func historyAfterPruning(limit: Int) -> [Status.HistoryEntry] {
        var pruning = self
        pruning.prune(limit: limit)
        return pruning.status.history ?? []
    }

    static let revisionCreatedReason = "RevisionCreated"

    /// The revision currently pinned by a rollback in this generation, if any.
    public var rollbackIsAutomatic: Bool { pinned && status.lastRollback?.reason != "RollbackRequested" }
}
