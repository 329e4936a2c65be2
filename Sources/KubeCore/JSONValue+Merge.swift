#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A typed model that remembers the JSON it was decoded from, so that fields it does not model
/// survive a read-modify-write: encoding it (through `JSONValue(encoding:)`) lays the typed fields
/// over `raw`. Typed values win; a known optional field set to nil is removed; objects merge
/// recursively; lists of objects merge element by element (by a unique `name`/`type` key, else by
/// index when the length is unchanged); maps (`[String: X]`) and `JSONValue` fields are replaced whole.
public protocol UnknownFieldPreserving: Codable, Sendable {
    /// The JSON this value was decoded from (set by `JSONValue.decode(_:)`); nil for a fresh value.
    var raw: JSONValue? { get set }
}

/// Values the merge must replace as a whole instead of merging into what was read: maps (a removed
/// label must disappear) and free-form JSON.
protocol AtomicJSONEncodable {}
extension Dictionary: AtomicJSONEncodable {}
extension JSONValue: AtomicJSONEncodable {}

// MARK: - Merge

extension JSONValue {
    /// Lays `overlay` over `base` with the rules of `UnknownFieldPreserving` (objects merge
    /// recursively, lists of objects element-wise, everything else replaces).
    public static func merge(_ overlay: JSONValue, over base: JSONValue?) -> JSONValue {
        EncodedNode(overlay).merged(over: base) ?? overlay
    }
}

/// What the encoder produces: JSON plus explicit deletions (known optional fields that are nil)
/// and atomic subtrees (replace, never merge).
indirect enum EncodedNode {
    case scalar(JSONValue)
    case atomic(JSONValue)
    /// Fields in the order they were encoded, one per key.
    case object([(key: String, node: EncodedNode)])
    case array([EncodedNode])
    case deleted

    init(_ value: JSONValue) {
        switch value {
        case .object(let o): self = .object(o.members.map { (key: $0.key, node: EncodedNode($0.value)) })
        case .array(let a): self = .array(a.map { EncodedNode($0) })
        default: self = .scalar(value)
        }
    }

    /// The node as plain JSON (deletions dropped); nil for a deletion.
    var plain: JSONValue? {
        switch self {
        case .scalar(let v), .atomic(let v): return v
        case .deleted: return nil
        case .object(let fields):
            return .object(JSONObject(fields.compactMap { field in field.node.plain.map { (field.key, $0) } }))
        case .array(let items): return .array(items.compactMap { $0.plain })
        }
    }

    /// The node laid over `base`; nil means "remove this field".
    func merged(over base: JSONValue?) -> JSONValue? {
        switch self {
        case .deleted: return nil
        case .scalar(let v), .atomic(let v): return v
        case .object(let fields):
            guard case .object(var o)? = base else { return plain }
            for (k, node) in fields {
                if let v = node.merged(over: o[k]) {
                    o[k] = v
                } else if o[k] != .null {
                    // An explicit null read from the server means the same as absent: keep it as read.
                    o.removeValue(forKey: k)
                }
            }
            return .object(o)
        case .array(let items):
            guard case .array(let baseItems)? = base, !baseItems.isEmpty else { return plain }
            if let key = Self.mergeKey(items, baseItems) {
                var byKey: [JSONValue: JSONValue] = [:]
                for b in baseItems { if let k = b[key] { byKey[k] = b } }
                return .array(items.compactMap { node in
                    let k: JSONValue? = { if case .object(let f) = node { return Self.field(key, of: f)?.plain } else { return nil } }()
                    return node.merged(over: k.flatMap { byKey[$0] })
                })
            }
            if items.count == baseItems.count {
                return .array(zip(items, baseItems).compactMap { $0.merged(over: $1) })
            }
            return plain
        }
    }

    /// The node of `key` among `fields`.
    static func field(_ key: String, of fields: [(key: String, node: EncodedNode)]) -> EncodedNode? {
        fields.first { $0.key == key }?.node
    }

    /// A key that identifies every element of both lists uniquely (`name`, else `type`).
    static func mergeKey(_ items: [EncodedNode], _ base: [JSONValue]) -> String? {
        candidates: for key in ["name", "type"] {
            var seen = Set<JSONValue>()
            for node in items {
                guard case .object(let f) = node, let v = Self.field(key, of: f)?.plain, case .string = v, seen.insert(v).inserted else {
                    continue candidates
                }
            }
            var baseSeen = Set<JSONValue>()
            for b in base {
                guard let v = b[key], case .string = v, baseSeen.insert(v).inserted else { continue candidates }
            }
            return key
        }
        return nil
    }
}

