import Foundation
import KubeCore

/// A value guarded by a lock; the engines' only shared mutable state (schema caches).
final class EngineLockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// The bundled OpenAPI v3 documents, parsed on first use and shared by every registry of the process
/// (they are 3.5 MB of JSON and never change).
final class BuiltinOpenAPIDocuments: Sendable {
    static let shared = BuiltinOpenAPIDocuments()

    /// Parsed documents by file stem ("apps-v1"); `.none` records a missing/unparsable file.
    private let cache = EngineLockedBox<[String: SchemaDocument?]>([:])

    /// The document serving `group/version` ("core-v1" for the legacy group), parsed once.
    func document(group: String, version: String) throws -> SchemaDocument? {
        let stem = group.isEmpty ? "core-\(version)" : "\(group)-\(version)"
        if let cached = cache.withLock({ $0[stem] }) { return cached }
        let doc = try load(stem: stem)
        cache.withLock { $0[stem] = .some(doc) }
        return doc
    }

    static func resourcesDirectory() -> URL? {
        Bundle.module.url(forResource: "Resources", withExtension: nil)?.appendingPathComponent("openapi-v3")
    }

    private func load(stem: String) throws -> SchemaDocument? {
        guard let dir = Self.resourcesDirectory() else {
            throw EngineError.internalError("bundled OpenAPI documents not found (Resources/openapi-v3)")
        }
        let url = dir.appendingPathComponent("\(stem).json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data = try Data(contentsOf: url)
        let json = try JSONValue(parsing: data)
        guard let components = json[path: ["components", "schemas"]]?.objectValue else {
            throw EngineError.internalError("OpenAPI document \(stem).json has no components.schemas")
        }
        return SchemaDocument(components: components.dictionary)
    }

    /// The component schema for a GVK in a document (by `x-kubernetes-group-version-kind`).
    func componentName(for kind: String, group: String, version: String, in doc: SchemaDocument) -> String? {
        for (name, schema) in doc.components {
            guard let gvks = schema["x-kubernetes-group-version-kind"]?.arrayValue else { continue }
            for g in gvks where g["kind"]?.stringValue == kind && (g["group"]?.stringValue ?? "") == group
                && g["version"]?.stringValue == version {
                return name
            }
        }
        return nil
    }
}

/// Structural schemas: built-in kinds from the recorded OpenAPI v3 documents (bundled under
/// Resources/openapi-v3, loaded lazily with Bundle.module), CRDs from their openAPIV3Schema.
/// Thread-safe: concurrent requests share one registry.
public final class SchemaRegistry: Sendable {
    private struct Key: Hashable { var group: String; var version: String; var kind: String }

    private let useBuiltins: Bool
    /// CRD schemas by group/version/kind (the kind is the CRD's `spec.names.kind`).
    private let crds = EngineLockedBox<[Key: SchemaNode]>([:])
    /// Resolved built-in schemas (nil = the GVK has no bundled schema).
    private let builtinCache = EngineLockedBox<[Key: SchemaNode?]>([:])

    /// An empty registry (CRDs only), e.g. for tests.
    public init() { useBuiltins = false }

    private init(builtins: Bool) { useBuiltins = builtins }

    /// A registry backed by the bundled OpenAPI documents (parsed lazily, once per process).
    public static func builtin() throws -> SchemaRegistry {
        guard BuiltinOpenAPIDocuments.resourcesDirectory() != nil else {
            throw EngineError.internalError("bundled OpenAPI documents not found (Resources/openapi-v3)")
        }
        return SchemaRegistry(builtins: true)
    }

