#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The API client: builds requests with `RequestBuilder`, sends them through any `KubeTransport`,
/// decodes answers, and turns every non-2xx answer into `KubeError.api` carrying the server's
/// `Status` (or one synthesised from the HTTP code when the body is not a Status).
public struct KubeAPIClient: KubernetesReader, KubernetesWriter, KubernetesWatcher, KubernetesDiscovery {
    public let transport: any KubeTransport
    /// The namespace of single-object calls on namespaced kinds when none is given. LIST and WATCH
    /// with a nil namespace span all namespaces.
    public let defaultNamespace: String
    /// Receives the text of every `Warning` header (deprecations, unknown fields, ...).
    public let warningHandler: (@Sendable (String) -> Void)?
    /// Whether an object answered alone (GET, create, update, patch, delete) comes without its
    /// `metadata.managedFields`, checked but never built (`omittingManagedFieldsFromAnswers`).
    public private(set) var answersOmitManagedFields = false

    public init(transport: any KubeTransport, defaultNamespace: String = "default",
                warningHandler: (@Sendable (String) -> Void)? = nil) {
        self.transport = transport
        self.defaultNamespace = defaultNamespace
        self.warningHandler = warningHandler
    }

    /// This client, answering objects without `metadata.managedFields`: for a caller that never
    /// reads them, such as a controller whose caches drop them too. They are often a third of an
    /// object's text, and parsing them into values cost more than the rest of a write's answer.
    public func omittingManagedFieldsFromAnswers() -> KubeAPIClient {
        var client = self
        client.answersOmitManagedFields = true
        return client
    }

    // MARK: - Arbitrary requests

    /// Sends any request (discovery, `/version`, reviews); the body of a 2xx answer as JSON (`.null` when empty).
    public func send(_ request: KubeRequest) async throws -> JSONValue {
        try await sendWithWarnings(request).value
    }

