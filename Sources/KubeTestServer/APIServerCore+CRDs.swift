import Foundation
import KubeCore

/// CustomResourceDefinitions: which versions are stored, and establishing one (its kinds served).
extension APIServerCore {
    static func storageVersions(_ crd: JSONValue) -> [JSONValue] {
        let versions = crd[path: ["spec", "versions"]]?.arrayValue ?? []
        let storage = versions.first { $0["storage"]?.boolValue == true } ?? versions.first
        return storage?["name"].map { [$0] } ?? []
    }

    /// What the apiextensions controllers do: register the kinds, accept the names and mark the CRD
    /// Established (a status write by "kube-apiserver", as in fixture 19).
    func establish(crd: JSONValue, st: inout ServerState, statusUpdate: Bool = true) -> JSONValue {
        st.registry.register(crd: crd)
        var o = crd
        let now = Time.now()
        var accepted = o[path: ["spec", "names"]] ?? [:]
        if accepted["listKind"] == nil, let k = accepted["kind"]?.stringValue { accepted["listKind"] = .string(k + "List") }
        if accepted["singular"] == nil, let k = accepted["kind"]?.stringValue { accepted["singular"] = .string(k.lowercased()) }
        let conditions: JSONValue = [
            ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": .string(now)],
            ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted",
             "lastTransitionTime": .string(now)],
        ]
        let existing = o[path: ["status", "conditions"]]
        if existing == conditions || (existing?.arrayValue?.count == 2 && o[path: ["status", "acceptedNames"]] == accepted) { return o }
        o["status"] = ["acceptedNames": accepted, "conditions": conditions, "storedVersions": .array(Self.storageVersions(crd))]
        let crdInfo = st.registry.lookup(group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions")
        o = FieldManager.recordUpdate(old: crd, new: o, manager: "kube-apiserver", subresource: "status", time: now,
                                      schema: crdInfo.flatMap { schema(for: $0) })
        guard let info = st.registry.lookup(group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions") else { return o }
        return st.store.put(info.storageKey, info: info, object: o)
    }
}
