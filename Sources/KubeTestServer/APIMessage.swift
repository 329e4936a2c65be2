import Foundation
import KubeCore

/// Who made a request, after authentication.
struct UserInfo: Sendable, Hashable {
    var name: String
    var groups: [String]

    static let anonymous = UserInfo(name: "system:anonymous", groups: ["system:unauthenticated"])
    var isMaster: Bool { groups.contains("system:masters") }
}

/// A request as the handler sees it, whatever carried it (HTTPS or the in-memory transport).
struct APIRequest: Sendable {
    var method: String
    var path: String
    var query: [(name: String, value: String)]
    var headers: [(name: String, value: String)]
    var body: Data
    /// Identity from a verified client certificate (mTLS), if any.
    var certificateUser: UserInfo? = nil

    init(method: String, target: String, headers: [(name: String, value: String)], body: Data, certificateUser: UserInfo? = nil) {
        self.method = method.uppercased()
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        self.path = Self.percentDecode(String(parts.first ?? ""), plusIsSpace: false)
        self.query = parts.count > 1 ? Self.parseQuery(String(parts[1])) : []
        self.headers = headers
        self.body = body
        self.certificateUser = certificateUser
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    func query(_ name: String) -> String? { query.first { $0.name == name }?.value }

    static func parseQuery(_ q: String) -> [(name: String, value: String)] {
        q.split(separator: "&").map { item in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(String(kv[0]), plusIsSpace: true),
                    kv.count > 1 ? percentDecode(String(kv[1]), plusIsSpace: true) : "")
        }
    }

    static func percentDecode(_ s: String, plusIsSpace: Bool) -> String {
        let t = plusIsSpace ? s.replacingOccurrences(of: "+", with: " ") : s
        return t.removingPercentEncoding ?? t
    }
}

/// What the handler answers: a whole body, or a stream of watch lines.
struct APIResponse: Sendable {
    enum Body: Sendable {
        case data(Data)
        case stream(WatchChannel)
    }
    var status: Int
    var headers: [(name: String, value: String)]
    var body: Body

    init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .data(Data())) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func json(_ status: Int, _ value: JSONValue, warnings: [String] = [], contentType: String = "application/json") -> APIResponse {
        var h: [(name: String, value: String)] = [("Content-Type", contentType), ("Cache-Control", "no-cache, private")]
        for w in warnings { h.append(("Warning", "299 - \"\(Self.escapeWarning(w))\"")) }
        return APIResponse(status: status, headers: h, body: .data(value.serialized()))
    }

    static func escapeWarning(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    static func text404() -> APIResponse {
        APIResponse(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")],
                    body: .data(Data("404 page not found\n".utf8)))
    }
}

/// An API error on its way to becoming a Status body.
struct APIError: Error, Sendable {
    var code: Int
    var status: JSONValue
    var headers: [(name: String, value: String)] = []

    init(code: Int, reason: String?, message: String, details: JSONValue? = nil, headers: [(name: String, value: String)] = []) {
        var s: JSONObject = ["kind": "Status", "apiVersion": "v1", "metadata": .object([:]), "status": "Failure",
                             "message": .string(message), "code": .int(Int64(code))]
        if let reason { s["reason"] = .string(reason) }
        if let details { s["details"] = details }
        self.code = code
        self.status = .object(s)
        self.headers = headers
    }

    init(engine: EngineError) {
        code = engine.httpCode
        status = (try? JSONValue(encoding: engine.status)) ?? .object([:])
        if case .object(var o) = status {
            o["kind"] = "Status"
            o["apiVersion"] = "v1"
            o["metadata"] = .object([:])
            if o["status"] == nil { o["status"] = "Failure" }
            if o["code"] == nil { o["code"] = .int(Int64(engine.httpCode)) }
            status = .object(o)
        }
    }

    var response: APIResponse {
        var r = APIResponse.json(code, status)
        r.headers.append(contentsOf: headers)
        return r
    }

    static func details(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [StatusCause]? = nil) -> JSONValue {
        var d = JSONObject()
        if let name { d["name"] = .string(name) }
        if let group, !group.isEmpty { d["group"] = .string(group) }
        if let kind, !kind.isEmpty { d["kind"] = .string(kind) }
        if let causes {
            d["causes"] = .array(causes.map { c in
                var o = JSONObject()
                if let r = c.reason { o["reason"] = .string(r) }
                if let m = c.message { o["message"] = .string(m) }
                if let f = c.field { o["field"] = .string(f) }
                return .object(o)
            })
        }
        return .object(d)
    }

    static func notFound(_ info: ResourceInfo, _ name: String) -> APIError {
        APIError(code: 404, reason: StatusReason.notFound, message: "\(info.groupResource) \"\(name)\" not found",
                 details: details(name: name, group: info.group, kind: info.resource))
    }

    static func alreadyExists(_ info: ResourceInfo, _ name: String) -> APIError {
        APIError(code: 409, reason: StatusReason.alreadyExists, message: "\(info.groupResource) \"\(name)\" already exists",
                 details: details(name: name, group: info.group, kind: info.resource))
    }

    static func conflict(_ info: ResourceInfo, _ name: String) -> APIError {
        APIError(code: 409, reason: StatusReason.conflict,
                 message: "Operation cannot be fulfilled on \(info.groupResource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                 details: details(name: name, group: info.group, kind: info.resource))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: StatusReason.badRequest, message: message)
    }

    static func resourceNotFound() -> APIError {
        APIError(code: 404, reason: StatusReason.notFound, message: "the server could not find the requested resource", details: .object([:]))
    }

    static func methodNotAllowed() -> APIError {
        APIError(code: 405, reason: StatusReason.methodNotAllowed, message: "the server does not allow this method on the requested resource",
                 details: .object([:]))
    }

    /// 422 Invalid: `Kind.group "name" is invalid: field: message[, ...]`.
    static func invalid(kind: String, group: String, name: String, causes: [StatusCause]) -> APIError {
        let qualified = group.isEmpty ? kind : "\(kind).\(group)"
        var parts: [String] = []
        for c in causes {
            let p = [c.field, c.message].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            if !parts.contains(p) { parts.append(p) }  // the aggregate message de-duplicates, the causes do not
        }
        let summary = parts.count == 1 ? parts[0] : "[\(parts.joined(separator: ", "))]"
        return APIError(code: 422, reason: StatusReason.invalid, message: "\(qualified) \"\(name)\" is invalid: \(summary)",
                        details: details(name: name.isEmpty ? nil : name, group: group, kind: kind, causes: causes))
    }

    static let unauthorized = APIError(code: 401, reason: StatusReason.unauthorized, message: "Unauthorized")
}
