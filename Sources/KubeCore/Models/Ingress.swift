#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// networking.k8s.io/v1 Ingress.
public struct Ingress: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.ingresses
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: IngressSpec?
    public var status: IngressStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: IngressSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// networking.k8s.io/v1 IngressSpec.
public struct IngressSpec: Codable, Sendable, Hashable {
    public var ingressClassName: String?
    public var defaultBackend: IngressBackend?
    public var tls: [IngressTLS]?
    public var rules: [IngressRule]?
    public init(ingressClassName: String? = nil, defaultBackend: IngressBackend? = nil, tls: [IngressTLS]? = nil, rules: [IngressRule]? = nil) {
        self.ingressClassName = ingressClassName
        self.defaultBackend = defaultBackend
        self.tls = tls
        self.rules = rules
    }
}

/// networking.k8s.io/v1 IngressTLS.
public struct IngressTLS: Codable, Sendable, Hashable {
    public var hosts: [String]?
    public var secretName: String?
    public init(hosts: [String]? = nil, secretName: String? = nil) {
        self.hosts = hosts
        self.secretName = secretName
    }
}

/// networking.k8s.io/v1 IngressRule.
public struct IngressRule: Codable, Sendable, Hashable {
    public var host: String?
    public var http: HTTPIngressRuleValue?
    public init(host: String? = nil, http: HTTPIngressRuleValue? = nil) {
        self.host = host
        self.http = http
    }
}

/// networking.k8s.io/v1 HTTPIngressRuleValue.
public struct HTTPIngressRuleValue: Codable, Sendable, Hashable {
    public var paths: [HTTPIngressPath]
    public init(paths: [HTTPIngressPath]) { self.paths = paths }
}

/// networking.k8s.io/v1 HTTPIngressPath.
public struct HTTPIngressPath: Codable, Sendable, Hashable {
    public var path: String?
    /// `Prefix`, `Exact` or `ImplementationSpecific`.
    public var pathType: String
    public var backend: IngressBackend
    public init(path: String? = nil, pathType: String = "Prefix", backend: IngressBackend) {
        self.path = path
        self.pathType = pathType
        self.backend = backend
    }
}

/// networking.k8s.io/v1 IngressBackend.
public struct IngressBackend: Codable, Sendable, Hashable {
    public var service: IngressServiceBackend?
    public var resource: JSONValue?
    public init(service: IngressServiceBackend? = nil) { self.service = service }

    /// A backend of a Service port by number.
    public static func service(_ name: String, port: Int32) -> IngressBackend {
        IngressBackend(service: IngressServiceBackend(name: name, port: ServiceBackendPort(number: port)))
    }
}

/// networking.k8s.io/v1 IngressServiceBackend.
public struct IngressServiceBackend: Codable, Sendable, Hashable {
    public var name: String
    public var port: ServiceBackendPort?
    public init(name: String, port: ServiceBackendPort? = nil) {
        self.name = name
        self.port = port
    }
}

/// networking.k8s.io/v1 ServiceBackendPort: a port name or number.
public struct ServiceBackendPort: Codable, Sendable, Hashable {
    public var name: String?
    public var number: Int32?
    public init(name: String? = nil, number: Int32? = nil) {
        self.name = name
        self.number = number
    }
}

/// networking.k8s.io/v1 IngressStatus.
public struct IngressStatus: Codable, Sendable, Hashable {
    public var loadBalancer: JSONValue?
    public init(loadBalancer: JSONValue? = nil) { self.loadBalancer = loadBalancer }
}
