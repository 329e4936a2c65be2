import Foundation
import KubeCore

/// One `x-kubernetes-validations` entry of a schema node.
public struct ValidationRule: Sendable, Hashable {
    public var rule: String
    public var message: String?
    public var messageExpression: String?
    public var fieldPath: String?
    public var reason: String?
    public var optionalOldSelf: Bool

    public init(rule: String, message: String? = nil, messageExpression: String? = nil, fieldPath: String? = nil,
                reason: String? = nil, optionalOldSelf: Bool = false) {
        self.rule = rule
        self.message = message
        self.messageExpression = messageExpression
        self.fieldPath = fieldPath
        self.reason = reason
        self.optionalOldSelf = optionalOldSelf
    }
}

/// Resolves `#/components/schemas/NAME` references of one OpenAPI document. Immutable once built,
/// so nodes can share it across threads.
final class SchemaDocument: Sendable {
    let components: [String: JSONValue]

    init(components: [String: JSONValue]) { self.components = components }

    func resolve(ref: String) -> JSONObject? {
        let prefix = "#/components/schemas/"
        guard ref.hasPrefix(prefix) else { return nil }
        return components[String(ref.dropFirst(prefix.count))]?.objectValue
    }
}

/// A structural schema node with `$ref`/`allOf` wrappers resolved on access (children are resolved
/// lazily, so recursive or huge documents cost nothing until they are walked).
public struct SchemaNode: Sendable {
    /// The node's own keywords, with a `$ref` (direct or as a single `allOf` entry) merged in: the
    /// referenced schema's keywords first, then the referring node's (description, default, patch strategy).
    public let raw: JSONObject
    let document: SchemaDocument?

    /// A node from an inline schema (a CRD's openAPIV3Schema).
    public init(_ schema: JSONValue) {
        self.init(raw: schema.objectValue ?? [:], document: nil)
    }

    init(raw: JSONObject, document: SchemaDocument?) {
        self.document = document
        self.raw = SchemaNode.flatten(raw, document: document, depth: 0)
    }

    /// Merges `$ref` and `allOf` members into one keyword set (depth-bounded against reference cycles).
    static func flatten(_ raw: JSONObject, document: SchemaDocument?, depth: Int) -> JSONObject {
        guard depth < 32 else { return raw }
        var merged = JSONObject()
        var own = raw
        if let ref = own.removeValue(forKey: "$ref")?.stringValue, let target = document?.resolve(ref: ref) {
            merged = flatten(target, document: document, depth: depth + 1)
        }
        if let allOf = own["allOf"]?.arrayValue {
            own.removeValue(forKey: "allOf")
            for member in allOf {
                guard let m = member.objectValue else { continue }
                for (k, v) in flatten(m, document: document, depth: depth + 1) where k != "description" {
                    merged[k] = mergeKeyword(k, merged[k], v)
                }
            }
        }
        for (k, v) in own { merged[k] = mergeKeyword(k, merged[k], v) }
        return merged
    }

    private static func mergeKeyword(_ key: String, _ old: JSONValue?, _ new: JSONValue) -> JSONValue {
        guard let old else { return new }
        switch key {
        case "properties":
            guard case .object(var o) = old, case .object(let n) = new else { return new }
            for (k, v) in n { o[k] = v }
            return .object(o)
        case "required", "x-kubernetes-validations":
            guard case .array(let o) = old, case .array(let n) = new else { return new }
            return .array(o + n)
        default:
            return new
        }
    }

    private func child(_ value: JSONValue?) -> SchemaNode? {
        guard let o = value?.objectValue else { return nil }
        return SchemaNode(raw: o, document: document)
    }

    // MARK: Structure

    /// "object", "array", "string", "integer", "number", "boolean" or nil (untyped, e.g. int-or-string).
    public var type: String? { raw["type"]?.stringValue }
    public var format: String? { raw["format"]?.stringValue }
    public var description: String? { raw["description"]?.stringValue }

    /// Child schemas of an object's declared properties.
    public var properties: [String: SchemaNode] {
        guard let props = raw["properties"]?.objectValue else { return [:] }
        var out = [String: SchemaNode]()
        for (k, v) in props { if let c = child(v) { out[k] = c } }
        return out
    }

    /// The schema of one declared property (cheaper than `properties[name]`).
    public func property(_ name: String) -> SchemaNode? { child(raw["properties"]?[name]) }

    public var hasProperties: Bool { !(raw["properties"]?.objectValue?.isEmpty ?? true) }
    public var propertyNames: [String] { raw["properties"]?.objectValue.map { Array($0.keys) } ?? [] }

