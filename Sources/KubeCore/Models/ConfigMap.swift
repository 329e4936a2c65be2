#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// core/v1 ConfigMap.
public struct ConfigMap: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.configMaps
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?
    /// Base64 values.
    public var binaryData: [String: String]?
    public var immutable: Bool?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, data, binaryData, immutable }

    public init(metadata: ObjectMeta, data: [String: String]? = nil, binaryData: [String: String]? = nil, immutable: Bool? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.data = data
        self.binaryData = binaryData
        self.immutable = immutable
    }
}