    /// Registers a CustomResourceDefinition object (all its versions with a schema).
    public func register(crd: JSONValue) {
        guard let group = crd[path: ["spec", "group"]]?.stringValue,
              let kind = crd[path: ["spec", "names", "kind"]]?.stringValue else { return }
        let shared = crd[path: ["spec", "validation", "openAPIV3Schema"]]
        var entries = [Key: SchemaNode]()
        for version in crd[path: ["spec", "versions"]]?.arrayValue ?? [] {
            guard let name = version["name"]?.stringValue else { continue }
            guard let schema = version[path: ["schema", "openAPIV3Schema"]] ?? shared else { continue }
            var root = Self.withObjectMeta(schema)
            if let scale = version[path: ["subresources", "scale"]] ?? crd[path: ["spec", "subresources", "scale"]] {
                root["x-kubeserver-scale"] = scale
            }
            entries[Key(group: group, version: name, kind: kind)] = SchemaNode(root)
        }
        crds.withLock { map in
            for key in map.keys where key.group == group && key.kind == kind { map[key] = nil }
            map.merge(entries) { _, new in new }
        }
    }

    public func unregister(group: String, kind: String) {
        crds.withLock { map in
            for key in map.keys where key.group == group && key.kind == kind { map[key] = nil }
        }
    }

    /// The resolved schema of a kind, e.g. `schema(apiVersion: "apps/v1", kind: "Deployment")`.
    public func schema(apiVersion: String, kind: String) -> SchemaNode? {
        let (group, version) = Self.split(apiVersion)
        let key = Key(group: group, version: version, kind: kind)
        if let crd = crds.withLock({ $0[key] }) { return crd }
        guard useBuiltins else { return nil }
        if let cached = builtinCache.withLock({ $0[key] }) { return cached }
        var node: SchemaNode?
        if let doc = try? BuiltinOpenAPIDocuments.shared.document(group: group, version: version),
           let name = BuiltinOpenAPIDocuments.shared.componentName(for: kind, group: group, version: version, in: doc),
           let raw = doc.components[name]?.objectValue {
            node = SchemaNode(raw: raw, document: doc)
        } else if let synthetic = SyntheticSchemas.schema(group: group, version: version, kind: kind) {
            node = synthetic
        }
        builtinCache.withLock { $0[key] = .some(node) }
        return node
    }

    static func split(_ apiVersion: String) -> (group: String, version: String) {
        if let slash = apiVersion.firstIndex(of: "/") {
            return (String(apiVersion[..<slash]), String(apiVersion[apiVersion.index(after: slash)...]))
        }
        return ("", apiVersion)
    }

