import KubeCore
import KubeRuntime
import Logging

/// What the `run` command decides about the operator's controllers.
public struct OperatorConfiguration: Sendable {
    /// nil: every namespace.
    public var watchNamespace: String?
    public var maxConcurrentReconciles: Int
    /// Every PynomalyDeployment is reconciled again this often (a safety net; converged ones cost no writes).
    public var resyncPeriod: Double
    /// A CR whose child name is taken by someone else's object looks again this often.
    public var conflictRecheckPeriod: Double
    /// How long after a new revision's Deployment is written its status may wait for the rollout
    /// to complete (`RevisionPlan.statusDeferral`).
    public var statusSettle: Double
    /// Runs `spec.analysis` queries (the executable passes libcurl's); nil: analysis measurements
    /// are all inconclusive, so no analysis ever passes without it.
    public var prometheus: (any PrometheusQuerying)?

    public init(watchNamespace: String? = nil, maxConcurrentReconciles: Int = 8, resyncPeriod: Double = 600, conflictRecheckPeriod: Double = 30,
                statusSettle: Double = PynomalyDeploymentReconciler.defaultStatusSettle, prometheus: (any PrometheusQuerying)? = nil) {
        self.watchNamespace = watchNamespace
        self.maxConcurrentReconciles = maxConcurrentReconciles
        self.resyncPeriod = resyncPeriod
        self.conflictRecheckPeriod = conflictRecheckPeriod
        self.statusSettle = statusSettle
        self.prometheus = prometheus
    }
}

/// Wires the operator's controllers into a manager: the informers they read from (owned kinds in
/// full when managed-by labelled and as stubs otherwise, Secrets as metadata only), the event
/// recorder, and the controllers themselves.
public enum OperatorSetup {
    /// How a user installs the operator's CRDs; named when the API server does not serve one of
    /// its kinds (`ManagerOptions.crdHint`).
    public static let crdHint = "kubectl apply -f crds/"

    /// What `register` wired, for tests and benchmarks to observe.
    public struct Registered: Sendable {
        public let controller: Controller
        public let events: EventRecorder
        public let restoreController: Controller
        /// The informers the reconcilers read from.
        public let caches: OperatorCaches
    }

