import Crypto
import Foundation
import KubeCore

/// /version, /api, /apis, APIResourceLists, aggregated discovery v2 and the OpenAPI documents.
extension APIServerCore {
    static let versionInfo: JSONValue = [
        "major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36", "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35", "gitVersion": "v1.36.2", "gitCommit": "98b35193b2ac7a23a673325f5e9b830ecd5ba406",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.26.4", "compiler": "gc", "platform": "linux/amd64",
    ]

    static let aggregatedMediaType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

    enum DiscoveryAccept { case plain, yaml, aggregated, notAcceptable, aggregatedOnlyOld }

    func discoveryAccept(_ req: APIRequest) -> DiscoveryAccept {
        let accept = req.header("Accept") ?? "application/json"
        var sawOld = false
        for clause in accept.split(separator: ",") {
            let parts = clause.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            let media = parts.first?.lowercased() ?? ""
            var params: [String: String] = [:]
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 { params[kv[0]] = kv[1] }
            }
            if params["g"] == "apidiscovery.k8s.io" {
                if params["v"] == "v2", params["as"] == "APIGroupDiscoveryList" { return .aggregated }
                sawOld = true
                continue
            }
            if !params.isEmpty, params["as"] != nil { continue }
            if media == "application/json" || media == "*/*" || media == "application/*" || media.isEmpty { return .plain }
            if media == "application/yaml" { return .yaml }
        }
        return sawOld ? .aggregatedOnlyOld : .notAcceptable
    }

    func nonResource(_ req: APIRequest, segs: [String]) throws -> APIResponse {
        let path = "/" + segs.joined(separator: "/")
        switch path {
        case "/version": return .json(200, Self.versionInfo)
        case "/healthz", "/livez", "/readyz":
            return APIResponse(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: .data(Data("ok".utf8)))
        case "/api":
            return try discoveryAnswer(req, plain: ["kind": "APIVersions", "versions": ["v1"],
                                                    "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string("\(options.host):\(boundPort.withLock { $0 })")]]],
                                       aggregated: { self.aggregated(groups: [""]) })
        case "/apis":
            let groups = state.withLock { $0.registry.groupOrder }
            let list: [JSONValue] = groups.map { g in
                let versions = state.withLock { $0.registry.versions(ofGroup: g) }
                let vs: [JSONValue] = versions.map { ["groupVersion": .string("\(g)/\($0)"), "version": .string($0)] }
                return ["name": .string(g), "versions": .array(vs), "preferredVersion": vs.first ?? .null]
            }
            return try discoveryAnswer(req, plain: ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(list)],
                                       aggregated: { self.aggregated(groups: groups) })
        default: break
        }
        if segs.count == 2, segs[0] == "apis" {
            let versions = state.withLock { $0.registry.versions(ofGroup: segs[1]) }
            guard !versions.isEmpty else { return .text404() }
            let vs: [JSONValue] = versions.map { ["groupVersion": .string("\(segs[1])/\($0)"), "version": .string($0)] }
            return .json(200, ["kind": "APIGroup", "apiVersion": "v1", "name": .string(segs[1]), "versions": .array(vs),
                               "preferredVersion": vs.first ?? .null])
        }
        if segs.first == "openapi" { return openAPI(req, segs: segs) }
        return .text404()
    }

    func discoveryAnswer(_ req: APIRequest, plain: JSONValue, aggregated: () -> JSONValue) throws -> APIResponse {
        switch discoveryAccept(req) {
        case .plain: return .json(200, plain)
        case .yaml: return APIResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: .data(Data(YAMLWriter.write(plain).utf8)))
        case .aggregated:
            let doc = aggregated()
            let body = doc.serialized()
            let etag = "\"\(String(format: "%016llx", Self.fnv(body)))\""
            var headers: [(name: String, value: String)] = [("Vary", "Accept"), ("Etag", etag), ("Cache-Control", "public")]
            if req.header("If-None-Match") == etag { return APIResponse(status: 304, headers: headers) }
            headers.insert(("Content-Type", Self.aggregatedMediaType), at: 0)
            return APIResponse(status: 200, headers: headers, body: .data(body))
        case .aggregatedOnlyOld:
            throw APIError(code: 406, reason: StatusReason.notAcceptable,
                           message: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        case .notAcceptable:
            throw APIError(code: 406, reason: StatusReason.notAcceptable,
                           message: "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf",
                           details: .object([:]))
        }
    }

    static func fnv(_ d: Data) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in d { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }

    /// Top-level resources of one group/version (subresources folded in), in name order.
    func resources(group: String, version: String) -> [ResourceInfo] {
        state.withLock { st in st.registry.resources.filter { $0.group == group && $0.version == version } }
            .sorted { $0.resource < $1.resource }
    }

    func discoveryResourceList(_ req: APIRequest, group: String, version: String) throws -> APIResponse {
        var list: [JSONValue] = []
        for r in resources(group: group, version: version) {
            var e: JSONObject = ["name": .string(r.resource), "singularName": .string(r.singular), "namespaced": .bool(r.namespaced),
                                 "kind": .string(r.kind), "verbs": .array(r.verbs.map(JSONValue.string))]
            if !r.shortNames.isEmpty { e["shortNames"] = .array(r.shortNames.map(JSONValue.string)) }
            if !r.categories.isEmpty { e["categories"] = .array(r.categories.map(JSONValue.string)) }
            e["storageVersionHash"] = .string(Self.storageVersionHash(r))
            list.append(.object(e))
            for s in subresources(r) {
                var se: JSONObject = ["name": .string("\(r.resource)/\(s.name)"), "singularName": "", "namespaced": .bool(r.namespaced),
                                      "kind": .string(s.kind), "verbs": .array(s.verbs.map(JSONValue.string))]
                if let g = s.group { se["group"] = .string(g); se["version"] = .string(s.version ?? "") }
                list.append(.object(se))
            }
        }
        let gv = group.isEmpty ? version : "\(group)/\(version)"
        var doc: JSONObject = ["kind": "APIResourceList", "groupVersion": .string(gv), "resources": .array(list)]
        if !group.isEmpty { doc["apiVersion"] = "v1" }
        switch discoveryAccept(req) {
        case .yaml: return APIResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: .data(Data(YAMLWriter.write(.object(doc)).utf8)))
        case .notAcceptable, .aggregatedOnlyOld:
            throw APIError(code: 406, reason: StatusReason.notAcceptable,
                           message: "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf",
                           details: .object([:]))
        default: return .json(200, .object(doc))
        }
    }

    /// base64 of the first 8 bytes of sha256("group/version/Kind"), as kube-apiserver computes it.
    static func storageVersionHash(_ r: ResourceInfo) -> String {
        let digest = SHA256.hash(data: Data("\(r.group)/\(r.version)/\(r.kind)".utf8))
        return Data(Array(digest).prefix(8)).base64EncodedString()
    }

    struct SubresourceInfo { var name: String; var kind: String; var verbs: [String]; var group: String?; var version: String? }

    func subresources(_ r: ResourceInfo) -> [SubresourceInfo] {
        var out: [SubresourceInfo] = []
        for s in r.discoveryOnlySubresources {
            // Evictions are policy/v1 objects served under pods.
            let policy = s.name == "eviction"
            out.append(SubresourceInfo(name: s.name, kind: s.kind, verbs: s.verbs, group: policy ? "policy" : nil, version: policy ? "v1" : nil))
        }
        if r.scale != nil { out.append(SubresourceInfo(name: "scale", kind: "Scale", verbs: ["get", "patch", "update"], group: "autoscaling", version: "v1")) }
        if r.hasStatus { out.append(SubresourceInfo(name: "status", kind: r.kind, verbs: ["get", "patch", "update"])) }
        // CRDs list status before scale; built-ins are in name order (fixture 01).
        return r.isCustom ? out.reversed() : out.sorted { $0.name < $1.name }
    }

    func aggregated(groups: [String]) -> JSONValue {
        var items: [JSONValue] = []
        for g in groups {
            let versions = state.withLock { $0.registry.versions(ofGroup: g) }
            var vs: [JSONValue] = []
            for v in versions {
                var res: [JSONValue] = []
                for r in resources(group: g, version: v) {
                    let kindGroup: String = r.isCustom ? r.group : ""
                    let kindVersion: String = r.isCustom ? r.version : ""
                    var e: JSONObject = ["resource": .string(r.resource), "singularResource": .string(r.singular),
                                         "scope": .string(r.namespaced ? "Namespaced" : "Cluster"),
                                         "responseKind": ["group": .string(kindGroup), "version": .string(kindVersion), "kind": .string(r.kind)],
                                         "verbs": .array(r.verbs.map(JSONValue.string))]
                    if !r.shortNames.isEmpty { e["shortNames"] = .array(r.shortNames.map(JSONValue.string)) }
                    if !r.categories.isEmpty { e["categories"] = .array(r.categories.map(JSONValue.string)) }
                    let subs = subresources(r)
                    if !subs.isEmpty {
                        e["subresources"] = .array(subs.map { s in
                            ["subresource": .string(s.name),
                             "responseKind": ["group": .string(s.group ?? kindGroup), "version": .string(s.version ?? kindVersion), "kind": .string(s.kind)],
                             "verbs": .array(s.verbs.map(JSONValue.string))]
                        })
                    }
                    res.append(.object(e))
                }
                vs.append(["version": .string(v), "resources": .array(res), "freshness": "Current"])
            }
            items.append(["metadata": g.isEmpty ? [:] : ["name": .string(g)], "versions": .array(vs)])
        }
        return ["kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": [:], "items": .array(items)]
    }

    // MARK: OpenAPI

    /// `/openapi/v3` (the index, with `?hash=` URLs) and one document per group-version: the bundled
    /// recorded documents for built-in groups, and documents made from the registry (paths with the
    /// `x-kubernetes-group-version-kind` PATCH operations kubectl's field-validation check looks for,
    /// CRD schemas) for everything else.
    func openAPI(_ req: APIRequest, segs: [String]) -> APIResponse {
        guard segs.count >= 2, segs[1] == "v3" else { return .text404() }
        let rest = segs.dropFirst(2).joined(separator: "/")
        let registry = state.withLock { $0.registry }
        if rest.isEmpty {
            var paths: JSONObject = [:]
            var seen = Set<String>()
            for r in registry.resources {
                let p = r.group.isEmpty ? "api/\(r.version)" : "apis/\(r.group)/\(r.version)"
                guard seen.insert(p).inserted, let doc = openAPIDocument(group: r.group, version: r.version, registry: registry) else { continue }
                paths[p] = ["serverRelativeURL": .string("/openapi/v3/\(p)?hash=\(String(format: "%016llX", Self.fnv(doc)))")]
            }
            return .json(200, ["paths": .object(paths)])
        }
        let parts = rest.split(separator: "/").map(String.init)
        let gv: (String, String)?
        if parts.count == 2, parts[0] == "api" {
            gv = ("", parts[1])
        } else if parts.count == 3, parts[0] == "apis" {
            gv = (parts[1], parts[2])
        } else {
            gv = nil
        }
        guard let (group, version) = gv, let data = openAPIDocument(group: group, version: version, registry: registry) else { return .text404() }
        // Hash-pinned URLs are immutable; the ETag is the document's hash, as /openapi/v3 publishes it.
        let etag = "\"\(String(format: "%016llX", Self.fnv(data)))\""
        let pinned = req.query("hash") != nil
        var headers: [(name: String, value: String)] = [("Accept-Ranges", "bytes"), ("Content-Type", "application/json"), ("Etag", etag), ("Vary", "Accept"),
                                                        ("Cache-Control", pinned ? "public, immutable" : "no-cache, private")]
        if pinned { headers.append(("Expires", HTTPSListener.httpDate(Date().addingTimeInterval(86_400 * 365)))) }
        if req.header("If-None-Match") == etag { return APIResponse(status: 304, headers: headers) }
        return APIResponse(status: 200, headers: headers, body: .data(data))
    }

    func openAPIDocument(group: String, version: String, registry: ResourceRegistry) -> Data? {
        let resources = registry.resources.filter { $0.group == group && $0.version == version }
        guard !resources.isEmpty else { return nil }
        if !resources.contains(where: \.isCustom) {
            let file = group.isEmpty ? "core-\(version)" : "\(group)-\(version)"
            if let url = Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "Resources/openapi-v3")
                ?? Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "openapi-v3"),
               let data = try? Data(contentsOf: url) {
                return data
            }
        }
        return Self.synthesizedOpenAPI(group: group, version: version, resources: resources, crdSchemas: crdSchemas(group: group, version: version))
    }

    /// openAPIV3Schema of each CRD kind served in a group-version.
    func crdSchemas(group: String, version: String) -> [String: JSONValue] {
        let crds = state.withLock { $0.store.list("apiextensions.k8s.io/customresourcedefinitions", namespace: nil) }
        var out: [String: JSONValue] = [:]
        for c in crds where c.object[path: ["spec", "group"]]?.stringValue == group {
            guard let kind = c.object[path: ["spec", "names", "kind"]]?.stringValue else { continue }
            for v in c.object[path: ["spec", "versions"]]?.arrayValue ?? [] where v["name"]?.stringValue == version {
                if let schema = v[path: ["schema", "openAPIV3Schema"]] { out[kind] = schema }
            }
        }
        return out
    }

    static func synthesizedOpenAPI(group: String, version: String, resources: [ResourceInfo], crdSchemas: [String: JSONValue]) -> Data {
        let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        let schemaPrefix = (group.isEmpty ? ["io", "k8s", "api", "core"] : group.split(separator: ".").reversed().map(String.init)).joined(separator: ".")
        var paths: JSONObject = [:]
        var schemas: JSONObject = [:]
        func param(_ name: String, _ place: String = "query") -> JSONValue {
            ["name": .string(name), "in": .string(place), "schema": ["type": "string", "uniqueItems": true], "required": .bool(place == "path")]
        }
        for r in resources {
            let gvk: JSONValue = ["group": .string(group), "version": .string(version), "kind": .string(r.kind)]
            let ref: JSONValue = ["$ref": .string("#/components/schemas/\(schemaPrefix).\(version).\(r.kind)")]
            func op(_ action: String, _ params: [String]) -> JSONValue {
                ["operationId": .string("\(action)\(r.kind)"), "x-kubernetes-action": .string(action), "x-kubernetes-group-version-kind": gvk,
                 "parameters": .array(params.map { param($0) }),
                 "responses": ["200": ["description": "OK", "content": ["application/json": ["schema": ref]]]]]
            }
            let writeParams = ["dryRun", "fieldManager", "fieldValidation"]
            let collection = r.namespaced ? "\(base)/namespaces/{namespace}/\(r.resource)" : "\(base)/\(r.resource)"
            var common: [JSONValue] = r.namespaced ? [param("namespace", "path")] : []
            paths[collection] = ["get": op("list", ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]),
                                 "post": op("post", writeParams), "parameters": .array(common)]
            common.append(param("name", "path"))
            paths["\(collection)/{name}"] = ["get": op("get", []), "put": op("put", writeParams), "delete": op("delete", ["dryRun"]),
                                             "patch": op("patch", writeParams + ["force"]), "parameters": .array(common)]
            var schema = crdSchemas[r.kind] ?? ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
            schema["x-kubernetes-group-version-kind"] = [gvk]
            schemas["\(schemaPrefix).\(version).\(r.kind)"] = schema
        }
        let doc: JSONValue = ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.36.2"],
                              "paths": .object(paths), "components": ["schemas": .object(schemas)]]
        return doc.serialized()
    }
}

