import Foundation
import KubeCore

/// What is being asked, as kube-apiserver's RequestInfo derives it.
struct AuthorizationAttributes: Sendable {
    var user: UserInfo
    var verb: String
    var namespace: String?
    var apiGroup: String = ""
    var resource: String = ""
    var subresource: String = ""
    var name: String = ""
    /// Set for non-resource requests (/healthz, /version, /apis ...).
    var path: String?
}

/// RBAC over the Role/ClusterRole/RoleBinding/ClusterRoleBinding objects in the store, plus the
/// bootstrap policy a fresh cluster has (discovery, public info, self reviews).
enum RBACAuthorizer {
    struct Decision { var allowed: Bool; var reason: String }

    static func authorize(_ a: AuthorizationAttributes, store: ObjectStore) -> Decision {
        if a.user.isMaster { return Decision(allowed: true, reason: "") }
        if let d = bootstrap(a) { return d }
        // ClusterRoleBindings apply everywhere; RoleBindings only in their namespace.
        for crb in store.list("rbac.authorization.k8s.io/clusterrolebindings", namespace: nil).map(\.object) {
            guard bound(crb, a.user) else { continue }
            let rules = roleRules(crb["roleRef"], namespace: nil, store: store)
            if rules.contains(where: { matches($0, a) }) {
                let (kind, name) = subjectDescription(crb, a.user)
                return Decision(allowed: true,
                                reason: "RBAC: allowed by ClusterRoleBinding \"\(crb[path: ["metadata", "name"]]?.stringValue ?? "")\" of ClusterRole \"\(crb[path: ["roleRef", "name"]]?.stringValue ?? "")\" to \(kind) \"\(name)\"")
            }
        }
        if let ns = a.namespace, a.path == nil {
            for rb in store.list("rbac.authorization.k8s.io/rolebindings", namespace: ns).map(\.object) {
                guard bound(rb, a.user) else { continue }
                let rules = roleRules(rb["roleRef"], namespace: ns, store: store)
                if rules.contains(where: { matches($0, a) }) {
                    let (kind, name) = subjectDescription(rb, a.user)
                    let refKind = rb[path: ["roleRef", "kind"]]?.stringValue ?? "Role"
                    return Decision(allowed: true,
                                    reason: "RBAC: allowed by RoleBinding \"\(rb[path: ["metadata", "name"]]?.stringValue ?? "")/\(ns)\" of \(refKind) \"\(rb[path: ["roleRef", "name"]]?.stringValue ?? "")\" to \(kind) \"\(name)\"")
                }
            }
        }
        return Decision(allowed: false, reason: "")
    }

