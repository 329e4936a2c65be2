import KubeCore
import Synchronization

/// A change the cache saw, handed to informer handlers. `updated` carries the previous object.
public enum ObjectChange: Sendable, Equatable {
    case added(JSONValue)
    case updated(old: JSONValue, new: JSONValue)
    case deleted(JSONValue)

    /// The current object (for a deletion, the last known state).
    public var object: JSONValue {
        switch self {
        case .added(let o), .deleted(let o): return o
        case .updated(_, let o): return o
        }
    }
}

/// A secondary index: derives zero or more index values from an object.
public struct CacheIndex: Sendable {
    public var name: String
    public var values: @Sendable (JSONValue) -> [String]

    public init(name: String, values: @escaping @Sendable (JSONValue) -> [String]) {
        self.name = name
        self.values = values
    }

    /// Objects by the uid of their controller ownerReference.
    public static let controllerOwnerUID = CacheIndex(name: "controller-owner-uid") { object in
        guard let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue else { return [] }
        return refs.compactMap { ref in
            ref["controller"]?.boolValue == true ? ref["uid"]?.stringValue : nil
        }
    }

    /// Objects by namespace ("" for cluster-scoped ones).
    public static let namespace = CacheIndex(name: "namespace") { object in
        [object[path: ["metadata", "namespace"]]?.stringValue ?? ""]
    }

    /// Objects by the value of one label.
    public static func label(_ key: String) -> CacheIndex {
        CacheIndex(name: "label:\(key)") { object in
            object[path: ["metadata", "labels", key]]?.stringValue.map { [$0] } ?? []
        }
    }
}

/// The pure part of the cache: objects by key plus secondary indexes. Applying a watcher's
/// operation returns the changes it made, so handlers see exactly what the cache saw.
public struct CacheStoreState: Sendable {
    public private(set) var objects: [ObjectKey: JSONValue] = [:]
    public private(set) var resourceVersion: String?
    private let indexes: [CacheIndex]
    /// index name → index value → keys.
    private var indexed: [String: [String: Set<ObjectKey>]] = [:]

    public init(indexes: [CacheIndex] = []) {
        self.indexes = indexes
        for index in indexes { indexed[index.name] = [:] }
    }

    public mutating func apply(_ operation: CacheOperation) -> [ObjectChange] {
        switch operation {
        case .upsert(let object):
            guard let key = ObjectKey(object: object) else { return [] }
            return [put(key, object)]
        case .delete(let object):
            guard let key = ObjectKey(object: object) else { return [] }
            guard let old = remove(key) else { return [] }
            // Report the final state the server sent, falling back to what the cache held.
            return [.deleted(object.objectValue?["metadata"] == nil ? old : object)]
        case .replaceAll(let items, let rv):
            resourceVersion = rv
            var changes: [ObjectChange] = []
            var seen = Set<ObjectKey>()
            for object in items {
                guard let key = ObjectKey(object: object) else { continue }
                seen.insert(key)
                if objects[key] == object { continue }
                changes.append(put(key, object))
            }
            for key in objects.keys.sorted() where !seen.contains(key) {
                if let old = remove(key) { changes.append(.deleted(old)) }
            }
            return changes
        }
    }

    private mutating func put(_ key: ObjectKey, _ object: JSONValue) -> ObjectChange {
        let old = objects[key]
        if let old { unindex(key, old) }
        objects[key] = object
        index(key, object)
        return old.map { .updated(old: $0, new: object) } ?? .added(object)
    }

    private mutating func remove(_ key: ObjectKey) -> JSONValue? {
        guard let old = objects.removeValue(forKey: key) else { return nil }
        unindex(key, old)
        return old
    }

    private mutating func index(_ key: ObjectKey, _ object: JSONValue) {
        for index in indexes {
            for value in index.values(object) { indexed[index.name, default: [:]][value, default: []].insert(key) }
        }
    }

    private mutating func unindex(_ key: ObjectKey, _ object: JSONValue) {
        for index in indexes {
            for value in index.values(object) {
                indexed[index.name]?[value]?.remove(key)
                if indexed[index.name]?[value]?.isEmpty == true { indexed[index.name]?[value] = nil }
            }
        }
    }

    /// Keys whose index `name` has `value`; empty when the index does not exist.
    public func keys(index name: String, value: String) -> Set<ObjectKey> {
        indexed[name]?[value] ?? []
    }

    public func hasIndex(_ name: String) -> Bool { indexed[name] != nil }
}

/// The cache an informer fills: thread-safe, synchronous reads from memory.
public final class CacheStore: Sendable {
    private let state: Mutex<CacheStoreState>

    public init(indexes: [CacheIndex] = []) {
        state = Mutex(CacheStoreState(indexes: indexes))
    }

    /// Applies a watcher operation; returns the changes it caused.
    @discardableResult
    public func apply(_ operation: CacheOperation) -> [ObjectChange] {
        state.withLock { $0.apply(operation) }
    }

    public func get(_ key: ObjectKey) -> JSONValue? { state.withLock { $0.objects[key] } }

    public func get(namespace: String?, name: String) -> JSONValue? { get(ObjectKey(namespace: namespace, name: name)) }

    /// Every object, in key order; optionally only one namespace.
    public func list(namespace: String? = nil) -> [JSONValue] {
        state.withLock { s in
            s.objects.filter { namespace == nil || $0.key.namespace == namespace }
                .sorted { $0.key < $1.key }.map(\.value)
        }
    }

    public var keys: [ObjectKey] { state.withLock { $0.objects.keys.sorted() } }
    public var count: Int { state.withLock { $0.objects.count } }
    /// The resourceVersion of the last complete list applied.
    public var listResourceVersion: String? { state.withLock { $0.resourceVersion } }

    /// Objects whose index `name` has `value`, in key order. Throws when the index was not configured,
    /// so a typo does not silently read as "no objects".
    public func byIndex(_ name: String, value: String) throws -> [JSONValue] {
        try state.withLock { s in
            guard s.hasIndex(name) else { throw KubeError.invalidRequest("cache index \"\(name)\" is not configured") }
            return s.keys(index: name, value: value).sorted().compactMap { s.objects[$0] }
        }
    }
}
