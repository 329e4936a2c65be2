import Foundation
import KubeCore

/// DELETE, deletecollection, finalizers and the garbage collector (ownerReferences by uid,
/// Background/Foreground/Orphan propagation, namespace deletion).
extension APIServerCore {
    struct DeleteRequest {
        var propagation: String?
        var preconditionUID: String?
        var preconditionRV: String?
        var dryRun: Bool
    }

    func deleteRequest(_ req: APIRequest) throws -> DeleteRequest {
        var d = DeleteRequest(propagation: req.query("propagationPolicy"), dryRun: false)
        let dry = req.query.filter { $0.name == "dryRun" }.map(\.value)
        if let bad = dry.first(where: { $0 != "All" }) {
            throw APIError.invalid(kind: "DeleteOptions", group: "meta.k8s.io", name: "", causes: [
                StatusCause(reason: "FieldValueNotSupported", message: "Unsupported value: [\"\(bad)\"]: supported values: \"All\"", field: "dryRun")])
        }
        d.dryRun = !dry.isEmpty
        if !req.body.isEmpty, let body = try? JSONValue(parsing: req.body) {
            if let p = body["propagationPolicy"]?.stringValue { d.propagation = p }
            d.preconditionUID = body[path: ["preconditions", "uid"]]?.stringValue
            d.preconditionRV = body[path: ["preconditions", "resourceVersion"]]?.stringValue
            if let dr = body["dryRun"]?.arrayValue, dr.contains("All") { d.dryRun = true }
            if body["orphanDependents"]?.boolValue == true, d.propagation == nil { d.propagation = "Orphan" }
        }
        if let p = d.propagation, !["Background", "Foreground", "Orphan"].contains(p) {
            throw APIError.invalid(kind: "DeleteOptions", group: "meta.k8s.io", name: "", causes: [
                StatusCause(reason: "FieldValueNotSupported",
                            message: "Unsupported value: \"\(p)\": supported values: \"Background\", \"Foreground\", \"Orphan\"", field: "propagationPolicy")])
        }
        return d
    }

