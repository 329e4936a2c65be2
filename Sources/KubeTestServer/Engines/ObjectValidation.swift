import Foundation
import KubeCore

/// Schema validation, defaulting and pruning of objects, worded like kube-apiserver (fixtures 04, 19, 22).
/// `metadata` is the server core's: these functions never look into it.
public enum ObjectValidation {
    /// Validates an object against its schema like kube-apiserver: returns the causes of a 422 Invalid
    /// (reason FieldValueNotSupported / FieldValueRequired / FieldValueInvalid / FieldValueTypeInvalid /
    /// FieldValueTooLong..., field paths like "spec.replicas", messages worded as in the fixtures).
    ///
    /// Order as the apiserver reports them: schema errors, list-type uniqueness, the scale subresource
    /// replicas check (CRDs registered with a scale subresource), then either the CEL rules or, when a
    /// blocking error (required, enum, too long/many, wrong type) was found, the `<nil>` note that
    /// rules were not checked.
    public static func validate(_ object: JSONValue, schema: SchemaNode, oldObject: JSONValue? = nil) -> [StatusCause] {
        var schemaErrors: [FieldError] = []
        validateSchema(object, schema: schema, path: "", into: &schemaErrors)
        schemaErrors.sort { ($0.kind.rank, $0.field ?? "") < ($1.kind.rank, $1.field ?? "") }
        var errors = schemaErrors
        validateListTypes(object, schema: schema, path: "", into: &errors)
        errors.append(contentsOf: validateScale(object, schema: schema))
        if errors.contains(where: { $0.kind.blocksRules }) {
            errors.append(FieldError(kind: .invalid, field: nil, value: .some(.null),
                                     detail: "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
        } else {
            var celErrors: [FieldError] = []
            validateRules(object, old: oldObject, schema: schema, path: "", into: &celErrors)
            errors.append(contentsOf: celErrors)
        }
        return errors.map(\.cause)
    }

    /// The 422 the apiserver answers for validation causes:
    /// `Widget.example.com "w" is invalid: [spec.size: Unsupported value: ..., ...]` (no brackets for one cause).
    public static func invalidError(kind: String, group: String, name: String, causes: [StatusCause]) -> EngineError {
        let qualified = group.isEmpty ? kind : "\(kind).\(group)"
        let parts = causes.map { "\($0.field ?? "<nil>"): \($0.message ?? "")" }
        let summary = parts.count == 1 ? parts[0] : "[" + parts.joined(separator: ", ") + "]"
        let status = Status(status: "Failure", message: "\(qualified) \"\(name)\" is invalid: \(summary)", reason: StatusReason.invalid,
                            details: StatusDetails(name: name, group: group, kind: kind, causes: causes), code: 422)
        return EngineError(status: status, httpCode: 422)
    }

    /// CRD defaulting (schema `default`s) and pruning of unknown fields; returns the warnings kube-apiserver sends
    /// (`unknown field "spec.x"`) — used for fieldValidation Warn/Strict/Ignore.
    public static func defaultAndPrune(_ object: JSONValue, schema: SchemaNode) -> (object: JSONValue, unknownFields: [String]) {
        var unknown: [String] = []
        let result = prune(object, schema: schema, path: "", unknown: &unknown, isRoot: true)
        return (result, unknown)
    }

    /// Unknown-field detection without pruning (built-in kinds: POST/PUT/merge patch warn, SSA fails with 500).
    /// Paths as the apiserver prints them: `spec.template.spec.containers[0].imagePullPolice`.
    public static func unknownFields(_ object: JSONValue, schema: SchemaNode) -> [String] {
        var unknown: [String] = []
        _ = prune(object, schema: schema, path: "", unknown: &unknown, isRoot: true, applyDefaults: false)
        return unknown
    }

    /// Drops null-valued fields of objects, as decoding into typed built-in objects does (a JSON
    /// patch `replace` without value leaves `spec.replicas: null`, which the apiserver then defaults).
    public static func removingNulls(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o): return .object(o.filter { $0.value != .null }.mapValues(removingNulls))
        case .array(let a): return .array(a.map(removingNulls))
        default: return value
        }
    }

    // MARK: - Errors

