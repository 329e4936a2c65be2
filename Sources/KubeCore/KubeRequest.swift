#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum HTTPMethod: String, Sendable, Hashable {
    case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE"
}

/// The four patch formats the API server accepts, with their content types.
public enum PatchType: String, Sendable, Hashable, CaseIterable {
    case merge = "application/merge-patch+json"
    case json = "application/json-patch+json"
    case strategicMerge = "application/strategic-merge-patch+json"
    case apply = "application/apply-patch+yaml"

    public var contentType: String { rawValue }

    public init?(contentType: String) {
        let base = contentType.split(separator: ";").first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        self.init(rawValue: base)
    }
}

/// One query parameter; order is kept so a request serializes the same way every time.
public struct QueryItem: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A request to the API server as a plain value: built by pure code, executed by a transport.
public struct KubeRequest: Sendable, Hashable {
    public var method: HTTPMethod
    /// The absolute path, e.g. `/apis/apps/v1/namespaces/ns/deployments/web`.
    public var path: String
    public var query: [QueryItem]
    public var body: Data?
    public var contentType: String?
    public var accept: String
    /// Long-lived streaming request (watch): no overall timeout, body consumed incrementally.
    public var isWatch: Bool
    /// Safe to retry on 429/5xx/transport errors without changing the outcome.
    public var isIdempotent: Bool { method == .get || (method == .delete) }
    /// Per-request timeout in seconds (nil: the transport's default; watches have none).
    public var timeout: Double?
    /// The earliest moment the request may leave (a rate limiter's reservation); nil: at once. Set
    /// only for a transport that holds requests back itself (`KubeTransport.holdsRequestsUntilDue`).
    public var notBefore: ContinuousClock.Instant?

    public init(method: HTTPMethod, path: String, query: [QueryItem] = [], body: Data? = nil,
                contentType: String? = nil, accept: String = "application/json", isWatch: Bool = false, timeout: Double? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.contentType = contentType
        self.accept = accept
        self.isWatch = isWatch
        self.timeout = timeout
    }

    /// Path plus percent-encoded query string.
    public var pathAndQuery: String {
        guard !query.isEmpty else { return path }
        let q = query.map { "\(Self.percentEncode($0.name))=\(Self.percentEncode($0.value))" }.joined(separator: "&")
        return "\(path)?\(q)"
    }

    public static func percentEncode(_ s: String) -> String {
        percentEncodeUnreserved(s)
    }
}

extension Duration {
    /// The duration in seconds, for the code that keeps time as `Double` seconds.
    public var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

// MARK: - Options

/// Options of LIST and WATCH.
public struct ListOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var limit: Int?
    public var `continue`: String?
    public var resourceVersion: String?
    /// `Exact` or `NotOlderThan`.
    public var resourceVersionMatch: String?
    public var timeoutSeconds: Int?
    public var allowWatchBookmarks: Bool?
    public var sendInitialEvents: Bool?
    /// Ask for `PartialObjectMetadata` (metadata only) instead of the objects: an Accept header, not a
    /// query parameter. No `,application/json` fallback: a server that cannot answer says 406 rather
    /// than sending the full objects.
    public var metadataOnly: Bool = false

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continue: String? = nil,
                resourceVersion: String? = nil, resourceVersionMatch: String? = nil, timeoutSeconds: Int? = nil,
                allowWatchBookmarks: Bool? = nil, sendInitialEvents: Bool? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continue = `continue`
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.timeoutSeconds = timeoutSeconds
        self.allowWatchBookmarks = allowWatchBookmarks
        self.sendInitialEvents = sendInitialEvents
    }

    var queryItems: [QueryItem] {
        var q: [QueryItem] = []
        if let v = labelSelector, !v.isEmpty { q.append(.init("labelSelector", v)) }
        if let v = fieldSelector, !v.isEmpty { q.append(.init("fieldSelector", v)) }
        if let v = limit { q.append(.init("limit", String(v))) }
        if let v = `continue`, !v.isEmpty { q.append(.init("continue", v)) }
        if let v = resourceVersion { q.append(.init("resourceVersion", v)) }
        if let v = resourceVersionMatch { q.append(.init("resourceVersionMatch", v)) }
        if let v = timeoutSeconds { q.append(.init("timeoutSeconds", String(v))) }
        if let v = allowWatchBookmarks { q.append(.init("allowWatchBookmarks", String(v))) }
        if let v = sendInitialEvents { q.append(.init("sendInitialEvents", String(v))) }
        return q
    }
}

