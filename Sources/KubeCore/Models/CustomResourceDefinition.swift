#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// apiextensions.k8s.io/v1 CustomResourceDefinition: names, versions, scope and conditions typed;
/// schemas and the rest as JSON.
public struct CustomResourceDefinition: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.customResourceDefinitions
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: CustomResourceDefinitionSpec?
    public var status: CustomResourceDefinitionStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: CustomResourceDefinitionSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }

    /// `Established=True`: the API server serves the resource.
    public var isEstablished: Bool { status?.conditions?.first(type: "Established")?.isTrue ?? false }

    /// The version stored in etcd.
    public var storageVersion: String? { spec?.versions.first { $0.storage }?.name }
}

/// apiextensions.k8s.io/v1 CustomResourceDefinitionSpec.
public struct CustomResourceDefinitionSpec: Codable, Sendable, Hashable {
    public var group: String
    public var names: CustomResourceDefinitionNames
    /// `Namespaced` or `Cluster`.
    public var scope: String
    public var versions: [CustomResourceDefinitionVersion]
    public var conversion: JSONValue?
    public var preserveUnknownFields: Bool?

    public init(group: String, names: CustomResourceDefinitionNames, scope: String, versions: [CustomResourceDefinitionVersion]) {
        self.group = group
        self.names = names
        self.scope = scope
        self.versions = versions
    }
}

/// apiextensions.k8s.io/v1 CustomResourceDefinitionNames.
public struct CustomResourceDefinitionNames: Codable, Sendable, Hashable {
    public var plural: String
    public var singular: String?
    public var kind: String
    public var listKind: String?
    public var shortNames: [String]?
    public var categories: [String]?

    public init(plural: String, singular: String? = nil, kind: String, listKind: String? = nil, shortNames: [String]? = nil,
                categories: [String]? = nil) {
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.listKind = listKind
        self.shortNames = shortNames
        self.categories = categories
    }
}

/// apiextensions.k8s.io/v1 CustomResourceDefinitionVersion.
public struct CustomResourceDefinitionVersion: Codable, Sendable, Hashable {
    public var name: String
    public var served: Bool
    public var storage: Bool
    public var deprecated: Bool?
    public var deprecationWarning: String?
    /// `{"openAPIV3Schema": {...}}`.
    public var schema: JSONValue?
    public var subresources: JSONValue?
    public var additionalPrinterColumns: JSONValue?
    public var selectableFields: JSONValue?

    public init(name: String, served: Bool, storage: Bool, schema: JSONValue? = nil, subresources: JSONValue? = nil) {
        self.name = name
        self.served = served
        self.storage = storage
        self.schema = schema
        self.subresources = subresources
    }
}

/// apiextensions.k8s.io/v1 CustomResourceDefinitionStatus.
public struct CustomResourceDefinitionStatus: Codable, Sendable, Hashable {
    public var conditions: [Condition]?
    public var acceptedNames: CustomResourceDefinitionNames?
    public var storedVersions: [String]?
    public init(conditions: [Condition]? = nil, acceptedNames: CustomResourceDefinitionNames? = nil, storedVersions: [String]? = nil) {
        self.conditions = conditions
        self.acceptedNames = acceptedNames
        self.storedVersions = storedVersions
    }
}