    struct FieldError {
        enum Kind {
            case required, notSupported, tooLong, tooMany, typeInvalid, invalid, duplicate, forbidden
            var rank: Int {
                switch self {
                case .required: return 0
                case .notSupported: return 1
                case .tooLong, .tooMany: return 2
                case .typeInvalid: return 3
                case .invalid, .forbidden: return 4
                case .duplicate: return 5
                }
            }
            var blocksRules: Bool {
                switch self {
                case .required, .notSupported, .tooLong, .tooMany, .typeInvalid: return true
                default: return false
                }
            }
            var reason: String {
                switch self {
                case .required: return "FieldValueRequired"
                case .notSupported: return "FieldValueNotSupported"
                case .tooLong: return "FieldValueTooLong"
                case .tooMany: return "FieldValueTooMany"
                case .typeInvalid: return "FieldValueTypeInvalid"
                case .invalid: return "FieldValueInvalid"
                case .duplicate: return "FieldValueDuplicate"
                case .forbidden: return "FieldValueForbidden"
                }
            }
        }
        var kind: Kind
        var field: String?
        /// The bad value shown after the error type (`nil` = not shown).
        var value: JSONValue?
        var detail: String

        var cause: StatusCause {
            let message: String
            switch kind {
            case .required:
                message = detail.isEmpty ? "Required value" : "Required value: \(detail)"
            case .notSupported:
                message = "Unsupported value: \(render(value ?? .null)): \(detail)"
            case .tooLong:
                message = "Too long: \(detail)"
            case .tooMany:
                message = "Too many: \(detail)"
            case .duplicate:
                message = "Duplicate value: \(render(value ?? .null))"
            case .forbidden:
                message = "Forbidden: \(detail)"
            case .typeInvalid, .invalid:
                if let value {
                    message = "Invalid value: \(render(value)): \(detail)"
                } else {
                    message = "Invalid value: \(detail)"
                }
            }
            return StatusCause(reason: kind.reason, message: message, field: field ?? "<nil>")
        }
    }

    /// Renders a bad value as Go's field errors do: strings quoted, numbers/bools bare, null, JSON otherwise.
    static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .string(let s): return JSONValue.string(s).serializedString()
        case .int(let i): return String(i)
        case .double, .bool, .array, .object: return value.serializedString()
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func isMetadata(_ schema: SchemaNode) -> Bool { schema.raw["x-kubeserver-metadata"] != nil }

    // MARK: - Schema (OpenAPI) validation

    static func typeMatches(_ value: JSONValue, _ schema: SchemaNode) -> Bool {
        if schema.intOrString {
            switch value {
            case .int, .string: return true
            default: return false
            }
        }
        guard let type = schema.type else { return true }
        switch (type, value) {
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        case ("number", .int), ("number", .double): return true
        case ("string", .string), ("boolean", .bool), ("array", .array), ("object", .object): return true
        default: return false
        }
    }