    public func servedResources(groupVersion: String) async throws -> [String]? {
        let path = groupVersion == "v1" ? "/api/v1" : "/apis/\(groupVersion)"
        do {
            let list = try await send(KubeRequest(method: .get, path: path))
            return list["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        } catch let error as KubeError where error.isNotFound {
            return nil
        }
    }

    /// Like `send`, also answering the `Warning` header texts.
    public func sendWithWarnings(_ request: KubeRequest) async throws -> (value: JSONValue, warnings: [String]) {
        let response = try await sendChecked(request)
        return (try Self.decodeBody(response, request: request, omittingManagedFields: answersOmitManagedFields), Self.warnings(in: response.headers))
    }

    /// Sends a request and answers the raw 2xx response (non-2xx throws `KubeError.api`), for
    /// bodies that are not JSON (`/healthz`, logs).
    public func sendChecked(_ request: KubeRequest) async throws -> KubeResponse {
        let response = try await transport.send(request)
        report(Self.warnings(in: response.headers))
        guard (200..<300).contains(response.statusCode) else {
            throw Self.error(statusCode: response.statusCode, headers: response.headers, body: response.body)
        }
        return response
    }

    // MARK: - KubernetesReader

    public func get(_ resource: ResourceType, namespace: String?, name: String, subresource: String? = nil) async throws -> JSONValue {
        try await send(try RequestBuilder(resource).get(namespace: objectNamespace(resource, namespace), name: name, subresource: subresource))
    }

    public func list(_ resource: ResourceType, namespace: String?, options: ListOptions = ListOptions()) async throws -> ObjectList<JSONValue> {
        let request = try RequestBuilder(resource).list(namespace: resource.namespaced ? namespace : nil, options: options)
        return try Self.decodeList(try await send(request), resource: resource)
    }

    public func list(_ resource: ResourceType, namespace: String?, options: ListOptions,
                     transformingItems transform: @Sendable (JSONValue) -> JSONValue, droppingManagedFields: Bool = false) async throws -> ObjectList<JSONValue> {
        let request = try RequestBuilder(resource).list(namespace: resource.namespaced ? namespace : nil, options: options)
        let response = try await sendChecked(request)
        let value: JSONValue
        do {
            value = try JSONValue(parsingList: response.body, transformingItems: transform, droppingManagedFields: droppingManagedFields)
        } catch {
            throw KubeError.decoding("\(request.method.rawValue) \(request.path): answer (HTTP \(response.statusCode)) is not JSON (\(error)): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        return try Self.decodeList(value, resource: resource)
    }

    /// Every item of a collection, following `continue` tokens page by page.
    public func listAll(_ resource: ResourceType, namespace: String?, options: ListOptions = ListOptions()) async throws -> ObjectList<JSONValue> {
        var opts = options
        var items: [JSONValue] = []
        while true {
            let page = try await list(resource, namespace: namespace, options: opts)
            items.append(contentsOf: page.items)
            guard let token = page.metadata.continue, !token.isEmpty else {
                return ObjectList(metadata: ListMeta(resourceVersion: page.metadata.resourceVersion), items: items)
            }
            opts.continue = token
            // A continue token carries its own resourceVersion; sending one too is rejected.
            opts.resourceVersion = nil
            opts.resourceVersionMatch = nil
        }
    }

    // MARK: - KubernetesWriter

    public func create(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions = WriteOptions()) async throws -> JSONValue {
        try await send(try createRequest(resource, namespace: namespace, object: object, options: options))
    }

    public func update(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String? = nil,
                       options: WriteOptions = WriteOptions()) async throws -> JSONValue {
        try await send(try updateRequest(resource, namespace: namespace, name: name, object: object, subresource: subresource, options: options))
    }

    public func create(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions,
                       keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue? {
        try await send(try createRequest(resource, namespace: namespace, object: object, options: options), keepingAnswerIf: keepAnswer)
    }

    public func update(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String?, options: WriteOptions,
                       keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue? {
        try await send(try updateRequest(resource, namespace: namespace, name: name, object: object, subresource: subresource, options: options),
                       keepingAnswerIf: keepAnswer)
    }

    private func createRequest(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions) throws -> KubeRequest {
        let ns = resource.namespaced ? (namespace ?? object[path: ["metadata", "namespace"]]?.stringValue ?? defaultNamespace) : nil
        return try RequestBuilder(resource).create(namespace: ns, body: object.serialized(), options: options)
    }

    private func updateRequest(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String?,
                               options: WriteOptions) throws -> KubeRequest {
        let ns = resource.namespaced ? (namespace ?? object[path: ["metadata", "namespace"]]?.stringValue ?? defaultNamespace) : nil
        return try RequestBuilder(resource).update(namespace: ns, name: name, body: object.serialized(), subresource: subresource, options: options)
    }

    /// Sends a write; its answer is parsed only when `keepAnswer()` says so once it succeeded.
    private func send(_ request: KubeRequest, keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue? {
        let response = try await sendChecked(request)
        guard keepAnswer() else { return nil }
        return try Self.decodeBody(response, request: request, omittingManagedFields: answersOmitManagedFields)
    }

    public func patch(_ resource: ResourceType, namespace: String?, name: String, type: PatchType, body: Data, subresource: String? = nil,
                      options: WriteOptions = WriteOptions()) async throws -> JSONValue {
        try await send(try RequestBuilder(resource).patch(namespace: objectNamespace(resource, namespace), name: name, type: type,
                                                           body: body, subresource: subresource, options: options))
    }

    /// Answers the object when finalizers (or foreground deletion) keep it, nil when it is gone.
    public func delete(_ resource: ResourceType, namespace: String?, name: String, options: DeleteOptions = DeleteOptions()) async throws -> JSONValue? {
        let value = try await send(try RequestBuilder(resource).delete(namespace: objectNamespace(resource, namespace), name: name, options: options))
        if value.isNull || value["kind"]?.stringValue == "Status" { return nil }
        return value
    }

    /// DELETE on a collection (with a label selector); answers the server's reply (a list or Status).
    public func deleteCollection(_ resource: ResourceType, namespace: String?, options: ListOptions = ListOptions()) async throws -> JSONValue {
        try await send(try RequestBuilder(resource).deleteCollection(namespace: objectNamespace(resource, namespace), options: options))
    }

    // MARK: - KubernetesWatcher

    public func watch(_ resource: ResourceType, namespace: String?, options: ListOptions = ListOptions()) async throws -> WatchStream {
        let request = try RequestBuilder(resource).watch(namespace: resource.namespaced ? namespace : nil, options: options)
        let response = try await transport.stream(request)
        report(Self.warnings(in: response.headers))
        guard (200..<300).contains(response.statusCode) else {
            let body = try await Self.drain(response.body, limit: 1 << 20)
            throw Self.error(statusCode: response.statusCode, headers: response.headers, body: body)
        }
        return WatchStream(source: response.body)
    }

    // MARK: - Helpers

    private func objectNamespace(_ resource: ResourceType, _ namespace: String?) -> String? {
        guard resource.namespaced else { return nil }
        if let namespace, !namespace.isEmpty { return namespace }
        return defaultNamespace
    }

    private func report(_ warnings: [String]) {
        guard let warningHandler else { return }
        for w in warnings { warningHandler(w) }
    }

    /// Reads a stream's body up to `limit` bytes (an error answer is small), then stops it.
    static func drain(_ source: any ByteChunkSource, limit: Int) async throws -> Data {
        var data = Data()
        while data.count < limit, let chunk = try await source.next() { data.append(chunk) }
        source.cancel()
        return data
    }

    static func decodeBody(_ response: KubeResponse, request: KubeRequest, omittingManagedFields: Bool = false) throws -> JSONValue {
        if response.body.isEmpty { return .null }
        do {
            if omittingManagedFields { return try JSONValue(parsing: response.body, droppingManagedFieldsAt: 0) }
            return try JSONValue(parsing: response.body)
        } catch {
            throw KubeError.decoding("\(request.method.rawValue) \(request.path): answer (HTTP \(response.statusCode)) is not JSON (\(error)): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
    }

    /// A LIST answer: its metadata and items. Items lack `kind`/`apiVersion` on the wire; they get
    /// them from the list (`ConfigMapList` → `ConfigMap`) so each item stands alone.
    static func decodeList(_ value: JSONValue, resource: ResourceType) throws -> ObjectList<JSONValue> {
        guard case .object(let o) = value else { throw KubeError.decoding("LIST \(resource): answer is not an object") }
        let meta: ListMeta
        do {
            meta = try (o["metadata"] ?? .object([:])).decode(ListMeta.self)
        } catch {
            throw KubeError.decoding("LIST \(resource): metadata: \(error)")
        }
        guard let rawItems = o["items"], !rawItems.isNull else { return ObjectList(metadata: meta, items: []) }
        guard let array = rawItems.arrayValue else { throw KubeError.decoding("LIST \(resource): items is not an array") }
        let listKind = o["kind"]?.stringValue ?? ""
        let kind = listKind.hasSuffix("List") ? String(listKind.dropLast(4)) : resource.kind
        let apiVersion = o["apiVersion"]?.stringValue ?? resource.apiVersion
        let items = array.map { item -> JSONValue in
            guard case .object(var io) = item else { return item }
            if io["kind"] == nil { io["kind"] = .string(kind) }
            if io["apiVersion"] == nil { io["apiVersion"] = .string(apiVersion) }
            return .object(io)
        }
        return ObjectList(metadata: meta, items: items)
    }

    /// The texts of `Warning: 299 - "text"` headers (the raw value when it is not in that form).
    public static func warnings(in headers: [(name: String, value: String)]) -> [String] {
        headers.filter { $0.name.equalsIgnoringASCIICase("Warning") }.map { parseWarning($0.value) }
    }

    /// The text of one `Warning` header value (`299 - "text"`); the raw value when not in that form.
    public static func parseWarning(_ value: String) -> String {
        // warn-code SP warn-agent SP warn-text, the text a quoted string.
        let parts = value.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 3, parts[0].allSatisfy(\.isNumber) else { return value }
        var text = Substring(parts[2])
        guard text.hasPrefix("\""), let close = text.dropFirst().lastIndex(of: "\"") else { return value }
        text = text[text.index(after: text.startIndex)..<close]
        var out = ""
        var escaped = false
        for ch in text {
            if escaped { out.append(ch); escaped = false } else if ch == "\\" { escaped = true } else { out.append(ch) }
        }
        return out
    }

    /// The error for a non-2xx answer: the Status in the body when there is one, otherwise one
    /// synthesised from the HTTP code with the body text as message (e.g. "404 page not found").
    public static func error(statusCode: Int, headers: [(name: String, value: String)], body: Data) -> KubeError {
        let retryAfterHeader = headers.first { $0.name.equalsIgnoringASCIICase("Retry-After") }?.value
        let retryAfter = retryAfterHeader.flatMap { Double($0.trimmingWhitespace()) }
        if let value = try? JSONValue(parsing: body), value["kind"]?.stringValue == "Status",
           var status = try? value.decode(Status.self)
        {
            if status.code == nil { status.code = statusCode }
            return .api(status, httpCode: statusCode, retryAfter: retryAfter)
        }
        let text = String(decoding: body.prefix(1024), as: UTF8.self).trimmingWhitespace()
        let (reason, message) = synthesized(statusCode)
        let status = Status(message: text.isEmpty ? message : "\(message) (\(text))", reason: reason, code: statusCode)
        return .api(status, httpCode: statusCode, retryAfter: retryAfter)
    }

    /// client-go's reasons and messages for bare HTTP codes.
    static func synthesized(_ code: Int) -> (String?, String) {
        switch code {
        case 400: return (StatusReason.badRequest, "the server rejected our request for an unknown reason")
        case 401: return (StatusReason.unauthorized, "the server has asked for the client to provide credentials")
        case 403: return (StatusReason.forbidden, "the server does not allow access to the requested resource")
        case 404: return (StatusReason.notFound, "the server could not find the requested resource")
        case 405: return (StatusReason.methodNotAllowed, "the server does not allow this method on the requested resource")
        case 406: return (StatusReason.notAcceptable, "the server was unable to respond with a content type that the client supports")
        case 409: return (StatusReason.conflict, "the server reported a conflict")
        case 410: return (StatusReason.gone, "the server has asked for the client to restart the request")
        case 415: return (StatusReason.unsupportedMediaType, "the server does not support the media type sent")
        case 422: return (StatusReason.invalid, "the server rejected our request due to an error in our request")
        case 429: return (StatusReason.tooManyRequests, "the server has received too many requests and has asked us to try again later")
        case 500: return (StatusReason.internalError, "an error on the server has prevented the request from succeeding")
        case 503: return (StatusReason.serviceUnavailable, "the server is currently unable to handle the request")
        case 504: return (StatusReason.timeout, "the server was unable to return a response in the time allotted, but may still be processing the request")
        default: return (nil, "an error on the server (HTTP \(code)) has prevented the request from succeeding")
        }
    }
}
