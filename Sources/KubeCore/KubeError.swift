#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one error type of the Kubernetes client: either the API server answered with a `Status`
/// (carried whole, so callers decide by `reason`/`code`, never by matching message text), or the
/// request never got an answer (transport), or the answer could not be understood.
public enum KubeError: Error, Sendable, CustomStringConvertible {
    /// The server answered with an error status. `status` is the decoded `Status` body, or one
    /// synthesised from the HTTP code when the body was not a Status.
    case api(Status, httpCode: Int, retryAfter: Double? = nil)
    /// No answer: connection, DNS, TLS, timeout, cancellation.
    case transport(TransportError)
    /// The answer could not be decoded into the expected type.
    case decoding(String)
    /// The request could not be built (invalid name, missing namespace, bad configuration).
    case invalidRequest(String)
    /// Client configuration (kubeconfig, in-cluster, credentials) is unusable.
    case configuration(String)

    public var description: String {
        switch self {
        case .api(let s, let code, _):
            let reason = s.reason.map { " (\($0))" } ?? ""
            return "API error \(code)\(reason): \(s.message ?? "no message")"
        case .transport(let t): return t.description
        case .decoding(let m): return "could not decode the API server's answer: \(m)"
        case .invalidRequest(let m): return "invalid request: \(m)"
        case .configuration(let m): return "configuration error: \(m)"
        }
    }

    /// The API Status when the server answered with one.
    public var status: Status? {
        if case .api(let s, _, _) = self { return s }
        return nil
    }

    public var httpCode: Int? {
        if case .api(_, let code, _) = self { return code }
        return nil
    }

    private func hasReason(_ reason: String, orCode code: Int) -> Bool {
        guard case .api(let s, let http, _) = self else { return false }
        if let r = s.reason, !r.isEmpty { return r == reason }
        return http == code
    }

    public var isNotFound: Bool { hasReason(StatusReason.notFound, orCode: 404) }
    public var isAlreadyExists: Bool { hasReason(StatusReason.alreadyExists, orCode: 409) }
    public var isConflict: Bool { hasReason(StatusReason.conflict, orCode: 409) }
    public var isInvalid: Bool { hasReason(StatusReason.invalid, orCode: 422) }
    public var isForbidden: Bool { hasReason(StatusReason.forbidden, orCode: 403) }
    public var isUnauthorized: Bool { hasReason(StatusReason.unauthorized, orCode: 401) }
    public var isTooManyRequests: Bool { hasReason(StatusReason.tooManyRequests, orCode: 429) }
    public var isBadRequest: Bool { hasReason(StatusReason.badRequest, orCode: 400) }
    /// 410: the resourceVersion is too old (`Gone` or `Expired`); a watcher must re-list.
    public var isGone: Bool {
        guard case .api(let s, let http, _) = self else { return false }
        return http == 410 || s.code == 410 || s.reason == StatusReason.gone || s.reason == StatusReason.expired
    }
    /// 5xx answers (and InternalError / ServiceUnavailable / Timeout reasons).
    public var isServerError: Bool {
        guard case .api(let s, let http, _) = self else { return false }
        return http >= 500 || [StatusReason.internalError, StatusReason.serviceUnavailable, StatusReason.timeout].contains(s.reason ?? "")
    }
    public var isTransport: Bool { if case .transport = self { return true } else { return false } }

    /// Seconds the server asked the client to wait (Retry-After header or details.retryAfterSeconds).
    public var retryAfter: Double? {
        guard case .api(let s, _, let header) = self else { return nil }
        return header ?? s.details?.retryAfterSeconds.map(Double.init)
    }
}

/// Why a request got no answer. The message names the cause so an operator log says what to fix.
public struct TransportError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case tlsUnknownCA = "TLS: the server's certificate is signed by an unknown authority"
        case tlsNameMismatch = "TLS: the server's certificate does not match its host name"
        case tlsExpired = "TLS: the server's certificate has expired or is not yet valid"
        case tlsClientCertificate = "TLS: the client certificate or key could not be used"
        case tls = "TLS handshake failed"
        case dns = "could not resolve the server's host name"
        case connect = "could not connect to the server"
        case timeout = "the request timed out"
        case cancelled = "the request was cancelled"
        case connectionClosed = "the connection closed before the answer was complete"
        case other = "transport failure"
    }

    public var kind: Kind
    public var detail: String
    public var url: String?

    public init(kind: Kind, detail: String, url: String? = nil) {
        self.kind = kind
        self.detail = detail
        self.url = url
    }

    public var description: String {
        let target = url.map { " (\($0))" } ?? ""
        return detail.isEmpty ? "\(kind.rawValue)\(target)" : "\(kind.rawValue)\(target): \(detail)"
    }
}
