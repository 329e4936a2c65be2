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
///
/// Objects are held as their compact JSON text (keys sorted) and parsed again when read: a parsed
/// `JSONValue` tree of a Deployment takes several times the memory of its text, and a cache holds
/// thousands of them while a pass reads only a few. Indexes are computed once, on the way in.
public struct CacheStoreState: Sendable {
    private var stored: [ObjectKey: [UInt8]] = [:]
    public private(set) var resourceVersion: String?
    private let indexes: [CacheIndex]
    /// index name → index value → keys.
    private var indexed: [String: [String: Set<ObjectKey>]] = [:]

    public init(indexes: [CacheIndex] = []) {
        self.indexes = indexes
        for index in indexes { indexed[index.name] = [:] }
    }

    /// The object under `key`, parsed from what the cache holds.
    public func object(_ key: ObjectKey) -> JSONValue? {
        stored[key].flatMap(Self.parse)
    }

    /// The stored text of `key`.
    func text(_ key: ObjectKey) -> [UInt8]? { stored[key] }

    /// Every object by key (parses all of them: for tests and small caches).
    public var objects: [ObjectKey: JSONValue] { stored.compactMapValues(Self.parse) }

    public var keys: Dictionary<ObjectKey, [UInt8]>.Keys { stored.keys }
    public var count: Int { stored.count }

    static func text(of object: JSONValue) -> [UInt8] { object.compactText() }

    /// Text this cache wrote itself; a failure would be a bug in the writer, read as "absent".
    static func parse(_ text: [UInt8]) -> JSONValue? { try? JSONValue(parsingText: text) }

    public mutating func apply(_ operation: CacheOperation) -> [ObjectChange] {
        switch operation {
        case .upsert(let object):
            guard let key = ObjectKey(object: object) else { return [] }
            return [put(key, object, text: Self.text(of: object))]
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
                let text = Self.text(of: object)
                if stored[key] == text { continue }
                changes.append(put(key, object, text: text))
            }
            for key in stored.keys.sorted() where !seen.contains(key) {
                if let old = remove(key) { changes.append(.deleted(old)) }
            }
            return changes
        }
    }

    private mutating func put(_ key: ObjectKey, _ new: JSONValue, text: [UInt8]) -> ObjectChange {
        let old = object(key)
        if let old { unindex(key, old) }
        stored[key] = text
        index(key, new)
        return old.map { .updated(old: $0, new: new) } ?? .added(new)
    }

    private mutating func remove(_ key: ObjectKey) -> JSONValue? {
        guard let text = stored.removeValue(forKey: key) else { return nil }
        guard let old = Self.parse(text) else { return nil }
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

    /// Read-your-writes: puts `object` in place only while the cache still holds what the write was
    /// based on (the object at `basedOn`, or nothing when `basedOn` is nil), so it never replaces
    /// anything newer the watch already delivered. Returns whether it was stored; reports no change.
    public mutating func storeWritten(_ object: JSONValue, basedOn resourceVersion: String?) -> Bool {
        guard let key = ObjectKey(object: object) else { return false }
        let current = self.object(key)
        guard current?[path: ["metadata", "resourceVersion"]]?.stringValue == resourceVersion else { return false }
        if current != nil && resourceVersion == nil { return false }
        _ = put(key, object, text: Self.text(of: object))
        return true
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

    public func get(_ key: ObjectKey) -> JSONValue? {
        // Copy the text out under the lock; parse outside it.
        let text = state.withLock { $0.text(key) }
        return text.flatMap(CacheStoreState.parse)
    }

    /// See `CacheStoreState.storeWritten`.
    @discardableResult
    public func storeWritten(_ object: JSONValue, basedOn resourceVersion: String?) -> Bool {
        state.withLock { $0.storeWritten(object, basedOn: resourceVersion) }
    }

    public func get(namespace: String?, name: String) -> JSONValue? { get(ObjectKey(namespace: namespace, name: name)) }

    /// Every object, in key order; optionally only one namespace.
    public func list(namespace: String? = nil) -> [JSONValue] {
        let texts = state.withLock { s in
            s.keys.filter { namespace == nil || $0.namespace == namespace }.sorted().compactMap { s.text($0) }
        }
        return texts.compactMap(CacheStoreState.parse)
    }

    public var keys: [ObjectKey] { state.withLock { $0.keys.sorted() } }
    public var count: Int { state.withLock { $0.count } }
    /// The resourceVersion of the last complete list applied.
    public var listResourceVersion: String? { state.withLock { $0.resourceVersion } }

    /// Keys whose index `name` has `value`, in key order (nothing parsed). Throws when the index was
    /// not configured, so a typo does not silently read as "no objects".
    public func keys(index name: String, value: String) throws -> [ObjectKey] {
        try state.withLock { s in
            guard s.hasIndex(name) else { throw KubeError.invalidRequest("cache index \"\(name)\" is not configured") }
            return s.keys(index: name, value: value).sorted()
        }
    }

    /// Objects whose index `name` has `value`, in key order. Throws when the index was not configured,
    /// so a typo does not silently read as "no objects".
    public func byIndex(_ name: String, value: String) throws -> [JSONValue] {
        let texts = try state.withLock { s in
            guard s.hasIndex(name) else { throw KubeError.invalidRequest("cache index \"\(name)\" is not configured") }
            return s.keys(index: name, value: value).sorted().compactMap { s.text($0) }
        }
        return texts.compactMap(CacheStoreState.parse)
    }
}
