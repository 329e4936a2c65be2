#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// core/v1 Secret. `data` holds base64 text as the API does; `decodedData`/`setData` convert.
public struct Secret: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.secrets
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?
    /// Write-only plain-text values (the server folds them into `data`).
    public var stringData: [String: String]?
    public var type: String?
    public var immutable: Bool?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, data, stringData, type, immutable }

    public init(metadata: ObjectMeta, data: [String: String]? = nil, stringData: [String: String]? = nil, type: String? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.data = data
        self.stringData = stringData
        self.type = type
    }

    /// The bytes of a key (nil when absent or not base64).
    public func decodedData(_ key: String) -> Data? {
        data?[key].flatMap { Data(base64Encoded: $0) }
    }

    /// Sets a key from bytes.
    public mutating func setData(_ key: String, _ value: Data) {
        var d = data ?? [:]
        d[key] = value.base64EncodedString()
        data = d
    }
}
