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

    public init(watchNamespace: String? = nil, maxConcurrentReconciles: Int = 4, resyncPeriod: Double = 600) {
        self.watchNamespace = watchNamespace
        self.maxConcurrentReconciles = maxConcurrentReconciles
        self.resyncPeriod = resyncPeriod
    }
}

/// Wires the operator's controllers into a manager: the informers they read from (owned kinds
/// filtered by the managed-by label, referenced Secrets/ConfigMaps as metadata only), the event
/// recorder, and the controllers themselves.
public enum OperatorSetup {
    /// What `register` wired, for tests and benchmarks to observe.
    public struct Registered: Sendable {
        public let controller: Controller
        public let events: EventRecorder
    }

    @discardableResult
    public static func register(on manager: Manager, configuration: OperatorConfiguration,
                                hooks: (any ReconcileHooks)? = nil) -> Registered {
        let namespace = configuration.watchNamespace
        let primary = manager.informer(for: .pynomalyDeployments, options: InformerOptions(namespace: namespace))
        let owned = OwnedKinds.all.map { kind in
            manager.informer(for: kind, options: InformerOptions(namespace: namespace, labelSelector: InformerOptions.managedBySelector))
        }
        // Secrets and ConfigMaps a spec may reference: metadata and a content hash only, so no secret
        // data is ever held, yet a rotated password is noticed.
        let referenced = InformerOptions(namespace: namespace, transform: .metadataOnly, indexes: [])
        let secrets = manager.informer(for: .secrets, options: referenced)
        let configMaps = manager.informer(for: .configMaps, options: referenced)
        let recorder = EventRecorder(client: manager.client, configuration: EventRecorderConfiguration(component: "pynomaly-operator"))
        manager.addRunnable { await recorder.run() }
        let caches = OperatorCaches(primary: primary, owned: Dictionary(uniqueKeysWithValues: zip(OwnedKinds.all.map(\.resource), owned)),
                                    secrets: secrets, configMaps: configMaps)
        let reconciler = PynomalyDeploymentReconciler(client: manager.client, caches: caches, events: recorder)
        let controller = manager.makeController(
            name: "pynomalydeployment", primary: primary, reconciler: reconciler,
            options: ControllerOptions(maxConcurrentReconciles: configuration.maxConcurrentReconciles, resyncPeriod: configuration.resyncPeriod),
            hooks: hooks)
        for informer in owned { controller.owns(informer) }
        for informer in [secrets, configMaps] {
            controller.watches(informer) { object in Self.referencingDeployments(of: object, in: primary.store) }
        }
        return Registered(controller: controller, events: recorder)
    }
}

extension OperatorSetup {
    /// The PynomalyDeployments in the object's namespace whose pod template references it.
    static func referencingDeployments(of object: JSONValue, in store: CacheStore) -> [ObjectKey] {
        guard let kind = object["kind"]?.stringValue, let name = object[path: ["metadata", "name"]]?.stringValue else { return [] }
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        return store.list(namespace: namespace).compactMap { raw -> ObjectKey? in
            guard let cr = try? raw.decode(PynomalyDeployment.self) else { return nil }
            let ctx = BuildContext(cr: cr)
            let template = PodTemplateBuilder.build(ctx, configHash: "")
            guard ReferencedObjects(template: template, ownConfigMap: ctx.configMapName).contains(kind: kind, name: name) else { return nil }
            return ObjectKey(object: raw)
        }
    }
}

/// The kinds the PynomalyDeployment controller creates (watched by the managed-by label).
public enum OwnedKinds {
    public static let all: [ResourceType] = [
        .configMaps, .deployments, .services, .ingresses, .horizontalPodAutoscalers, .podDisruptionBudgets, .controllerRevisions,
        // Blue-green smoke-test Jobs (the state machine reads their outcome; a finished Job triggers a pass).
        .jobs,
    ]
}
