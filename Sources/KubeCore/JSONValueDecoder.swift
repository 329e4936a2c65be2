#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Decodes `Decodable` types straight from a `JSONValue` tree. Going through `JSONDecoder` meant
/// writing the tree out as text and parsing it again on every read of a typed object, and decoding
/// a `JSONValue` field (unknown parts, `fieldsV1`) through `JSONDecoder` tries each JSON type in turn,
/// each failed try building an error with its coding path: together most of a pass's CPU. Here a
/// `JSONValue` field is the node itself. Semantics follow `JSONDecoder`'s defaults: integers accept
/// integral numbers only, floating point accepts any number, `Date` is seconds since the reference
/// date (`deferredToDate`), `Data` is base64, `URL` a string; errors are `DecodingError`s with the
/// coding path, as `JSONDecoder`'s.
struct JSONValueDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try JSONValueDecoding(value: value, path: .root).unbox(T.self)
    }
}

extension CodingPathList {
    /// The path as the decoder reports it: an element is named as `JSONDecoder` names it.
    fileprivate var decodingPath: [any CodingKey] { keys { IndexKey($0) } }
}

private struct JSONValueDecoding: Decoder {
    let value: JSONValue
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.decodingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch([String: JSONValue].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(object: object, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw mismatch([JSONValue].self, value, codingPath) }
        return UnkeyedContainer(array: array, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(value: value, path: path) }

    func unbox<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == JSONValue.self, let same = value as? T { return same }
        // Maps and lists of strings (labels, annotations, args) are built here: the standard
        // library's generic decoding of a collection costs a container and a decoder per element.
        // Anything else in them, and so any error, takes the generic way below.
        if T.self == [String: String].self, case .object(let object) = value, let map = Self.strings(object), let result = map as? T {
            return result
        }
        if T.self == [String].self, case .array(let array) = value, let list = Self.strings(array), let result = list as? T {
            return result
        }
        if T.self == Data.self {
            guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath) }
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "Encountered Data is not valid Base64."))
            }
            if let data = data as? T { return data }
        }
        if T.self == URL.self {
            guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath) }
            guard let url = URL(string: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "Invalid URL string."))
            }
            if let url = url as? T { return url }
        }
        return try T(from: self)
    }

    /// The members as a `[String: String]`; nil when one is not a string.
    static func strings(_ object: JSONObject) -> [String: String]? {
        var map: [String: String] = [:]
        map.reserveCapacity(object.members.count)
        for (key, value) in object.members {
            guard case .string(let text) = value else { return nil }
            map[key] = text
        }
        return map
    }

    /// The elements as a `[String]`; nil when one is not a string.
    static func strings(_ array: [JSONValue]) -> [String]? {
        var list: [String] = []
        list.reserveCapacity(array.count)
        for element in array {
            guard case .string(let text) = element else { return nil }
            list.append(text)
        }
        return list
    }
}

private func mismatch(_ expected: Any.Type, _ value: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    if value == .null {
        return DecodingError.valueNotFound(expected, .init(codingPath: path, debugDescription: "Cannot get value of type \(expected) -- found null value instead"))
    }
    return DecodingError.typeMismatch(expected, .init(codingPath: path, debugDescription: "Expected to decode \(expected) but found \(value.decodingTypeName) instead."))
}

private extension JSONValue {
    /// How `JSONDecoder` names what it found in a type mismatch.
    var decodingTypeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "a dictionary"
        }
    }
}

/// The scalar decodes shared by all three containers. The coding path is built only for an error:
/// most fields of an object are scalars, and an array built per field would be most of a decode's cost.
private enum Scalars {
    /// `T` decoded here when it is one of the scalars most optional fields are (a generic decode
    /// would set up a decoder and a single-value container for each); nil for any other type.
    static func common<T>(_ type: T.Type, _ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> T? {
        if T.self == String.self { return try string(value, path()) as? T }
        if T.self == Int64.self { return try integer(Int64.self, value, path()) as? T }
        if T.self == Int.self { return try integer(Int.self, value, path()) as? T }
        if T.self == Int32.self { return try integer(Int32.self, value, path()) as? T }
        if T.self == Bool.self { return try bool(value, path()) as? T }
        if T.self == Double.self { return try double(value, path()) as? T }
        return nil
    }

    static func bool(_ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch(Bool.self, value, path()) }
        return b
    }

