import Foundation
import KubeCore

/// Admission checks of kube-apiserver that depend on who asks.
extension APIServerCore {
    /// A server-side apply of an object that does not exist creates it, so it needs `create` as
    /// well as `patch`. Its 403 names the object, unlike a plain POST's.
    func authorizeApplyCreate(user: UserInfo, t: Target, name: String) throws {
        let a = AuthorizationAttributes(user: user, verb: "create", namespace: t.namespace, apiGroup: t.info.group,
                                        resource: t.info.resource, name: name)
        if !decide(a).allowed { throw Self.forbidden(a, info: t.info) }
    }

    /// The OwnerReferencesPermissionEnforcement admission plugin (`ownerReferencesPermissionEnforcement`):
    /// changing an object's ownerReferences on update needs `delete` on the object, and a newly
    /// blocking reference (`blockOwnerDeletion: true`) needs `update` on the owner's `finalizers`
    /// subresource, so nobody can hold up another object's deletion without the right to. Its
    /// refusals are 403 Forbidden; the trailing ": <reason>, <nil>" is the plugin's formatting of
    /// the authorizer's (empty) reason and error.
    func admitOwnerReferences(new: JSONValue, old: JSONValue?, t: Target, user: UserInfo) throws {
        // The simulated controllers stand in for kube-controller-manager, whose bootstrap roles
        // allow what they do; this server has no such roles, so their writes are not checked.
        guard options.ownerReferencesPermissionEnforcement, user != SimulationWriter.user else { return }
        let info = t.info
        if info.group.isEmpty, info.resource == "pods", t.subresource == "status" { return }
        let newRefs = new[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        let oldRefs = old?[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        if old == nil ? newRefs.isEmpty : newRefs == oldRefs { return }
        let name = new[path: ["metadata", "name"]]?.stringValue ?? ""
        func refused(_ why: String) -> APIError {
            APIError(code: 403, reason: StatusReason.forbidden, message: "\(info.groupResource) \"\(name)\" is forbidden: \(why)",
                     details: APIError.details(name: name, group: info.group, kind: info.resource))
        }
        if old != nil {
            let delete = AuthorizationAttributes(user: user, verb: "delete", namespace: t.namespace, apiGroup: info.group, resource: info.resource,
                                                 subresource: t.subresource ?? "", name: name)
            let d = decide(delete)
            if !d.allowed { throw refused("cannot set an ownerRef on a resource you can't delete: \(d.reason), <nil>") }
        }
        let wasBlocking = Set(oldRefs.filter { $0["blockOwnerDeletion"]?.boolValue == true }.compactMap { $0["uid"]?.stringValue })
        let newlyBlocking = newRefs.filter { ref in
            ref["blockOwnerDeletion"]?.boolValue == true && !wasBlocking.contains(ref["uid"]?.stringValue ?? "")
        }
        let registry = state.withLock { $0.registry }
        for ref in newlyBlocking {
            let apiVersion = ref["apiVersion"]?.stringValue ?? "", kind = ref["kind"]?.stringValue ?? ""
            guard let owner = registry.lookup(apiVersion: apiVersion, kind: kind) else {
                throw refused("cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion \(apiVersion) Kind \(kind): no matches for kind \"\(kind)\" in version \"\(apiVersion)\"")
            }
            let finalizers = AuthorizationAttributes(user: user, verb: "update", namespace: t.namespace, apiGroup: owner.group, resource: owner.resource,
                                                     subresource: "finalizers", name: ref["name"]?.stringValue ?? "")
            let d = decide(finalizers)
            if !d.allowed {
                throw refused("cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: \(d.reason), <nil>")
            }
        }
    }
}
