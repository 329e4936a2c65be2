#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime
import Logging

/// Reconciles one PynomalyRestore: observes the target deployment, its pods and the restore's Jobs,
/// steps `RestoreStateMachine` (pure), creates the Job a step asks for, and writes the status when
/// it changed. The PynomalyDeployment reconciler does the scaling: it holds the app at zero while
/// `RestoreHold.holder` names this restore, and this reconciler waits until the pods are gone.
public struct PynomalyRestoreReconciler: Reconciler {
    public typealias Client = KubernetesReader & KubernetesWriter

    let client: any Client
    let caches: OperatorCaches
    let events: EventRecorder?
    let clock: @Sendable () -> Date

    public init(client: any Client, caches: OperatorCaches, events: EventRecorder?, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.caches = caches
        self.events = events
        self.clock = clock
    }

    var logger: Logger { ReconcileContext.current?.logger ?? .disabled }

    public func reconcile(_ key: ObjectKey) async -> ReconcileResult {
        guard let store = caches.restores?.store, let storedRestore = store.get(key), storedRestore[path: ["metadata", "deletionTimestamp"]] == nil else { return .done }
        let restore: PynomalyRestore
        do {
            restore = try storedRestore.decode(PynomalyRestore.self)
        } catch {
            logger.error("cannot decode the PynomalyRestore", metadata: ["error": "\(error)"])
            return .terminalError("cannot decode \(key): \(error)")
        }
        if restore.status?.phase?.isFinal == true { return .done }
        do {
            return try await reconcile(restore, storedRestore: storedRestore)
        } catch let error as NotOwnedError {
            // Someone else's Job holds the name a step needs: nothing of it is taken or changed, and
            // no watch event says when it is gone (it is not ours), so look again.
            return await stall(restore, storedRestore: storedRestore, reason: "ResourceConflict", message: error.description)
        } catch let error as KubeError where error.isConflict {
            // A status write based on a cache one event behind (409): not a failure; retried with
            // the per-key backoff while the watch catches up.
            return .retry("stale cache: the write met a newer resourceVersion (\(error))", atLeast: 0)
        } catch {
            return .failed(error)
        }
    }

    /// The writer of every change a pass makes for the restore `storedRestore`.
    private func writer(for storedRestore: JSONValue) -> ChildWriter {
        ChildWriter(client: client, caches: caches, events: events,
                    owner: ChildWriter.Owner(stored: storedRestore, resource: .pynomalyRestores, cache: caches.restores))
    }

    /// How often a restore blocked by someone else's object under a Job's name looks again.
    static let conflictRecheckPeriod = 30.0

    /// The restore cannot go on until something outside the operator changes: its phase stays,
    /// `Stalled=True` and the message say why, and a Warning Event is sent once per message.
    private func stall(_ restore: PynomalyRestore, storedRestore: JSONValue, reason: String, message: String) async -> ReconcileResult {
        let writer = writer(for: storedRestore)
        var status = restore.status ?? PynomalyRestoreStatus()
        if status.conditions?.first(type: ConditionType.stalled)?.message != message {
            writer.record(PlannedEvent(.warning, reason, message))
        }
        var conditions = status.conditions ?? []
        conditions.markStalled(reason: reason, message: message, generation: restore.metadata.generation ?? 0, now: clock())
        status.conditions = conditions
        status.message = message
        do {
            if status != restore.status { try await writer.writeStatus(status) }
        } catch {
            return .failed(error)
        }
        return .requeue(after: Self.conflictRecheckPeriod)
    }

