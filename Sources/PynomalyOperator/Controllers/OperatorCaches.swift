import KubeCore
import KubeRuntime

/// The caches the PynomalyDeployment reconciler reads from: the CRs, the objects it owns (watched
/// by the managed-by label, so memory follows what the operator owns), and Secrets/ConfigMaps as
/// metadata plus a content hash only (to notice a rotated password without keeping any secret data).
public struct OperatorCaches: Sendable {
    public let primary: Informer
    public let owned: [String: Informer]
    public let secrets: Informer
    public let configMaps: Informer
    /// PynomalyRestores: a running one holds its deployment at zero replicas.
    public let restores: Informer?

    public init(primary: Informer, owned: [String: Informer], secrets: Informer, configMaps: Informer, restores: Informer? = nil) {
        self.primary = primary
        self.owned = owned
        self.secrets = secrets
        self.configMaps = configMaps
        self.restores = restores
    }

    /// Read-your-writes for an owned kind: the answer of the operator's own write, cached at once
    /// unless the watch already moved past `basedOn` (see `Informer.storeWritten`).
    public func storeWritten(_ resource: ResourceType, _ answer: JSONValue, basedOn resourceVersion: String?) {
        owned[resource.resource]?.storeWritten(answer, basedOn: resourceVersion)
    }

    /// Whether an unfiltered cache of `resource` (today: ConfigMaps, watched as metadata for the
    /// references) has synced and holds no object of that name: then nothing of that name exists,
    /// ours or anyone's, and a create needs no GET first to rule out someone else's object.
    public func knownAbsent(_ resource: ResourceType, namespace: String, name: String) -> Bool {
        guard resource.resource == configMaps.resource.resource, resource.group == configMaps.resource.group,
              configMaps.options.labelSelector == nil, configMaps.options.fieldSelector == nil,
              configMaps.options.namespace == nil || configMaps.options.namespace == namespace,
              configMaps.hasSynced else { return false }
        return configMaps.store.get(namespace: namespace, name: name) == nil
    }

    /// The cached owned object of `resource`, if the informer has it.
    public func owned(_ resource: ResourceType, namespace: String, name: String) -> JSONValue? {
        owned[resource.resource]?.store.get(namespace: namespace, name: name)
    }

    /// Every cached object of `resource` controlled by the CR with `uid`.
    public func ownedObjects(_ resource: ResourceType, controlledBy uid: String) -> [JSONValue] {
        guard let store = owned[resource.resource]?.store else { return [] }
        return (try? store.byIndex(CacheIndex.controllerOwnerUID.name, value: uid)) ?? []
    }
}