/// Options of create, update and patch.
public struct WriteOptions: Sendable, Hashable {
    public var fieldManager: String?
    /// Server-side apply only: take ownership of conflicting fields.
    public var force: Bool?
    public var dryRun: Bool
    /// `Strict`, `Warn` or `Ignore`.
    public var fieldValidation: String?

    public init(fieldManager: String? = nil, force: Bool? = nil, dryRun: Bool = false, fieldValidation: String? = nil) {
        self.fieldManager = fieldManager
        self.force = force
        self.dryRun = dryRun
        self.fieldValidation = fieldValidation
    }

    var queryItems: [QueryItem] {
        var q: [QueryItem] = []
        if dryRun { q.append(.init("dryRun", "All")) }
        if let v = fieldManager { q.append(.init("fieldManager", v)) }
        if let v = force { q.append(.init("force", String(v))) }
        if let v = fieldValidation { q.append(.init("fieldValidation", v)) }
        return q
    }
}

/// Options of DELETE.
public struct DeleteOptions: Sendable, Hashable {
    /// `Background`, `Foreground` or `Orphan`.
    public var propagationPolicy: String?
    public var gracePeriodSeconds: Int?
    public var preconditionUID: String?
    public var preconditionResourceVersion: String?
    public var dryRun: Bool

    public init(propagationPolicy: String? = nil, gracePeriodSeconds: Int? = nil, preconditionUID: String? = nil,
                preconditionResourceVersion: String? = nil, dryRun: Bool = false) {
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.dryRun = dryRun
    }

    var queryItems: [QueryItem] {
        var q: [QueryItem] = []
        if dryRun { q.append(.init("dryRun", "All")) }
        if let v = propagationPolicy { q.append(.init("propagationPolicy", v)) }
        if let v = gracePeriodSeconds { q.append(.init("gracePeriodSeconds", String(v))) }
        return q
    }

    /// A DeleteOptions body when preconditions are set (they cannot travel in the query).
    var body: Data? {
        guard preconditionUID != nil || preconditionResourceVersion != nil else { return nil }
        var pre = JSONObject()
        if let uid = preconditionUID { pre["uid"] = .string(uid) }
        if let rv = preconditionResourceVersion { pre["resourceVersion"] = .string(rv) }
        var o: JSONObject = ["kind": "DeleteOptions", "apiVersion": "v1", "preconditions": .object(pre)]
        if let p = propagationPolicy { o["propagationPolicy"] = .string(p) }
        return JSONValue.object(o).serialized()
    }
}

// MARK: - Building requests

/// Validation of names that go into request paths. An empty or malformed name must never turn a
/// GET of one object into a LIST of all of them, nor escape its path segment.
public enum NameValidation {
    /// The rules the API server applies to names used as a path segment.
    public static func pathSegmentProblem(_ name: String) -> String? {
        if name.isEmpty { return "name must not be empty" }
        if name == "." || name == ".." { return "name may not be '\(name)'" }
        if name.contains("/") { return "name may not contain '/'" }
        if name.contains("%") { return "name may not contain '%'" }
        return nil
    }

    /// RFC 1123 DNS subdomain: lower-case alphanumerics, '-' and '.', at most 253 characters,
    /// starting and ending with an alphanumeric.
    public static func dnsSubdomainProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > 253 { return "must be no more than 253 characters" }
        let ok = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
        let alnum: (Unicode.Scalar) -> Bool = { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        guard ok, let f = name.unicodeScalars.first, let l = name.unicodeScalars.last, alnum(f), alnum(l) else {
            return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard let lf = label.unicodeScalars.first, let ll = label.unicodeScalars.last, alnum(lf), alnum(ll) else {
                return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            }
        }
        return nil
    }

    /// RFC 1123 DNS label (namespaces, Services): like a subdomain without dots, at most 63 characters.
    public static func dnsLabelProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > 63 { return "must be no more than 63 characters" }
        let alnum: (Unicode.Scalar) -> Bool = { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        let ok = name.unicodeScalars.allSatisfy { alnum($0) || $0 == "-" }
        guard ok, let f = name.unicodeScalars.first, let l = name.unicodeScalars.last, alnum(f), alnum(l) else {
            return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        }
        return nil
    }
}

/// Builds the request values for one resource type. Pure; every method validates its inputs and
/// throws `KubeError.invalidRequest` naming the problem instead of producing a wrong path.
public struct RequestBuilder: Sendable {
    public var resource: ResourceType