    static func validateSchema(_ value: JSONValue, schema: SchemaNode, path: String, into errors: inout [FieldError]) {
        if isMetadata(schema) { return }
        if value == .null {
            if schema.nullable || schema.type == nil { return }
            errors.append(FieldError(kind: .typeInvalid, field: path, value: .string("null"),
                                     detail: "\(path) in body must be of type \(schema.type ?? "object"): \"null\""))
            return
        }
        guard typeMatches(value, schema) else {
            let type = schema.intOrString ? "integer,string" : (schema.type ?? "")
            errors.append(FieldError(kind: .typeInvalid, field: path, value: .string(value.typeName),
                                     detail: "\(path) in body must be of type \(type): \"\(value.typeName)\""))
            return
        }
        if let allowed = schema.enumValues, !allowed.contains(where: { JSONPatch.numericEqual($0, value) }) {
            let names = allowed.map { v -> String in
                let s = v.stringValue ?? v.serializedString()
                return JSONValue.string(s).serializedString()
            }
            errors.append(FieldError(kind: .notSupported, field: path, value: value, detail: "supported values: " + names.joined(separator: ", ")))
        }
        switch value {
        case .int, .double:
            guard let d = value.doubleValue else { break }
            if let min = schema.minimum {
                if schema.exclusiveMinimum ? d <= min : d < min {
                    errors.append(FieldError(kind: .invalid, field: path, value: value,
                                             detail: "\(path) in body should be greater than \(schema.exclusiveMinimum ? "" : "or equal to ")\(number(min))"))
                }
            }
            if let max = schema.maximum {
                if schema.exclusiveMaximum ? d >= max : d > max {
                    errors.append(FieldError(kind: .invalid, field: path, value: value,
                                             detail: "\(path) in body should be less than \(schema.exclusiveMaximum ? "" : "or equal to ")\(number(max))"))
                }
            }
            if let m = schema.multipleOf, m != 0, (d / m).rounded() != d / m {
                errors.append(FieldError(kind: .invalid, field: path, value: value, detail: "\(path) in body should be a multiple of \(number(m))"))
            }
            if schema.format == "int32", let i = value.intValue, i < Int64(Int32.min) || i > Int64(Int32.max) {
                errors.append(FieldError(kind: .typeInvalid, field: path, value: value, detail: "\(path) in body must be of type int32: \"\(i)\""))
            }
        case .string(let s):
            if let max = schema.maxLength, s.unicodeScalars.count > max {
                errors.append(FieldError(kind: .tooLong, field: path, value: value, detail: "may not be more than \(max) bytes"))
            }
            if let min = schema.minLength, s.unicodeScalars.count < min {
                errors.append(FieldError(kind: .invalid, field: path, value: value, detail: "\(path) in body should be at least \(min) chars long"))
            }
            if let pattern = schema.pattern, let regex = try? NSRegularExpression(pattern: pattern),
               regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil {
                errors.append(FieldError(kind: .invalid, field: path, value: value, detail: "\(path) in body should match '\(pattern)'"))
            }
            if let format = schema.format, !formatMatches(s, format) {
                errors.append(FieldError(kind: .typeInvalid, field: path, value: value, detail: "\(path) in body must be of type \(format): \(render(value))"))
            }
        case .array(let items):
            if let max = schema.maxItems, Int64(items.count) > max {
                errors.append(FieldError(kind: .tooMany, field: path, value: nil, detail: "\(items.count): must have at most \(max) items"))
            }
            if let min = schema.minItems, Int64(items.count) < min {
                errors.append(FieldError(kind: .invalid, field: path, value: value, detail: "\(path) in body should have at least \(min) items"))
            }
            if let itemSchema = schema.items {
                for (i, item) in items.enumerated() {
                    validateSchema(item, schema: itemSchema, path: "\(path)[\(i)]", into: &errors)
                }
            }
        case .object(let o):
            for name in schema.required where o[name] == nil {
                errors.append(FieldError(kind: .required, field: join(path, name), value: nil, detail: ""))
            }
            if let max = schema.maxProperties, Int64(o.count) > max {
                errors.append(FieldError(kind: .tooMany, field: path, value: nil, detail: "\(o.count): must have at most \(max) items"))
            }
            if let min = schema.minProperties, Int64(o.count) < min {
                errors.append(FieldError(kind: .invalid, field: path, value: value, detail: "\(path) in body should have at least \(min) properties"))
            }
            for (key, child) in o {
                if let p = schema.property(key) {
                    validateSchema(child, schema: p, path: join(path, key), into: &errors)
                } else if let a = schema.additionalProperties {
                    validateSchema(child, schema: a, path: join(path, key), into: &errors)
                }
            }
        default:
            break
        }
    }

    static func number(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    /// The cheap formats: date-time, date, int32/int64 strings are not formats of strings; unknown formats pass.
    static func formatMatches(_ s: String, _ format: String) -> Bool {
        switch format {
        case "date-time":
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime]
            if f.date(from: s) != nil { return true }
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return f.date(from: s) != nil
        case "date":
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.dateFormat = "yyyy-MM-dd"
            return f.date(from: s) != nil
        default:
            return true
        }
    }

    // MARK: - x-kubernetes-list-type

