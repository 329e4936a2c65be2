#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// authorization.k8s.io/v1 SelfSubjectAccessReview: "may I do this?" (create-only; the answer
/// comes back in `status`).
public struct SelfSubjectAccessReview: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.selfSubjectAccessReviews
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: SelfSubjectAccessReviewSpec?
    public var status: SubjectAccessReviewStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(spec: SelfSubjectAccessReviewSpec) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = ObjectMeta()
        self.spec = spec
    }

    /// A review of `verb` on a resource.
    public init(verb: String, group: String = "", resource: String, namespace: String? = nil, name: String? = nil,
                subresource: String? = nil) {
        self.init(spec: SelfSubjectAccessReviewSpec(resourceAttributes: ResourceAttributes(
            namespace: namespace, verb: verb, group: group, resource: resource, subresource: subresource, name: name)))
    }
}

/// authorization.k8s.io/v1 SelfSubjectAccessReviewSpec.
public struct SelfSubjectAccessReviewSpec: Codable, Sendable, Hashable {
    public var resourceAttributes: ResourceAttributes?
    public var nonResourceAttributes: NonResourceAttributes?
    public init(resourceAttributes: ResourceAttributes? = nil, nonResourceAttributes: NonResourceAttributes? = nil) {
        self.resourceAttributes = resourceAttributes
        self.nonResourceAttributes = nonResourceAttributes
    }
}

/// authorization.k8s.io/v1 ResourceAttributes.
public struct ResourceAttributes: Codable, Sendable, Hashable {
    public var namespace: String?
    public var verb: String?
    public var group: String?
    public var version: String?
    public var resource: String?
    public var subresource: String?
    public var name: String?
    public init(namespace: String? = nil, verb: String? = nil, group: String? = nil, version: String? = nil, resource: String? = nil,
                subresource: String? = nil, name: String? = nil) {
        self.namespace = namespace
        self.verb = verb
        self.group = group
        self.version = version
        self.resource = resource
        self.subresource = subresource
        self.name = name
    }
}

/// authorization.k8s.io/v1 NonResourceAttributes.
public struct NonResourceAttributes: Codable, Sendable, Hashable {
    public var path: String?
    public var verb: String?
    public init(path: String? = nil, verb: String? = nil) {
        self.path = path
        self.verb = verb
    }
}

/// authorization.k8s.io/v1 SubjectAccessReviewStatus.
public struct SubjectAccessReviewStatus: Codable, Sendable, Hashable {
    public var allowed: Bool
    public var denied: Bool?
    public var reason: String?
    public var evaluationError: String?
    public init(allowed: Bool, denied: Bool? = nil, reason: String? = nil, evaluationError: String? = nil) {
        self.allowed = allowed
        self.denied = denied
        self.reason = reason
        self.evaluationError = evaluationError
    }
}
