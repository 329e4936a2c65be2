import Foundation
import KubeCore

/// Strategic merge patch for built-in kinds: lists whose schema says `x-kubernetes-patch-strategy: merge`
/// are merged by their `x-kubernetes-patch-merge-key` (containers and env by name, ports by
/// containerPort, ...), primitive merge lists are unions, all other lists are replaced. Supports the
/// directives `$patch: delete|replace|merge`, `$setElementOrder/<field>`, `$retainKeys` and
/// `$deleteFromPrimitiveList/<field>`. (Custom resources answer 415: see `FieldManager.strategicMergeUnsupportedError`.)
public enum StrategicMergePatch {
    public static func apply(_ patch: JSONValue, to target: JSONValue, schema: SchemaNode) throws -> JSONValue {
        guard case .object = patch else {
            throw EngineError.badRequest("error decoding patch: json: cannot unmarshal \(patch.typeName) into Go value of type map[string]interface {}")
        }
        return try mergeMap(patch.objectValue ?? [:], into: target.objectValue ?? [:], schema: schema) ?? .object([:])
    }

    /// Merges a patch map into an original map; nil means the map is deleted (`$patch: delete`).
    static func mergeMap(_ patch: JSONObject, into original: JSONObject, schema: SchemaNode?) throws -> JSONValue? {
        var patch = patch
        if let directive = patch.removeValue(forKey: "$patch") {
            switch directive.stringValue {
            case "delete"?: return nil
            case "replace"?: return .object(stripDirectives(patch))
            case "merge"?: break
            default:
                throw EngineError.badRequest("Unknown patch type: \(directive.stringValue ?? directive.serializedString()) in map: \(JSONValue.object(patch).serializedString())")
            }
        }
        let retainKeys = patch.removeValue(forKey: "$retainKeys")?.arrayValue?.compactMap(\.stringValue)
        var result = original
        var orders: [String: [JSONValue]] = [:]
        for (key, value) in patch {
            if key.hasPrefix("$setElementOrder/") {
                orders[String(key.dropFirst("$setElementOrder/".count))] = value.arrayValue ?? []
                continue
            }
            if key.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(key.dropFirst("$deleteFromPrimitiveList/".count))
                let remove = value.arrayValue ?? []
                if case .array(let items)? = result[field] {
                    result[field] = .array(items.filter { !remove.contains($0) })
                }
                continue
            }
        }
        for (key, value) in patch where !key.hasPrefix("$") {
            let child = schema?.property(key) ?? schema?.additionalProperties
            if value == .null {
                result.removeValue(forKey: key)
                continue
            }
            switch value {
            case .object(let p):
                let merged = try mergeMap(p, into: result[key]?.objectValue ?? [:], schema: child)
                if let merged { result[key] = merged } else { result.removeValue(forKey: key) }
            case .array(let items):
                result[key] = try mergeList(items, into: result[key]?.arrayValue ?? [], schema: child)
            default:
                result[key] = value
            }
        }
        for (field, order) in orders {
            guard case .array(let items)? = result[field] else { continue }
            let mergeKey = (schema?.property(field)).flatMap { $0.patchMergeKey }
            result[field] = .array(reorder(items, by: order, mergeKey: mergeKey))
        }
        if let retainKeys {
            for key in result.keys where !retainKeys.contains(key) { result.removeValue(forKey: key) }
        }
        return .object(result)
    }

    static func mergeList(_ patch: [JSONValue], into original: [JSONValue], schema: SchemaNode?) throws -> JSONValue {
        guard let schema, schema.patchStrategies.contains("merge") else {
            return .array(patch.map(stripDirectivesDeep))
        }
        // `[{"$patch": "replace"}, items...]` replaces the whole list.
        if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
            return .array(patch.filter { $0["$patch"]?.stringValue != "replace" }.map(stripDirectivesDeep))
        }
        guard let mergeKey = schema.patchMergeKey else {
            // A primitive list with the merge strategy: union, keeping the original order.
            var result = original
            for item in patch where !result.contains(item) { result.append(item) }
            return .array(result)
        }
        var result = original
        for item in patch {
            guard case .object(var p) = item else { continue }
            let key = p[mergeKey]
            if p["$patch"]?.stringValue == "delete" {
                result.removeAll { $0[mergeKey] == key }
                continue
            }
            if key == nil {
                throw EngineError.badRequest("map: \(item.serializedString()) does not contain declared merge key: \(mergeKey)")
            }
            if let i = result.firstIndex(where: { $0[mergeKey] == key }) {
                p.removeValue(forKey: "$patch")
                if let merged = try mergeMap(p, into: result[i].objectValue ?? [:], schema: schema.items) {
                    result[i] = merged
                }
            } else {
                result.append(stripDirectivesDeep(item))
            }
        }
        return .array(result)
    }

    /// Orders list items as `$setElementOrder` says; items it does not name keep their relative order at the end.
    static func reorder(_ items: [JSONValue], by order: [JSONValue], mergeKey: String?) -> [JSONValue] {
        func position(_ item: JSONValue) -> Int? {
            if let mergeKey { return order.firstIndex { $0[mergeKey] == item[mergeKey] } }
            return order.firstIndex(of: item)
        }
        let indexed = items.enumerated().map { (offset: $0.offset, item: $0.element, pos: position($0.element)) }
        return indexed.sorted { a, b in
            switch (a.pos, b.pos) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.offset < b.offset
            }
        }.map(\.item)
    }

    static func stripDirectives(_ o: JSONObject) -> JSONObject {
        o.filter { !$0.key.hasPrefix("$") }.mapValues(stripDirectivesDeep)
    }

    static func stripDirectivesDeep(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o): return .object(stripDirectives(o).filter { $0.value != .null })
        case .array(let a): return .array(a.map(stripDirectivesDeep))
        default: return v
        }
    }
}
