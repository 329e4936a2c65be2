#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// What the cache keeps of each object, applied before it is stored.
public enum ObjectTransform: Sendable, Hashable {
    /// The object as the server sent it.
    case none
    /// Everything except `metadata.managedFields`, which reconcilers do not read and which is
    /// often the largest part of an object.
    case stripManagedFields
    /// Only `apiVersion`, `kind`, `metadata` (without managedFields) and a hash of the rest under
    /// `contentHashKey`: for kinds the operator only needs to notice changing. A Secret's data
    /// never stays in memory this way.
    case metadataOnly

    /// Objects labelled `labelKey=labelValue` as `stripManagedFields` keeps them; any other object
    /// only as a stub (`apiVersion`, `kind`, and `metadata` name, namespace, uid, resourceVersion,
    /// ownerReferences, deletionTimestamp). For an unfiltered informer over the kinds an operator
    /// creates: its own objects in full, and for everyone else's just enough to know the name is
    /// taken, at a small, fixed cost per object. `omitting` lists top-level fields left out of
    /// labelled objects too: fields no pass reads from the cache (a ControllerRevision's `data`, the
    /// whole pod template of an old revision, is read by a GET when a rollback needs it).
    case fullWhenLabelled(labelKey: String, labelValue: String, omitting: [String] = [])

    /// Whether every object comes out without `metadata.managedFields` (all but `none`): the
    /// parser may then skip them unbuilt.
    public var dropsManagedFields: Bool { self != .none }

    /// The metadata fields a stub keeps.
    public static let stubMetadataKeys = ["name", "namespace", "uid", "resourceVersion", "ownerReferences", "deletionTimestamp"]

    /// The top-level key under which `metadataOnly` keeps the content hash.
    public static let contentHashKey = "contentHash"

    public func apply(_ object: JSONValue) -> JSONValue {
        guard case .object(var fields) = object else { return object }
        switch self {
        case .none:
            return object
        case .stripManagedFields:
            fields["metadata"]?["managedFields"] = nil
            return .object(fields)
        case .fullWhenLabelled(let key, let value, let omitted):
            if fields["metadata"]?["labels"]?[key]?.stringValue == value {
                fields["metadata"]?["managedFields"] = nil
                for field in omitted { fields[field] = nil }
                return .object(fields)
            }
            var metadata: JSONObject = [:]
            for key in Self.stubMetadataKeys { metadata[key] = fields["metadata"]?[key] }
            var stub: JSONObject = ["metadata": .object(metadata)]
            stub["apiVersion"] = fields["apiVersion"]
            stub["kind"] = fields["kind"]
            return .object(stub)
        case .metadataOnly:
            var content = fields
            for key in ["apiVersion", "kind", "metadata"] { content[key] = nil }
            var kept: JSONObject = [:]
            kept["apiVersion"] = fields["apiVersion"]
            kept["kind"] = fields["kind"]
            var metadata = fields["metadata"] ?? .object([:])
            metadata["managedFields"] = nil
            kept["metadata"] = metadata
            kept[Self.contentHashKey] = .string(Self.contentHash(of: .object(content)))
            return .object(kept)
        }
    }

    /// FNV-1a 64 over the canonical (key-sorted) serialization, as 16 hex digits (`StableHash`).
    public static func contentHash(of value: JSONValue) -> String {
        StableHash.hex(of: value)
    }
}

extension CacheOperation {
    /// The same operation with `transform` applied to every object it carries.
    public func transformed(_ transform: ObjectTransform) -> CacheOperation {
        guard transform != .none else { return self }
        switch self {
        case .upsert(let o): return .upsert(transform.apply(o))
        case .delete(let o): return .delete(transform.apply(o))
        case .replaceAll(let items, let rv): return .replaceAll(items.map(transform.apply), resourceVersion: rv)
        }
    }
}