    static func validateListTypes(_ value: JSONValue, schema: SchemaNode, path: String, into errors: inout [FieldError]) {
        if isMetadata(schema) { return }
        switch value {
        case .array(let items):
            switch schema.listType {
            case "set"?:
                var seen: [JSONValue] = []
                for (i, item) in items.enumerated() {
                    if seen.contains(item) {
                        errors.append(FieldError(kind: .duplicate, field: "\(path)[\(i)]", value: item, detail: ""))
                    } else {
                        seen.append(item)
                    }
                }
            case "map"?:
                var seen: [JSONValue] = []
                for (i, item) in items.enumerated() {
                    var key = JSONObject()
                    for k in schema.listMapKeys { key[k] = item[k] ?? schema.items?.property(k)?.defaultValue ?? .null }
                    let kv = JSONValue.object(key)
                    if seen.contains(kv) {
                        errors.append(FieldError(kind: .duplicate, field: "\(path)[\(i)]", value: kv, detail: ""))
                    } else {
                        seen.append(kv)
                    }
                }
            default:
                break
            }
            if let itemSchema = schema.items {
                for (i, item) in items.enumerated() { validateListTypes(item, schema: itemSchema, path: "\(path)[\(i)]", into: &errors) }
            }
        case .object(let o):
            for key in o.keys.sorted() {
                guard let child = o[key], let s = schema.property(key) ?? schema.additionalProperties else { continue }
                validateListTypes(child, schema: s, path: join(path, key), into: &errors)
            }
        default:
            break
        }
    }

    // MARK: - Scale subresource

    /// The CRD scale subresource checks (`.spec.replicas accessor error`, non-negative replicas).
    static func validateScale(_ object: JSONValue, schema: SchemaNode) -> [FieldError] {
        guard let scale = schema.raw["x-kubeserver-scale"] else { return [] }
        var errors: [FieldError] = []
        for key in ["specReplicasPath", "statusReplicasPath"] {
            guard let jsonPath = scale[key]?.stringValue, jsonPath.hasPrefix(".") else { continue }
            let parts = jsonPath.dropFirst().split(separator: ".").map(String.init)
            guard let value = object[path: parts] else { continue }
            guard let replicas = value.intValue else {
                let shown: String
                switch value {
                case .string(let s): shown = s
                default: shown = value.serializedString()
                }
                let goType: String
                switch value {
                case .string: goType = "string"
                case .double: goType = "float64"
                case .bool: goType = "bool"
                case .array: goType = "[]interface {}"
                case .object: goType = "map[string]interface {}"
                default: goType = "<nil>"
                }
                if value == .null { continue }
                errors.append(FieldError(kind: .invalid, field: jsonPath, value: .int(0),
                                         detail: "\(jsonPath) accessor error: \(shown) is of the type \(goType), expected int64"))
                continue
            }
            if replicas < 0 {
                errors.append(FieldError(kind: .invalid, field: jsonPath, value: .int(replicas), detail: "should be a non-negative integer"))
            } else if replicas > Int64(Int32.max) {
                errors.append(FieldError(kind: .invalid, field: jsonPath, value: .int(replicas), detail: "should be less than or equal to \(Int32.max)"))
            }
        }
        return errors
    }

    // MARK: - CEL rules