/// A small YAML emitter for discovery answers (block style, strings quoted when needed).
enum YAMLWriter {
    static func write(_ v: JSONValue) -> String {
        var out = ""
        emit(v, indent: 0, into: &out, inList: false)
        return out
    }

    static func scalar(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s):
            if s.isEmpty { return "\"\"" }
            let special = ["true", "false", "null", "yes", "no", "on", "off", "~"]
            if special.contains(s.lowercased()) || Double(s) != nil || s.contains(": ") || s.hasPrefix("-") || s.hasPrefix(" ")
                || s.contains("#") || s.contains("\n") || s.first.map({ "{}[]&*!|>'\"%@`,?:".contains($0) }) == true {
                return JSONValue.string(s).serializedString()
            }
            return s
        default: return ""
        }
    }

    static func emit(_ v: JSONValue, indent: Int, into out: inout String, inList: Bool) {
        let pad = String(repeating: " ", count: indent)
        switch v {
        case .object(let o):
            if o.isEmpty { out += "{}\n"; return }
            var first = true
            for k in o.keys.sorted() {
                let value = o[k] ?? .null
                let prefix = (inList && first) ? "" : pad
                first = false
                switch value {
                case .object(let c) where !c.isEmpty:
                    out += "\(prefix)\(k):\n"
                    emit(value, indent: indent + 2, into: &out, inList: false)
                case .array(let a) where !a.isEmpty:
                    out += "\(prefix)\(k):\n"
                    emit(value, indent: indent, into: &out, inList: false)
                case .array: out += "\(prefix)\(k): []\n"
                case .object: out += "\(prefix)\(k): {}\n"
                default: out += "\(prefix)\(k): \(scalar(value))\n"
                }
            }
        case .array(let a):
            for item in a {
                switch item {
                case .object(let o) where !o.isEmpty:
                    out += "\(pad)- "
                    emit(item, indent: indent + 2, into: &out, inList: true)
                default:
                    out += "\(pad)- \(scalar(item))\n"
                }
            }
        default:
            out += scalar(v) + "\n"
        }
    }
}