    @discardableResult
    public static func register(on manager: Manager, configuration: OperatorConfiguration,
                                hooks: (any ReconcileHooks)? = nil) -> Registered {
        let namespace = configuration.watchNamespace
        // Indexed by what each CR references, computed once per CR change: a Secret or ConfigMap event
        // then finds its CRs by lookup instead of decoding every CR (which grew with CRs × events).
        let primary = manager.informer(for: .pynomalyDeployments, options: InformerOptions(
            namespace: namespace, indexes: [.controllerOwnerUID, ReferencedObjects.index]))
        // Every object of the kinds the operator creates: its own in full, anyone else's as a stub
        // (name, uid, ownerReferences), so a missing name is known missing without a GET per create.
        let ownedOptions = InformerOptions(
            namespace: namespace, transform: .fullWhenLabelled(labelKey: PynomalyLabels.managedByKey, labelValue: PynomalyLabels.managerName),
            indexes: [.controllerOwnerUID, .label(PynomalyLabels.instanceKey)])
        let owned = OwnedKinds.all.map { kind in
            var options = ownedOptions
            // A revision's template (`data`) is read only when a rollback deploys it, by a GET then;
            // kept, it would hold up to revisionHistoryLimit pod templates per CR.
            if kind == .controllerRevisions {
                options.transform = .fullWhenLabelled(labelKey: PynomalyLabels.managedByKey, labelValue: PynomalyLabels.managerName, omitting: ["data"])
            }
            // Every pass reads its Deployment's rollout state; the pod template and the revision's
            // copy are most of a Deployment's text and are read only when the children are compared.
            if kind == .deployments { options.view = CacheView(PynomalyDeploymentReconciler.rolloutFields) }
            return manager.informer(for: kind, options: options)
        }
        let ownedByResource = Dictionary(uniqueKeysWithValues: zip(OwnedKinds.all.map(\.resource), owned))
        // Secrets a spec may reference, listed and watched as metadata only: their data never reaches
        // the operator, yet a new resourceVersion of a referenced one is noticed (the pass then GETs
        // that one object to hash it). Referenced ConfigMaps are seen through the owned ConfigMap
        // informer, which keeps anyone else's ConfigMap as a stub with its resourceVersion: one
        // informer per kind, one list and one watch.
        let secrets = manager.informer(for: .secrets, options: InformerOptions(
            namespace: namespace, transform: .stripManagedFields, indexes: [], watcher: WatcherConfiguration(metadataOnly: true)))
        // (The manager hands out one informer per kind and options: this is the owned one.)
        let configMaps = manager.informer(for: .configMaps, options: ownedOptions)
        let recorder = EventRecorder(client: manager.client, configuration: EventRecorderConfiguration(component: "pynomaly-operator"))
        manager.addRunnable { await recorder.run() }
        manager.metrics.eventRecorder(recorder)
        // Only the restore controller needs restores: an operator upgraded without its new CRDs
        // (Helm does not upgrade CRDs) still runs PynomalyDeployments, and stays ready, while the
        // API server answers 404 for them (see `RestoresAvailability`).
        let restores = manager.informer(for: .pynomalyRestores, options: InformerOptions(namespace: namespace, kindMayBeAbsent: true))
        let caches = OperatorCaches(primary: primary, ownedInformers: ownedByResource, secrets: secrets, configMaps: configMaps, restores: restores)
        let options = ControllerOptions(maxConcurrentReconciles: configuration.maxConcurrentReconciles, resyncPeriod: configuration.resyncPeriod)

        let reconciler = PynomalyDeploymentReconciler(client: manager.client, caches: caches, events: recorder,
                                                      discovery: MonitoringDiscovery.over(manager.client),
                                                      conflictRecheckPeriod: configuration.conflictRecheckPeriod, statusSettle: configuration.statusSettle,
                                                      prometheus: configuration.prometheus)
        let controller = manager.makeController(name: "pynomalydeployment", primary: primary, reconciler: reconciler, options: options, hooks: hooks)
        for informer in owned {
            controller.owns(informer)
            // Someone else's object under a child's name stalls its CR (ResourceConflict); its
            // deletion is what the CR waits for, so it queues the CR at once.
            controller.watchesDeletions(of: informer) { object in Self.deploymentsBlocked(byDeleted: object, in: primary.store) }
        }
        // Metadata-only Secrets arrive as kind PartialObjectMetadata: the informer says the kind.
        for (informer, kind) in [(secrets, "Secret"), (configMaps, "ConfigMap")] {
            controller.watches(informer) { object in Self.referencingDeployments(of: object, kind: kind, in: primary.store) }
        }
        // Scheduled backup Jobs are owned by their CronJob, not the CR: map them by the instance label.
        if let jobs = ownedByResource[ResourceType.jobs.resource] {
            controller.watches(jobs) { object in Self.deploymentOfBackupJob(object) }
        }
        // A restore's phase decides whether the deployment is held at zero. Not waited for at start:
        // the reconciler itself refuses to act while restores are unknown, unless they cannot exist
        // (the kind is not served), and every CR is looked at again once the informer syncs.
        controller.watches(restores, requiredForSync: false) { object in Self.targetDeployment(ofRestore: object) }

        let restoreReconciler = PynomalyRestoreReconciler(client: manager.client, caches: caches, events: recorder)
        let restoreController = manager.makeController(name: "pynomalyrestore", primary: restores, reconciler: restoreReconciler,
                                                       options: options, hooks: hooks)
        if let jobs = ownedByResource[ResourceType.jobs.resource] { restoreController.owns(jobs) }
        // The deployment's status (hold acknowledged, Ready again) and its Deployments' counts move the restore on.
        restoreController.watches(primary) { object in Self.restores(targeting: object, in: restores.store) }
        if let deployments = ownedByResource[ResourceType.deployments.resource] {
            restoreController.watches(deployments) { object in
                Controller.controllerOwnerKeys(of: object, ownerType: .pynomalyDeployments).flatMap { key in
                    Self.restores(targetingNamespace: key.namespace, name: key.name, in: restores.store)
                }
            }
        }
        return Registered(controller: controller, events: recorder, restoreController: restoreController, caches: caches)
    }
}

