import KubeCore

/// Hand edits to the fields of a child that decide what runs and what receives traffic, which
/// server-side apply alone would leave in place because another field manager set them.
///
/// Server-side apply restores every field the operator sends (it applies with force), but it never
/// removes what someone else added: an extra container, an extra env variable or volume, an extra
/// key in a Service selector, or `spec.paused` on a Deployment. Those change what runs or where
/// traffic goes, so the operator owns them whole: this finds them, and the writer removes them with
/// one JSON merge patch (which replaces lists whole and deletes map keys set to null) before it
/// applies. Everything else another manager adds (annotations, labels, tolerations added by a
/// policy engine, resource fields the operator does not set) is left to that manager.
public enum ChildDrift {
    /// The fields that differ and the merge patch that puts them back.
    public struct Finding: Sendable, Hashable {
        /// Human-readable paths, e.g. `spec.paused`, `spec.template.spec.containers[sidecar]`.
        public var fields: [String]
        public var patch: JSONValue
    }

    /// What must be reverted in `live` so that it holds only what `desired` says in the owned
    /// fields; nil when nothing must.
    public static func find(_ resource: ResourceType, live: JSONValue, desired: JSONValue) -> Finding? {
        switch resource {
        case .deployments: return deployment(live: live, desired: desired)
        case .services: return service(live: live, desired: desired)
        default: return nil
        }
    }

    static func deployment(live: JSONValue, desired: JSONValue) -> Finding? {
        var fields: [String] = []
        var spec: JSONObject = [:]
        if live[path: ["spec", "paused"]]?.boolValue == true, desired[path: ["spec", "paused"]]?.boolValue != true {
            fields.append("spec.paused")
            spec["paused"] = .bool(false)
        }
        var podSpec: JSONObject = [:]
        let liveContainers = live[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        let wantContainers = desired[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        let containerDrift = listDrift(live: liveContainers, want: wantContainers, path: "spec.template.spec.containers") { live, want in
            listDrift(live: live["env"]?.arrayValue ?? [], want: want["env"]?.arrayValue ?? [], path: "env")
                + listDrift(live: live["volumeMounts"]?.arrayValue ?? [], want: want["volumeMounts"]?.arrayValue ?? [], path: "volumeMounts", key: "mountPath")
                + (live["envFrom"]?.arrayValue?.count ?? 0 > want["envFrom"]?.arrayValue?.count ?? 0 ? ["envFrom"] : [])
        }
        if !containerDrift.isEmpty {
            fields += containerDrift
            podSpec["containers"] = .array(wantContainers)
        }
        // Init containers and volumes: an entry someone else added goes, the list is the operator's.
        for key in ["initContainers", "volumes"] {
            let want = desired[path: ["spec", "template", "spec", key]]?.arrayValue ?? []
            let drift = listDrift(live: live[path: ["spec", "template", "spec", key]]?.arrayValue ?? [], want: want, path: "spec.template.spec.\(key)")
            if !drift.isEmpty {
                fields += drift
                podSpec[key] = want.isEmpty ? .null : .array(want)
            }
        }
        if !podSpec.isEmpty { spec["template"] = ["spec": .object(podSpec)] }
        if fields.isEmpty { return nil }
        return Finding(fields: fields, patch: ["spec": .object(spec)])
    }

    static func service(live: JSONValue, desired: JSONValue) -> Finding? {
        let liveSelector = live[path: ["spec", "selector"]]?.objectValue ?? [:]
        let wantSelector = desired[path: ["spec", "selector"]]?.objectValue ?? [:]
        let extra = liveSelector.keys.filter { wantSelector[$0] == nil }.sorted()
        if extra.isEmpty { return nil }
        var selector: JSONObject = [:]
        for key in extra { selector[key] = .null }
        return Finding(fields: extra.map { "spec.selector[\($0)]" }, patch: ["spec": ["selector": .object(selector)]])
    }

    /// Entries of a named list that `live` has and `want` does not (by `key`), plus what `nested`
    /// finds in the entries both have.
    static func listDrift(live: [JSONValue], want: [JSONValue], path: String, key: String = "name",
                          nested: (JSONValue, JSONValue) -> [String] = { _, _ in [] }) -> [String] {
        var wanted: [String: JSONValue] = [:]
        for item in want { if let name = item[key]?.stringValue { wanted[name] = item } }
        var found: [String] = []
        for item in live {
            guard let name = item[key]?.stringValue else { continue }
            guard let match = wanted[name] else {
                found.append("\(path)[\(name)]")
                continue
            }
            found += nested(item, match).map { "\(path)[\(name)].\($0)" }
        }
        return found
    }
}