    static func validateRules(_ value: JSONValue, old: JSONValue?, schema: SchemaNode, path: String, into errors: inout [FieldError]) {
        if isMetadata(schema) { return }
        // Scalars are shown with their value, objects and lists without (as kube-apiserver 1.36 words it).
        let shown: JSONValue?
        switch value {
        case .object, .array: shown = nil
        default: shown = value
        }
        for rule in schema.validations {
            let usesOld = CEL.referencesOldSelf(rule.rule)
            if usesOld && old == nil && !rule.optionalOldSelf { continue }
            let field = rule.fieldPath.map { fp in path + (fp.hasPrefix(".") || fp.hasPrefix("[") ? fp : "." + fp) } ?? path
            do {
                let ok = try CEL.evaluate(rule.rule, self: value, oldSelf: old)
                if !ok {
                    let message = rule.message ?? "failed rule: \(rule.rule)"
                    let kind: FieldError.Kind
                    switch rule.reason {
                    case "FieldValueRequired"?: kind = .required
                    case "FieldValueDuplicate"?: kind = .duplicate
                    case "FieldValueForbidden"?: kind = .forbidden
                    default: kind = .invalid
                    }
                    errors.append(FieldError(kind: kind, field: field.isEmpty ? "<nil>" : field, value: shown, detail: message))
                }
            } catch let e as CEL.Unsupported {
                errors.append(FieldError(kind: .invalid, field: field.isEmpty ? "<nil>" : field, value: nil,
                                         detail: "rule not supported by the test server's CEL subset: \(rule.rule): \(e.message)"))
            } catch {
                errors.append(FieldError(kind: .invalid, field: field.isEmpty ? "<nil>" : field, value: shown,
                                         detail: "\(error) evaluating rule: \(rule.rule)"))
            }
        }
        switch value {
        case .object(let o):
            for key in o.keys.sorted() {
                guard let child = o[key], let s = schema.property(key) ?? schema.additionalProperties else { continue }
                validateRules(child, old: old?[key], schema: s, path: join(path, key), into: &errors)
            }
        case .array(let items):
            guard let itemSchema = schema.items else { break }
            let oldItems = old?.arrayValue ?? []
            for (i, item) in items.enumerated() {
                var oldItem: JSONValue?
                if schema.listType == "map" {
                    let keys = schema.listMapKeys
                    oldItem = oldItems.first { o in keys.allSatisfy { o[$0] == item[$0] } }
                } else if schema.listType == "set" {
                    oldItem = oldItems.contains(item) ? item : nil
                }
                validateRules(item, old: oldItem, schema: itemSchema, path: "\(path)[\(i)]", into: &errors)
            }
        default:
            break
        }
    }

    // MARK: - Pruning and defaulting

    /// Keys in the order the apiserver's decoder meets them in a typical body (apiVersion, kind,
    /// metadata, spec, data, status, then the rest alphabetically); the JSON model keeps no order.
    static func orderedKeys(_ o: JSONObject, schema: SchemaNode?) -> [String] {
        let first = ["apiVersion", "kind", "metadata", "spec", "data", "stringData", "binaryData", "status"]
        let head = first.filter { o[$0] != nil }
        let tail = o.keys.filter { !first.contains($0) }.sorted()
        return head + tail
    }

    static func prune(_ value: JSONValue, schema: SchemaNode, path: String, unknown: inout [String], isRoot: Bool = false,
                      applyDefaults: Bool = true) -> JSONValue {
        if isMetadata(schema) { return value }
        switch value {
        case .object(var o):
            let declared = schema.hasProperties
            let additional = schema.additionalProperties
            let keepUnknown = schema.preserveUnknownFields || schema.raw["additionalProperties"]?.boolValue == true
            // A built-in object type without declared fields is free-form (FieldsV1, RawExtension);
            // a CRD object without properties keeps nothing unless it preserves unknown fields.
            if !declared && additional == nil && (keepUnknown || schema.type == nil || schema.isBuiltin) { return value }
            for key in orderedKeys(o, schema: schema) {
                guard let child = o[key] else { continue }
                let childPath = join(path, key)
                if let p = schema.property(key) {
                    if applyDefaults, child == .null, !p.nullable {
                        if let d = p.defaultValue { o[key] = d } else { o.removeValue(forKey: key); continue }
                    }
                    o[key] = prune(o[key] ?? child, schema: p, path: childPath, unknown: &unknown, applyDefaults: applyDefaults)
                } else if let a = additional {
                    o[key] = prune(child, schema: a, path: childPath, unknown: &unknown, applyDefaults: applyDefaults)
                } else if keepUnknown || (schema.embeddedResource && ["apiVersion", "kind", "metadata"].contains(key)) {
                    continue
                } else {
                    unknown.append(childPath)
                    o.removeValue(forKey: key)
                }
            }
            if applyDefaults {
                for name in schema.propertyNames.sorted() where o[name] == nil {
                    guard let p = schema.property(name), let d = p.defaultValue else { continue }
                    var ignored: [String] = []
                    o[name] = prune(d, schema: p, path: join(path, name), unknown: &ignored, applyDefaults: true)
                }
            }
            return .object(o)
        case .array(var items):
            guard let itemSchema = schema.items else { return value }
            for i in items.indices {
                items[i] = prune(items[i], schema: itemSchema, path: "\(path)[\(i)]", unknown: &unknown, applyDefaults: applyDefaults)
            }
            return .array(items)
        default:
            return value
        }
    }
}
