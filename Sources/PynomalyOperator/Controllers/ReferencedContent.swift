import KubeCore
import KubeRuntime

/// The Secrets and ConfigMaps a pod template reads (env `secretKeyRef`/`configMapKeyRef`, `envFrom`),
/// except the operator's own ConfigMap, whose content is hashed separately.
public struct ReferencedObjects: Sendable, Hashable {
    public var secrets: Set<String> = []
    public var configMaps: Set<String> = []

    public init(secrets: Set<String> = [], configMaps: Set<String> = []) {
        self.secrets = secrets
        self.configMaps = configMaps
    }

    public init(template: PodTemplateSpec, ownConfigMap: String) {
        for container in template.spec?.containers ?? [] {
            for env in container.env ?? [] {
                if let name = env.valueFrom?.secretKeyRef?.name { secrets.insert(name) }
                if let name = env.valueFrom?.configMapKeyRef?.name, name != ownConfigMap { configMaps.insert(name) }
            }
            for source in container.envFrom ?? [] {
                if let name = source.secretRef?.name { secrets.insert(name) }
                if let name = source.configMapRef?.name, name != ownConfigMap { configMaps.insert(name) }
            }
        }
    }

    public var isEmpty: Bool { secrets.isEmpty && configMaps.isEmpty }

    /// A cache index of PynomalyDeployments by the Secrets and ConfigMaps their pod template
    /// references (`indexValue`), so a change to one finds its CRs without decoding them all.
    public static let index = CacheIndex(name: "referenced-objects") { raw in
        guard let cr = try? raw.decode(PynomalyDeployment.self) else { return [] }
        let ctx = BuildContext(cr: cr)
        let references = ReferencedObjects(template: PodTemplateBuilder.build(ctx, configHash: ""), ownConfigMap: ctx.configMapName)
        return references.secrets.map { indexValue(kind: "Secret", namespace: ctx.namespace, name: $0) }
            + references.configMaps.map { indexValue(kind: "ConfigMap", namespace: ctx.namespace, name: $0) }
    }

    /// `KIND/NAMESPACE/NAME`, the value of `index`.
    public static func indexValue(kind: String, namespace: String, name: String) -> String { "\(kind)/\(namespace)/\(name)" }

    /// Whether this set names `kind`/`name` (kind: `Secret` or `ConfigMap`).
    public func contains(kind: String, name: String) -> Bool {
        kind == "Secret" ? secrets.contains(name) : configMaps.contains(name)
    }

    /// A hash over the content of every referenced object, from `contentHash(kind, name)` (the
    /// metadata-only cache's hash; nil when the object does not exist), and the missing ones.
    public func contentHash(_ contentHash: (_ kind: String, _ name: String) -> String?) -> (hash: String, missing: [String]) {
        var parts: [JSONValue] = []
        var missing: [String] = []
        for (kind, names) in [("Secret", secrets), ("ConfigMap", configMaps)] {
            for name in names.sorted() {
                guard let hash = contentHash(kind, name) else {
                    missing.append("\(kind) \(name)")
                    continue
                }
                parts.append(.string("\(kind)/\(name)=\(hash)"))
            }
        }
        if parts.isEmpty { return ("", missing) }
        return (String(StableHash.hex(of: .array(parts)).prefix(16)), missing)
    }
}
