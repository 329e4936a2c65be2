import Foundation
import KubeCore

/// PUT, and the commit every write ends in: preconditions, metadata kube-apiserver keeps, generation.
extension APIServerCore {
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
}
