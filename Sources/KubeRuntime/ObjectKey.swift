import KubeCore

/// Identifies an object of one kind: `namespace/name`, or just `name` for cluster-scoped objects.
/// The unit of work of a controller and the key of a cache.
public struct ObjectKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// nil (or empty) for cluster-scoped objects.
    public var namespace: String?
    public var name: String

    public init(namespace: String?, name: String) {
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.name = name
    }

    /// The key of an object, from its `metadata`; nil when it has no name.
    public init?(object: JSONValue) {
        guard let name = object[path: ["metadata", "name"]]?.stringValue, !name.isEmpty else { return nil }
        self.init(namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: name)
    }

    /// Parses `namespace/name` or `name`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1 where !parts[0].isEmpty: self.init(namespace: nil, name: String(parts[0]))
        case 2 where !parts[1].isEmpty: self.init(namespace: String(parts[0]), name: String(parts[1]))
        default: return nil
        }
    }

    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }

    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool { lhs.description < rhs.description }
}
