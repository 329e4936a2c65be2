import KubeCore
import Logging

/// Why an informer's last LIST failed, in words a user can act on. Kept by the informer until a
/// LIST succeeds (`Informer.lastListError`), so readiness, status conditions and tests can tell a
/// kind the API server does not serve (404: no object of it can exist) from a failure that says
/// nothing about what exists (403, 5xx, no answer).
public struct ListFailure: Sendable, Hashable, CustomStringConvertible {
    public enum Cause: String, Sendable, Hashable {
        /// 404: the API server does not serve the resource (its CRD is not installed).
        case notServed
        /// 403: RBAC does not allow the LIST.
        case forbidden
        /// 401: the credentials were refused.
        case unauthorized
        /// 429 or 5xx: the API server is overloaded or failing.
        case serverError
        /// No answer (connection, TLS, DNS, timeout).
        case transport
        /// Anything else (an answer that could not be decoded, 400, 406, …).
        case other
    }

    public var cause: Cause
    /// `RESOURCE.GROUP`, e.g. `pynomalyrestores.pynomaly.ai`.
    public var resource: String
    /// The namespace listed; nil for all namespaces.
    public var namespace: String?
    /// The HTTP status of the answer; nil when there was none.
    public var httpCode: Int?
    /// The error as the client reported it.
    public var error: String
    /// What to do about it.
    public var fix: String
    /// Failed LISTs in a row, this one included.
    public var attempts: Int

    /// True when the API server answered 404: the kind is not served, so no object of it exists.
    public var isNotServed: Bool { cause == .notServed }

    /// `cannot list R: FIX (ERROR)`.
    public var description: String { "cannot list \(resource): \(fix) (\(error))" }

    /// Classifies `error` of a LIST of `resource`. `crdHint` (e.g. `kubectl apply -f crds/`) is
    /// named as the fix when the kind is not served.
    public init(_ error: any Error, resource: ResourceType, namespace: String?, attempts: Int, crdHint: String?) {
        let name = resource.groupResource
        self.resource = name
        self.namespace = namespace
        self.attempts = attempts
        self.error = "\(error)"
        let kube = error as? KubeError
        self.httpCode = kube?.httpCode
        let group = resource.group.isEmpty ? "the core API group" : "API group \"\(resource.group)\""
        let scope = namespace.map { "in namespace \($0)" } ?? "in all namespaces (a ClusterRole)"
        if let kube, kube.isNotFound {
            cause = .notServed
            fix = "the API server does not serve it: is its CRD installed?" + (crdHint.map { " \($0)" } ?? "")
        } else if let kube, kube.isForbidden {
            cause = .forbidden
            fix = "RBAC forbids it: grant the operator's ServiceAccount the verbs list and watch on \(resource.resource) in \(group) \(scope)"
        } else if let kube, kube.isUnauthorized {
            cause = .unauthorized
            fix = "the API server refused the operator's credentials (expired token or wrong kubeconfig)"
        } else if let kube, kube.isServerError || kube.isTooManyRequests {
            cause = .serverError
            fix = "the API server failed to answer; retrying"
        } else if let kube, kube.isTransport {
            cause = .transport
            fix = "no answer from the API server; retrying"
        } else {
            cause = .other
            fix = "the API server refused the request"
        }
    }

    /// Transient causes are warnings (they usually heal by themselves); the others need a person.
    public var logLevel: Logger.Level {
        switch cause {
        case .serverError, .transport: return .warning
        case .notServed, .forbidden, .unauthorized, .other: return .error
        }
    }
}
