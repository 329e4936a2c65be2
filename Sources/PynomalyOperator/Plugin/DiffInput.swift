#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The changed spec `kubectl pynomaly diff` previews: the live CR with `--image` / `--set` applied,
/// or the spec of a manifest (`-f`). Only `spec` changes: metadata and status stay the live ones,
/// so the plan sees the revision history and requests the operator sees.
public enum DiffInput {
    /// The live CR with `spec.image` and each `--set PATH=VALUE` applied. PATH is relative to `spec`
    /// (a leading `spec.` is accepted), dots separate keys (`\.` is a dot inside a key, as in
    /// `pod.annotations.example\.com/team=x`), `[N]` indexes a list. VALUE is JSON when it parses as
    /// JSON (`5`, `true`, `null`, `{"a":1}`), else a string (`v0.1.4`, `INFO`); each of `stringSets`
    /// (`--set-string`) is a string as typed (`config.WORKERS=4`, where the schema wants a string).
    public static func applyingFlags(to cr: JSONValue, image: String?, sets: [String], stringSets: [String] = []) throws(PluginError) -> JSONValue {
        var changed = cr
        if let image {
            guard !image.isEmpty else { throw .diffInput("--image needs an image reference") }
            changed[path: ["spec", "image"]] = .string(image)
        }
        for (assignment, typed) in sets.map({ ($0, true) }) + stringSets.map({ ($0, false) }) {
            let flag = typed ? "--set" : "--set-string"
            guard let equals = assignment.firstIndex(of: "=") else {
                throw .diffInput("\(flag) \(assignment): expected PATH=VALUE, e.g. --set replicas=5")
            }
            let pathText = String(assignment[..<equals])
            let valueText = String(assignment[assignment.index(after: equals)...])
            var segments = try parsePath(pathText, flag: flag)
            if case .key("spec") = segments.first { segments.removeFirst() }
            guard !segments.isEmpty else { throw .diffInput("\(flag) \(assignment): the path names no field under spec") }
            let value = typed ? (try? JSONValue(parsing: valueText)) ?? .string(valueText) : .string(valueText)
            let spec = changed["spec"] ?? .object([:])
            changed["spec"] = try setting(value, at: segments[...], in: spec, whole: pathText, flag: flag)
        }
        return changed
    }

    /// The live CR with the spec of the PynomalyDeployment named `name` among `documents` (a
    /// manifest's documents; one without a name matches when it is the only PynomalyDeployment).
    public static func applyingManifest(_ documents: [JSONValue], to cr: JSONValue, name: String) throws(PluginError) -> JSONValue {
        let deployments = documents.filter { $0["kind"]?.stringValue == "PynomalyDeployment" }
        let named = deployments.filter { $0[path: ["metadata", "name"]]?.stringValue == name }
        let chosen: JSONValue
        if let only = named.first, named.count == 1 {
            chosen = only
        } else if named.count > 1 {
            throw .diffInput("the manifest holds \(named.count) PynomalyDeployments named \(name)")
        } else if deployments.count == 1, let only = deployments.first, only[path: ["metadata", "name"]]?.stringValue == nil {
            chosen = only
        } else {
            let names = deployments.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            throw .diffInput("the manifest holds no PynomalyDeployment named \(name)"
                             + (names.isEmpty ? "" : " (it holds \(names.joined(separator: ", ")))"))
        }
        if let namespace = chosen[path: ["metadata", "namespace"]]?.stringValue,
           let liveNamespace = cr[path: ["metadata", "namespace"]]?.stringValue, namespace != liveNamespace {
            throw .diffInput("the manifest's PynomalyDeployment \(name) is in namespace \(namespace), the live one in \(liveNamespace): use -n \(namespace)")
        }
        guard let spec = chosen["spec"], spec.objectValue != nil else { throw .diffInput("the manifest's PynomalyDeployment \(name) has no spec") }
        var changed = cr
        changed["spec"] = spec
        return changed
    }

    enum Segment: Equatable {
        case key(String)
        case index(Int)
    }

    static func parsePath(_ text: String, flag: String = "--set") throws(PluginError) -> [Segment] {
        var segments: [Segment] = []
        var key = ""
        var escaped = false
        var chars = Array(text)[...]
        func endKey() { if !key.isEmpty { segments.append(.key(key)); key = "" } }
        while let c = chars.first {
            chars.removeFirst()
            if escaped { key.append(c); escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case ".":
                // A dot ends a key, or follows an index (`env[0].value`); anything else is an empty key.
                if key.isEmpty {
                    if case .index? = segments.last {} else { throw .diffInput("\(flag) \(text): empty key in the path") }
                }
                endKey()
            case "[":
                endKey()
                guard let close = chars.firstIndex(of: "]"), let index = Int(String(chars[chars.startIndex..<close])), index >= 0 else {
                    throw .diffInput("\(flag) \(text): a list index must be [N] with N >= 0")
                }
                segments.append(.index(index))
                chars = chars[chars.index(after: close)...]
            default: key.append(c)
            }
        }
        endKey()
        if escaped { throw .diffInput("\(flag) \(text): the path ends in a lone backslash") }
        guard !segments.isEmpty else { throw .diffInput("\(flag) \(text): empty path") }
        return segments
    }

    static func setting(_ value: JSONValue, at path: ArraySlice<Segment>, in node: JSONValue, whole: String, flag: String = "--set") throws(PluginError) -> JSONValue {
        guard let first = path.first else { return value }
        let rest = path.dropFirst()
        switch first {
        case .key(let key):
            var object: JSONObject
            switch node {
            case .object(let o): object = o
            case .null: object = [:]
            default: throw .diffInput("\(flag) \(whole): \(key) is inside a value that is not an object")
            }
            object[key] = try setting(value, at: rest, in: object[key] ?? .null, whole: whole, flag: flag)
            return .object(object)
        case .index(let index):
            guard var array = node.arrayValue else { throw .diffInput("\(flag) \(whole): [\(index)] indexes a value that is not a list") }
            if index < array.count {
                array[index] = try setting(value, at: rest, in: array[index], whole: whole, flag: flag)
            } else if index == array.count {
                array.append(try setting(value, at: rest, in: .null, whole: whole, flag: flag))
            } else {
                throw .diffInput("\(flag) \(whole): index \(index) is past the end of a list of \(array.count)")
            }
            return .array(array)
        }
    }
}

/// Objects as `diff` compares them: without what the API server changes on every write and what
/// says nothing about the object (managedFields, resourceVersion, generation, creationTimestamp,
/// uid), and without status (the operator's writes to children never touch it).
public enum DiffNormalization {
    public static func comparable(_ object: JSONValue?) -> JSONValue? {
        guard var object, object.objectValue != nil else { return nil }
        for key in ["managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"] {
            object[path: ["metadata", key]] = nil
        }
        object["status"] = nil
        return object
    }
}