    func delete(_ req: APIRequest, _ t: Target) throws -> APIResponse {
        guard let name = t.name else { throw APIError.methodNotAllowed() }
        let d = try deleteRequest(req)
        let info = t.info
        if info.kind == "Namespace", ["default", "kube-system", "kube-public"].contains(name) {
            throw APIError(code: 403, reason: StatusReason.forbidden, message: "namespaces \"\(name)\" is forbidden: this namespace may not be deleted",
                           details: APIError.details(name: name, kind: "namespaces"))
        }
        let (answer, deleted) = try deleteOne(info: info, namespace: t.namespace, name: name, d: d)
        if deleted, !d.dryRun, info.kind == "CustomResourceDefinition" { unregisterCRD(answer) }
        if !d.dryRun { scheduleGC() }
        if deleted {
            let details = APIError.details(name: name, group: info.group, kind: info.resource)
            var det = details
            det["uid"] = answer[path: ["metadata", "uid"]]
            return .json(200, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": det])
        }
        return .json(200, present(EventConversion.view(answer, info), info))
    }

    /// Deletes one object: immediately, or by marking it (deletionTimestamp) while finalizers remain.
    /// Returns the object and whether it is gone.
    func deleteOne(info: ResourceInfo, namespace: String?, name: String, d: DeleteRequest) throws -> (JSONValue, Bool) {
        let storage = info.storageKey
        return try state.withLock { st in
            guard let obj = st.store.get(storage, namespace: namespace, name: name) else { throw APIError.notFound(info, name) }
            let rv = obj[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            let uid = obj[path: ["metadata", "uid"]]?.stringValue ?? ""
            if let p = d.preconditionUID, p != uid {
                throw APIError(code: 409, reason: StatusReason.conflict,
                               message: "Operation cannot be fulfilled on \(info.kind) \"\(name)\": the UID in the precondition (\(p)) does not match the UID in record (\(uid)). The object might have been deleted and then recreated",
                               details: APIError.details(name: name, group: info.group, kind: info.kind))
            }
            if let p = d.preconditionRV, p != rv {
                throw APIError(code: 409, reason: StatusReason.conflict,
                               message: "Operation cannot be fulfilled on \(info.kind) \"\(name)\": the ResourceVersion in the precondition (\(p)) does not match the ResourceVersion in record (\(rv)). The object might have been modified",
                               details: APIError.details(name: name, group: info.group, kind: info.kind))
            }
            var finalizers = obj[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []
            let alreadyDeleting = obj[path: ["metadata", "deletionTimestamp"]] != nil
            if info.kind == "Namespace" {
                var marked = obj
                if !alreadyDeleting {
                    marked[path: ["metadata", "deletionTimestamp"]] = .string(Time.now())
                    marked[path: ["status", "phase"]] = "Terminating"
                }
                if d.dryRun || alreadyDeleting { return (marked, false) }
                return (st.store.put(storage, info: info, object: marked), false)
            }
            switch d.propagation {
            case "Foreground" where !finalizers.contains("foregroundDeletion"): finalizers.append("foregroundDeletion")
            case "Orphan" where !finalizers.contains("orphan"): finalizers.append("orphan")
            default: break
            }
            if finalizers.isEmpty {
                if d.dryRun { return (obj, true) }
                st.store.remove(storage, namespace: namespace, name: name)
                return (obj, true)
            }
            if alreadyDeleting && finalizers == (obj[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []) {
                return (obj, false)
            }
            var marked = obj
            marked[path: ["metadata", "finalizers"]] = .array(finalizers.map(JSONValue.string))
            if !alreadyDeleting {
                marked[path: ["metadata", "deletionTimestamp"]] = .string(Time.now())
                marked[path: ["metadata", "deletionGracePeriodSeconds"]] = 0
                if info.generation != .none {
                    marked[path: ["metadata", "generation"]] = .int((obj[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
                }
            }
            if d.dryRun { return (marked, false) }
            return (st.store.put(storage, info: info, object: marked), false)
        }
    }

    func deleteCollection(_ req: APIRequest, _ t: Target) throws -> APIResponse {
        let d = try deleteRequest(req)
        let (labels, fields) = try selectors(req, t.info)
        let entries = state.withLock { $0.store.list(t.info.storageKey, namespace: t.namespace) }
        var items: [JSONValue] = []
        for e in entries where labels.matches(Self.labels(e.object)) && fields.matches(e.object) {
            let name = e.object[path: ["metadata", "name"]]?.stringValue ?? ""
            let ns = e.object[path: ["metadata", "namespace"]]?.stringValue
            if let (obj, _) = try? deleteOne(info: t.info, namespace: ns, name: name, d: d) {
                let view = EventConversion.view(obj, t.info)
                items.append(t.info.isCustom ? present(view, t.info) : Self.stripTypeMeta(view))
            }
        }
        if !d.dryRun { scheduleGC() }
        let rv = state.withLock { $0.store.rv }
        return .json(200, ["apiVersion": .string(t.info.apiVersion), "kind": .string(t.info.listKind),
                           "metadata": ["resourceVersion": .string(String(rv))], "items": .array(items)])
    }

    func unregisterCRD(_ crd: JSONValue) {
        guard let group = crd[path: ["spec", "group"]]?.stringValue, let plural = crd[path: ["spec", "names", "plural"]]?.stringValue else { return }
        state.withLock { st in
            st.registry.unregister(group: group, resource: plural)
            st.store.removeAll("\(group)/\(plural)")
        }
        if let kind = crd[path: ["spec", "names", "kind"]]?.stringValue { schemas?.unregister(group: group, kind: kind) }
    }

    // MARK: Garbage collection

    /// Wakes the collector: it runs on its own task, promptly but after the request that triggered it.
    func scheduleGC() {
        guard options.controllerManagerEnabled else { return }
        let start = gcWake.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard start else { return }
        Task { [weak self] in
            guard let self else { return }
            while true {
                var passes = 0
                while passes < 1000, self.collectGarbageOnce() { passes += 1 }
                self.gcWake.withLock { $0 = false }
                // A wake-up that arrived while this pass finished saw the flag set and returned:
                // check once more, and keep going only if there is work and nobody else took over.
                guard self.collectGarbageOnce() else { return }
                let again = self.gcWake.withLock { running -> Bool in
                    if running { return false }
                    running = true
                    return true
                }
                guard again else { return }
            }
        }
    }

    /// One pass of the collector; returns whether it changed anything. It examines the objects
    /// the commits since the last pass queued (`CollectorQueue`), or every object when a full
    /// scan is due (`full`, or the queue's safety-net interval).
    @discardableResult
    func collectGarbageOnce(full: Bool = false) -> Bool {
        let now = Date()
        return state.withLock { st in
            let queued = st.store.takeCollectorCandidates()
            let scanAll = st.store.collector.startPass(now: now) || full
            let refs: [ObjectRef]
            if scanAll {
                refs = st.store.objects.flatMap { storage, objs in objs.keys.map { ObjectRef(storage: storage, key: $0) } }.sorted()
            } else {
                refs = queued
            }
            var infos: [String: ResourceInfo] = [:]
            for info in st.registry.resources where infos[info.storageKey] == nil { infos[info.storageKey] = info }
            var changed = false
            for ref in refs where Self.collect(ref, infos: infos, st: &st) { changed = true }
            st.store.collector.examined += refs.count
            return changed
        }
    }

    /// What the collector does with one object (as it is now); returns whether it changed anything.
    static func collect(_ ref: ObjectRef, infos: [String: ResourceInfo], st: inout ServerState) -> Bool {
        guard let o = st.store.objects[ref.storage]?[ref.key], let info = infos[ref.storage] else { return false }
        let name = o[path: ["metadata", "name"]]?.stringValue ?? ""
        let uid = o[path: ["metadata", "uid"]]?.stringValue ?? ""
        let finalizers = o[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        let deleting = o[path: ["metadata", "deletionTimestamp"]] != nil
        var changed = false

        // Namespace controller: empty a terminating namespace, then remove it.
        if info.kind == "Namespace", deleting {
            var empty = true
            for (s2, objs2) in st.store.objects where s2 != ref.storage {
                guard let i2 = infos[s2] else { continue }
                for (_, o2) in objs2 where o2[path: ["metadata", "namespace"]]?.stringValue == name {
                    empty = false
                    if o2[path: ["metadata", "deletionTimestamp"]] == nil {
                        markOrRemove(o2, info: i2, st: &st)
                        changed = true
                    }
                }
            }
            if empty {
                st.store.remove(ref.storage, namespace: nil, name: name)
                changed = true
            }
            return changed
        }

        let dependents = st.store.index.dependents(of: uid).compactMap { d in
            st.store.objects[d.storage]?[d.key].map { (storage: d.storage, object: $0) }
        }
        if deleting, finalizers.contains("orphan") {
            for dep in dependents {
                var d = dep.object
                let refs = (d[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != uid }
                d[path: ["metadata", "ownerReferences"]] = refs.isEmpty ? nil : .array(refs)
                if let di = infos[dep.storage] { _ = st.store.put(dep.storage, info: di, object: d) }
            }
            dropFinalizer("orphan", o, info: info, st: &st)
            return true
        }
        if deleting, finalizers.contains("foregroundDeletion") {
            var blocking = false
            for dep in dependents {
                let blocks = (dep.object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [])
                    .contains { $0["uid"]?.stringValue == uid && $0["blockOwnerDeletion"]?.boolValue == true }
                if blocks { blocking = true }
                if dep.object[path: ["metadata", "deletionTimestamp"]] == nil, let di = infos[dep.storage] {
                    markOrRemove(dep.object, info: di, st: &st, foreground: true)
                    changed = true
                }
            }
            if !blocking {
                dropFinalizer("foregroundDeletion", o, info: info, st: &st)
                changed = true
            }
            return changed
        }
        // Background: an object whose owners are all gone (or were replaced: uid mismatch) is collected.
        let refs = o[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        if !refs.isEmpty, !deleting {
            var ownerAlive = false
            for ref in refs where ref["uid"]?.stringValue.map({ st.store.index.exists(uid: $0) }) == true { ownerAlive = true }
            if !ownerAlive {
                markOrRemove(o, info: info, st: &st)
                changed = true
            }
        }
        return changed
    }

    /// Deletes an object the way the collector does: removed at once, or marked when it has finalizers.
    static func markOrRemove(_ o: JSONValue, info: ResourceInfo, st: inout ServerState, foreground: Bool = false) {
        let name = o[path: ["metadata", "name"]]?.stringValue ?? ""
        let ns = o[path: ["metadata", "namespace"]]?.stringValue
        var finalizers = o[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        if foreground, !finalizers.contains("foregroundDeletion"), let uid = OwnerIndex.uid(o),
           !st.store.index.dependents(of: uid).isEmpty {
            finalizers.append("foregroundDeletion")
        }
        if finalizers.isEmpty {
            st.store.remove(info.storageKey, namespace: ns, name: name)
            return
        }
        var marked = o
        marked[path: ["metadata", "finalizers"]] = .array(finalizers.map(JSONValue.string))
        marked[path: ["metadata", "deletionTimestamp"]] = .string(Time.now())
        marked[path: ["metadata", "deletionGracePeriodSeconds"]] = 0
        _ = st.store.put(info.storageKey, info: info, object: marked)
    }

    static func dropFinalizer(_ f: String, _ o: JSONValue, info: ResourceInfo, st: inout ServerState) {
        let name = o[path: ["metadata", "name"]]?.stringValue ?? ""
        let ns = o[path: ["metadata", "namespace"]]?.stringValue
        let rest = (o[path: ["metadata", "finalizers"]]?.arrayValue ?? []).filter { $0.stringValue != f }
        if rest.isEmpty {
            st.store.remove(info.storageKey, namespace: ns, name: name)
        } else {
            var u = o
            u[path: ["metadata", "finalizers"]] = .array(rest)
            _ = st.store.put(info.storageKey, info: info, object: u)
        }
    }
}
