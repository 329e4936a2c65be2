import Foundation
import KubeCore
import KubeYAML
import Synchronization

/// Mutable state of the API server, guarded by one lock so that a write, its resourceVersion and
/// its watch fan-out are one atomic step.
struct ServerState: Sendable {
    var store: ObjectStore
    var registry = ResourceRegistry()
    var allocatedIPs: Set<UInt32> = []
    var nextIP: UInt32 = 10
}

/// The request handler shared by the HTTPS listener and the in-memory transport.
final class APIServerCore: Sendable {
    let options: KubeTestServerOptions
    let state: Mutex<ServerState>
    let schemas: SchemaRegistry?
    let tokens: Mutex<[String: UserInfo]>
    let counters = Mutex<[String: Int]>([:])
    /// Faults switched on by tests (FaultInjection.swift).
    let faults = FaultInjector()
    /// Simulated kube-controller-manager and kubelet (Simulation/).
    let simulation: ControllerSimulator
    let adminToken: String
    /// Signing secret of ServiceAccount tokens (per server, so tokens of another run are unknown).
    let serviceAccountSecret: String
    let gcWake = Mutex<Bool>(false)
    /// The listening port once bound (for discovery's serverAddressByClientCIDRs).
    let boundPort = Mutex<Int>(0)
    /// Connections accepted by the listeners, for tests of connection reuse.
    let connectionStats = ConnectionStats()

