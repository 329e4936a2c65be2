import Foundation
import KubeCore

/// Field ownership (server-side apply and managedFields bookkeeping for every write), following
/// structured-merge-diff as kube-apiserver runs it: an Update manager owns what it added or changed,
/// an Apply manager owns exactly its applied configuration, other managers lose changed fields.
public enum FieldManager {
    /// For non-apply writes (POST/PUT/PATCH): updates metadata.managedFields on `new` so that `manager`
    /// (operation "Update", with `subresource`) owns the fields it changed, as kube-apiserver does.
    ///
    /// The managedFields of `new` are taken as the starting point when it carries a non-empty list
    /// (a client may rewrite them) and the write is not to a subresource; `[{}]` resets them; otherwise
    /// the entries of `old` are used. Writes through `/scale` record entries without a time, as the
    /// apiserver does.
    public static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, subresource: String?, time: String, schema: SchemaNode?) -> JSONValue {
        let apiVersion = new["apiVersion"]?.stringValue ?? old?["apiVersion"]?.stringValue ?? ""
        var entries: [Entry]
        switch new[path: ["metadata", "managedFields"]] {
        case .array(let list)? where subresource == nil && isReset(list):
            var out = new
            removeManagedFields(&out)
            return out
        case .array(let list)? where subresource == nil && !list.isEmpty:
            entries = list.compactMap(Entry.init)
        default:
            entries = (old?[path: ["metadata", "managedFields"]]?.arrayValue ?? []).compactMap(Entry.init)
        }
        let oldValue = old.map(stripped) ?? skeleton(schema, apiVersion: apiVersion, kind: new["kind"]?.stringValue)
        let newValue = stripped(new)
        // The apiserver cannot convert an object whose values contradict the schema (e.g. a status of
        // the wrong type on create, dropped later): it then stores it without managedFields (fixture 04).
        if let schema, !conformsToTypes(newValue, schema: schema) {
            var out = new
            removeManagedFields(&out)
            return out
        }
        var comparison = Comparison()
        compare(oldValue, newValue, schema: schema, path: [], into: &comparison)
        let changed = comparison.modified.union(comparison.added)

        for i in entries.indices {
            entries[i].set = entries[i].set.subtracting(changed).subtracting(comparison.removed)
        }
        let own = filter(changed, subresource: subresource)
        if !own.isEmpty {
            let key = Entry(manager: manager, operation: "Update", apiVersion: apiVersion, subresource: subresource, time: nil, set: FieldSet())
            if let i = entries.firstIndex(where: { $0.sameIdentity(as: key) }) {
                entries[i].set = entries[i].set.union(own)
                entries[i].time = subresource == "scale" ? nil : time
            } else {
                var e = key
                e.set = own
                e.time = subresource == "scale" ? nil : time
                entries.append(e)
            }
        }
        var out = new
        write(entries, into: &out)
        return out
    }

    /// Server-side apply of `applied` (the applied configuration) by `manager` onto `live` (nil = create).
    /// Conflicts with other managers' fields throw EngineError 409 (reason Conflict, causes with
    /// reason FieldManagerConflict and field paths, message as kube-apiserver words it) unless `force`,
    /// which transfers ownership. Fields the manager applied before and no longer applies are removed
    /// (unless another manager also owns them). Returns the new object with managedFields updated.
    ///
    /// For `/scale`, pass the applied configuration in the parent's shape (`spec.replicas` of the
    /// parent kind) with `subresource: "scale"`. Unknown fields of the applied configuration fail with
    /// the apiserver's HTTP 500 "failed to create typed patch object".
    public static func apply(live: JSONValue?, applied: JSONValue, manager: String, force: Bool, subresource: String?, time: String, schema: SchemaNode?) throws -> JSONValue {
        let apiVersion = applied["apiVersion"]?.stringValue ?? live?["apiVersion"]?.stringValue ?? ""
        let kind = applied["kind"]?.stringValue ?? live?["kind"]?.stringValue ?? ""
        var config = applied
        removeManagedFields(&config)
        if let schema {
            let unknown = undeclaredFields(config, schema: schema, path: [])
            if !unknown.isEmpty {
                let ns = applied[path: ["metadata", "namespace"]]?.stringValue ?? live?[path: ["metadata", "namespace"]]?.stringValue ?? ""
                let name = applied[path: ["metadata", "name"]]?.stringValue ?? live?[path: ["metadata", "name"]]?.stringValue ?? ""
                let object = ns.isEmpty ? name : "\(ns)/\(name)"
                let lines = unknown.map { "\($0): field not declared in schema" }
                let detail = lines.count == 1 ? lines[0] : "errors:\n  " + lines.joined(separator: "\n  ")
                throw EngineError.internalError("failed to create typed patch object (\(object); \(apiVersion), Kind=\(kind)): \(detail)")
            }
        }

        var entries = (live?[path: ["metadata", "managedFields"]]?.arrayValue ?? []).compactMap(Entry.init)
        let liveValue: JSONValue = live.map(stripped) ?? .object([:])

        var configSet = FieldSet()
        toFieldSet(config, schema: schema, path: [], into: &configSet)
        configSet = filter(configSet, subresource: subresource)

        let identity = Entry(manager: manager, operation: "Apply", apiVersion: apiVersion, subresource: subresource, time: nil, set: FieldSet())
        let existing = entries.firstIndex { $0.sameIdentity(as: identity) }
        let lastSet = existing.map { entries[$0].set } ?? FieldSet()
        var mine = identity
        if let existing {
            mine = entries.remove(at: existing)
            mine.apiVersion = apiVersion
        }
        mine.set = configSet

        var merged = merge(liveValue, config, schema: schema)

        // Prune what this manager applied before and nobody owns any more.
        var owned = configSet
        for e in entries { owned = owned.union(e.set) }
        let toRemove = lastSet.subtracting(owned)
        if !toRemove.isEmpty {
            let ownedPaths = owned.paths
            // Outermost first: removing an item removes its children, and removing a key field first
            // would make the item impossible to find.
            for path in toRemove.paths.sorted(by: { $0.count < $1.count }) {
                let hasOwnedChild = ownedPaths.contains { $0.count > path.count && Array($0.prefix(path.count)) == path }
                if !hasOwnedChild { merged = remove(path, from: merged, schema: schema) }
            }
        }

        // Conflicts: fields other managers own whose value this apply changes.
        var comparison = Comparison()
        compare(liveValue, merged, schema: schema, path: [], into: &comparison)
        let changed = comparison.modified.union(comparison.added)
        var conflicts: [(entry: Entry, paths: [FieldSet.Path])] = []
        for e in entries {
            let c = e.set.intersection(changed)
            if !c.isEmpty { conflicts.append((e, c.sorted)) }
        }
        if !conflicts.isEmpty && !force {
            throw conflictError(conflicts, subresource: subresource)
        }
        for i in entries.indices {
            entries[i].set = entries[i].set.subtracting(changed).subtracting(comparison.removed)
        }
        let objectChanged = merged != liveValue
        if objectChanged && subresource != "scale" { mine.time = time }
        entries.append(mine)

        var out = merged
        if let live, let meta = live["metadata"], case .object = meta {
            // Server-owned metadata of the live object is kept as is (the config cannot change uid etc.).
            for key in ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
                if let v = meta[key] { out[path: ["metadata", key]] = v }
            }
        }
        if out["apiVersion"] == nil { out["apiVersion"] = .string(apiVersion) }
        if out["kind"] == nil, !kind.isEmpty { out["kind"] = .string(kind) }
        write(entries, into: &out)
        // A no-op apply by a manager whose ownership does not change returns the live object unchanged.
        if let live, !objectChanged, out == live { return live }
        return out
    }

    /// Strategic merge is not supported on custom resources: the apiserver's 415.
    public static func strategicMergeUnsupportedError() -> EngineError {
        EngineError(status: Status(status: "Failure",
                                   message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                                   reason: StatusReason.unsupportedMediaType, details: nil, code: 415), httpCode: 415)
    }

    // MARK: - Entries

    struct Entry {
        var manager: String
        var operation: String
        var apiVersion: String
        var subresource: String?
        var time: String?
        var set: FieldSet

        init(manager: String, operation: String, apiVersion: String, subresource: String?, time: String?, set: FieldSet) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            self.subresource = subresource
            self.time = time
            self.set = set
        }

        init?(_ json: JSONValue) {
            guard case .object(let o) = json else { return nil }
            manager = o["manager"]?.stringValue ?? ""
            operation = o["operation"]?.stringValue ?? "Update"
            apiVersion = o["apiVersion"]?.stringValue ?? ""
            subresource = o["subresource"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            time = o["time"]?.stringValue
            set = FieldSet(fieldsV1: o["fieldsV1"] ?? .object([:]))
        }

        /// Apply entries are one per manager+subresource; Update entries also per apiVersion.
        func sameIdentity(as other: Entry) -> Bool {
            manager == other.manager && operation == other.operation && subresource == other.subresource
                && (operation == "Apply" || apiVersion == other.apiVersion)
        }

        var json: JSONValue {
            var o: JSONObject = [
                "manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion),
                "fieldsType": "FieldsV1", "fieldsV1": set.fieldsV1,
            ]
            if let time { o["time"] = .string(time) }
            if let subresource { o["subresource"] = .string(subresource) }
            return .object(o)
        }

        /// The manager as conflict messages print it.
        func printed(subresourceContext: String?) -> String {
            var s = "\"\(manager)\""
            if let subresource { s += " with subresource \"\(subresource)\"" }
            if operation == "Update" {
                s += " using \(subresourceContext == "scale" ? "autoscaling/v1" : apiVersion)"
            }
            return s
        }
    }

    static func isReset(_ list: [JSONValue]) -> Bool {
        list.count == 1 && (list[0].objectValue?.isEmpty ?? false)
    }

    /// Writes entries sorted as kube-apiserver sorts them (operation, time, manager, apiVersion,
    /// subresource), dropping those that own nothing.
    static func write(_ entries: [Entry], into object: inout JSONValue) {
        let kept = entries.map { e -> Entry in
            var e = e
            e.set = filter(e.set, subresource: e.subresource)
            return e
        }.filter { !$0.set.isEmpty }
        let sorted = kept.sorted { p, q in
            if p.operation != q.operation { return p.operation < q.operation }
            let pt = p.time ?? "", qt = q.time ?? ""
            if pt != qt { return pt < qt }
            if p.manager != q.manager { return p.manager < q.manager }
            if p.apiVersion != q.apiVersion { return p.apiVersion < q.apiVersion }
            return (p.subresource ?? "") < (q.subresource ?? "")
        }
        if sorted.isEmpty {
            removeManagedFields(&object)
        } else {
            object[path: ["metadata", "managedFields"]] = .array(sorted.map(\.json))
        }
    }

    static func removeManagedFields(_ object: inout JSONValue) {
        guard case .object(var meta)? = object["metadata"] else { return }
        meta.removeValue(forKey: "managedFields")
        object["metadata"] = .object(meta)
    }

    static func stripped(_ object: JSONValue) -> JSONValue {
        var o = object
        removeManagedFields(&o)
        return o
    }

    /// Fields never tracked (stripMeta) and the fields the endpoint resets (status on the main
    /// resource, spec on /status).
    static func filter(_ set: FieldSet, subresource: String?) -> FieldSet {
        let meta = ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"]
        var s = set.removingExactly([["f:apiVersion"], ["f:kind"], ["f:metadata"]])
            .removingPrefixes(meta.map { ["f:metadata", "f:\($0)"] })
        switch subresource {
        case nil: s = s.removingPrefixes([["f:status"]])
        case "status"?: s = s.removingPrefixes([["f:spec"]])
        default: break
        }
        return s
    }

    // MARK: - Conflicts

    static func conflictError(_ conflicts: [(entry: Entry, paths: [FieldSet.Path])], subresource: String?) -> EngineError {
        var causes: [StatusCause] = []
        var total = 0
        let ordered = conflicts.sorted { $0.entry.printed(subresourceContext: subresource) < $1.entry.printed(subresourceContext: subresource) }
        for (entry, paths) in ordered {
            for p in paths {
                causes.append(StatusCause(reason: "FieldManagerConflict", message: "conflict with \(entry.printed(subresourceContext: subresource))",
                                          field: FieldSet.describe(p)))
                total += 1
            }
        }
        let message: String
        if total == 1, let only = ordered.first, let path = only.paths.first {
            message = "Apply failed with 1 conflict: conflict with \(only.entry.printed(subresourceContext: subresource)): \(FieldSet.describe(path))"
        } else {
            var lines: [String] = []
            for (entry, paths) in ordered {
                lines.append("conflicts with \(entry.printed(subresourceContext: subresource)):")
                for p in paths { lines.append("- \(FieldSet.describe(p))") }
            }
            message = "Apply failed with \(total) conflicts: " + lines.joined(separator: "\n")
        }
        return EngineError(status: Status(status: "Failure", message: message, reason: StatusReason.conflict,
                                          details: StatusDetails(causes: causes), code: 409), httpCode: 409)
    }

    // MARK: - Walkers

    struct Comparison {
        var added = FieldSet()
        var modified = FieldSet()
        var removed = FieldSet()
    }

    /// The zero value of a built-in kind as the apiserver's typed conversion sees it: non-pointer
    /// struct fields (OpenAPI `default: {}`) present, required lists/objects present as null. It
    /// decides which containers count as "added" on create (the `.` entries of fieldsV1).
    static func skeleton(_ schema: SchemaNode?, apiVersion: String, kind: String?) -> JSONValue {
        guard let schema, schema.document != nil else { return .object([:]) }
        func build(_ node: SchemaNode, depth: Int) -> JSONValue {
            var o = JSONObject()
            guard depth < 12 else { return .object(o) }
            let required = Set(node.required)
            for name in node.propertyNames {
                guard let p = node.property(name) else { continue }
                if case .object(let d)? = p.defaultValue, d.isEmpty, p.type == "object" || p.hasProperties {
                    o[name] = build(p, depth: depth + 1)
                } else if required.contains(name), p.type == "array" || p.type == "object" {
                    o[name] = .null
                }
            }
            return .object(o)
        }
        return build(schema, depth: 0)
    }

    /// Compares two values field by field (structured-merge-diff's Compare): leaves that appear,
    /// change or disappear, plus maps/lists/items that appear or disappear as a whole.
    static func compare(_ old: JSONValue?, _ new: JSONValue?, schema: SchemaNode?, path: FieldSet.Path, into c: inout Comparison) {
        func leaf() {
            if old == nil, new != nil {
                c.added.insert(path)
            } else if new == nil, old != nil {
                c.removed.insert(path)
            } else if let old, let new, !JSONPatch.numericEqual(old, new) {
                c.modified.insert(path)
            }
        }
        func containerHook() {
            if old == nil { c.added.insert(path) } else if new == nil { c.removed.insert(path) }
        }
        switch FieldNodeKind.of(schema, sample: new ?? old) {
        case .leaf:
            leaf()
        case .fields(let node):
            let o = old?.objectValue, n = new?.objectValue
            if (old != nil && old != .null && o == nil) || (new != nil && new != .null && n == nil) { return leaf() }
            if (o?.isEmpty ?? true) && (n?.isEmpty ?? true) { return leaf() }
            let keys = Set((o ?? [:]).keys).union((n ?? [:]).keys)
            for key in keys {
                let (child, _) = FieldNodeKind.child(node, key)
                compare(o?[key], n?[key], schema: child, path: path + ["f:\(key)"], into: &c)
            }
            containerHook()
        case .list(let kind, let itemSchema):
            let o = old?.arrayValue, n = new?.arrayValue
            if (old != nil && old != .null && o == nil) || (new != nil && new != .null && n == nil) { return leaf() }
            if (o?.isEmpty ?? true) && (n?.isEmpty ?? true) { return leaf() }
            if case .atomic = kind { return leaf() }
            guard let oldItems = keyed(o ?? [], kind: kind, itemSchema: itemSchema),
                  let newItems = keyed(n ?? [], kind: kind, itemSchema: itemSchema) else { return leaf() }
            let oldMap = Dictionary(oldItems, uniquingKeysWith: { a, _ in a })
            let newMap = Dictionary(newItems, uniquingKeysWith: { a, _ in a })
            for key in Set(oldMap.keys).union(newMap.keys) {
                if case .set = kind {
                    if oldMap[key] == nil { c.added.insert(path + [key]) } else if newMap[key] == nil { c.removed.insert(path + [key]) }
                } else {
                    compare(oldMap[key], newMap[key], schema: itemSchema, path: path + [key], into: &c)
                }
            }
            containerHook()
        }
    }

    static func keyed(_ items: [JSONValue], kind: FieldNodeKind.ListKind, itemSchema: SchemaNode?) -> [(String, JSONValue)]? {
        var out: [(String, JSONValue)] = []
        for (i, item) in items.enumerated() {
            guard let e = FieldNodeKind.itemElement(item, kind: kind, itemSchema: itemSchema, index: i) else { return nil }
            out.append((e, item))
        }
        return out
    }

    /// The fields an applied configuration sets (structured-merge-diff's ToFieldSet).
    static func toFieldSet(_ value: JSONValue, schema: SchemaNode?, path: FieldSet.Path, into set: inout FieldSet) {
        switch FieldNodeKind.of(schema, sample: value) {
        case .leaf:
            set.insert(path)
        case .fields(let node):
            guard case .object(let o) = value else { set.insert(path); return }
            for (key, v) in o {
                let (child, declared) = FieldNodeKind.child(node, key)
                let p = path + ["f:\(key)"]
                toFieldSet(v, schema: child, path: p, into: &set)
                if v == .null || v.objectValue?.isEmpty == true || !declared { set.insert(p) }
            }
        case .list(let kind, let itemSchema):
            guard case .array(let items) = value else { set.insert(path); return }
            if case .atomic = kind { set.insert(path); return }
            guard let keyedItems = keyed(items, kind: kind, itemSchema: itemSchema) else { set.insert(path); return }
            for (key, item) in keyedItems {
                if case .set = kind {
                    set.insert(path + [key])
                } else {
                    toFieldSet(item, schema: itemSchema, path: path + [key], into: &set)
                    set.insert(path + [key])
                }
            }
        }
    }

    /// Merges an applied configuration into the live object: fields recursively, associative lists
    /// by key (new items appended), sets by value, atomic values replaced; null removes a field.
    static func merge(_ live: JSONValue?, _ config: JSONValue, schema: SchemaNode?) -> JSONValue {
        switch FieldNodeKind.of(schema, sample: config) {
        case .leaf:
            return config
        case .fields(let node):
            guard case .object(let c) = config else { return config }
            var result = live?.objectValue ?? [:]
            for (key, v) in c {
                if v == .null { result.removeValue(forKey: key); continue }
                let (child, _) = FieldNodeKind.child(node, key)
                result[key] = merge(result[key], v, schema: child)
            }
            return .object(result)
        case .list(let kind, let itemSchema):
            guard case .array(let configItems) = config else { return config }
            if case .atomic = kind { return config }
            let liveItems = live?.arrayValue ?? []
            guard let liveKeys = keyed(liveItems, kind: kind, itemSchema: itemSchema),
                  let configKeys = keyed(configItems, kind: kind, itemSchema: itemSchema) else { return config }
            return .array(mergeOrdered(liveKeys, configKeys, isSet: { if case .set = kind { return true }; return false }(),
                                       itemSchema: itemSchema))
        }
    }

    /// Interleaves live and applied list items as structured-merge-diff does: items in both follow the
    /// applied order, live-only items keep their place, applied-only items land at their applied position.
    static func mergeOrdered(_ lhs: [(String, JSONValue)], _ rhs: [(String, JSONValue)], isSet: Bool, itemSchema: SchemaNode?) -> [JSONValue] {
        let lhsMap = Dictionary(lhs, uniquingKeysWith: { a, _ in a })
        let rhsMap = Dictionary(rhs, uniquingKeysWith: { a, _ in a })
        var shared = rhs.map(\.0).filter { lhsMap[$0] != nil }[...]
        var nextShared = shared.popFirst()
        var merged = Set<String>()
        var out: [JSONValue] = []
        func mergedItem(_ key: String) -> JSONValue? {
            guard let r = rhsMap[key] else { return lhsMap[key] }
            if isSet { return r }
            return merge(lhsMap[key], r, schema: itemSchema)
        }
        var l = 0, r = 0
        while l < lhs.count || r < rhs.count {
            if l < lhs.count && r < rhs.count {
                let key = lhs[l].0
                if key == rhs[r].0 {
                    merged.insert(key)
                    if let item = mergedItem(key) { out.append(item) }
                    l += 1
                    r += 1
                    nextShared = shared.popFirst()
                    continue
                }
                if rhsMap[key] != nil, let next = nextShared, next != key {
                    l += 1
                    continue
                }
            }
            if l < lhs.count {
                let key = lhs[l].0
                if rhsMap[key] == nil {
                    out.append(lhs[l].1)
                    l += 1
                    continue
                } else if merged.contains(key) {
                    l += 1
                    continue
                }
            }
            if r < rhs.count {
                let key = rhs[r].0
                merged.insert(key)
                if let item = mergedItem(key) { out.append(item) }
                r += 1
                if nextShared == key { nextShared = shared.popFirst() }
            }
        }
        return out
    }

    /// Removes the node at `path` (a field, an associative-list item or a set value).
    static func remove(_ path: FieldSet.Path, from value: JSONValue, schema: SchemaNode?) -> JSONValue {
        guard let first = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch FieldNodeKind.of(schema, sample: value) {
        case .fields(let node):
            guard case .object(var o) = value, first.hasPrefix("f:") else { return value }
            let key = String(first.dropFirst(2))
            guard let child = o[key] else { return value }
            if rest.isEmpty {
                o.removeValue(forKey: key)
            } else {
                o[key] = remove(rest, from: child, schema: FieldNodeKind.child(node, key).0)
            }
            return .object(o)
        case .list(let kind, let itemSchema):
            guard case .array(var items) = value, let keys = keyed(items, kind: kind, itemSchema: itemSchema),
                  let i = keys.firstIndex(where: { $0.0 == first }) else { return value }
            if rest.isEmpty {
                items.remove(at: i)
            } else {
                items[i] = remove(rest, from: items[i], schema: itemSchema)
            }
            return .array(items)
        case .leaf:
            return value
        }
    }

    /// Whether every value has the shape its schema declares (scalars of the right kind, objects
    /// where objects are declared, lists where lists are); null is accepted everywhere.
    static func conformsToTypes(_ value: JSONValue, schema: SchemaNode?) -> Bool {
        guard let schema, value != .null else { return true }
        if schema.raw["x-kubeserver-metadata"] != nil { return true }
        if schema.intOrString {
            switch value {
            case .int, .string: return true
            default: return false
            }
        }
        switch (schema.type, value) {
        case ("string"?, .string), ("boolean"?, .bool), ("integer"?, .int), ("number"?, .int), ("number"?, .double):
            return true
        case ("integer"?, .double(let d)):
            return d.rounded() == d
        case ("array"?, .array(let items)):
            return items.allSatisfy { conformsToTypes($0, schema: schema.items) }
        case ("object"?, .object(let o)), (nil, .object(let o)):
            return o.allSatisfy { key, child in conformsToTypes(child, schema: FieldNodeKind.child(schema, key).0) }
        case (nil, _):
            return true
        default:
            return false
        }
    }

    /// Fields of an applied configuration the schema does not declare, printed as SMD paths.
    static func undeclaredFields(_ value: JSONValue, schema: SchemaNode, path: FieldSet.Path) -> [String] {
        var out: [String] = []
        func walk(_ value: JSONValue, _ node: SchemaNode?, _ path: FieldSet.Path) {
            guard let node, !node.preserveUnknownFields || node.hasProperties else { return }
            switch FieldNodeKind.of(node, sample: value) {
            case .fields(let n):
                guard let n, case .object(let o) = value else { return }
                if n.raw["x-kubeserver-metadata"] != nil { return }
                if n.isBuiltin && !n.hasProperties && n.raw["additionalProperties"] == nil { return }
                for key in ObjectValidation.orderedKeys(o, schema: n) {
                    guard let v = o[key] else { continue }
                    if n.property(key) != nil {
                        walk(v, n.property(key), path + ["f:\(key)"])
                    } else if n.raw["additionalProperties"] != nil {
                        walk(v, n.additionalProperties, path + ["f:\(key)"])
                    } else if !n.preserveUnknownFields {
                        out.append(FieldSet.describe(path + ["f:\(key)"]))
                    }
                }
            case .list(let kind, let itemSchema):
                guard case .array(let items) = value else { return }
                for (i, item) in items.enumerated() {
                    let e = FieldNodeKind.itemElement(item, kind: kind, itemSchema: itemSchema, index: i) ?? "i:\(i)"
                    walk(item, itemSchema, path + [e])
                }
            case .leaf:
                return
            }
        }
        walk(value, schema, path)
        // structured-merge-diff reports them in map iteration order; recordings show deeper paths first.
        return out.enumerated().sorted { a, b in
            let da = a.element.filter { $0 == "." || $0 == "[" }.count, db = b.element.filter { $0 == "." || $0 == "[" }.count
            return da != db ? da > db : a.offset < b.offset
        }.map(\.element)
    }
}
