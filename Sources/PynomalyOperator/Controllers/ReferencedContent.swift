import KubeCore
import KubeRuntime

/// The Secrets and ConfigMaps a pod template reads (env `secretKeyRef`/`configMapKeyRef`, `envFrom`),
/// except the operator's own ConfigMap, whose content is hashed separately.
public struct ReferencedObjects: Sendable, Hashable {
    public var secrets: Set<String> = []
    public var configMaps: Set<String> = []
    /// `KIND/NAME` of the objects every reference marks `optional: true`: the kubelet starts pods
    /// without them, so their absence never blocks a rollout (their creation still rolls the pods).
    public var optional: Set<String> = []

    public init(secrets: Set<String> = [], configMaps: Set<String> = [], optional: Set<String> = []) {
        self.secrets = secrets
        self.configMaps = configMaps
        self.optional = optional
    }

    /// What the pod template built from `ctx` references, without building it: its one container's
    /// environment is `PodTemplateBuilder.environment`, and its `envFrom` is the CR's own ConfigMap.
    public init(_ ctx: BuildContext) {
        var app = Container(name: PodTemplateBuilder.containerName)
        app.env = PodTemplateBuilder.environment(ctx.spec)
        self.init(containers: [app], ownConfigMap: ctx.configMapName)
    }

    public init(template: PodTemplateSpec, ownConfigMap: String) {
        self.init(containers: template.spec?.containers ?? [], ownConfigMap: ownConfigMap)
    }

    init(containers: [Container], ownConfigMap: String) {
        var required: Set<String> = []
        var optionalOnes: Set<String> = []
        func note(_ kind: String, _ name: String, optional: Bool?) {
            if optional == true { optionalOnes.insert("\(kind)/\(name)") } else { required.insert("\(kind)/\(name)") }
        }
        for container in containers {
            for env in container.env ?? [] {
                if let ref = env.valueFrom?.secretKeyRef, let name = ref.name {
                    secrets.insert(name)
                    note("Secret", name, optional: ref.optional)
                }
                if let ref = env.valueFrom?.configMapKeyRef, let name = ref.name, name != ownConfigMap {
                    configMaps.insert(name)
                    note("ConfigMap", name, optional: ref.optional)
                }
            }
            for source in container.envFrom ?? [] {
                if let ref = source.secretRef, let name = ref.name {
                    secrets.insert(name)
                    note("Secret", name, optional: ref.optional)
                }
                if let ref = source.configMapRef, let name = ref.name, name != ownConfigMap {
                    configMaps.insert(name)
                    note("ConfigMap", name, optional: ref.optional)
                }
            }
        }
        optional = optionalOnes.subtracting(required)
    }

    public var isEmpty: Bool { secrets.isEmpty && configMaps.isEmpty }

    /// A cache index of PynomalyDeployments by the Secrets and ConfigMaps their pod template
    /// references (`indexValue`), so a change to one finds its CRs without decoding them all.
    /// It reads the name, labels, annotations and spec, never the status, so a status write
    /// re-indexes nothing.
    public static let index = CacheIndex(name: "referenced-objects", dependsOn: [
        ["metadata", "name"], ["metadata", "namespace"], ["metadata", "labels"], ["metadata", "annotations"], ["spec"],
    ]) { raw in
        guard let cr = try? raw.decode(PynomalyDeployment.self) else { return [] }
        let ctx = BuildContext(cr: cr)
        let references = ReferencedObjects(ctx)
        return references.secrets.map { indexValue(kind: "Secret", namespace: ctx.namespace, name: $0) }
            + references.configMaps.map { indexValue(kind: "ConfigMap", namespace: ctx.namespace, name: $0) }
            // The Ingress's TLS Secret: a rotated certificate is judged again (CertificatePass.swift).
            + (ctx.spec.ingress?.tls.map { [indexValue(kind: "Secret", namespace: ctx.namespace, name: $0.secretName)] } ?? [])
    }

    /// `KIND/NAMESPACE/NAME`, the value of `index`.
    public static func indexValue(kind: String, namespace: String, name: String) -> String { "\(kind)/\(namespace)/\(name)" }

    /// Whether this set names `kind`/`name` (kind: `Secret` or `ConfigMap`).
    public func contains(kind: String, name: String) -> Bool {
        kind == "Secret" ? secrets.contains(name) : configMaps.contains(name)
    }

    /// A hash over the content of every referenced object, from `contentHash(kind, name)` (the
    /// metadata-only cache's hash; nil when the object does not exist), and the missing ones that
    /// block (an optional one that is missing only counts as absent in the hash).
    public func contentHash(_ contentHash: (_ kind: String, _ name: String) -> String?) -> (hash: String, missing: [String]) {
        var parts: [JSONValue] = []
        var missing: [String] = []
        for (kind, names) in [("Secret", secrets), ("ConfigMap", configMaps)] {
            for name in names.sorted() {
                guard let hash = contentHash(kind, name) else {
                    if optional.contains("\(kind)/\(name)") {
                        parts.append(.string("\(kind)/\(name)=absent"))
                    } else {
                        missing.append("\(kind) \(name)")
                    }
                    continue
                }
                parts.append(.string("\(kind)/\(name)=\(hash)"))
            }
        }
        if parts.isEmpty { return ("", missing) }
        return (String(StableHash.hex(of: .array(parts)).prefix(16)), missing)
    }
}
