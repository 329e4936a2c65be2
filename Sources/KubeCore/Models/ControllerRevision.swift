#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// apps/v1 ControllerRevision: an immutable snapshot (`data`) with a revision number.
public struct ControllerRevision: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.controllerRevisions
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: JSONValue?
    /// Required by the API; optional here so that watch bookmarks (metadata only) decode.
    public var revision: Int64?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, data, revision }

    public init(metadata: ObjectMeta, data: JSONValue?, revision: Int64) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.data = data
        self.revision = revision
    }
}
