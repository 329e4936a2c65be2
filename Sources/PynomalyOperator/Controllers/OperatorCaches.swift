import KubeCore
import KubeRuntime

/// The caches the PynomalyDeployment reconciler reads from: the CRs, the objects of the kinds it
/// creates (its own, managed-by labelled, in full; anyone else's as a name-sized stub, so memory
/// follows what the operator owns plus a small cost per foreign object), and Secrets as metadata
/// only, listed and watched as `PartialObjectMetadata` so their data never reaches the operator.
/// `configMaps` is the owned ConfigMap informer: a referenced ConfigMap is someone else's stub there,
/// with the resourceVersion that says when it changed. The content hash of a referenced object
/// comes from one GET per version (`contentHashes`).
public struct OperatorCaches: Sendable {
    public let primary: Informer
    /// The informers of the owned kinds, by resource name (`deployments`, …).
    public let ownedInformers: [String: Informer]
    public let secrets: Informer
    public let configMaps: Informer
    /// PynomalyRestores: a running one holds its deployment at zero replicas.
    public let restores: Informer?
    /// Content hashes of the referenced Secrets/ConfigMaps, computed from one GET per version.
    public let contentHashes = ReferencedContentHashes()
    /// The TLS Secrets' certificates as read once per version (validity and names, no bytes).
    public let certificates = CertificateReads()
    /// Templates of the revisions passes deploy from a ControllerRevision (the cache keeps none).
    public let revisionTemplates = RevisionTemplates()
    /// What earlier passes found from inputs that have not changed (see `PassMemo`).
    public let passMemo = PassMemo()

    public init(primary: Informer, ownedInformers: [String: Informer], secrets: Informer, configMaps: Informer, restores: Informer? = nil) {
        self.primary = primary
        self.ownedInformers = ownedInformers
        self.secrets = secrets
        self.configMaps = configMaps
        self.restores = restores
    }

    /// What the restores cache can say (see `RestoresAvailability`).
    public var restoresAvailability: RestoresAvailability {
        guard let restores else { return .known }
        if restores.hasSynced { return .known }
        if let failure = restores.lastListError {
            return failure.isNotServed ? .notServed(failure.description) : .unknown(failure.description)
        }
        return .unknown("the first list of \(restores.resource.groupResource) has not finished")
    }

    /// What a write of an owned object is based on (see `Informer.writeBasis`); read it just before
    /// the request. Nil when the kind has no informer.
    public func writeBasis(_ resource: ResourceType, namespace: String?, name: String) -> WriteBasis? {
        ownedInformers[resource.resource]?.writeBasis(namespace: namespace, name: name)
    }

    /// Read-your-writes for an owned kind: the answer of the operator's own write, cached at once
    /// unless the watch may be past it (see `Informer.storeWritten`).
    public func storeWritten(_ resource: ResourceType, _ answer: JSONValue, basis: WriteBasis?) {
        guard let basis else { return }
        ownedInformers[resource.resource]?.storeWritten(answer, basis: basis)
    }

    /// Whether a synced, unfiltered cache of `resource` holds no object of that name, so nothing of
    /// that name exists, ours or anyone's, and a create needs no GET first to rule out someone
    /// else's object. The owned informers watch every object of their kind (someone else's as a
    /// stub, see `ObjectTransform.fullWhenLabelled`).
    public func knownAbsent(_ resource: ResourceType, namespace: String, name: String) -> Bool {
        for informer in [ownedInformers[resource.resource]].compactMap({ $0 }) where informer.resource.group == resource.group && informer.options.labelSelector == nil
            && informer.options.fieldSelector == nil && (informer.options.namespace == nil || informer.options.namespace == namespace)
            && informer.hasSynced {
            return !informer.store.contains(ObjectKey(namespace: namespace, name: name))
        }
        return false
    }

    /// The cached object of `resource` the operator created (labelled managed-by), if the informer
    /// has it; someone else's object of that name is not returned (see `knownAbsent`).
    public func owned(_ resource: ResourceType, namespace: String, name: String) -> JSONValue? {
        ownedInformers[resource.resource]?.store.get(namespace: namespace, name: name).flatMap { Self.isOurs($0) ? $0 : nil }
    }

    /// The operator's Deployment under this name as `PynomalyDeploymentReconciler.rolloutFields`
    /// makes it: from the cache's view of it when the cache keeps one (nothing else parsed).
    public func ownedRolloutFields(namespace: String, name: String) -> JSONValue? {
        guard let store = ownedInformers[ResourceType.deployments.resource]?.store else { return nil }
        guard store.keepsView else { return owned(.deployments, namespace: namespace, name: name).map(PynomalyDeploymentReconciler.rolloutFields) }
        return store.view(ObjectKey(namespace: namespace, name: name)).flatMap { Self.isOurs($0) ? $0 : nil }
    }

    /// The resourceVersion of the cached object of `resource` under this name, ours or not (nothing
    /// parsed); nil when the cache holds none.
    public func cachedResourceVersion(_ resource: ResourceType, namespace: String, name: String) -> String? {
        ownedInformers[resource.resource]?.store.resourceVersion(ObjectKey(namespace: namespace, name: name))
    }

    /// The `SpecStamp` of the cached object of `resource` under this name, ours or not (nothing
    /// parsed); nil when the cache holds none.
    public func specStamp(_ resource: ResourceType, namespace: String, name: String) -> SpecStamp? {
        ownedInformers[resource.resource]?.store.specStamp(ObjectKey(namespace: namespace, name: name))
    }

    static func isOurs(_ object: JSONValue) -> Bool {
        object[path: ["metadata", "labels", PynomalyLabels.managedByKey]]?.stringValue == PynomalyLabels.managerName
    }

    /// Every cached object of `resource` controlled by the CR with `uid`.
    public func ownedObjects(_ resource: ResourceType, controlledBy uid: String) -> [JSONValue] {
        guard let store = ownedInformers[resource.resource]?.store else { return [] }
        return ((try? store.byIndex(CacheIndex.controllerOwnerUID.name, value: uid)) ?? []).filter(Self.isOurs)
    }
}

/// Whether the PynomalyDeployment reconciler knows which PynomalyRestores exist. A running restore
/// holds its deployment at zero replicas, so a pass that took an unsynced, empty cache for "no
/// restores" could scale an app up in the middle of a restore (after an operator restart).
public enum RestoresAvailability: Sendable, Hashable {
    /// The cache is synced (or the reconciler runs without a restore informer): read it.
    case known
    /// The API server answered the last LIST with 404: the kind is not served (its CRD is not
    /// installed), so no PynomalyRestore can exist. The pass runs as if there were none.
    case notServed(String)
    /// Not synced for any other reason (first list in flight, 403, API server failing): restores may
    /// exist. The pass changes nothing and looks again shortly.
    case unknown(String)
}
