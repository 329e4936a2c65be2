import Foundation
import KubeCore

/// JSON patch (RFC 6902): add/remove/replace/move/copy/test with JSON-pointer paths (`~0`, `~1`, `-`).
/// Any failing operation answers the apiserver's bare 422 (fixture 06: a failing `test`, a missing path).
public enum JSONPatch {
    public static func apply(_ operations: JSONValue, to target: JSONValue) throws -> JSONValue {
        guard case .array(let ops) = operations else {
            let kind = operations.typeName == "integer" || operations.typeName == "number" ? "number" : operations.typeName
            throw EngineError.badRequest("error decoding patch: json: cannot unmarshal \(kind) into Go value of type []handlers.jsonPatchOp")
        }
        var doc = target
        for op in ops {
            guard case .object(let o) = op else {
                throw EngineError.badRequest("error decoding patch: json: cannot unmarshal \(op.typeName) into Go value of type handlers.jsonPatchOp")
            }
            let name = o["op"]?.stringValue ?? ""
            guard let path = o["path"]?.stringValue else { throw rejected }
            let pointer = try parsePointer(path)
            // A missing "value" behaves as null, as in evanphx/json-patch (fixture 06: replace without value).
            let value = o["value"] ?? .null
            switch name {
            case "add":
                doc = try add(value, at: pointer, in: doc)
            case "remove":
                doc = try remove(at: pointer, in: doc).document
            case "replace":
                doc = try remove(at: pointer, in: doc).document
                doc = try add(value, at: pointer, in: doc)
            case "move":
                guard let from = o["from"]?.stringValue else { throw rejected }
                let fromPointer = try parsePointer(from)
                let (rest, moved) = try remove(at: fromPointer, in: doc)
                doc = try add(moved, at: pointer, in: rest)
            case "copy":
                guard let from = o["from"]?.stringValue else { throw rejected }
                guard let copied = get(try parsePointer(from), in: doc) else { throw rejected }
                doc = try add(copied, at: pointer, in: doc)
            case "test":
                guard let current = get(pointer, in: doc), numericEqual(current, value) else { throw rejected }
            default:
                throw rejected
            }
        }
        return doc
    }

    /// The apiserver's answer to every JSON-patch application failure: a 422 without details.
    static var rejected: EngineError {
        EngineError(status: Status(status: "Failure", message: "the server rejected our request due to an error in our request",
                                   reason: StatusReason.invalid, details: StatusDetails(), code: 422), httpCode: 422)
    }

    /// Splits a JSON pointer into unescaped reference tokens ("" is the whole document).
    static func parsePointer(_ path: String) throws -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw rejected }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    /// Escapes one reference token for a JSON pointer.
    public static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    static func get(_ pointer: [String], in doc: JSONValue) -> JSONValue? {
        var current = doc
        for token in pointer {
            switch current {
            case .object(let o):
                guard let next = o[token] else { return nil }
                current = next
            case .array(let a):
                guard let i = arrayIndex(token), a.indices.contains(i) else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }

    static func arrayIndex(_ token: String) -> Int? {
        guard !token.isEmpty, token.allSatisfy(\.isASCII), token.allSatisfy(\.isNumber) else { return nil }
        if token.count > 1, token.hasPrefix("0") { return nil }
        return Int(token)
    }

    static func add(_ value: JSONValue, at pointer: [String], in doc: JSONValue) throws -> JSONValue {
        guard let token = pointer.first else { return value }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[token] = value
            } else {
                guard let child = o[token] else { throw rejected }
                o[token] = try add(value, at: rest, in: child)
            }
            return .object(o)
        case .array(var a):
            if rest.isEmpty {
                if token == "-" { a.append(value); return .array(a) }
                guard let i = arrayIndex(token), i <= a.count else { throw rejected }
                a.insert(value, at: i)
            } else {
                guard let i = arrayIndex(token), a.indices.contains(i) else { throw rejected }
                a[i] = try add(value, at: rest, in: a[i])
            }
            return .array(a)
        default:
            throw rejected
        }
    }

    static func remove(at pointer: [String], in doc: JSONValue) throws -> (document: JSONValue, removed: JSONValue) {
        guard let token = pointer.first else { throw rejected }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var o):
            guard let child = o[token] else { throw rejected }
            if rest.isEmpty {
                o.removeValue(forKey: token)
                return (.object(o), child)
            }
            let (updated, removed) = try remove(at: rest, in: child)
            o[token] = updated
            return (.object(o), removed)
        case .array(var a):
            guard let i = arrayIndex(token), a.indices.contains(i) else { throw rejected }
            if rest.isEmpty {
                let removed = a.remove(at: i)
                return (.array(a), removed)
            }
            let (updated, removed) = try remove(at: rest, in: a[i])
            a[i] = updated
            return (.array(a), removed)
        default:
            throw rejected
        }
    }

    /// Equality for `test`: numbers compare by value (1 == 1.0), containers element-wise.
    static func numericEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int, .double), (.double, .int), (.double, .double):
            return a.doubleValue == b.doubleValue
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { numericEqual($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { numericEqual(v, $0) } ?? false }
        default:
            return a == b
        }
    }
}