    /// The default cluster policy: public info, discovery and self reviews.
    static func bootstrap(_ a: AuthorizationAttributes) -> Decision? {
        if let path = a.path, a.verb == "get" {
            if ["/healthz", "/livez", "/readyz", "/version", "/version/"].contains(path) {
                return Decision(allowed: true, reason: "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole \"system:public-info-viewer\" to Group \"\(a.user.groups.contains("system:authenticated") ? "system:authenticated" : "system:unauthenticated")\"")
            }
            if a.user.groups.contains("system:authenticated"),
               path == "/api" || path.hasPrefix("/api/") || path == "/apis" || path.hasPrefix("/apis/") || path.hasPrefix("/openapi") {
                return Decision(allowed: true, reason: "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"")
            }
        }
        if a.path == nil, a.verb == "create", a.user.groups.contains("system:authenticated"),
           (a.apiGroup == "authorization.k8s.io" && ["selfsubjectaccessreviews", "selfsubjectrulesreviews"].contains(a.resource))
            || (a.apiGroup == "authentication.k8s.io" && a.resource == "selfsubjectreviews") {
            return Decision(allowed: true, reason: "RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole \"system:basic-user\" to Group \"system:authenticated\"")
        }
        return nil
    }

    static func bound(_ binding: JSONValue, _ user: UserInfo) -> Bool {
        for s in binding["subjects"]?.arrayValue ?? [] {
            let name = s["name"]?.stringValue ?? ""
            switch s["kind"]?.stringValue ?? "" {
            case "User": if name == user.name { return true }
            case "Group": if user.groups.contains(name) { return true }
            case "ServiceAccount":
                let ns = s["namespace"]?.stringValue ?? binding[path: ["metadata", "namespace"]]?.stringValue ?? ""
                if user.name == "system:serviceaccount:\(ns):\(name)" { return true }
            default: break
            }
        }
        return false
    }

    static func subjectDescription(_ binding: JSONValue, _ user: UserInfo) -> (String, String) {
        for s in binding["subjects"]?.arrayValue ?? [] {
            let name = s["name"]?.stringValue ?? ""
            switch s["kind"]?.stringValue ?? "" {
            case "User" where name == user.name: return ("User", name)
            case "Group" where user.groups.contains(name): return ("Group", name)
            case "ServiceAccount":
                let ns = s["namespace"]?.stringValue ?? ""
                if user.name == "system:serviceaccount:\(ns):\(name)" { return ("ServiceAccount", "\(name)/\(ns)") }
            default: break
            }
        }
        return ("User", user.name)
    }

    static func roleRules(_ ref: JSONValue?, namespace: String?, store: ObjectStore) -> [JSONValue] {
        guard let ref, let name = ref["name"]?.stringValue else { return [] }
        if ref["kind"]?.stringValue == "ClusterRole" {
            guard let cr = store.get("rbac.authorization.k8s.io/clusterroles", namespace: nil, name: name) else { return [] }
            var rules = cr["rules"]?.arrayValue ?? []
            // Aggregated ClusterRoles pick up the rules of the roles their selectors match.
            for sel in cr[path: ["aggregationRule", "clusterRoleSelectors"]]?.arrayValue ?? [] {
                let want = sel["matchLabels"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
                for other in store.list("rbac.authorization.k8s.io/clusterroles", namespace: nil).map(\.object) {
                    let labels = other[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
                    if !want.isEmpty, want.allSatisfy({ labels[$0.key] == $0.value }) { rules += other["rules"]?.arrayValue ?? [] }
                }
            }
            return rules
        }
        guard let ns = namespace, let role = store.get("rbac.authorization.k8s.io/roles", namespace: ns, name: name) else { return [] }
        return role["rules"]?.arrayValue ?? []
    }

    static func matches(_ rule: JSONValue, _ a: AuthorizationAttributes) -> Bool {
        let verbs = rule["verbs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard verbs.contains("*") || verbs.contains(a.verb) else { return false }
        if let path = a.path {
            let urls = rule["nonResourceURLs"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return urls.contains { u in u == "*" || u == path || (u.hasSuffix("*") && path.hasPrefix(String(u.dropLast()))) }
        }
        let groups = rule["apiGroups"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard groups.contains("*") || groups.contains(a.apiGroup) else { return false }
        let resources = rule["resources"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let combined = a.subresource.isEmpty ? a.resource : "\(a.resource)/\(a.subresource)"
        let resourceOK = resources.contains { r in
            r == "*" || r == combined || (a.subresource.isEmpty ? false : r == "\(a.resource)/*") || (r == "*/\(a.subresource)" && !a.subresource.isEmpty)
        }
        guard resourceOK else { return false }
        let names = rule["resourceNames"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !names.isEmpty { return !a.name.isEmpty && names.contains(a.name) }
        return true
    }
}

extension APIServerCore {
    /// 403 wording of kube-apiserver.
    static func forbidden(_ a: AuthorizationAttributes, info: ResourceInfo?) -> APIError {
        if let path = a.path {
            return APIError(code: 403, reason: StatusReason.forbidden,
                            message: "forbidden: User \"\(a.user.name)\" cannot \(a.verb) path \"\(path)\"", details: .object([:]))
        }
        let gr = a.apiGroup.isEmpty ? a.resource : "\(a.resource).\(a.apiGroup)"
        let what = a.name.isEmpty ? gr : "\(gr) \"\(a.name)\""
        let res = a.subresource.isEmpty ? a.resource : "\(a.resource)/\(a.subresource)"
        let scope = a.namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        return APIError(code: 403, reason: StatusReason.forbidden,
                        message: "\(what) is forbidden: User \"\(a.user.name)\" cannot \(a.verb) resource \"\(res)\" in API group \"\(a.apiGroup)\" \(scope)",
                        details: APIError.details(name: a.name.isEmpty ? nil : a.name, group: a.apiGroup, kind: a.resource))
    }

    func decide(_ a: AuthorizationAttributes) -> RBACAuthorizer.Decision {
        if a.user.isMaster {
            // Public paths are granted by RBAC before the privileged-group check, so their reason shows (fixture 17).
            if a.path != nil, let d = RBACAuthorizer.bootstrap(AuthorizationAttributes(user: UserInfo(name: a.user.name, groups: ["system:authenticated"]), verb: a.verb, path: a.path)) {
                return d
            }
            return .init(allowed: true, reason: "")
        }
        if !options.rbacEnabled {
            // Without RBAC every authenticated user may do anything; anonymous users only see public info.
            if a.user.groups.contains("system:authenticated") { return .init(allowed: true, reason: "") }
            return RBACAuthorizer.bootstrap(a) ?? .init(allowed: false, reason: "")
        }
        return state.withLock { RBACAuthorizer.authorize(a, store: $0.store) }
    }

    func authorizeNonResource(user: UserInfo, path: String, verb: String) throws {
        let a = AuthorizationAttributes(user: user, verb: verb, path: path)
        if decide(a).allowed { return }
        if !options.rbacEnabled, user == .anonymous { throw APIError.unauthorized }
        throw Self.forbidden(a, info: nil)
    }

    func authorize(user: UserInfo, target t: Target, req: APIRequest) throws {
        var a = AuthorizationAttributes(user: user, verb: t.verb, namespace: t.namespace, apiGroup: t.info.group, resource: t.info.resource,
                                        subresource: t.subresource ?? "", name: t.name ?? "")
        if t.verb == "list" || t.verb == "watch", a.name.isEmpty, let n = (try? FieldSelector.parse(req.query("fieldSelector") ?? "", allowed: t.info.extraFieldSelectors))?.exactName {
            // A single-object list/watch may be authorized by resourceNames, as the real server does.
            a.name = n
        }
        if decide(a).allowed { return }
        if !options.rbacEnabled, user == .anonymous { throw APIError.unauthorized }
        throw Self.forbidden(a, info: t.info)
    }

    // MARK: Reviews

    func selfSubjectAccessReview(_ req: APIRequest, user: UserInfo) throws -> APIResponse {
        let opts = try writeOptions(req, optionsKind: "CreateOptions")
        var body = try decodeBody(req, kindForErrors: "SelfSubjectAccessReview")
        let ra = body[path: ["spec", "resourceAttributes"]]
        let nra = body[path: ["spec", "nonResourceAttributes"]]
        if (ra == nil) == (nra == nil) {
            throw APIError(code: 422, reason: StatusReason.invalid,
                           message: ".authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                           details: ["group": "authorization.k8s.io", "causes": [["reason": "FieldValueInvalid", "field": "spec.resourceAttributes",
                                                                                   "message": "Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified"]]])
        }
        let a = AuthorizationAttributes(user: user, review: body["spec"] ?? [:])
        // An empty group is dropped from the echoed spec, as the Go omitempty does.
        if ra?["group"]?.stringValue == "" { body[path: ["spec", "resourceAttributes", "group"]] = nil }
        let d = decide(a)
        var status: JSONObject = ["allowed": .bool(d.allowed)]
        if d.allowed, !d.reason.isEmpty { status["reason"] = .string(d.reason) }
        body["status"] = .object(status)
        body["apiVersion"] = "authorization.k8s.io/v1"
        body["kind"] = "SelfSubjectAccessReview"
        var meta = JSONObject()
        let recorded: JSONValue = ["apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": body["spec"] ?? [:]]
        let reviewSchema = schemas?.schema(apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview")
        meta["managedFields"] = FieldManager.recordUpdate(old: nil, new: recorded, manager: opts.manager, subresource: nil,
                                                          time: Time.now(), schema: reviewSchema)[path: ["metadata", "managedFields"]]
        body["metadata"] = .object(meta.filter { $0.value != .null })
        return .json(201, body)
    }

    /// What `user` may do in `spec.namespace` (`kubectl auth can-i --list`): the rules of every
    /// ClusterRoleBinding and RoleBinding there that names the user, as kube-apiserver's RBAC rule
    /// resolver lists them (unmerged, in binding order), after the rules every authenticated user has.
    func selfSubjectRulesReview(_ req: APIRequest, user: UserInfo) throws -> APIResponse {
        var body = try decodeBody(req, kindForErrors: "SelfSubjectRulesReview")
        let namespace = body[path: ["spec", "namespace"]]?.stringValue ?? ""
        var resourceRules: [JSONValue] = []
        var nonResourceRules: [JSONValue] = []
        func add(_ rule: JSONValue) {
            if rule["nonResourceURLs"] != nil {
                nonResourceRules.append(["verbs": rule["verbs"] ?? [], "nonResourceURLs": rule["nonResourceURLs"] ?? []])
            } else {
                var entry: JSONObject = ["verbs": rule["verbs"] ?? [], "apiGroups": rule["apiGroups"] ?? [], "resources": rule["resources"] ?? []]
                if let names = rule["resourceNames"] { entry["resourceNames"] = names }
                resourceRules.append(.object(entry))
            }
        }
        if user.isMaster || !options.rbacEnabled {
            add(["verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]])
            add(["verbs": ["*"], "nonResourceURLs": ["*"]])
        } else {
            if user.groups.contains("system:authenticated") {
                add(["verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]])
                add(["verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]])
                add(["verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                                                          "/readyz", "/version", "/version/"]])
            }
            state.withLock { state in
                for crb in state.store.list("rbac.authorization.k8s.io/clusterrolebindings", namespace: nil).map(\.object)
                where RBACAuthorizer.bound(crb, user) {
                    RBACAuthorizer.roleRules(crb["roleRef"], namespace: nil, store: state.store).forEach(add)
                }
                if !namespace.isEmpty {
                    for rb in state.store.list("rbac.authorization.k8s.io/rolebindings", namespace: namespace).map(\.object)
                    where RBACAuthorizer.bound(rb, user) {
                        RBACAuthorizer.roleRules(rb["roleRef"], namespace: namespace, store: state.store).forEach(add)
                    }
                }
            }
        }
        body["apiVersion"] = "authorization.k8s.io/v1"
        body["kind"] = "SelfSubjectRulesReview"
        body["metadata"] = ["creationTimestamp": nil]
        body["status"] = ["resourceRules": .array(resourceRules), "nonResourceRules": .array(nonResourceRules), "incomplete": false]
        return .json(201, body)
    }

    /// `Impersonate-User` / `Impersonate-Group` (kubectl `--as`, `--as-group`): the request runs as
    /// that user when the real one may `impersonate` users (or service accounts) and groups.
    func impersonated(_ req: APIRequest, as real: UserInfo) throws -> UserInfo {
        guard let name = req.header("Impersonate-User"), !name.isEmpty else { return real }
        var groups = req.headers.filter { $0.name.caseInsensitiveCompare("Impersonate-Group") == .orderedSame }.map(\.value)
        let parts = name.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let isServiceAccount = parts.count == 4 && parts[0] == "system" && parts[1] == "serviceaccount"
        let check = isServiceAccount
            ? AuthorizationAttributes(user: real, verb: "impersonate", namespace: parts[2], apiGroup: "", resource: "serviceaccounts", subresource: "", name: parts[3])
            : AuthorizationAttributes(user: real, verb: "impersonate", namespace: nil, apiGroup: "", resource: "users", subresource: "", name: name)
        guard decide(check).allowed else {
            throw APIError(code: 403, reason: StatusReason.forbidden,
                           message: "\(isServiceAccount ? "serviceaccounts" : "users") \"\(isServiceAccount ? parts[3] : name)\" is forbidden: User \"\(real.name)\" cannot impersonate resource \"\(isServiceAccount ? "serviceaccounts" : "users")\" in API group \"\"\(isServiceAccount ? " in the namespace \"\(parts[2])\"" : " at the cluster scope")",
                           details: .object([:]))
        }
        if isServiceAccount { groups += ["system:serviceaccounts", "system:serviceaccounts:\(parts[2])"] }
        if !groups.contains("system:authenticated") && name != UserInfo.anonymous.name { groups.append("system:authenticated") }
        return UserInfo(name: name, groups: groups)
    }

    func subjectAccessReview(_ req: APIRequest) throws -> APIResponse {
        var body = try decodeBody(req, kindForErrors: "SubjectAccessReview")
        let spec = body["spec"] ?? [:]
        let user = UserInfo(name: spec["user"]?.stringValue ?? "", groups: spec["groups"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let a = AuthorizationAttributes(user: user, review: spec)
        let d = decide(a)
        body["status"] = d.reason.isEmpty ? ["allowed": .bool(d.allowed)] : ["allowed": .bool(d.allowed), "reason": .string(d.reason)]
        return .json(201, body)
    }

    func selfSubjectReview(_ req: APIRequest, user: UserInfo) -> APIResponse {
        .json(201, ["apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": ["creationTimestamp": .string(Time.now())],
                    "status": ["userInfo": ["username": .string(user.name), "uid": .string("\(user.name)-uid"),
                                            "groups": .array(user.groups.map(JSONValue.string))]]])
    }

    /// POST serviceaccounts/NAME/token: a TokenRequest answered with a token this server accepts.
    func tokenRequest(_ req: APIRequest, _ t: Target) throws -> APIResponse {
        guard let name = t.name, let ns = t.namespace else { throw APIError.resourceNotFound() }
        guard state.withLock({ $0.store.get(t.info.storageKey, namespace: ns, name: name) }) != nil else { throw APIError.notFound(t.info, name) }
        var body = (try? decodeBody(req, kindForErrors: "TokenRequest")) ?? [:]
        let seconds = body[path: ["spec", "expirationSeconds"]]?.intValue ?? 3600
        body["apiVersion"] = "authentication.k8s.io/v1"
        body["kind"] = "TokenRequest"
        body["metadata"] = ["name": .string(name), "namespace": .string(ns), "creationTimestamp": .null]
        body[path: ["spec", "expirationSeconds"]] = .int(seconds)
        body["status"] = ["token": .string(serviceAccountToken(namespace: ns, name: name)),
                          "expirationTimestamp": .string(Time.format(Date().addingTimeInterval(Double(seconds))))]
        return .json(201, body)
    }
}

extension AuthorizationAttributes {
    /// The attributes an access review's spec asks about (`resourceAttributes` or `nonResourceAttributes`).
    init(user: UserInfo, review spec: JSONValue) {
        self.init(user: user, verb: "")
        if let ra = spec["resourceAttributes"] {
            verb = ra["verb"]?.stringValue ?? ""
            namespace = ra["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            apiGroup = ra["group"]?.stringValue ?? ""
            resource = ra["resource"]?.stringValue ?? ""
            subresource = ra["subresource"]?.stringValue ?? ""
            name = ra["name"]?.stringValue ?? ""
        } else if let nra = spec["nonResourceAttributes"] {
            verb = nra["verb"]?.stringValue ?? ""
            path = nra["path"]?.stringValue ?? ""
        }
    }
}