extension OperatorSetup {
    /// The PynomalyDeployments whose child name a deleted object that was not theirs may have held:
    /// every CR of the namespace whose name is the object's name or a prefix of it ending before a
    /// `-` (children are named `NAME` and `NAME-suffix`). Objects the operator manages are left to
    /// their owner reference.
    static func deploymentsBlocked(byDeleted object: JSONValue, in store: CacheStore) -> [ObjectKey] {
        guard !OperatorCaches.isOurs(object), let name = object[path: ["metadata", "name"]]?.stringValue else { return [] }
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        var candidates = [name]
        var rest = Substring(name)
        while let dash = rest.lastIndex(of: "-") {
            rest = rest[..<dash]
            candidates.append(String(rest))
        }
        return candidates.map { ObjectKey(namespace: namespace, name: $0) }.filter { store.contains($0) }
    }

    /// The PynomalyDeployments in the object's namespace whose pod template references it (through
    /// the primary cache's `ReferencedObjects.index`).
    static func referencingDeployments(of object: JSONValue, kind: String, in store: CacheStore) -> [ObjectKey] {
        guard let name = object[path: ["metadata", "name"]]?.stringValue else { return [] }
        let value = ReferencedObjects.indexValue(kind: kind, namespace: object[path: ["metadata", "namespace"]]?.stringValue ?? "", name: name)
        return (try? store.keys(index: ReferencedObjects.index.name, value: value)) ?? []
    }
}

extension OperatorSetup {
    /// The PynomalyDeployment a backup Job belongs to (scheduled ones are owned by the CronJob).
    static func deploymentOfBackupJob(_ object: JSONValue) -> [ObjectKey] {
        let labels = object[path: ["metadata", "labels"]]
        guard labels?[PynomalyLabels.componentKey]?.stringValue == BackupCronJobBuilder.component,
              let name = labels?[PynomalyLabels.instanceKey]?.stringValue else { return [] }
        return [ObjectKey(namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: name)]
    }

    /// The PynomalyDeployment a PynomalyRestore restores.
    static func targetDeployment(ofRestore object: JSONValue) -> [ObjectKey] {
        guard let name = object[path: ["spec", "deploymentName"]]?.stringValue else { return [] }
        return [ObjectKey(namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: name)]
    }

    /// The PynomalyRestores of a PynomalyDeployment.
    static func restores(targeting deployment: JSONValue, in store: CacheStore) -> [ObjectKey] {
        guard let name = deployment[path: ["metadata", "name"]]?.stringValue else { return [] }
        return restores(targetingNamespace: deployment[path: ["metadata", "namespace"]]?.stringValue, name: name, in: store)
    }

    static func restores(targetingNamespace namespace: String?, name: String, in store: CacheStore) -> [ObjectKey] {
        store.list(namespace: namespace).filter { $0[path: ["spec", "deploymentName"]]?.stringValue == name }.compactMap { ObjectKey(object: $0) }
    }
}

/// The kinds the PynomalyDeployment controller creates (its own objects by the managed-by label).
public enum OwnedKinds {
    public static let all: [ResourceType] = [
        .configMaps, .deployments, .services, .ingresses, .horizontalPodAutoscalers, .podDisruptionBudgets, .controllerRevisions,
        // The app's own ServiceAccount (none when the spec names an existing one).
        .serviceAccounts,
        // Smoke-test, backup and restore Jobs (a finished Job triggers a pass).
        .jobs,
        // Backup and maintenance schedules; the backup claim (labelled, never owned: it outlives the CR).
        .cronJobs, .persistentVolumeClaims,
    ]
}
