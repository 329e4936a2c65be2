import KubeCore

/// JSON merge patch (RFC 7386): objects merge recursively, `null` deletes, everything else replaces.
public enum MergePatch {
    public static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in p {
            if value.isNull {
                result.removeValue(forKey: key)
            } else {
                result[key] = apply(value, to: result[key] ?? .null)
            }
        }
        return .object(result)
    }

    /// The merge patch that turns `original` into `modified` (objects diffed recursively, removed keys as null).
    public static func diff(from original: JSONValue, to modified: JSONValue) -> JSONValue {
        guard case .object(let o) = original, case .object(let m) = modified else { return modified }
        var patch = JSONObject()
        for (key, value) in m {
            if let old = o[key] {
                if old != value {
                    if case .object = old, case .object = value {
                        patch[key] = diff(from: old, to: value)
                    } else {
                        patch[key] = value
                    }
                }
            } else {
                patch[key] = value
            }
        }
        for key in o.keys where m[key] == nil { patch[key] = .null }
        return .object(patch)
    }
}
