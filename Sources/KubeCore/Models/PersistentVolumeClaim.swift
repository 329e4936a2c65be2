#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// core/v1 PersistentVolumeClaim.
public struct PersistentVolumeClaim: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.persistentVolumeClaims
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PersistentVolumeClaimSpec?
    public var status: PersistentVolumeClaimStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: PersistentVolumeClaimSpec? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
    }
}

/// core/v1 PersistentVolumeClaimSpec.
public struct PersistentVolumeClaimSpec: Codable, Sendable, Hashable {
    public var accessModes: [String]?
    public var resources: ResourceRequirements?
    public var storageClassName: String?
    /// `Filesystem` (default) or `Block`.
    public var volumeMode: String?
    public var volumeName: String?
    public var selector: LabelSelector?
    public var dataSource: JSONValue?
    public var dataSourceRef: JSONValue?

    public init(accessModes: [String]? = nil, storage: Quantity? = nil, storageClassName: String? = nil) {
        self.accessModes = accessModes
        self.resources = storage.map { ResourceRequirements(requests: ["storage": $0]) }
        self.storageClassName = storageClassName
    }
}

/// core/v1 PersistentVolumeClaimStatus.
public struct PersistentVolumeClaimStatus: Codable, Sendable, Hashable {
    /// `Pending`, `Bound` or `Lost`.
    public var phase: String?
    public var accessModes: [String]?
    public var capacity: [String: Quantity]?
    public var conditions: [Condition]?
    public init(phase: String? = nil) { self.phase = phase }
}
