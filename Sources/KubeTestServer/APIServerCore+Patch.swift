import Foundation
import KubeCore

/// PATCH in its four types (JSON, merge, strategic merge, server-side apply).
extension APIServerCore {
    func patch(_ req: APIRequest, _ t: Target, user: UserInfo) throws -> APIResponse {
        var opts = try writeOptions(req, optionsKind: "PatchOptions")
        guard let name = t.name else { throw APIError.methodNotAllowed() }
        let info = t.info
        let contentType = (req.header("Content-Type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let type = PatchType(contentType: contentType) else {
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType, message: "415: Unsupported Media Type", details: .object([:]))
        }
        if type == .strategicMerge, info.isCustom {
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType,
                           message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        }
        let patchBody: JSONValue
        do {
            patchBody = try decodeBody(req, kindForErrors: info.kind, allowPatchTypes: true)
        } catch let e as APIError where e.code == 400 {
            throw APIError.badRequest("error decoding patch: \(String(decoding: req.body.prefix(100), as: UTF8.self))")
        }
        let old = storedObject(info, namespace: t.namespace, name: name)

        if type == .apply {
            if (req.query("fieldManager") ?? "").isEmpty {
                throw APIError.invalid(kind: "PatchOptions", group: "meta.k8s.io", name: "", causes: [
                    StatusCause(reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager")])
            }
            if (patchBody["kind"]?.stringValue ?? "").isEmpty {
                let av = patchBody["apiVersion"]?.stringValue ?? ""
                let gv = av.contains("/") ? av : "/\(av)"
                throw APIError.badRequest("invalid object type: \(gv), Kind=")
            }
            try checkKind(patchBody, info)
            if let bodyName = patchBody[path: ["metadata", "name"]]?.stringValue, !bodyName.isEmpty, bodyName != name {
                throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            let applyTime = Time.now()
            guard let live = old else {
                if t.subresource != nil { throw APIError.notFound(info, name) }
                var created = try FieldManager.apply(live: nil, applied: withTarget(patchBody, t, name: name), manager: opts.manager,
                                                     force: opts.force, subresource: nil, time: applyTime, schema: schema(for: info))
                let (result, warnings) = try createObject(obj: &created, t: t, opts: opts, user: user, applied: true)
                return .json(201, present(result, info), warnings: warnings)
            }
            var applied = patchBody
            applied[path: ["metadata", "name"]] = .string(name)
            if info.namespaced { applied[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
            let newObj = try FieldManager.apply(live: live, applied: applied, manager: opts.manager, force: opts.force,
                                                subresource: t.subresource, time: applyTime, schema: schema(for: info))
            let (result, warnings, _) = try finishUpdate(old: live, new: newObj, t: t, opts: opts, applied: true,
                                                         precondition: patchBody[path: ["metadata", "resourceVersion"]]?.stringValue, user: user)
            return .json(200, present(result, info), warnings: warnings)
        }

        guard let current = old else { throw APIError.notFound(info, name) }
        var patched: JSONValue
        switch type {
        case .merge:
            patched = MergePatch.apply(patchBody, to: current)
        case .json:
            patched = try JSONPatch.apply(patchBody, to: current)
        case .strategicMerge:
            guard let schema = schema(for: info) else { throw APIError(code: 415, reason: StatusReason.unsupportedMediaType, message: "no schema for \(info.kind)") }
            patched = try StrategicMergePatch.apply(patchBody, to: current, schema: schema)
        case .apply:
            patched = current
        }
        // A resourceVersion inside the patch is a precondition (fixture 06).
        let patchRV = patched[path: ["metadata", "resourceVersion"]]?.stringValue
        let precondition = patchRV != current[path: ["metadata", "resourceVersion"]]?.stringValue ? patchRV : nil
        if info.namespaced { patched[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
        patched[path: ["metadata", "name"]] = .string(name)
        // Strict errors print the patched object (merge/JSON patch) or the patch as a Go map (strategic).
        opts.strictPatchValue = type == .strategicMerge ? Self.goMap(patchBody) : JSONValue.string(patched.serializedString()).serializedString().dropFirst().dropLast().description
        let (result, warnings, _) = try finishUpdate(old: current, new: patched, t: t, opts: opts, applied: false, precondition: precondition ?? nil,
                                                     user: user)
        return .json(200, present(result, info), warnings: warnings)
    }

    /// Go's %v of a map[string]interface{}: `map[k:v k2:map[...]]`, keys sorted.
    static func goMap(_ v: JSONValue) -> String {
        switch v {
        case .object(let o): return "map[" + o.keys.sorted().map { "\($0):\(goMap(o[$0] ?? .null))" }.joined(separator: " ") + "]"
        case .array(let a): return "[" + a.map(goMap).joined(separator: " ") + "]"
        case .string(let s): return s
        case .null: return "<nil>"
        default: return v.serializedString()
        }
    }

    func withTarget(_ obj: JSONValue, _ t: Target, name: String) -> JSONValue {
        var o = obj
        o[path: ["metadata", "name"]] = .string(name)
        if t.info.namespaced { o[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
        return o
    }
}
