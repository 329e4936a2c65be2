/// A JSON object: its members kept sorted by key (by the keys' UTF-8 bytes), one per key.
///
/// Kubernetes objects are trees of small objects (most have fewer than a dozen keys) that the
/// operator parses, builds, compares and writes out many times a second. A sorted array serves
/// that better than a hash table: a lookup is a short binary search with no hashing, building one
/// is one allocation, and writing the canonical form (keys sorted, as the caches and the content
/// hashes need it) is a walk in order. Its API is the part of `Dictionary`'s that JSON code uses,
/// so it reads like one; iteration is in key order.
public struct JSONObject: Sendable, Hashable {
    public typealias Element = (key: String, value: JSONValue)

    /// Sorted by key, keys unique.
    public private(set) var members: [Element]

    public init() { members = [] }

    /// From members in any order; for a key given twice the last one wins (as JSON decoders do).
    public init<S: Sequence>(_ elements: S) where S.Element == (String, JSONValue) {
        members = elements.map { (key: $0.0, value: $0.1) }
        Self.canonicalise(&members)
    }

    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.map { (key: $0.key, value: $0.value) }
        members.sort { Self.order($0.key, $1.key) < 0 }
    }

    public init(uniqueKeysWithValues elements: some Sequence<(String, JSONValue)>) {
        self.init(elements)
    }

    /// Members appended by a parser, in document order: sorted once here.
    init(parsed members: [Element]) {
        self.members = members
        Self.canonicalise(&self.members)
    }

    /// Sorts by key (stable, so of equal keys the last stays last) and keeps the last of each key.
    private static func canonicalise(_ members: inout [Element]) {
        var sorted = true
        var index = 1
        while index < members.count {
            if Self.order(members[index - 1].key, members[index].key) >= 0 { sorted = false; break }
            index += 1
        }
        if sorted { return }
        if members.count > 16 {
            // Stable: of equal keys the later stays later.
            members = members.enumerated().sorted {
                let order = Self.order($0.element.key, $1.element.key)
                return order < 0 || (order == 0 && $0.offset < $1.offset)
            }.map(\.element)
        } else {
            insertionSort(&members)
        }
        var unique: [Element] = []
        unique.reserveCapacity(members.count)
        for element in members {
            if let last = unique.last, Self.order(last.key, element.key) == 0 {
                unique[unique.count - 1] = element
            } else {
                unique.append(element)
            }
        }
        members = unique
    }

    /// A stable sort by key for a few members.
    private static func insertionSort(_ members: inout [Element]) {
        for i in 1..<members.count {
            var j = i
            let element = members[i]
            while j > 0 && Self.order(element.key, members[j - 1].key) < 0 {
                members[j] = members[j - 1]
                j -= 1
            }
            members[j] = element
        }
    }

    /// How two keys order: by the bytes of their UTF-8, as Go compares the keys of the API server's
    /// maps (negative, zero or positive): one pass over the bytes per probe of a lookup, where `==`
    /// then `<` on String would make two Unicode-aware comparisons; and keys that differ in their
    /// bytes stay two keys, as they are to the API server, even when Unicode calls them equivalent.
    @inline(__always)
    static func order(_ a: String, _ b: String) -> Int {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = Swift.min(x.count, y.count)
                var i = 0
                while i < common {
                    if x[i] != y[i] { return Int(x[i]) - Int(y[i]) }
                    i += 1
                }
                return x.count - y.count
            }
        }
    }

    /// The position of `key`, or where it would be inserted.
    private func position(of key: String) -> (index: Int, found: Bool) {
        var low = 0, high = members.count
        while low < high {
            let mid = (low + high) / 2
            let order = Self.order(members[mid].key, key)
            if order == 0 { return (mid, true) }
            if order < 0 { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    public subscript(key: String) -> JSONValue? {
        get {
            let (index, found) = position(of: key)
            // Not a `?:`: JSONValue is ExpressibleByNilLiteral, so its `nil` would be `.null`.
            if found { return members[index].value }
            return Optional.none
        }
        set {
            let (index, found) = position(of: key)
            switch (found, newValue) {
            case (true, let value?): members[index].value = value
            case (true, nil): members.remove(at: index)
            case (false, let value?): members.insert((key: key, value: value), at: index)
            case (false, nil): break
            }
        }
    }

    public subscript(key: String, default defaultValue: @autoclosure () -> JSONValue) -> JSONValue {
        get { self[key] ?? defaultValue() }
        set { self[key] = newValue }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    /// The keys, sorted.
    public var keys: [String] { members.map(\.key) }
    /// The values, in key order.
    public var values: [JSONValue] { members.map(\.value) }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        let (index, found) = position(of: key)
        if found { return members.remove(at: index).value }
        return Optional.none
    }

    @discardableResult
    public mutating func updateValue(_ value: JSONValue, forKey key: String) -> JSONValue? {
        let old = self[key]
        self[key] = value
        return old
    }

    public mutating func merge(_ other: JSONObject, uniquingKeysWith combine: (JSONValue, JSONValue) throws -> JSONValue) rethrows {
        for (key, value) in other.members {
            if let current = self[key] { self[key] = try combine(current, value) } else { self[key] = value }
        }
    }

    public func merging(_ other: JSONObject, uniquingKeysWith combine: (JSONValue, JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var copy = self
        try copy.merge(other, uniquingKeysWith: combine)
        return copy
    }

    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var copy = self
        for index in copy.members.indices { copy.members[index].value = try transform(copy.members[index].value) }
        return copy
    }

    public func compactMapValues(_ transform: (JSONValue) throws -> JSONValue?) rethrows -> JSONObject {
        var copy = JSONObject()
        copy.members = try members.compactMap { element in try transform(element.value).map { (key: element.key, value: $0) } }
        return copy
    }

    /// The values `transform` maps, by key, as a `Dictionary` (labels as `[String: String]`, say).
    public func compactMapValues<T>(_ transform: (JSONValue) throws -> T?) rethrows -> [String: T] {
        var result: [String: T] = [:]
        result.reserveCapacity(members.count)
        for member in members { if let value = try transform(member.value) { result[member.key] = value } }
        return result
    }

    public func mapValues<T>(_ transform: (JSONValue) throws -> T) rethrows -> [String: T] {
        var result: [String: T] = [:]
        result.reserveCapacity(members.count)
        for member in members { result[member.key] = try transform(member.value) }
        return result
    }

    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> JSONObject {
        var copy = JSONObject()
        copy.members = try members.filter(isIncluded)
        return copy
    }

    /// The members as a `Dictionary`.
    public var dictionary: [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) })
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (l, r) in zip(lhs.members, rhs.members) where l.key != r.key || l.value != r.value { return false }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}

extension JSONObject: Sequence {
    public func makeIterator() -> IndexingIterator<[Element]> { members.makeIterator() }
    public var underestimatedCount: Int { members.count }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

extension JSONObject: CustomStringConvertible {
    public var description: String { dictionary.description }
}

extension JSONObject: Codable {
    public init(from decoder: Decoder) throws {
        self.init(try [String: JSONValue](from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        try dictionary.encode(to: encoder)
    }
}

extension JSONValue {
    /// An object from a `Dictionary` (what `mapValues` of a label map gives, say).
    public static func object(_ dictionary: [String: JSONValue]) -> JSONValue { .object(JSONObject(dictionary)) }
}