    static func string(_ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> String {
        guard case .string(let s) = value else { throw mismatch(String.self, value, path()) }
        return s
    }

    static func double(_ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw mismatch(Double.self, value, path())
        }
    }

    static func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        let converted: T?
        switch value {
        case .int(let i): converted = T(exactly: i)
        case .double(let d): converted = d.isFinite ? T(exactly: d) : nil
        default: throw mismatch(T.self, value, path())
        }
        guard let converted else {
            throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Number \(value.serializedString()) does not fit in \(T.self)."))
        }
        return converted
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.decodingPath }

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return value
    }

    private func path(_ key: Key) -> [any CodingKey] { CodingPathList.key(key, path).decodingPath }
    private func nested(_ key: Key) -> CodingPathList { .key(key, path) }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Scalars.bool(value(key), path(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Scalars.string(value(key), path(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Scalars.double(value(key), path(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try Scalars.double(value(key), path(key))) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Scalars.integer(Int.self, value(key), path(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Scalars.integer(Int8.self, value(key), path(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Scalars.integer(Int16.self, value(key), path(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Scalars.integer(Int32.self, value(key), path(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Scalars.integer(Int64.self, value(key), path(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Scalars.integer(UInt.self, value(key), path(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Scalars.integer(UInt8.self, value(key), path(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Scalars.integer(UInt16.self, value(key), path(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Scalars.integer(UInt32.self, value(key), path(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Scalars.integer(UInt64.self, value(key), path(key)) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let value = try value(key)
        if let scalar = try Scalars.common(T.self, value, path(key)) { return scalar }
        return try JSONValueDecoding(value: value, path: nested(key)).unbox(T.self)
    }

    // The scalar `decodeIfPresent`s, which the standard library's defaults would answer with
    // three look-ups of the key (`contains`, `decodeNil`, `decode`) where one does.

    /// The value under `key`; nil when absent or null (both nil, as with `JSONDecoder`).
    private func presentValue(_ key: Key) -> JSONValue? {
        guard let value = object[key.stringValue] else { return nil }
        if case .null = value { return nil }
        return value
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try presentValue(key).map { try Scalars.bool($0, path(key)) } }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try presentValue(key).map { try Scalars.string($0, path(key)) } }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try presentValue(key).map { try Scalars.double($0, path(key)) } }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try presentValue(key).map { Float(try Scalars.double($0, path(key))) } }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try presentValue(key).map { try Scalars.integer(Int.self, $0, path(key)) } }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try presentValue(key).map { try Scalars.integer(Int8.self, $0, path(key)) } }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try presentValue(key).map { try Scalars.integer(Int16.self, $0, path(key)) } }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try presentValue(key).map { try Scalars.integer(Int32.self, $0, path(key)) } }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try presentValue(key).map { try Scalars.integer(Int64.self, $0, path(key)) } }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try presentValue(key).map { try Scalars.integer(UInt.self, $0, path(key)) } }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try presentValue(key).map { try Scalars.integer(UInt8.self, $0, path(key)) } }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try presentValue(key).map { try Scalars.integer(UInt16.self, $0, path(key)) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try presentValue(key).map { try Scalars.integer(UInt32.self, $0, path(key)) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try presentValue(key).map { try Scalars.integer(UInt64.self, $0, path(key)) } }

    /// Absent and null are both nil, as with `JSONDecoder`.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = object[key.stringValue], value != .null else { return nil }
        if let scalar = try Scalars.common(T.self, value, path(key)) { return scalar }
        return try JSONValueDecoding(value: value, path: nested(key)).unbox(T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONValueDecoding(value: value(key), path: nested(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try JSONValueDecoding(value: value(key), path: nested(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { JSONValueDecoding(value: object["super"] ?? .null, path: path) }
    func superDecoder(forKey key: Key) throws -> any Decoder { JSONValueDecoding(value: object[key.stringValue] ?? .null, path: nested(key)) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.decodingPath }
    var currentIndex = 0

    init(array: [JSONValue], path: CodingPathList) {
        self.array = array
        self.path = path
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next<T>(_ type: T.Type) throws -> (JSONValue, CodingPathList) {
        let (value, index) = try nextScalar(type)
        return (value, .index(index, path))
    }

    /// The next element and its index; its path is built only when needed.
    private mutating func nextScalar<T>(_ type: T.Type) throws -> (JSONValue, Int) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: path(currentIndex), debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return (array[currentIndex], currentIndex)
    }

    private func path(_ index: Int) -> [any CodingKey] { CodingPathList.index(index, path).decodingPath }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (v, i) = try nextScalar(type); return try Scalars.bool(v, path(i)) }
    mutating func decode(_ type: String.Type) throws -> String { let (v, i) = try nextScalar(type); return try Scalars.string(v, path(i)) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (v, i) = try nextScalar(type); return try Scalars.double(v, path(i)) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (v, i) = try nextScalar(type); return Float(try Scalars.double(v, path(i))) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (v, i) = try nextScalar(type); return try Scalars.integer(Int.self, v, path(i)) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (v, i) = try nextScalar(type); return try Scalars.integer(Int8.self, v, path(i)) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (v, i) = try nextScalar(type); return try Scalars.integer(Int16.self, v, path(i)) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (v, i) = try nextScalar(type); return try Scalars.integer(Int32.self, v, path(i)) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (v, i) = try nextScalar(type); return try Scalars.integer(Int64.self, v, path(i)) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (v, i) = try nextScalar(type); return try Scalars.integer(UInt.self, v, path(i)) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (v, i) = try nextScalar(type); return try Scalars.integer(UInt8.self, v, path(i)) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (v, i) = try nextScalar(type); return try Scalars.integer(UInt16.self, v, path(i)) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (v, i) = try nextScalar(type); return try Scalars.integer(UInt32.self, v, path(i)) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (v, i) = try nextScalar(type); return try Scalars.integer(UInt64.self, v, path(i)) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // The standard library decodes an array's elements through this generic method, whatever
        // their type: scalars are decoded here, as the keyed container does.
        let (v, i) = try nextScalar(type)
        if let scalar = try Scalars.common(T.self, v, path(i)) { return scalar }
        return try JSONValueDecoding(value: v, path: .index(i, path)).unbox(T.self)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (v, p) = try next([String: JSONValue].self)
        return try JSONValueDecoding(value: v, path: p).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (v, p) = try next([JSONValue].self)
        return try JSONValueDecoding(value: v, path: p).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (v, p) = try next(JSONValue.self)
        return JSONValueDecoding(value: v, path: p)
    }
}

private struct SingleValue: SingleValueDecodingContainer {
    let value: JSONValue
    let path: CodingPathList
    var codingPath: [any CodingKey] { path.decodingPath }

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try Scalars.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try Scalars.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Scalars.double(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try Scalars.double(value, codingPath)) }
    func decode(_ type: Int.Type) throws -> Int { try Scalars.integer(Int.self, value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Scalars.integer(Int8.self, value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Scalars.integer(Int16.self, value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Scalars.integer(Int32.self, value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Scalars.integer(Int64.self, value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try Scalars.integer(UInt.self, value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalars.integer(UInt8.self, value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalars.integer(UInt16.self, value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalars.integer(UInt32.self, value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalars.integer(UInt64.self, value, codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONValueDecoding(value: value, path: path).unbox(T.self)
    }
}
