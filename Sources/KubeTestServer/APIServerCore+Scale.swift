import Foundation
import KubeCore

/// The /scale subresource of Deployments, StatefulSets, ReplicaSets and custom resources that declare one.
extension APIServerCore {
    func scaleObject(_ parent: JSONValue, _ info: ResourceInfo) -> JSONValue {
        guard let scale = info.scale else { return .null }
        var meta: JSONObject = [:]
        for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let v = parent[path: ["metadata", key]] { meta[key] = v }
        }
        let selector: String
        if let path = scale.labelSelectorPath {
            selector = parent[path: path]?.stringValue ?? ""
        } else {
            selector = Self.selectorString(parent[path: ["spec", "selector"]])
        }
        var status: JSONObject = ["replicas": .int(parent[path: scale.statusReplicasPath]?.intValue ?? 0)]
        if !selector.isEmpty { status["selector"] = .string(selector) }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(meta),
                "spec": ["replicas": .int(parent[path: scale.specReplicasPath]?.intValue ?? 0)], "status": .object(status)]
    }

    func getScale(_ req: APIRequest, _ t: Target) throws -> APIResponse {
        guard let name = t.name else { throw APIError.resourceNotFound() }
        guard let obj = state.withLock({ $0.store.get(t.info.storageKey, namespace: t.namespace, name: name) }) else {
            throw APIError.notFound(t.info, name)
        }
        return .json(200, scaleObject(obj, t.info))
    }

    func updateScale(_ req: APIRequest, _ t: Target, user: UserInfo, patchType: String?) throws -> APIResponse {
        let opts = try writeOptions(req, optionsKind: patchType == nil ? "UpdateOptions" : "PatchOptions")
        guard let name = t.name, let scale = t.info.scale else { throw APIError.resourceNotFound() }
        let info = t.info
        guard let parent = state.withLock({ $0.store.get(info.storageKey, namespace: t.namespace, name: name) }) else {
            throw APIError.notFound(info, name)
        }
        let current = scaleObject(parent, info)
        var body = try decodeBody(req, kindForErrors: "Scale")
        var newScale: JSONValue
        var precondition: String?
        var applyMode = false
        if let ct = patchType.flatMap({ PatchType(contentType: $0) }) {
            switch ct {
            case .merge: newScale = MergePatch.apply(body, to: current)
            case .json: newScale = try JSONPatch.apply(body, to: current)
            case .strategicMerge: newScale = MergePatch.apply(body, to: current)
            case .apply:
                newScale = MergePatch.apply(body, to: current)
                applyMode = true
            }
            if let rv = newScale[path: ["metadata", "resourceVersion"]]?.stringValue, rv != current[path: ["metadata", "resourceVersion"]]?.stringValue {
                precondition = rv
            }
        } else if patchType != nil {
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType, message: "the body of the request was in an unknown format")
        } else {
            if body["kind"]?.stringValue != "Scale" { body["kind"] = "Scale" }
            newScale = body
            precondition = body[path: ["metadata", "resourceVersion"]]?.stringValue
        }
        let replicas = newScale[path: ["spec", "replicas"]]?.intValue ?? 0
        if !info.isCustom, replicas < 0 {
            throw APIError.invalid(kind: "Scale", group: "autoscaling", name: name, causes: [
                StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(replicas): must be greater than or equal to 0", field: "spec.replicas")])
        }
        if let p = precondition, !p.isEmpty, p != parent[path: ["metadata", "resourceVersion"]]?.stringValue {
            throw APIError.conflict(info, name)
        }
        var newParent = parent
        var target = t
        if applyMode {
            var applied: JSONValue = ["apiVersion": .string(info.apiVersion), "kind": .string(info.kind),
                                      "metadata": ["name": .string(name)]]
            applied[path: scale.specReplicasPath] = .int(replicas)
            if info.namespaced { applied[path: ["metadata", "namespace"]] = t.namespace.map(JSONValue.string) }
            newParent = try FieldManager.apply(live: parent, applied: applied, manager: opts.manager, force: opts.force,
                                               subresource: "scale", time: Time.now(), schema: schema(for: info))
        } else {
            newParent[path: scale.specReplicasPath] = .int(replicas)
        }
        target.subresource = "scale"
        let (result, _, _) = try finishUpdate(old: parent, new: newParent, t: target, opts: opts, applied: applyMode, precondition: nil, user: user)
        return .json(200, scaleObject(result, info))
    }
}
