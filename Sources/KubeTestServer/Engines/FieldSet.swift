import Foundation
import KubeCore

/// A set of field paths in structured-merge-diff notation. Each path element is a fieldsV1 key:
/// `f:name` (struct field or map key), `k:{"name":"web"}` (associative-list item), `v:"x"` (set
/// item) or `i:0` (atomic-list index, only in error paths).
struct FieldSet: Hashable, Sendable {
    typealias Path = [String]
    var paths: Set<Path> = []

    init(_ paths: Set<Path> = []) { self.paths = paths }

    var isEmpty: Bool { paths.isEmpty }
    mutating func insert(_ path: Path) { if !path.isEmpty { paths.insert(path) } }
    func union(_ other: FieldSet) -> FieldSet { FieldSet(paths.union(other.paths)) }
    func subtracting(_ other: FieldSet) -> FieldSet { FieldSet(paths.subtracting(other.paths)) }
    func intersection(_ other: FieldSet) -> FieldSet { FieldSet(paths.intersection(other.paths)) }

    /// Drops every path equal to or below one of `prefixes`.
    func removingPrefixes(_ prefixes: [Path]) -> FieldSet {
        FieldSet(paths.filter { p in !prefixes.contains { pre in p.count >= pre.count && Array(p.prefix(pre.count)) == pre } })
    }

    /// Drops exactly the given paths (not their children).
    func removingExactly(_ exact: [Path]) -> FieldSet {
        FieldSet(paths.subtracting(exact))
    }

    /// Parses a fieldsV1 object (`{"f:spec":{"f:replicas":{}},...}`; `"."` marks the node itself).
    init(fieldsV1: JSONValue) {
        var set = Set<Path>()
        func walk(_ node: JSONValue, _ prefix: Path) {
            guard case .object(let o) = node else { return }
            for (key, child) in o {
                if key == "." {
                    if !prefix.isEmpty { set.insert(prefix) }
                    continue
                }
                let path = prefix + [key]
                if case .object(let c) = child, !c.isEmpty {
                    walk(child, path)
                } else {
                    set.insert(path)
                }
            }
        }
        walk(fieldsV1, [])
        self.paths = set
    }

    /// The fieldsV1 encoding: a nested object, `"."` where a path with children is itself a member.
    var fieldsV1: JSONValue {
        final class Node {
            var children: [String: Node] = [:]
            var member = false
        }
        let root = Node()
        for path in paths {
            var node = root
            for element in path {
                if let next = node.children[element] {
                    node = next
                } else {
                    let next = Node()
                    node.children[element] = next
                    node = next
                }
            }
            node.member = true
        }
        func encode(_ node: Node) -> JSONValue {
            var o = JSONObject()
            for (k, child) in node.children { o[k] = encode(child) }
            if node.member && !node.children.isEmpty { o["."] = .object([:]) }
            return .object(o)
        }
        return encode(root)
    }

    /// A path as structured-merge-diff prints it: `.spec.containers[name="web"].image`.
    static func describe(_ path: Path) -> String {
        var out = ""
        for element in path {
            let body = String(element.dropFirst(2))
            if element.hasPrefix("f:") {
                out += "." + body
            } else if element.hasPrefix("k:") {
                let keys = (try? JSONValue(parsing: body))?.objectValue ?? [:]
                let parts = keys.keys.sorted().map { "\($0)=\(keys[$0]?.serializedString() ?? "null")" }
                out += "[" + parts.joined(separator: ",") + "]"
            } else if element.hasPrefix("v:") {
                out += "[=" + body + "]"
            } else if element.hasPrefix("i:") {
                out += "[" + body + "]"
            } else {
                out += "." + element
            }
        }
        return out
    }

    /// Paths in a stable order (by their printed form).
    var sorted: [Path] {
        paths.sorted { Self.describe($0) < Self.describe($1) }
    }
}

/// How structured-merge-diff treats a node: a leaf, a struct/map of fields, or a list.
enum FieldNodeKind {
    case leaf
    case fields(SchemaNode?)
    case list(ListKind, SchemaNode?)

    enum ListKind { case atomic, set, map([String]) }

    /// Classifies a node from its schema (nil = deduced from the value: objects are granular maps,
    /// lists atomic), following the OpenAPI → SMD conversion (list-type, else patch strategy).
    static func of(_ schema: SchemaNode?, sample: JSONValue?) -> FieldNodeKind {
        guard let schema else {
            if case .object? = sample { return .fields(nil) }
            return .leaf
        }
        if schema.intOrString { return .leaf }
        switch schema.type {
        case "array":
            return .list(listKind(schema), schema.items)
        case "object":
            return schema.mapType == "atomic" ? .leaf : .fields(schema)
        case nil:
            if schema.hasProperties || schema.raw["additionalProperties"] != nil || schema.preserveUnknownFields {
                if case .object? = sample { return schema.mapType == "atomic" ? .leaf : .fields(schema) }
            }
            if schema.raw["items"] != nil, case .array? = sample { return .list(listKind(schema), schema.items) }
            return .leaf
        default:
            return .leaf
        }
    }

    static func listKind(_ schema: SchemaNode) -> ListKind {
        switch schema.listType {
        case "atomic"?: return .atomic
        case "set"?: return .set
        case "map"?: return .map(schema.listMapKeys)
        default: break
        }
        let strategies = schema.patchStrategies
        if strategies.contains("merge") {
            if let key = schema.patchMergeKey { return .map([key]) }
            return .set
        }
        return .atomic
    }

    /// The child schema of `key` in a fields node and whether it is a declared (struct) field.
    static func child(_ schema: SchemaNode?, _ key: String) -> (SchemaNode?, declared: Bool) {
        guard let schema else { return (nil, false) }
        if let p = schema.property(key) { return (p, true) }
        return (schema.additionalProperties, false)
    }

    /// The path element of a list item, or nil when it cannot be keyed (then the list is atomic).
    static func itemElement(_ item: JSONValue, kind: ListKind, itemSchema: SchemaNode?, index: Int) -> String? {
        switch kind {
        case .atomic:
            return "i:\(index)"
        case .set:
            return "v:" + item.serializedString()
        case .map(let keys):
            guard case .object(let o) = item, !keys.isEmpty else { return nil }
            var k = JSONObject()
            for key in keys {
                if let v = o[key] {
                    k[key] = v
                } else if let d = itemSchema?.property(key)?.defaultValue {
                    k[key] = d
                }
            }
            return "k:" + JSONValue.object(k).serializedString()
        }
    }
}