    /// The schema of an array's items.
    public var items: SchemaNode? { child(raw["items"]) }

    /// The schema of a map's values (`additionalProperties: {schema}`); nil when absent or boolean.
    public var additionalProperties: SchemaNode? { child(raw["additionalProperties"]) }

    /// True when `additionalProperties` is `true` or a schema (a map accepting any key).
    public var allowsAdditionalProperties: Bool {
        switch raw["additionalProperties"] {
        case .bool(let b)?: return b
        case .object?: return true
        default: return false
        }
    }

    /// The schema for the value of `key` in an object: its property, else additionalProperties.
    public func childSchema(forKey key: String) -> SchemaNode? {
        property(key) ?? additionalProperties
    }

    public var required: [String] { raw["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var enumValues: [JSONValue]? { raw["enum"]?.arrayValue }
    public var defaultValue: JSONValue? { raw["default"] }
    public var nullable: Bool { raw["nullable"]?.boolValue ?? false }

    // MARK: Value constraints

    public var minimum: Double? { raw["minimum"]?.doubleValue }
    public var maximum: Double? { raw["maximum"]?.doubleValue }
    public var exclusiveMinimum: Bool { raw["exclusiveMinimum"]?.boolValue ?? false }
    public var exclusiveMaximum: Bool { raw["exclusiveMaximum"]?.boolValue ?? false }
    public var multipleOf: Double? { raw["multipleOf"]?.doubleValue }
    public var minLength: Int64? { raw["minLength"]?.intValue }
    public var maxLength: Int64? { raw["maxLength"]?.intValue }
    public var minItems: Int64? { raw["minItems"]?.intValue }
    public var maxItems: Int64? { raw["maxItems"]?.intValue }
    public var minProperties: Int64? { raw["minProperties"]?.intValue }
    public var maxProperties: Int64? { raw["maxProperties"]?.intValue }
    public var pattern: String? { raw["pattern"]?.stringValue }

    // MARK: Kubernetes extensions

    public var preserveUnknownFields: Bool { raw["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false }
    public var embeddedResource: Bool { raw["x-kubernetes-embedded-resource"]?.boolValue ?? false }

    /// `x-kubernetes-int-or-string: true`, or the built-in IntOrString type (`format: int-or-string`).
    public var intOrString: Bool {
        (raw["x-kubernetes-int-or-string"]?.boolValue ?? false) || format == "int-or-string"
    }

    /// "atomic", "set" or "map" (`x-kubernetes-list-type`).
    public var listType: String? { raw["x-kubernetes-list-type"]?.stringValue }
    public var listMapKeys: [String] { raw["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// "atomic" or "granular" (`x-kubernetes-map-type`).
    public var mapType: String? { raw["x-kubernetes-map-type"]?.stringValue }
    /// `x-kubernetes-patch-strategy`, e.g. "merge", "retainKeys" or "merge,retainKeys".
    public var patchStrategy: String? { raw["x-kubernetes-patch-strategy"]?.stringValue }
    public var patchMergeKey: String? { raw["x-kubernetes-patch-merge-key"]?.stringValue }

    public var patchStrategies: [String] {
        (patchStrategy ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    public var validations: [ValidationRule] {
        guard let list = raw["x-kubernetes-validations"]?.arrayValue else { return [] }
        return list.compactMap { v in
            guard let rule = v["rule"]?.stringValue else { return nil }
            return ValidationRule(
                rule: rule, message: v["message"]?.stringValue, messageExpression: v["messageExpression"]?.stringValue,
                fieldPath: v["fieldPath"]?.stringValue, reason: v["reason"]?.stringValue,
                optionalOldSelf: v["optionalOldSelf"]?.boolValue ?? false)
        }
    }

    /// The group/version/kinds a component schema serves (`x-kubernetes-group-version-kind`).
    public var groupVersionKinds: [(group: String, version: String, kind: String)] {
        raw["x-kubernetes-group-version-kind"]?.arrayValue?.compactMap { g in
            guard let v = g["version"]?.stringValue, let k = g["kind"]?.stringValue else { return nil }
            return (g["group"]?.stringValue ?? "", v, k)
        } ?? []
    }

    /// Whether the node comes from the bundled OpenAPI documents (a built-in kind) rather than a CRD.
    var isBuiltin: Bool { document != nil }

    /// Whether the node describes an object with fields (declared properties, a map, or preserved unknowns).
    var isObjectLike: Bool {
        type == "object" || hasProperties || raw["additionalProperties"] != nil
    }
}