// MARK: - Encoder

/// Encodes Encodable values straight into `EncodedNode`/`JSONValue` (no JSON text round trip),
/// recording nil optionals as deletions and merging `UnknownFieldPreserving` values over their `raw`.
/// Matches `JSONEncoder`'s defaults for the Foundation types it special-cases (Data as base64, URL as
/// its string, Date as seconds since the reference date).
enum JSONValueEncoder {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try node(for: value, path: .root).plain ?? .null
    }

    static func node<T: Encodable>(for value: T, path: CodingPathList) throws -> EncodedNode {
        // Metatype compares first: a dynamic cast per value costs more than the encoding of most values.
        if T.self == JSONValue.self, let v = value as? JSONValue { return .atomic(v) }
        if T.self == Data.self, let d = value as? Data { return .scalar(.string(d.base64EncodedString())) }
        if T.self == URL.self, let u = value as? URL { return .scalar(.string(u.absoluteString)) }
        if T.self == Date.self, let date = value as? Date { return .scalar(try checkFinite(date.timeIntervalSinceReferenceDate, path)) }
        let encoder = NodeEncoder(path: path)
        try value.encode(to: encoder)
        var result = encoder.storage.node
        // Maps and models keeping unknown fields encode as objects (every Codable map here has
        // String keys; one keyed otherwise would encode as a list and merge as one): a scalar (an
        // enum, a quantity) or a list needs neither dynamic cast below.
        switch result {
        case .scalar, .array: return result
        default: break
        }
        // Asked of the static type (the models are value types, so it is the dynamic one): a cast of
        // the value copies it into an existential, boxed on the heap when it is larger than three words.
        if T.self is any AtomicJSONEncodable.Type { result = .atomic(result.plain ?? .null) }
        if T.self is any UnknownFieldPreserving.Type, let preserving = value as? any UnknownFieldPreserving {
            var merged = result.merged(over: preserving.raw) ?? .object([:])
            if let resource = value as? any KubeResource {
                let type = Swift.type(of: resource).resourceType
                if merged["apiVersion"]?.stringValue?.isEmpty ?? true { merged["apiVersion"] = .string(type.apiVersion) }
                if merged["kind"]?.stringValue?.isEmpty ?? true { merged["kind"] = .string(type.kind) }
            }
            // Already merged: it must not merge again one level up.
            result = .atomic(merged)
        }
        return result
    }

    static func checkFinite(_ d: Double, _ path: CodingPathList) throws -> JSONValue {
        guard d.isFinite else {
            throw EncodingError.invalidValue(d, .init(codingPath: path.codingPath, debugDescription: "\(d) cannot be represented in JSON"))
        }
        // JSONEncoder writes integral doubles as integers (`2.0` -> `2`), which parse back as `.int`;
        // keep that, so values compare equal whichever way they were made.
        if d.rounded() == d, abs(d) < 9_007_199_254_740_992 { return .int(Int64(d)) }
        return .double(d)
    }
}

