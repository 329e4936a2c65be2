import Foundation
import KubeCore

/// POST, PUT, PATCH and the /status and /scale subresources. Every write goes
/// decode → (patch) → defaulting/pruning → validation → FieldManager → store.
extension APIServerCore {
    struct WriteOptions {
        var manager: String
        var dryRun: Bool
        var fieldValidation: String
        var force: Bool
        /// For PATCH: how kube-apiserver prints the patch in a strict-decoding error.
        var strictPatchValue: String? = nil
    }

    func writeOptions(_ req: APIRequest, optionsKind: String) throws -> WriteOptions {
        var causes: [StatusCause] = []
        let dry = req.query.filter { $0.name == "dryRun" }.map(\.value)
        if let bad = dry.first(where: { $0 != "All" }) {
            causes.append(StatusCause(reason: "FieldValueNotSupported", message: "Unsupported value: [\"\(bad)\"]: supported values: \"All\"", field: "dryRun"))
        }
        let fv = req.query("fieldValidation") ?? ""
        if !["", "Ignore", "Warn", "Strict"].contains(fv) {
            causes.append(StatusCause(reason: "FieldValueNotSupported",
                                      message: "Unsupported value: \"\(fv)\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"", field: "fieldValidation"))
        }
        if !causes.isEmpty { throw APIError.invalid(kind: optionsKind, group: "meta.k8s.io", name: "", causes: causes) }
        let ua = req.header("User-Agent") ?? "unknown"
        let derived = String(ua.split(separator: "/", maxSplits: 1).first ?? "unknown")
        var manager = req.query("fieldManager") ?? ""
        if manager.isEmpty { manager = derived.isEmpty ? "unknown" : derived }
        let force = req.query("force") == "true"
        return WriteOptions(manager: manager, dryRun: !dry.isEmpty, fieldValidation: fv.isEmpty ? "Warn" : fv, force: force)
    }

    // MARK: Create

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
        if info.group.isEmpty, info.kind == "Pod" { mountServiceAccountToken(&obj) }
        obj["apiVersion"] = .string(info.apiVersion)
        obj["kind"] = .string(info.kind)

        let storage = info.storageKey
        let result: JSONValue = try state.withLock { st in
            if st.store.get(storage, namespace: t.namespace, name: name) != nil { throw APIError.alreadyExists(info, name) }
            if info.kind == "Service" { Self.allocateClusterIP(&obj, &st) }
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

    /// The token volume the ServiceAccount admission plugin adds (after the field manager ran).
    func mountServiceAccountToken(_ obj: inout JSONValue) {
        if obj[path: ["spec", "automountServiceAccountToken"]]?.boolValue == false { return }
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

    func checkKind(_ obj: JSONValue, _ info: ResourceInfo) throws {
        guard case .object = obj else {
            throw APIError.badRequest("the object provided is unrecognized (must be of type \(info.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal \(obj.typeName) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")
        }
        let kind = obj["kind"]?.stringValue ?? ""
        let version = (obj["apiVersion"]?.stringValue ?? info.apiVersion).split(separator: "/").last.map(String.init) ?? info.version
        if kind.isEmpty {
            throw APIError.badRequest("Object 'Kind' is missing in '\(String(decoding: obj.serialized().prefix(200), as: UTF8.self))'")
        }
        if kind != info.kind {
            let internalGroup = info.group.isEmpty ? "core" : info.group.split(separator: ".").first.map(String.init) ?? info.group
            throw APIError.badRequest("\(kind) in version \"\(version)\" cannot be handled as a \(info.kind): converting (\(version).\(kind)) to (\(internalGroup).\(info.kind)): unknown conversion")
        }
    }

    /// Unknown fields (warn/strict/ignore), pruning and defaulting.
    func normalize(_ obj: inout JSONValue, info: ResourceInfo, opts: WriteOptions, warnings: inout [String], applied: Bool) throws {
        if !info.isCustom { try BuiltinDecoding.check(&obj, info: info) }
        // ObjectMeta's collections are omitempty: an empty list or map is no field at all.
        for key in ["finalizers", "labels", "annotations", "ownerReferences"] {
            if obj[path: ["metadata", key]]?.arrayValue?.isEmpty == true || obj[path: ["metadata", key]]?.objectValue?.isEmpty == true
                || obj[path: ["metadata", key]]?.isNull == true {
                obj[path: ["metadata", key]] = nil
            }
        }
        if EventConversion.isCoreEvent(info) { EventConversion.normalizeTimes(&obj, fields: ["firstTimestamp", "lastTimestamp"]) }
        if EventConversion.isEventsAPI(info) { EventConversion.normalizeTimes(&obj, fields: ["deprecatedFirstTimestamp", "deprecatedLastTimestamp"]) }
        if let schema = schema(for: info) {
            let unknown: [String]
            if info.isCustom {
                let r = ObjectValidation.defaultAndPrune(obj, schema: schema)
                obj = r.object
                unknown = r.unknownFields
            } else {
                // managedFields' fieldsV1 are free-form sets, never unknown fields.
                unknown = ObjectValidation.unknownFields(obj, schema: schema).filter { !$0.hasPrefix("metadata.managedFields") }
                for path in unknown { FieldPath.remove(path, from: &obj) }
            }
            if !unknown.isEmpty, !applied {
                switch opts.fieldValidation {
                case "Strict":
                    let list = unknown.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
                    if let patchValue = opts.strictPatchValue {
                        throw APIError.invalid(kind: "", group: "", name: "", causes: [
                            StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\(patchValue)\": strict decoding error: \(list)", field: "patch")])
                    }
                    throw APIError.badRequest("\(info.kind) in version \"\(info.version)\" cannot be handled as a \(info.kind): strict decoding error: \(list)")
                case "Ignore": break
                default: warnings.append(contentsOf: unknown.map { "unknown field \"\($0)\"" })
                }
            }
        }
        if !info.isCustom { BuiltinDefaults.apply(to: &obj, info: info) }
    }

    /// Schema validation (CRs), metadata validation and the built-in rules.
    func validate(_ obj: JSONValue, old: JSONValue?, info: ResourceInfo) throws {
        var causes = MetadataValidation.validate(obj, old: old, info: info)
        if info.isCustom, let schema = schema(for: info) {
            causes.append(contentsOf: ObjectValidation.validate(obj, schema: schema, oldObject: old))
        } else {
            causes.append(contentsOf: BuiltinValidation.validate(obj, old: old, info: info))
            causes.append(contentsOf: EventConversion.validate(obj, info: info))
        }
        if !causes.isEmpty {
            // events.k8s.io Events are validated as core Events, and say so.
            let group = EventConversion.isEventsAPI(info) ? "" : info.group
            throw APIError.invalid(kind: info.kind, group: group, name: obj[path: ["metadata", "name"]]?.stringValue ?? "", causes: causes)
        }
    }

    // MARK: Update

    func update(_ req: APIRequest, _ t: Target, user: UserInfo) throws -> APIResponse {
        let opts = try writeOptions(req, optionsKind: "UpdateOptions")
        guard let name = t.name else { throw APIError.methodNotAllowed() }
        var obj = try decodeBody(req, kindForErrors: t.info.kind)
        try checkKind(obj, t.info)
        let bodyName = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        if !bodyName.isEmpty, bodyName != name {
            throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        obj[path: ["metadata", "name"]] = .string(name)
        if t.info.namespaced {
            let bodyNS = obj[path: ["metadata", "namespace"]]?.stringValue ?? ""
            if !bodyNS.isEmpty, bodyNS != t.namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            obj[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string)
        }
        guard let old = storedObject(t.info, namespace: t.namespace, name: name) else {
            throw APIError.notFound(t.info, name)
        }
        let (result, warnings, _) = try finishUpdate(old: old, new: obj, t: t, opts: opts, applied: false,
                                                     precondition: obj[path: ["metadata", "resourceVersion"]]?.stringValue, user: user)
        return .json(200, present(result, t.info), warnings: warnings)
    }

    /// The update pipeline shared by PUT, PATCH and /scale. Returns the answer object, warnings and whether it changed.
    /// `user` is nil for the simulated controllers' own writes, which admission does not check.
    func finishUpdate(old: JSONValue, new input: JSONValue, t: Target, opts: WriteOptions, applied: Bool,
                      precondition: String?, user: UserInfo? = nil) throws -> (JSONValue, [String], Bool) {
        let info = t.info
        let name = old[path: ["metadata", "name"]]?.stringValue ?? ""
        let oldRV = old[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        if let p = precondition, !p.isEmpty, p != oldRV { throw APIError.conflict(info, name) }

        var new = input
        let sub = t.subresource == "scale" ? "scale" : t.subresource
        if t.subresource == "status" {
            // /status changes status only (an apply keeps the managedFields the engine computed).
            var merged = old
            merged["status"] = new["status"]
            if applied { merged[path: ["metadata", "managedFields"]] = new[path: ["metadata", "managedFields"]] }
            new = merged
        } else if info.hasStatus, info.kind != "Namespace" || t.subresource == nil {
            if info.kind != "Namespace" { new["status"] = old["status"] }
        }
        // Immutable and server-owned metadata.
        for key in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "name", "namespace"] {
            new[path: ["metadata", key]] = old[path: ["metadata", key]]
        }
        new[path: ["metadata", "resourceVersion"]] = .string(oldRV)
        if !applied { new[path: ["metadata", "managedFields"]] = old[path: ["metadata", "managedFields"]] }
        new["apiVersion"] = .string(info.apiVersion)
        new["kind"] = .string(info.kind)

        var warnings: [String] = []
        try normalize(&new, info: info, opts: opts, warnings: &warnings, applied: applied)
        try validate(new, old: old, info: info)
        if let user { try admitOwnerReferences(new: new, old: old, t: t, user: user) }

        if info.generation != .none, Self.specChanged(old, new, policy: info.generation) {
            new[path: ["metadata", "generation"]] = .int((old[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
        }
        let now = Time.now()
        if !applied {
            new = FieldManager.recordUpdate(old: old, new: new, manager: opts.manager, subresource: sub, time: now, schema: schema(for: info))
        }
        if !info.isCustom { BuiltinDefaults.applyAfterFieldManager(to: &new, info: info) }
        if Self.sameContent(old, new) { return (old, warnings, false) }
        let deleting = old[path: ["metadata", "deletionTimestamp"]] != nil
        let finalizersLeft = !(new[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty
        if opts.dryRun { return (new, warnings, true) }

        let storage = info.storageKey
        let result: JSONValue = try state.withLock { st in
            guard let current = st.store.get(storage, namespace: t.namespace, name: name),
                  current[path: ["metadata", "resourceVersion"]]?.stringValue == oldRV else {
                // Someone wrote in between. Without a resourceVersion from the client this is
                // our race, not theirs: the request is retried (kube-apiserver's GuaranteedUpdate).
                if (precondition ?? "").isEmpty { throw CommitRace() }
                throw APIError.conflict(info, name)
            }
            if deleting && !finalizersLeft {
                // The last finalizer is gone: the object is deleted; the answer keeps the old resourceVersion (fixture 13).
                st.store.remove(storage, namespace: t.namespace, name: name)
                return new
            }
            var stored = st.store.put(storage, info: info, object: EventConversion.storable(new, info))
            if info.kind == "CustomResourceDefinition" { stored = establish(crd: stored, st: &st, statusUpdate: false) }
            return EventConversion.view(stored, info)
        }
        if info.kind == "CustomResourceDefinition" { schemas?.register(crd: result) }
        if deleting && !finalizersLeft { scheduleGC() }
        if old[path: ["metadata", "finalizers"]] != new[path: ["metadata", "finalizers"]] { scheduleGC() }
        return (result, warnings, true)
    }

    /// Whether `new` differs from `old` where generation counts.
    static func specChanged(_ old: JSONValue, _ new: JSONValue, policy: GenerationPolicy) -> Bool {
        func strip(_ o: JSONValue) -> JSONValue {
            var x = o
            x["metadata"] = nil
            x["status"] = nil
            x["apiVersion"] = nil
            x["kind"] = nil
            return x
        }
        if strip(old) != strip(new) { return true }
        if policy == .specAndAnnotations {
            return old[path: ["metadata", "annotations"]] != new[path: ["metadata", "annotations"]]
        }
        return false
    }

    /// Equal but for resourceVersion and managedFields timestamps: such a write is a no-op (fixture 21).
    static func sameContent(_ a: JSONValue, _ b: JSONValue) -> Bool {
        func norm(_ o: JSONValue) -> JSONValue {
            var x = o
            x[path: ["metadata", "resourceVersion"]] = nil
            if let mf = x[path: ["metadata", "managedFields"]]?.arrayValue {
                x[path: ["metadata", "managedFields"]] = .array(mf.map { e in var e = e; e["time"] = nil; return e })
            }
            return x
        }
        return norm(a) == norm(b)
    }

    // MARK: Patch

    func patch(_ req: APIRequest, _ t: Target, user: UserInfo) throws -> APIResponse {
        var opts = try writeOptions(req, optionsKind: "PatchOptions")
        guard let name = t.name else { throw APIError.methodNotAllowed() }
        let info = t.info
        let contentType = (req.header("Content-Type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let type = PatchType(contentType: contentType) else {
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType, message: "415: Unsupported Media Type", details: .object([:]))
        }
        if type == .strategicMerge, info.isCustom {
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType,
                           message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        }
        let patchBody: JSONValue
        do {
            patchBody = try decodeBody(req, kindForErrors: info.kind, allowPatchTypes: true)
        } catch let e as APIError where e.code == 400 {
            throw APIError.badRequest("error decoding patch: \(String(decoding: req.body.prefix(100), as: UTF8.self))")
        }
        let old = storedObject(info, namespace: t.namespace, name: name)

        if type == .apply {
            if (req.query("fieldManager") ?? "").isEmpty {
                throw APIError.invalid(kind: "PatchOptions", group: "meta.k8s.io", name: "", causes: [
                    StatusCause(reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager")])
            }
            if (patchBody["kind"]?.stringValue ?? "").isEmpty {
                let av = patchBody["apiVersion"]?.stringValue ?? ""
                let gv = av.contains("/") ? av : "/\(av)"
                throw APIError.badRequest("invalid object type: \(gv), Kind=")
            }
            try checkKind(patchBody, info)
            if let bodyName = patchBody[path: ["metadata", "name"]]?.stringValue, !bodyName.isEmpty, bodyName != name {
                throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            let applyTime = Time.now()
            guard let live = old else {
                if t.subresource != nil { throw APIError.notFound(info, name) }
                var created = try FieldManager.apply(live: nil, applied: withTarget(patchBody, t, name: name), manager: opts.manager,
                                                     force: opts.force, subresource: nil, time: applyTime, schema: schema(for: info))
                let (result, warnings) = try createObject(obj: &created, t: t, opts: opts, user: user, applied: true)
                return .json(201, present(result, info), warnings: warnings)
            }
            var applied = patchBody
            applied[path: ["metadata", "name"]] = .string(name)
            if info.namespaced { applied[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
            let newObj = try FieldManager.apply(live: live, applied: applied, manager: opts.manager, force: opts.force,
                                                subresource: t.subresource, time: applyTime, schema: schema(for: info))
            let (result, warnings, _) = try finishUpdate(old: live, new: newObj, t: t, opts: opts, applied: true,
                                                         precondition: patchBody[path: ["metadata", "resourceVersion"]]?.stringValue, user: user)
            return .json(200, present(result, info), warnings: warnings)
        }

        guard let current = old else { throw APIError.notFound(info, name) }
        var patched: JSONValue
        switch type {
        case .merge:
            patched = MergePatch.apply(patchBody, to: current)
        case .json:
            patched = try JSONPatch.apply(patchBody, to: current)
        case .strategicMerge:
            guard let schema = schema(for: info) else { throw APIError(code: 415, reason: StatusReason.unsupportedMediaType, message: "no schema for \(info.kind)") }
            patched = try StrategicMergePatch.apply(patchBody, to: current, schema: schema)
        case .apply:
            patched = current
        }
        // A resourceVersion inside the patch is a precondition (fixture 06).
        let patchRV = patched[path: ["metadata", "resourceVersion"]]?.stringValue
        let precondition = patchRV != current[path: ["metadata", "resourceVersion"]]?.stringValue ? patchRV : nil
        if info.namespaced { patched[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
        patched[path: ["metadata", "name"]] = .string(name)
        // Strict errors print the patched object (merge/JSON patch) or the patch as a Go map (strategic).
        opts.strictPatchValue = type == .strategicMerge ? Self.goMap(patchBody) : JSONValue.string(patched.serializedString()).serializedString().dropFirst().dropLast().description
        let (result, warnings, _) = try finishUpdate(old: current, new: patched, t: t, opts: opts, applied: false, precondition: precondition ?? nil,
                                                     user: user)
        return .json(200, present(result, info), warnings: warnings)
    }

    /// Go's %v of a map[string]interface{}: `map[k:v k2:map[...]]`, keys sorted.
    static func goMap(_ v: JSONValue) -> String {
        switch v {
        case .object(let o): return "map[" + o.keys.sorted().map { "\($0):\(goMap(o[$0] ?? .null))" }.joined(separator: " ") + "]"
        case .array(let a): return "[" + a.map(goMap).joined(separator: " ") + "]"
        case .string(let s): return s
        case .null: return "<nil>"
        default: return v.serializedString()
        }
    }

    func withTarget(_ obj: JSONValue, _ t: Target, name: String) -> JSONValue {
        var o = obj
        o[path: ["metadata", "name"]] = .string(name)
        if t.info.namespaced { o[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
        return o
    }

    // MARK: Scale

    func scaleObject(_ parent: JSONValue, _ info: ResourceInfo) -> JSONValue {
        guard let scale = info.scale else { return .null }
        var meta: JSONObject = [:]
        for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let v = parent[path: ["metadata", key]] { meta[key] = v }
        }
        let selector: String
        if let path = scale.labelSelectorPath {
            selector = parent[path: path]?.stringValue ?? ""
        } else {
            selector = Self.selectorString(parent[path: ["spec", "selector"]])
        }
        var status: JSONObject = ["replicas": .int(parent[path: scale.statusReplicasPath]?.intValue ?? 0)]
        if !selector.isEmpty { status["selector"] = .string(selector) }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(meta),
                "spec": ["replicas": .int(parent[path: scale.specReplicasPath]?.intValue ?? 0)], "status": .object(status)]
    }

    func getScale(_ req: APIRequest, _ t: Target) throws -> APIResponse {
        guard let name = t.name else { throw APIError.resourceNotFound() }
        guard let obj = state.withLock({ $0.store.get(t.info.storageKey, namespace: t.namespace, name: name) }) else {
            throw APIError.notFound(t.info, name)
        }
        return .json(200, scaleObject(obj, t.info))
    }

    func updateScale(_ req: APIRequest, _ t: Target, user: UserInfo, patchType: String?) throws -> APIResponse {
        let opts = try writeOptions(req, optionsKind: patchType == nil ? "UpdateOptions" : "PatchOptions")
        guard let name = t.name, let scale = t.info.scale else { throw APIError.resourceNotFound() }
        let info = t.info
        guard let parent = state.withLock({ $0.store.get(info.storageKey, namespace: t.namespace, name: name) }) else {
            throw APIError.notFound(info, name)
        }
        let current = scaleObject(parent, info)
        var body = try decodeBody(req, kindForErrors: "Scale")
        var newScale: JSONValue
        var precondition: String?
        var applyMode = false
        if let ct = patchType.flatMap({ PatchType(contentType: $0) }) {
            switch ct {
            case .merge: newScale = MergePatch.apply(body, to: current)
            case .json: newScale = try JSONPatch.apply(body, to: current)
            case .strategicMerge: newScale = MergePatch.apply(body, to: current)
            case .apply:
                newScale = MergePatch.apply(body, to: current)
                applyMode = true
            }
            if let rv = newScale[path: ["metadata", "resourceVersion"]]?.stringValue, rv != current[path: ["metadata", "resourceVersion"]]?.stringValue {
                precondition = rv
            }
        } else if patchType != nil {
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType, message: "the body of the request was in an unknown format")
        } else {
            if body["kind"]?.stringValue != "Scale" { body["kind"] = "Scale" }
            newScale = body
            precondition = body[path: ["metadata", "resourceVersion"]]?.stringValue
        }
        let replicas = newScale[path: ["spec", "replicas"]]?.intValue ?? 0
        if !info.isCustom, replicas < 0 {
            throw APIError.invalid(kind: "Scale", group: "autoscaling", name: name, causes: [
                StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(replicas): must be greater than or equal to 0", field: "spec.replicas")])
        }
        if let p = precondition, !p.isEmpty, p != parent[path: ["metadata", "resourceVersion"]]?.stringValue {
            throw APIError.conflict(info, name)
        }
        var newParent = parent
        var target = t
        if applyMode {
            var applied: JSONValue = ["apiVersion": .string(info.apiVersion), "kind": .string(info.kind),
                                      "metadata": ["name": .string(name)]]
            applied[path: scale.specReplicasPath] = .int(replicas)
            if info.namespaced { applied[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
            newParent = try FieldManager.apply(live: parent, applied: applied, manager: opts.manager, force: opts.force,
                                               subresource: "scale", time: Time.now(), schema: schema(for: info))
        } else {
            newParent[path: scale.specReplicasPath] = .int(replicas)
        }
        target.subresource = "scale"
        let (result, _, _) = try finishUpdate(old: parent, new: newParent, t: target, opts: opts, applied: applyMode, precondition: nil, user: user)
        return .json(200, scaleObject(result, info))
    }

    // MARK: Services

    /// Allocates a ClusterIP from 10.96.0.0/16 unless the Service is headless or brought its own.
    static func allocateClusterIP(_ obj: inout JSONValue, _ st: inout ServerState) {
        let type = obj[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
        if type == "ExternalName" { return }
        if let ip = obj[path: ["spec", "clusterIP"]]?.stringValue, !ip.isEmpty {
            obj[path: ["spec", "clusterIPs"]] = [.string(ip)]
            return
        }
        var n = st.nextIP
        while st.allocatedIPs.contains(n) { n = n % 65_000 + 1 }
        st.allocatedIPs.insert(n)
        st.nextIP = n + 1
        let ip = "10.96.\(n >> 8).\(n & 0xFF)"
        obj[path: ["spec", "clusterIP"]] = .string(ip)
        obj[path: ["spec", "clusterIPs"]] = [.string(ip)]
    }

    // MARK: CRDs

    static func storageVersions(_ crd: JSONValue) -> [JSONValue] {
        let versions = crd[path: ["spec", "versions"]]?.arrayValue ?? []
        let storage = versions.first { $0["storage"]?.boolValue == true } ?? versions.first
        return storage?["name"].map { [$0] } ?? []
    }

    /// What the apiextensions controllers do: register the kinds, accept the names and mark the CRD
    /// Established (a status write by "kube-apiserver", as in fixture 19).
    func establish(crd: JSONValue, st: inout ServerState, statusUpdate: Bool = true) -> JSONValue {
        st.registry.register(crd: crd)
        var o = crd
        let now = Time.now()
        var accepted = o[path: ["spec", "names"]] ?? [:]
        if accepted["listKind"] == nil, let k = accepted["kind"]?.stringValue { accepted["listKind"] = .string(k + "List") }
        if accepted["singular"] == nil, let k = accepted["kind"]?.stringValue { accepted["singular"] = .string(k.lowercased()) }
        let conditions: JSONValue = [
            ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": .string(now)],
            ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted",
             "lastTransitionTime": .string(now)],
        ]
        let existing = o[path: ["status", "conditions"]]
        if existing == conditions || (existing?.arrayValue?.count == 2 && o[path: ["status", "acceptedNames"]] == accepted) { return o }
        o["status"] = ["acceptedNames": accepted, "conditions": conditions, "storedVersions": .array(Self.storageVersions(crd))]
        let crdInfo = st.registry.lookup(group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions")
        o = FieldManager.recordUpdate(old: crd, new: o, manager: "kube-apiserver", subresource: "status", time: now,
                                      schema: crdInfo.flatMap { schema(for: $0) })
        guard let info = st.registry.lookup(group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions") else { return o }
        return st.store.put(info.storageKey, info: info, object: o)
    }
}

/// Removal of a field addressed by a path as kube-apiserver prints it (`spec.template.spec.containers[0].x`).
enum FieldPath {
    static func remove(_ path: String, from obj: inout JSONValue) {
        var segments: [Either] = []
        for part in path.split(separator: ".") {
            var p = Substring(part)
            if let open = p.firstIndex(of: "[") {
                let key = String(p[..<open])
                if !key.isEmpty { segments.append(.key(key)) }
                p = p[open...]
                while p.hasPrefix("["), let close = p.firstIndex(of: "]") {
                    if let i = Int(p[p.index(after: p.startIndex)..<close]) { segments.append(.index(i)) }
                    p = p[p.index(after: close)...]
                }
            } else {
                segments.append(.key(String(p)))
            }
        }
        obj = removing(segments[...], from: obj)
    }

    enum Either { case key(String), index(Int) }

    static func removing(_ segs: ArraySlice<Either>, from value: JSONValue) -> JSONValue {
        guard let first = segs.first else { return value }
        switch (first, value) {
        case (.key(let k), .object(var o)):
            if segs.count == 1 { o[k] = nil } else if let child = o[k] { o[k] = removing(segs.dropFirst(), from: child) }
            return .object(o)
        case (.index(let i), .array(var a)) where a.indices.contains(i):
            if segs.count == 1 { a.remove(at: i) } else { a[i] = removing(segs.dropFirst(), from: a[i]) }
            return .array(a)
        default:
            return value
        }
    }
}

/// The object changed between reading it and committing a write that carried no resourceVersion
/// precondition: the write is retried on the new object, as kube-apiserver does.
struct CommitRace: Error {}

extension APIServerCore {
    /// Runs a write, again while it loses commit races (bounded; then 409 as the real server would).
    func retryingCommitRaces(_ t: Target, _ write: () throws -> APIResponse) throws -> APIResponse {
        for _ in 0..<16 {
            do { return try write() } catch is CommitRace { continue }
        }
        throw APIError.conflict(t.info, t.name ?? "")
    }
}

extension APIServerCore {
    /// Whether an owner reference of `object` names no live object with that uid (same namespace,
    /// or cluster-scoped). An owner kind the server does not know counts as missing.
    func hasMissingOwner(_ object: JSONValue) -> Bool {
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        return state.withLock { st in
            refs.contains { ref in
                guard let kind = ref["kind"]?.stringValue, let name = ref["name"]?.stringValue, let uid = ref["uid"]?.stringValue,
                      let apiVersion = ref["apiVersion"]?.stringValue else { return true }
                let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
                guard let info = st.registry.resources.first(where: { $0.kind == kind && $0.group == group }) else { return true }
                let owner = st.store.get(info.storageKey, namespace: info.namespaced ? namespace : nil, name: name)
                return owner?[path: ["metadata", "uid"]]?.stringValue != uid
            }
        }
    }
}