    public init(_ resource: ResourceType) { self.resource = resource }

    /// The collection path, e.g. `/api/v1/namespaces/ns/configmaps`; all namespaces when `namespace` is nil.
    public func collectionPath(namespace: String?) throws -> String {
        if resource.namespaced, let ns = namespace {
            if let p = NameValidation.pathSegmentProblem(ns) { throw KubeError.invalidRequest("namespace: \(p)") }
            return "\(resource.groupVersionPath)/namespaces/\(ns)/\(resource.resource)"
        }
        return "\(resource.groupVersionPath)/\(resource.resource)"
    }

    /// The object path; `subresource` is `status`, `scale`, ... .
    public func objectPath(namespace: String?, name: String, subresource: String? = nil) throws -> String {
        if let p = NameValidation.pathSegmentProblem(name) {
            throw KubeError.invalidRequest("\(resource.kind) name: \(p)")
        }
        if resource.namespaced, namespace == nil || namespace == "" {
            throw KubeError.invalidRequest("\(resource.kind) \(name) is namespaced: a namespace is required")
        }
        var path = "\(try collectionPath(namespace: resource.namespaced ? namespace : nil))/\(name)"
        if let sub = subresource {
            if let p = NameValidation.pathSegmentProblem(sub) { throw KubeError.invalidRequest("subresource: \(p)") }
            path += "/\(sub)"
        }
        return path
    }

    public func get(namespace: String?, name: String, subresource: String? = nil) throws -> KubeRequest {
        KubeRequest(method: .get, path: try objectPath(namespace: namespace, name: name, subresource: subresource))
    }

    /// `Accept` for a metadata-only LIST.
    public static let partialObjectMetadataList = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    /// `Accept` for a metadata-only WATCH (or GET): kube-apiserver ends a watch asked for the list form at its first event.
    public static let partialObjectMetadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

    public func list(namespace: String?, options: ListOptions = ListOptions()) throws -> KubeRequest {
        KubeRequest(method: .get, path: try collectionPath(namespace: namespace), query: options.queryItems,
                    accept: options.metadataOnly ? Self.partialObjectMetadataList : "application/json")
    }

    public func watch(namespace: String?, options: ListOptions = ListOptions()) throws -> KubeRequest {
        var q = [QueryItem("watch", "true")]
        q.append(contentsOf: options.queryItems)
        return KubeRequest(method: .get, path: try collectionPath(namespace: namespace), query: q,
                           accept: options.metadataOnly ? Self.partialObjectMetadata : "application/json", isWatch: true)
    }

    public func create(namespace: String?, body: Data, options: WriteOptions = WriteOptions()) throws -> KubeRequest {
        if resource.namespaced, namespace == nil || namespace == "" {
            throw KubeError.invalidRequest("\(resource.kind) is namespaced: a namespace is required to create one")
        }
        return KubeRequest(method: .post, path: try collectionPath(namespace: namespace), query: options.queryItems,
                           body: body, contentType: "application/json")
    }

    public func update(namespace: String?, name: String, body: Data, subresource: String? = nil, options: WriteOptions = WriteOptions()) throws -> KubeRequest {
        KubeRequest(method: .put, path: try objectPath(namespace: namespace, name: name, subresource: subresource),
                    query: options.queryItems, body: body, contentType: "application/json")
    }

    public func patch(namespace: String?, name: String, type: PatchType, body: Data, subresource: String? = nil,
                      options: WriteOptions = WriteOptions()) throws -> KubeRequest {
        if type == .apply, options.fieldManager?.isEmpty ?? true {
            throw KubeError.invalidRequest("server-side apply requires a field manager")
        }
        return KubeRequest(method: .patch, path: try objectPath(namespace: namespace, name: name, subresource: subresource),
                           query: options.queryItems, body: body, contentType: type.contentType)
    }

    public func delete(namespace: String?, name: String, options: DeleteOptions = DeleteOptions()) throws -> KubeRequest {
        let body = options.body
        return KubeRequest(method: .delete, path: try objectPath(namespace: namespace, name: name), query: options.queryItems,
                           body: body, contentType: body == nil ? nil : "application/json")
    }

    public func deleteCollection(namespace: String?, options: ListOptions = ListOptions()) throws -> KubeRequest {
        KubeRequest(method: .delete, path: try collectionPath(namespace: namespace), query: options.queryItems)
    }
}