/// Where a value being encoded or decoded sits, as a list linked to its parent: a nested value
/// costs one small allocation, where `codingPath + [key]` built an array and copied every key
/// above it. The `[CodingKey]` form is made only when asked for (an error, or an `encode(to:)` or
/// `init(from:)` reading it).
indirect enum CodingPathList {
    case root
    case key(any CodingKey, CodingPathList)
    case index(Int, CodingPathList)

    /// The keys from the root; `indexKey` names an element by its position (the encoder and the
    /// decoder name it as `JSONEncoder` and `JSONDecoder` do).
    func keys(indexKey: (Int) -> any CodingKey) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = self
        while true {
            switch node {
            case .root: return keys.reversed()
            case .key(let key, let parent): keys.append(key); node = parent
            case .index(let index, let parent): keys.append(indexKey(index)); node = parent
            }
        }
    }

    /// The path as the encoder reports it.
    var codingPath: [any CodingKey] { keys { AnyCodingKey(intValue: $0) } }
}

/// Mutable storage shared between an encoder and the containers it hands out.
final class NodeStorage {
    /// A finished value goes in as it is; only a nested container needs storage of its own, which
    /// its encoder fills later (one allocation per container instead of one per field).
    enum Slot {
        case node(EncodedNode)
        case storage(NodeStorage)

        var node: EncodedNode {
            switch self {
            case .node(let n): return n
            case .storage(let s): return s.node
            }
        }
    }

    enum Kind { case empty, single(EncodedNode), keyed([(key: String, slot: Slot)]), unkeyed([Slot]), deleted }
    var kind: Kind = .empty

    var node: EncodedNode {
        switch kind {
        case .empty: return .object([])
        case .single(let n): return n
        case .deleted: return .deleted
        case .keyed(let fields): return .object(fields.map { (key: $0.key, node: $0.slot.node) })
        case .unkeyed(let items): return .array(items.map { $0.node })
        }
    }
}

final class NodeEncoder: Encoder {
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let storage: NodeStorage