    private func reconcile(_ restore: PynomalyRestore, storedRestore: JSONValue) async throws -> ReconcileResult {
        let now = clock()
        let namespace = restore.metadata.namespace ?? "default"
        let restoreName = restore.metadata.name ?? ""
        let deploymentRaw = caches.primary.store.get(namespace: namespace, name: restore.spec.deploymentName)
        let deployment = try deploymentRaw.map { try $0.decode(PynomalyDeployment.self) }
        let siblings = (caches.restores?.store.list(namespace: namespace) ?? []).compactMap { try? $0.decode(PynomalyRestore.self) }
        let phase = restore.status?.phase ?? .pending

        var observation = RestoreStateMachine.Observation(restore: restore, deployment: deployment, now: now)
        if phase == .pending {
            observation.conflictingRestore = RestoreHold.conflict(for: restore, among: siblings)?.metadata.name
        }
        if let deployment {
            let uid = deployment.metadata.uid ?? ""
            let apps = PynomalyDeploymentReconciler.appDeploymentNames(restore.spec.deploymentName).compactMap { name -> Deployment? in
                guard let live = caches.owned(.deployments, namespace: namespace, name: name),
                      live.isControlled(by: uid) else { return nil }
                return try? live.decode(Deployment.self)
            }
            observation.currentReplicas = apps.compactMap { $0.spec?.replicas }.max()
            observation.holdAcknowledged = deployment.status?.restore?.name == restoreName
            if phase == .scalingDown, observation.holdAcknowledged {
                // Pods, not Deployment counts: a terminating pod is no longer counted but may still write.
                let pods = try await client.list(.pods, namespace: namespace,
                                                 options: ListOptions(labelSelector: PynomalyLabels.selectorString(for: restore.spec.deploymentName)))
                observation.appPods = pods.items.count
            }
            let ready = deployment.status?.conditions?.first(type: ConditionType.ready)
            observation.appReady = deployment.status?.restore == nil && ready?.status == "True"
                && ready?.observedGeneration == deployment.metadata.generation
        }
        let emergencyName = RestoreJobBuilder.emergencyJobName(restoreName)
        let restoreJobName = RestoreJobBuilder.restoreJobName(restoreName)
        // In the phase that waits for a Job, a cache without it is confirmed with the API server: an
        // absent Job there fails the restore, so a cache lagging behind must not decide that.
        observation.emergencyJob = .init(job: try await job(emergencyName, namespace: namespace, restoreUID: restore.metadata.uid,
                                                             confirmAbsence: phase == .emergencyBackup))
        observation.restoreJob = .init(job: try await job(restoreJobName, namespace: namespace, restoreUID: restore.metadata.uid,
                                                          confirmAbsence: phase == .restoring))
        if phase == .restoring, observation.restoreJob == .succeeded, restore.spec.backupFile == nil {
            observation.reportedRestoredFile = try await reportedFile(job: restoreJobName, namespace: namespace, key: "restored-file")
        }

        let step = RestoreStateMachine.step(observation)
        let writer = writer(for: storedRestore)
        if let deployment {
            let ctx = BuildContext(cr: deployment)
            for action in step.actions {
                switch action {
                case .createEmergencyBackupJob(let fileName):
                    if let job = RestoreJobBuilder.emergencyBackupJob(ctx, restore: restore, fileName: fileName) {
                        try await writer.createOnce(job)
                    }
                case .createRestoreJob:
                    if let job = RestoreJobBuilder.restoreJob(ctx, restore: restore) {
                        try await writer.createOnce(job)
                    }
                }
            }
        }
        for event in step.events { writer.record(event) }
        if step.status != restore.status { try await writer.writeStatus(step.status) }
        // Pods are not watched: while they stop, look again shortly.
        if step.status.phase == .scalingDown, observation.holdAcknowledged { return .requeue(after: 2) }
        return .done
    }

    /// The cached Job `name` when it is controlled by this restore.
    private func ownedJob(_ name: String, namespace: String, restoreUID: String?) -> Job? {
        guard let live = caches.owned(.jobs, namespace: namespace, name: name),
              live.isControlled(by: restoreUID ?? "") else { return nil }
        return try? live.decode(Job.self)
    }

    /// The Job `name` controlled by this restore: from the cache, or with `confirmAbsence` from the
    /// API server when the cache does not have it.
    private func job(_ name: String, namespace: String, restoreUID: String?, confirmAbsence: Bool) async throws -> Job? {
        if let cached = ownedJob(name, namespace: namespace, restoreUID: restoreUID) { return cached }
        guard confirmAbsence else { return nil }
        do {
            let live = try await client.get(.jobs, namespace: namespace, name: name, subresource: nil)
            guard live.isControlled(by: restoreUID ?? "") else { return nil }
            return try? live.decode(Job.self)
        } catch let error as KubeError where error.isNotFound {
            return nil
        }
    }

    /// `KEY=VALUE` from the termination message of the Job's pod (the scripts write it there), if any.
    private func reportedFile(job: String, namespace: String, key: String) async throws -> String? {
        let pods = try await client.list(.pods, namespace: namespace, options: ListOptions(labelSelector: "batch.kubernetes.io/job-name=\(job)"))
        for pod in pods.items {
            for status in pod[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
                guard let message = status[path: ["state", "terminated", "message"]]?.stringValue else { continue }
                if let value = TerminationMessage.value(of: key, in: message) { return value }
            }
        }
        return nil
    }
}

/// The `KEY=VALUE` lines the Job scripts write to /dev/termination-log.
public enum TerminationMessage {
    public static func value(of key: String, in message: String) -> String? {
        for line in message.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == key, !parts[1].isEmpty { return String(parts[1]) }
        }
        return nil
    }
}