    /// A CRD schema as the apiserver treats it: apiVersion/kind/metadata are always known fields
    /// (metadata is validated and pruned by the server itself, never by the CRD schema).
    static func withObjectMeta(_ schema: JSONValue) -> JSONValue {
        var s = schema
        var props = s["properties"]?.objectValue ?? [:]
        if props["apiVersion"] == nil { props["apiVersion"] = ["type": "string"] }
        if props["kind"] == nil { props["kind"] = ["type": "string"] }
        props["metadata"] = SyntheticSchemas.objectMeta
        s["properties"] = .object(props)
        if s["type"] == nil { s["type"] = "object" }
        return s
    }
}

/// Schemas of kinds the bundled documents do not carry but the server serves (autoscaling/v1 Scale).
enum SyntheticSchemas {
    /// metav1.ObjectMeta as SSA sees it (granular label/annotation maps, finalizers as a set,
    /// ownerReferences keyed by uid). Marked so validation and pruning leave metadata to the server core.
    static let objectMeta: JSONValue = [
        "type": "object",
        "x-kubeserver-metadata": true,
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": [
            "name": ["type": "string"], "generateName": ["type": "string"], "namespace": ["type": "string"],
            "uid": ["type": "string"], "resourceVersion": ["type": "string"],
            "generation": ["type": "integer", "format": "int64"],
            "creationTimestamp": ["type": "string", "format": "date-time"],
            "deletionTimestamp": ["type": "string", "format": "date-time"],
            "deletionGracePeriodSeconds": ["type": "integer", "format": "int64"],
            "selfLink": ["type": "string"],
            "labels": ["type": "object", "additionalProperties": ["type": "string", "default": ""]],
            "annotations": ["type": "object", "additionalProperties": ["type": "string", "default": ""]],
            "finalizers": ["type": "array", "items": ["type": "string", "default": ""],
                           "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"],
            "ownerReferences": ["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"],
                                "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
                                "items": ["type": "object", "x-kubernetes-map-type": "atomic", "properties": [
                                    "apiVersion": ["type": "string"], "kind": ["type": "string"], "name": ["type": "string"],
                                    "uid": ["type": "string"], "controller": ["type": "boolean"],
                                    "blockOwnerDeletion": ["type": "boolean"]]]],
            "managedFields": ["type": "array", "x-kubernetes-list-type": "atomic", "items": ["type": "object"]],
        ],
    ]

    static func schema(group: String, version: String, kind: String) -> SchemaNode? {
        switch (group, version, kind) {
        case ("autoscaling", "v1", "Scale"):
            let meta = (try? BuiltinOpenAPIDocuments.shared.document(group: "", version: "v1")) ?? nil
            let scale: JSONValue = [
                "type": "object",
                "properties": [
                    "apiVersion": ["type": "string"],
                    "kind": ["type": "string"],
                    "metadata": ["default": [:], "allOf": [["$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]]],
                    "spec": ["type": "object", "default": [:], "properties": ["replicas": ["type": "integer", "format": "int32"]]],
                    "status": ["type": "object", "default": [:], "required": ["replicas"], "properties": [
                        "replicas": ["type": "integer", "format": "int32", "default": 0],
                        "selector": ["type": "string"],
                    ]],
                ],
            ]
            return SchemaNode(raw: scale.objectValue ?? [:], document: meta)
        case ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"):
            let core = (try? BuiltinOpenAPIDocuments.shared.document(group: "", version: "v1")) ?? nil
            return SchemaNode(raw: customResourceDefinition.objectValue ?? [:], document: core)
        default:
            return nil
        }
    }

    /// The shape of apiextensions.k8s.io/v1 CustomResourceDefinition that field ownership and unknown-field
    /// detection need (the document is not bundled): non-pointer structs carry `default: {}`, versions
    /// and names lists are atomic, status conditions are keyed by type; version entries are free-form.
    static let customResourceDefinition: JSONValue = {
        let names: JSONValue = ["type": "object", "default": [:], "properties": [
            "plural": ["type": "string"], "singular": ["type": "string"], "kind": ["type": "string"], "listKind": ["type": "string"],
            "shortNames": ["type": "array", "items": ["type": "string"], "x-kubernetes-list-type": "atomic"],
            "categories": ["type": "array", "items": ["type": "string"], "x-kubernetes-list-type": "atomic"],
        ]]
        return [
            "type": "object",
            "properties": [
                "apiVersion": ["type": "string"],
                "kind": ["type": "string"],
                "metadata": ["default": [:], "allOf": [["$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]]],
                "spec": ["type": "object", "default": [:], "required": ["group", "names", "scope", "versions"], "properties": [
                    "group": ["type": "string"],
                    "names": names,
                    "scope": ["type": "string"],
                    "versions": ["type": "array", "x-kubernetes-list-type": "atomic", "items": ["type": "object"]],
                    "conversion": ["type": "object", "properties": [
                        "strategy": ["type": "string"],
                        "webhook": ["type": "object"],
                    ]],
                    "preserveUnknownFields": ["type": "boolean"],
                ]],
                "status": ["type": "object", "default": [:], "properties": [
                    "conditions": ["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                                   "items": ["type": "object", "properties": [
                                       "type": ["type": "string"], "status": ["type": "string"], "lastTransitionTime": ["type": "string"],
                                       "reason": ["type": "string"], "message": ["type": "string"], "observedGeneration": ["type": "integer"],
                                   ]]],
                    "acceptedNames": names,
                    "storedVersions": ["type": "array", "items": ["type": "string"], "x-kubernetes-list-type": "atomic"],
                ]],
            ],
        ]
    }()
}