    init(path: CodingPathList, storage: NodeStorage = NodeStorage()) {
        self.path = path
        self.storage = storage
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = storage.kind {} else { storage.kind = .keyed([]) }
        return KeyedEncodingContainer(NodeKeyedContainer<Key>(storage: storage, path: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unkeyed = storage.kind {} else { storage.kind = .unkeyed([]) }
        return NodeUnkeyedContainer(storage: storage, path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        NodeSingleContainer(storage: storage, path: path)
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

struct NodeKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: NodeStorage
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.codingPath }

    private func set(_ key: Key, _ node: EncodedNode) { setSlot(key, .node(node)) }

    private func setStorage(_ key: Key, _ child: NodeStorage) { setSlot(key, .storage(child)) }

    private func setSlot(_ key: Key, _ slot: NodeStorage.Slot) {
        guard case .keyed(var fields) = storage.kind else { return }
        // Emptied first, so the array is uniquely referenced and grows in place (no copy per field).
        // In coding order; a key encoded again replaces its first value, as a dictionary would.
        storage.kind = .empty
        let name = key.stringValue
        if let index = fields.firstIndex(where: { $0.key == name }) {
            fields[index].slot = slot
        } else {
            fields.append((key: name, slot: slot))
        }
        storage.kind = .keyed(fields)
    }

    mutating func encodeNil(forKey key: Key) throws { set(key, .scalar(.null)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(key, .scalar(.bool(value))) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(key, .scalar(.string(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(key, .scalar(try JSONValueEncoder.checkFinite(value, .key(key, path)))) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(key, .scalar(try JSONValueEncoder.checkFinite(Double(value), .key(key, path)))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(key, .scalar(.int(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(key, .scalar(uintValue(UInt64(value)))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(key, .scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(key, .scalar(uintValue(value))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        set(key, try JSONValueEncoder.node(for: value, path: .key(key, path)))
    }

    // A nil optional is an explicit deletion: that is what lets "set a known field to nil" remove it
    // from the JSON the object was read from.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { set(key, .deleted) } }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { set(key, .deleted) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = NodeStorage()
        child.kind = .keyed([])
        setStorage(key, child)
        return KeyedEncodingContainer(NodeKeyedContainer<NestedKey>(storage: child, path: .key(key, path)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = NodeStorage()
        child.kind = .unkeyed([])
        setStorage(key, child)
        return NodeUnkeyedContainer(storage: child, path: .key(key, path))
    }

    mutating func superEncoder() -> any Encoder {
        guard let key = Key(stringValue: "super") else { return NodeEncoder(path: path) }
        return superEncoder(forKey: key)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = NodeStorage()
        setStorage(key, child)
        return NodeEncoder(path: .key(key, path), storage: child)
    }
}

func uintValue(_ v: UInt64) -> JSONValue { v <= UInt64(Int64.max) ? .int(Int64(v)) : .double(Double(v)) }

struct NodeUnkeyedContainer: UnkeyedEncodingContainer {
    let storage: NodeStorage
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.codingPath }
    var count: Int {
        if case .unkeyed(let items) = storage.kind { return items.count }
        return 0
    }

    private func append(_ child: NodeStorage) { append(slot: .storage(child)) }

    private func append(_ node: EncodedNode) { append(slot: .node(node)) }

    private func append(slot: NodeStorage.Slot) {
        guard case .unkeyed(var items) = storage.kind else { return }
        // Emptied first, so the array is uniquely referenced and grows in place.
        storage.kind = .empty
        items.append(slot)
        storage.kind = .unkeyed(items)
    }

    private var indexPath: CodingPathList { .index(count, path) }

    mutating func encodeNil() throws { append(.scalar(.null)) }
    mutating func encode(_ value: Bool) throws { append(.scalar(.bool(value))) }
    mutating func encode(_ value: String) throws { append(.scalar(.string(value))) }
    mutating func encode(_ value: Double) throws { append(.scalar(try JSONValueEncoder.checkFinite(value, indexPath))) }
    mutating func encode(_ value: Float) throws { append(.scalar(try JSONValueEncoder.checkFinite(Double(value), indexPath))) }
    mutating func encode(_ value: Int) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int8) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int16) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int32) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int64) throws { append(.scalar(.int(value))) }
    mutating func encode(_ value: UInt) throws { append(.scalar(uintValue(UInt64(value)))) }
    mutating func encode(_ value: UInt8) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt16) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt32) throws { append(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt64) throws { append(.scalar(uintValue(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try JSONValueEncoder.node(for: value, path: indexPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let childPath = indexPath
        let child = NodeStorage()
        child.kind = .keyed([])
        append(child)
        return KeyedEncodingContainer(NodeKeyedContainer<NestedKey>(storage: child, path: childPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let childPath = indexPath
        let child = NodeStorage()
        child.kind = .unkeyed([])
        append(child)
        return NodeUnkeyedContainer(storage: child, path: childPath)
    }

    mutating func superEncoder() -> any Encoder {
        let childPath = indexPath
        let child = NodeStorage()
        append(child)
        return NodeEncoder(path: childPath, storage: child)
    }
}

struct NodeSingleContainer: SingleValueEncodingContainer {
    let storage: NodeStorage
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.codingPath }

    private func set(_ node: EncodedNode) { storage.kind = .single(node) }

    mutating func encodeNil() throws { set(.scalar(.null)) }
    mutating func encode(_ value: Bool) throws { set(.scalar(.bool(value))) }
    mutating func encode(_ value: String) throws { set(.scalar(.string(value))) }
    mutating func encode(_ value: Double) throws { set(.scalar(try JSONValueEncoder.checkFinite(value, path))) }
    mutating func encode(_ value: Float) throws { set(.scalar(try JSONValueEncoder.checkFinite(Double(value), path))) }
    mutating func encode(_ value: Int) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int8) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int16) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int32) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: Int64) throws { set(.scalar(.int(value))) }
    mutating func encode(_ value: UInt) throws { set(.scalar(uintValue(UInt64(value)))) }
    mutating func encode(_ value: UInt8) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt16) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt32) throws { set(.scalar(.int(Int64(value)))) }
    mutating func encode(_ value: UInt64) throws { set(.scalar(uintValue(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        set(try JSONValueEncoder.node(for: value, path: path))
    }
}
