import Foundation
import KubeCore

/// POST: a new object, with generateName, admission (a Pod's ServiceAccount and token volume) and a
/// Service's ClusterIP.
extension APIServerCore {
    func create(_ req: APIRequest, _ t: Target, user: UserInfo) throws -> APIResponse {
        let opts = try writeOptions(req, optionsKind: "CreateOptions")
        var obj = try decodeBody(req, kindForErrors: t.info.kind)
        try checkKind(obj, t.info)
        let (result, warnings) = try createObject(obj: &obj, t: t, opts: opts, user: user)
        return .json(201, present(result, t.info), warnings: warnings)
    }

    /// The create pipeline, shared by POST and by server-side apply on a missing object.
    func createObject(obj: inout JSONValue, t: Target, opts: WriteOptions, user: UserInfo, applied: Bool = false) throws -> (JSONValue, [String]) {
        let info = t.info
        guard case .object = obj else { throw APIError.badRequest("the object provided is unrecognized (must be of type \(info.kind))") }
        if info.namespaced {
            let bodyNS = obj[path: ["metadata", "namespace"]]?.stringValue ?? ""
            if !bodyNS.isEmpty, bodyNS != t.namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            obj[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string)
        } else {
            obj[path: ["metadata", "namespace"]] = nil
        }
        var name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        if name.isEmpty, let gen = obj[path: ["metadata", "generateName"]]?.stringValue, !gen.isEmpty {
            name = gen + Self.randomSuffix()
            obj[path: ["metadata", "name"]] = .string(name)
        }
        if name.isEmpty {
            throw APIError.invalid(kind: info.kind, group: info.group, name: "", causes: [
                StatusCause(reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name")])
        }
        // Server-owned metadata is never taken from the client.
        for key in ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            obj[path: ["metadata", key]] = nil
        }
        if !applied { obj[path: ["metadata", "managedFields"]] = nil }
        if info.hasStatus, info.kind != "Namespace", info.kind != "CustomResourceDefinition" { obj["status"] = nil }

        var warnings: [String] = []
        try normalize(&obj, info: info, opts: opts, warnings: &warnings, applied: applied)
        try validate(obj, old: nil, info: info)
        if applied, let name = obj[path: ["metadata", "name"]]?.stringValue { try authorizeApplyCreate(user: user, t: t, name: name) }

        // Namespace checks come after validation, as in the real admission chain.
        if info.namespaced, let ns = t.namespace {
            let nsObj = state.withLock { $0.store.get("/namespaces", namespace: nil, name: ns) }
            guard let nsObj else {
                throw APIError(code: 404, reason: StatusReason.notFound, message: "namespaces \"\(ns)\" not found",
                               details: APIError.details(name: ns, kind: "namespaces"))
            }
            if nsObj[path: ["metadata", "deletionTimestamp"]] != nil {
                throw APIError(code: 403, reason: StatusReason.forbidden,
                               message: "\(info.groupResource) \"\(name)\" is forbidden: unable to create new content in namespace \(ns) because it is being terminated",
                               details: APIError.details(name: name, group: info.group, kind: info.resource, causes: [
                                   StatusCause(reason: "NamespaceTerminating", message: "namespace \(ns) is being terminated", field: "metadata.namespace")]))
            }
        }

        try admitOwnerReferences(new: obj, old: nil, t: t, user: user)
        if info.group.isEmpty, info.kind == "Pod", let ns = t.namespace { try admitPod(&obj, namespace: ns) }
        let now = Time.now()
        obj[path: ["metadata", "uid"]] = .string(UUID().uuidString.lowercased())
        obj[path: ["metadata", "creationTimestamp"]] = .string(now)
        if info.generation != .none { obj[path: ["metadata", "generation"]] = 1 }
        if !applied {
            obj = FieldManager.recordUpdate(old: nil, new: obj, manager: opts.manager, subresource: nil, time: now, schema: schema(for: info))
        }
        if !info.isCustom { BuiltinDefaults.applyAfterFieldManager(to: &obj, info: info) }
        if info.group.isEmpty, info.kind == "Pod" { mountServiceAccountToken(&obj, namespace: t.namespace) }
        obj["apiVersion"] = .string(info.apiVersion)
        obj["kind"] = .string(info.kind)

        let storage = info.storageKey
        let result: JSONValue = try state.withLock { st in
            if st.store.get(storage, namespace: t.namespace, name: name) != nil { throw APIError.alreadyExists(info, name) }
            if info.kind == "Service" { Self.allocateClusterIP(&obj, &st, reserve: !opts.dryRun) }
            if opts.dryRun { return obj }
            let stored = st.store.put(storage, info: info, object: EventConversion.storable(obj, info))
            if info.kind == "Namespace", options.controllerManagerEnabled { Self.ensureDefaultServiceAccount(namespace: name, st: &st) }
            if info.kind == "CustomResourceDefinition" { _ = establish(crd: stored, st: &st) }
            return EventConversion.view(stored, info)
        }
        if opts.dryRun { return (result, warnings) }
        // A dependent whose owner is already gone is collected, as the garbage collector would. The
        // owners are looked up by name first: a full collector pass after every create of a dependent
        // (every simulated pod) made large tests spend their time scanning the store under the lock.
        if result[path: ["metadata", "ownerReferences"]] != nil, hasMissingOwner(result) { scheduleGC() }
        if info.kind == "CustomResourceDefinition" {
            if let established = state.withLock({ $0.store.get(storage, namespace: nil, name: name) }) { schemas?.register(crd: established) }
            // The create answer shows the CRD before the apiextensions controller touched it (fixture 19).
            var answer = result
            answer["status"] = ["acceptedNames": ["kind": "", "plural": ""], "conditions": .null,
                                "storedVersions": .array(Self.storageVersions(result))]
            return (answer, warnings)
        }
        return (result, warnings)
    }

    /// The ServiceAccount admission plugin: the Pod's ServiceAccount must exist, and its token is
    /// mounted through a projected `kube-api-access-xxxxx` volume.
    func admitPod(_ obj: inout JSONValue, namespace: String) throws {
        let name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        let sa = obj[path: ["spec", "serviceAccountName"]]?.stringValue ?? obj[path: ["spec", "serviceAccount"]]?.stringValue ?? "default"
        let exists = state.withLock { $0.store.get("/serviceaccounts", namespace: namespace, name: sa) } != nil
        guard exists else {
            throw APIError(code: 403, reason: StatusReason.forbidden,
                           message: "pods \"\(name)\" is forbidden: error looking up service account \(namespace)/\(sa): serviceaccount \"\(sa)\" not found",
                           details: APIError.details(name: name, kind: "pods"))
        }
    }

    /// The token volume the ServiceAccount admission plugin adds (after the field manager ran),
    /// unless the Pod says `automountServiceAccountToken: false`, or says nothing and its
    /// ServiceAccount says false.
    func mountServiceAccountToken(_ obj: inout JSONValue, namespace: String?) {
        if let podSays = obj[path: ["spec", "automountServiceAccountToken"]]?.boolValue {
            if !podSays { return }
        } else {
            let sa = obj[path: ["spec", "serviceAccountName"]]?.stringValue ?? obj[path: ["spec", "serviceAccount"]]?.stringValue ?? "default"
            let account = state.withLock { $0.store.get("/serviceaccounts", namespace: namespace, name: sa) }
            if account?["automountServiceAccountToken"]?.boolValue == false { return }
        }
        let volumeName = "kube-api-access-" + String(Self.randomSuffix())
        let volume: JSONValue = ["name": .string(volumeName), "projected": [
            "sources": [
                ["serviceAccountToken": ["expirationSeconds": 3607, "path": "token"]],
                ["configMap": ["name": "kube-root-ca.crt", "items": [["key": "ca.crt", "path": "ca.crt"]]]],
                ["downwardAPI": ["items": [["path": "namespace", "fieldRef": ["apiVersion": "v1", "fieldPath": "metadata.namespace"]]]]],
            ],
            "defaultMode": 420,
        ]]
        obj[path: ["spec", "volumes"]] = .array((obj[path: ["spec", "volumes"]]?.arrayValue ?? []) + [volume])
        let mount: JSONValue = ["name": .string(volumeName), "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"]
        for key in ["containers", "initContainers"] {
            guard var list = obj[path: ["spec", key]]?.arrayValue else { continue }
            for i in list.indices { list[i]["volumeMounts"] = .array((list[i]["volumeMounts"]?.arrayValue ?? []) + [mount]) }
            obj[path: ["spec", key]] = .array(list)
        }
    }

    static func randomSuffix() -> String {
        let chars = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in chars[Int.random(in: 0..<chars.count)] })
    }



    /// Allocates a ClusterIP from 10.96.0.0/16 unless the Service is headless or brought its own.
    /// A dry run answers the address a create would get without taking it, as kube-apiserver's
    /// dry-run allocator does: the next real create gets the same one.
    static func allocateClusterIP(_ obj: inout JSONValue, _ st: inout ServerState, reserve: Bool = true) {
        let type = obj[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
        if type == "ExternalName" { return }
        if let ip = obj[path: ["spec", "clusterIP"]]?.stringValue, !ip.isEmpty {
            obj[path: ["spec", "clusterIPs"]] = [.string(ip)]
            return
        }
        var n = st.nextIP
        while st.allocatedIPs.contains(n) { n = n % 65_000 + 1 }
        if reserve {
            st.allocatedIPs.insert(n)
            st.nextIP = n + 1
        }
        let ip = "10.96.\(n >> 8).\(n & 0xFF)"
        obj[path: ["spec", "clusterIP"]] = .string(ip)
        obj[path: ["spec", "clusterIPs"]] = [.string(ip)]
    }
}