    init(options: KubeTestServerOptions) {
        self.options = options
        var st = ServerState(store: ObjectStore(window: options.watchEventWindow))
        let simulation = ControllerSimulator(settings: options.simulation)
        self.simulation = simulation
        st.store.collector.enabled = options.controllerManagerEnabled
        Self.bootstrap(&st)
        if options.controllerManagerEnabled {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] { Self.ensureDefaultServiceAccount(namespace: ns, st: &st) }
        }
        st.store.onCommit = { event in simulation.noteCommit(event) }
        state = Mutex(st)
        schemas = try? SchemaRegistry.builtin()
        adminToken = "admin-" + Self.randomToken(24)
        serviceAccountSecret = Self.randomToken(16)
        tokens = Mutex([adminToken: UserInfo(name: "admin", groups: ["system:masters", "system:authenticated"])])
        simulation.attach(self)
    }

    static func randomToken(_ n: Int) -> String {
        let chars = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<n).map { _ in chars[Int.random(in: 0..<chars.count)] })
    }

    /// Namespaces that exist at start, as in a fresh cluster: created by kube-apiserver itself (its
    /// field manager owns the name label), in the order it creates them (fixture 27's resourceVersions).
    static func bootstrap(_ st: inout ServerState) {
        guard let info = st.registry.lookup(group: "", version: "v1", resource: "namespaces") else { return }
        for ns in ["kube-system", "kube-public", "default", "kube-node-lease"] {
            var obj: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]]
            BuiltinDefaults.apply(to: &obj, info: info)
            let now = Time.now()
            obj[path: ["metadata", "uid"]] = .string(UUID().uuidString.lowercased())
            obj[path: ["metadata", "creationTimestamp"]] = .string(now)
            obj[path: ["metadata", "managedFields"]] = [[
                "manager": "kube-apiserver", "operation": "Update", "apiVersion": "v1", "time": .string(now), "fieldsType": "FieldsV1",
                "fieldsV1": ["f:metadata": ["f:labels": [".": [:], "f:kubernetes.io/metadata.name": [:]]]],
            ]]
            BuiltinDefaults.applyAfterFieldManager(to: &obj, info: info)
            _ = st.store.put(info.storageKey, info: info, object: obj)
        }
    }

    /// The ServiceAccount controller's part: every namespace gets a `default` ServiceAccount.
    static func ensureDefaultServiceAccount(namespace: String, st: inout ServerState) {
        guard let info = st.registry.lookup(group: "", version: "v1", resource: "serviceaccounts"),
              st.store.get(info.storageKey, namespace: namespace, name: "default") == nil else { return }
        let sa: JSONValue = ["apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": ["name": "default", "namespace": .string(namespace), "uid": .string(UUID().uuidString.lowercased()),
                                          "creationTimestamp": .string(Time.now())]]
        _ = st.store.put(info.storageKey, info: info, object: sa)
    }

    // MARK: Entry point

    func handle(_ req: APIRequest) async -> APIResponse {
        do {
            return try await route(req)
        } catch let e as APIError {
            return e.response
        } catch is TextNotFound {
            return APIResponse.text404()
        } catch let e as EngineError {
            return APIError(engine: e).response
        } catch {
            return APIError(code: 500, reason: StatusReason.internalError, message: "Internal error occurred: \(error)").response
        }
    }

    /// Ends every open watch (server stopping).
    func shutdown() {
        let channels = state.withLock { st -> [WatchChannel] in
            let c = st.store.watchers.values.map(\.channel)
            st.store.watchers.removeAll()
            return c
        }
        channels.forEach { $0.finish() }
    }

    /// Breaks every open watch as a dropped connection would (server restart): the stream ends
    /// with an error instead of its terminating chunk.
    func abortWatches() {
        let channels = state.withLock { st -> [WatchChannel] in
            let c = st.store.watchers.values.map(\.channel)
            st.store.watchers.removeAll()
            return c
        }
        channels.forEach { $0.abort() }
    }

    // MARK: Authentication

    func authenticate(_ req: APIRequest) throws(APIError) -> UserInfo {
        if let auth = req.header("Authorization") {
            let parts = auth.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthorized }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            if let u = tokens.withLock({ $0[token] }) { return u }
            if let u = serviceAccountUser(token: token) { return u }
            throw APIError.unauthorized
        }
        if let u = req.certificateUser { return u }
        return .anonymous
    }

    func serviceAccountToken(namespace: String, name: String) -> String {
        let payload = "\(namespace):\(name)"
        let b64 = Data(payload.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        return "sa.\(b64).\(Self.tokenMAC(payload, secret: serviceAccountSecret))"
    }

    static func tokenMAC(_ payload: String, secret: String) -> String {
        // FNV-1a over secret+payload: enough to make tokens unguessable across runs in tests.
        var h: UInt64 = 0xcbf29ce484222325
        for b in (secret + "|" + payload).utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return String(h, radix: 16)
    }

    func serviceAccountUser(token: String) -> UserInfo? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, parts[0] == "sa" else { return nil }
        var b64 = String(parts[1])
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let payload = String(data: data, encoding: .utf8),
              Self.tokenMAC(payload, secret: serviceAccountSecret) == parts[2] else { return nil }
        let nn = payload.split(separator: ":", maxSplits: 1)
        guard nn.count == 2 else { return nil }
        return UserInfo(name: "system:serviceaccount:\(nn[0]):\(nn[1])",
                        groups: ["system:serviceaccounts", "system:serviceaccounts:\(nn[0])", "system:authenticated"])
    }

    // MARK: Counters

    func count(verb: String, resource: String) {
        counters.withLock { $0["\(verb) \(resource)", default: 0] += 1 }
    }

    // MARK: Routing

    /// What a resource path names.
    struct Target: Sendable {
        var info: ResourceInfo
        var namespace: String?
        var name: String?
        var subresource: String?
        var verb: String
        var watchPath: Bool
    }

    static let publicPaths: Set<String> = ["/version", "/healthz", "/livez", "/readyz", "/version/"]

    func route(_ req: APIRequest) async throws -> APIResponse {
        let user = try impersonated(req, as: try authenticate(req))
        let segs = req.path.split(separator: "/").map(String.init)

        // Non-resource paths.
        if segs.isEmpty || !(segs[0] == "api" || segs[0] == "apis") || (segs[0] == "apis" && segs.count < 3) || (segs[0] == "api" && segs.count < 2) {
            try authorizeNonResource(user: user, path: req.path, verb: req.method == "GET" ? "get" : req.method.lowercased())
            count(verb: "get", resource: req.path)
            return try nonResource(req, segs: segs)
        }

        let group: String, version: String, rest: [String]
        if segs[0] == "api" {
            group = ""; version = segs[1]; rest = Array(segs.dropFirst(2))
        } else {
            group = segs[1]; version = segs[2]; rest = Array(segs.dropFirst(3))
        }
        let served = state.withLock { $0.registry.servesGroupVersion(group: group, version: version) }
        guard served else {
            try authorizeNonResource(user: user, path: req.path, verb: "get")
            return APIResponse.text404()
        }
        if rest.isEmpty {
            try authorizeNonResource(user: user, path: req.path, verb: "get")
            return try discoveryResourceList(req, group: group, version: version)
        }
        let target = try resolve(req, group: group, version: version, rest: rest)
        try authorize(user: user, target: target, req: req)
        let resource = target.subresource.map { "\(target.info.resource)/\($0)" } ?? target.info.resource
        count(verb: target.verb, resource: resource)
        // Fault injection: after counting, so counters include injected failures.
        if let injected = await faults.intercept(req, verb: target.verb, resource: resource) { return injected }
        if target.verb == "watch", let forced = faults.forcedExpiry(req) { return forced }
        var response = try await dispatch(req, target, user: user)
        if case .stream(let channel) = response.body, let budget = faults.watchEventBudget {
            channel.limitEvents(budget) { [faults] in faults.noteDroppedWatch() }
        }
        if case .data(let d) = response.body, !d.isEmpty,
           faults.takeCut(verb: target.verb, resource: resource, userAgent: req.header("User-Agent")) {
            response.headers.append((FaultInjector.cutBodyHeader, "1"))
        }
        return response
    }

    /// Runs a resolved, authorized resource request.
    func dispatch(_ req: APIRequest, _ target: Target, user: UserInfo) async throws -> APIResponse {
        switch target.verb {
        case "get":
            if target.subresource == "scale" { return try getScale(req, target) }
            return try getObject(req, target)
        case "list": return try await listObjects(req, target)
        case "watch": return try await watch(req, target)
        case "create":
            if target.info.resource == "selfsubjectaccessreviews" { return try selfSubjectAccessReview(req, user: user) }
            if target.info.resource == "selfsubjectreviews" { return selfSubjectReview(req, user: user) }
            if target.info.resource == "selfsubjectrulesreviews" { return try selfSubjectRulesReview(req, user: user) }
            if target.info.resource == "subjectaccessreviews" { return try subjectAccessReview(req) }
            if target.info.resource == "serviceaccounts", target.subresource == "token" { return try tokenRequest(req, target) }
            return try create(req, target, user: user)
        case "update":
            if target.subresource == "scale" { return try retryingCommitRaces(target) { try updateScale(req, target, user: user, patchType: nil) } }
            return try retryingCommitRaces(target) { try update(req, target, user: user) }
        case "patch":
            if target.subresource == "scale" {
                return try retryingCommitRaces(target) { try updateScale(req, target, user: user, patchType: req.header("Content-Type")) }
            }
            return try retryingCommitRaces(target) { try patch(req, target, user: user) }
        case "delete": return try delete(req, target)
        case "deletecollection": return try deleteCollection(req, target)
        default: throw APIError.methodNotAllowed()
        }
    }

    /// Splits the part after /api/v1 or /apis/G/V into namespace, resource, name, subresource and derives the verb.
    func resolve(_ req: APIRequest, group: String, version: String, rest input: [String]) throws -> Target {
        var rest = input
        var watchPath = false
        if rest.first == "watch" {
            watchPath = true
            rest.removeFirst()
        }
        var namespace: String?
        let registry = state.withLock { $0.registry }
        if rest.count >= 3, rest[0] == "namespaces",
           let r = registry.lookup(group: group, version: version, resource: rest[2]), r.namespaced {
            namespace = rest[1]
            rest.removeFirst(2)
        }
        guard let resource = rest.first, rest.count <= 3 else { throw APIError.resourceNotFound() }
        guard let info = registry.lookup(group: group, version: version, resource: resource) else {
            throw APIError.resourceNotFound()
        }
        let name = rest.count > 1 ? rest[1] : nil
        let sub = rest.count > 2 ? rest[2] : nil
        if info.namespaced, namespace == nil, name != nil { throw APIError.resourceNotFound() }
        if let sub {
            let ok = (sub == "status" && info.hasStatus) || (sub == "scale" && info.scale != nil)
                || (sub == "token" && info.resource == "serviceaccounts" && req.method == "POST")
            guard ok else { throw APIError.resourceNotFound() }
        }

        let verb: String
        switch req.method {
        case "GET", "HEAD":
            if name != nil {
                verb = watchPath ? "watch" : "get"
            } else {
                let w = req.query("watch")
                verb = watchPath || w == "true" || w == "1" ? "watch" : "list"
            }
        case "POST":
            if name != nil, sub != "token" { throw APIError.methodNotAllowed() }
            if info.namespaced, namespace == nil { throw TextNotFound() }
            verb = "create"
        case "PUT":
            guard name != nil else { throw APIError.methodNotAllowed() }
            verb = "update"
        case "PATCH":
            guard name != nil else { throw APIError.methodNotAllowed() }
            verb = "patch"
        case "DELETE":
            if name == nil {
                guard info.verbs.contains("deletecollection") else { throw APIError.methodNotAllowed() }
                verb = "deletecollection"
            } else {
                verb = "delete"
            }
        default: throw APIError.methodNotAllowed()
        }
        if !info.verbs.contains(verb) && sub == nil && !(verb == "watch" && info.verbs.contains("watch")) {
            throw APIError.methodNotAllowed()
        }
        return Target(info: info, namespace: namespace, name: name, subresource: sub, verb: verb, watchPath: watchPath)
    }

    // MARK: Helpers shared by reads and writes

    /// Serializes an object for a response: kind/apiVersion of the served version.
    func present(_ object: JSONValue, _ info: ResourceInfo) -> JSONValue {
        var o = object
        o["apiVersion"] = .string(info.apiVersion)
        o["kind"] = .string(info.kind)
        return o
    }

    /// An object as the resource `info` serves it (events.k8s.io converts the stored core Event).
    func storedObject(_ info: ResourceInfo, namespace: String?, name: String) -> JSONValue? {
        state.withLock { $0.store.get(info.storageKey, namespace: namespace, name: name) }.map { EventConversion.view($0, info) }
    }

    func schema(for info: ResourceInfo) -> SchemaNode? {
        schemas?.schema(apiVersion: info.apiVersion, kind: info.kind)
    }

    /// Decodes a request body by Content-Type (JSON or YAML; 415 otherwise; 400 when unparsable).
    func decodeBody(_ req: APIRequest, kindForErrors: String, allowPatchTypes: Bool = false) throws -> JSONValue {
        let ct = (req.header("Content-Type") ?? "application/json").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? "application/json"
        let text = String(decoding: req.body, as: UTF8.self)
        switch ct {
        case "application/json", "", "*/*", "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json":
            do {
                return try JSONValue(parsing: req.body)
            } catch {
                let snippet = text.count > 30 ? String(text.prefix(30)) + " ..." : text
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(kindForErrors)): couldn't get version/kind; json parse error: \(Self.goJSONError(error, text: text)) (\(snippet))")
            }
        case ProtobufBody.contentType where !allowPatchTypes:
            return try decodeProtobuf(req, kindForErrors: kindForErrors)
        case "application/yaml", "application/apply-patch+yaml":
            do {
                return try YAML.parse(text)
            } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(kindForErrors)): couldn't get version/kind; yaml: \(error)")
            }
        default:
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType,
                           message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        }
    }

    /// A protobuf body (what kubectl sends for built-in kinds): 400 when it cannot be decoded, as
    /// kube-apiserver words it; 415 naming the kind when this server has no schema for it.
    func decodeProtobuf(_ req: APIRequest, kindForErrors: String) throws -> JSONValue {
        let bytes = [UInt8](req.body)
        let envelope: ProtobufBody.Envelope
        do {
            envelope = try ProtobufBody.envelope(bytes)
        } catch {
            throw APIError.badRequest("the object provided is unrecognized (must be of type \(kindForErrors)): \(error.message) (\(ProtobufBody.summary(bytes)))")
        }
        let object: JSONValue?
        do {
            object = try ProtobufBody.object(envelope)
        } catch {
            let version = envelope.apiVersion.split(separator: "/").last.map(String.init) ?? ""
            throw APIError.badRequest("\(envelope.kind) in version \"\(version)\" cannot be handled as a \(kindForErrors): \(error.message)")
        }
        guard let object else {
            let kind = envelope.kind.isEmpty ? kindForErrors : envelope.kind
            throw APIError(code: 415, reason: StatusReason.unsupportedMediaType,
                           message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf bodies are decoded for \(ProtobufBody.supportedKinds.joined(separator: ", ")) only, not \(kind))")
        }
        return object
    }

    static func goJSONError(_ error: Error, text: String) -> String {
        let msg = "\(error)"
        if msg.contains("unexpected end") || msg.contains("unterminated") { return "unexpected end of JSON input" }
        return msg
    }

    /// The object's labels as a string map.
    static func labels(_ o: JSONValue) -> [String: String] {
        o[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
    }
}

/// Thrown where kube-apiserver answers the plain-text 404 of its mux (unknown paths).
struct TextNotFound: Error {}

/// Timestamps as the API server renders them.
enum Time {
    /// RFC 3339 with second precision, UTC.
    static func now() -> String { format(Date()) }

    static func format(_ d: Date) -> String {
        d.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .gmt))
    }

    /// RFC 3339 with exactly 6 fractional digits (MicroTime).
    static func micro(_ d: Date = Date()) -> String {
        let base = format(d).dropLast()
        let us = Int((d.timeIntervalSince1970 - floor(d.timeIntervalSince1970)) * 1_000_000)
        return "\(base).\(String(format: "%06d", us))Z"
    }

    static func parse(_ s: String) -> Date? {
        if let d = try? Date(s, strategy: Date.ISO8601FormatStyle()) { return d }
        return try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
