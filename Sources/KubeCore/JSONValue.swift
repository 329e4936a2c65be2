#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON document as a value: the representation of unstructured Kubernetes objects, patches and
/// the parts of typed objects the models do not know (so they survive a read-modify-write).
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

// MARK: - Access

extension JSONValue {
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let o) = self else { return nil }
            return o[key]
        }
        set {
            guard case .object(var o) = self else {
                if let newValue { self = .object([key: newValue]) }
                return
            }
            // Drop this value's reference first, so the members are changed in place, not copied.
            self = .null
            o[key] = newValue
            self = .object(o)
        }
    }

    public subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    /// Reads a nested value by a path of object keys, e.g. `["metadata", "name"]`.
    public subscript(path path: [String]) -> JSONValue? {
        get {
            var current: JSONValue? = self
            for key in path { current = current?[key] }
            return current
        }
        set {
            guard let first = path.first else {
                if let newValue { self = newValue }
                return
            }
            if path.count == 1 {
                self[first] = newValue
                return
            }
            var child = self[first] ?? .object([:])
            // Release this value's reference to the child, so it is changed in place, not copied.
            if child != .object([:]) { self[first] = .null }
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// The value as an integer when it is an integral number (JSON does not distinguish 3 and 3.0).
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The JSON type name used in validation messages ("string", "integer", "object", ...).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(JSONObject(o))
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o.dictionary)
        }
    }
}

// MARK: - Serialization

/// Errors of turning bytes into JSON values; the message names the cause and, where known, the offset.
public struct JSONParseError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension JSONValue {
    /// Parses JSON text. Numbers without a fraction or exponent become `.int` when they fit.
    public init(parsing data: Data) throws {
        self = try data.withUnsafeBytes { raw in
            var parser = JSONTextParser(bytes: raw.bindMemory(to: UInt8.self))
            return try parser.parseDocument()
        }
    }

    /// Parses JSON text, leaving out `metadata.managedFields` of the object at `objectDepth` (0:
    /// the document itself; 1: the value of a top-level key, as a watch line's `object`). The
    /// text is still checked in full; the skipped part is never built.
    init(parsing data: Data, droppingManagedFieldsAt objectDepth: Int) throws {
        self = try data.withUnsafeBytes { raw in
            var parser = JSONTextParser(bytes: raw.bindMemory(to: UInt8.self))
            parser.managedFieldsDepth = objectDepth
            return try parser.parseDocument()
        }
    }

    public init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    /// Compact JSON with object keys sorted, so equal values serialize to equal bytes.
    public func serialized(pretty: Bool = false) -> Data {
        var out = [UInt8]()
        out.reserveCapacity(256)
        JSONTextWriter.write(self, into: &out, pretty: pretty, indent: 0)
        return Data(out)
    }

    /// `serialized()` as bytes, without the copy into `Data`.
    public func compactText() -> [UInt8] {
        var out = [UInt8]()
        JSONTextWriter.write(self, into: &out, pretty: false, indent: 0)
        return out
    }

    /// Parses a LIST answer, handing each element of its top-level `items` array to `transform` as
    /// soon as that element is parsed and keeping only what the transform returns. A page of 500
    /// Deployments is then never held as 500 full objects at once: the cache's projection of each
    /// replaces it before the next one is parsed.
    ///
    /// `droppingManagedFields`: the transform removes every item's `metadata.managedFields` anyway
    /// (often the largest part of an object), so the parser skips them without building them.
    public init(parsingList data: Data, transformingItems transform: (JSONValue) throws -> JSONValue, droppingManagedFields: Bool = false) throws {
        self = try withoutActuallyEscaping(transform) { transform in
            try data.withUnsafeBytes { raw in
                var parser = JSONTextParser(bytes: raw.bindMemory(to: UInt8.self))
                parser.itemsTransform = transform
                // The page is depth 0, its items array 1, each item 2.
                if droppingManagedFields { parser.managedFieldsDepth = 2 }
                return try parser.parseDocument()
            }
        }
    }

    /// Parses JSON text already held as bytes.
    public init(parsingText bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONTextParser(bytes: buffer)
            return try parser.parseDocument()
        }
    }

    public func serializedString(pretty: Bool = false) -> String {
        String(decoding: serialized(pretty: pretty), as: UTF8.self)
    }

    /// Decodes a Codable type from this value. An `UnknownFieldPreserving` result keeps this value
    /// as its `raw`, so encoding it again keeps the fields it does not model.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        let result = try JSONValueDecoder.decode(T.self, from: self)
        if var preserving = result as? any UnknownFieldPreserving {
            preserving.raw = self
            if let back = preserving as? T { return back }
        }
        return result
    }

    /// Encodes a Codable value into a JSON value. `UnknownFieldPreserving` values are laid over the
    /// JSON they were read from (see `JSONValue+Merge.swift`); Kubernetes objects get their
    /// `apiVersion`/`kind` filled in.
    public init<T: Encodable>(encoding value: T) throws {
        self = try JSONValueEncoder.encode(value)
    }
}

/// A small, strict JSON parser (RFC 8259) producing `JSONValue` directly, without going through
/// Foundation's `Any` tree. Depth is bounded so hostile input cannot exhaust the stack.
///
/// It reads the text in place, through a buffer pointer valid for the parse (every index is
/// checked against `bytes.count` first): a copy of every watch line and answer into an array cost
/// as much as a tenth of the parse.
struct JSONTextParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0
    /// Applied to each element of the top-level object's `items` array as it is parsed.
    var itemsTransform: ((JSONValue) throws -> JSONValue)?
    /// The depth of the objects whose `metadata.managedFields` is checked but not built.
    var managedFieldsDepth: Int?
    static let maxDepth = 512
    /// Members and elements of the objects and arrays being parsed, innermost last: each container
    /// is then made once at its final size, where appending to its own array reallocated it at
    /// every doubling (a tenth of the time parsing took).
    private var memberStack: [JSONObject.Element] = []
    private var elementStack: [JSONValue] = []

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard pos == bytes.count else { throw JSONParseError("unexpected data after JSON value at offset \(pos)") }
        return value
    }

    mutating func skipWhitespace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 {
            pos += 1
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < Self.maxDepth else { throw JSONParseError("JSON nested deeper than \(Self.maxDepth) levels") }
        guard pos < bytes.count else { throw JSONParseError("unexpected end of JSON input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default:
            throw JSONParseError("invalid character '\(Character(Unicode.Scalar(bytes[pos])))' looking for beginning of value at offset \(pos)")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        let matches = pos + count <= bytes.count && literal.withUTF8Buffer { expected in
            expected.indices.allSatisfy { bytes[pos + $0] == expected[$0] }
        }
        guard matches else { throw JSONParseError("invalid literal at offset \(pos), expected \(literal)") }
        pos += count
    }

    /// `skippingManagedFields`: this is an object's `metadata`; its `managedFields` is left out.
    mutating func parseObject(depth: Int, skippingManagedFields: Bool = false) throws -> JSONValue {
        pos += 1
        let base = memberStack.count
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(JSONObject()) }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
                throw JSONParseError("expected object key string at offset \(pos)")
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                throw JSONParseError("expected ':' after object key at offset \(pos)")
            }
            pos += 1
            skipWhitespace()
            if depth == 0, key == "items", let transform = itemsTransform, pos < bytes.count, bytes[pos] == UInt8(ascii: "[") {
                let items = try parseArray(depth: depth + 1, transformingElements: transform)
                memberStack.append((key: key, value: items))
            } else if depth == managedFieldsDepth, key == "metadata", pos < bytes.count, bytes[pos] == UInt8(ascii: "{") {
                memberStack.append((key: key, value: try parseObject(depth: depth + 1, skippingManagedFields: true)))
            } else if skippingManagedFields, key == "managedFields" {
                try skipValue(depth: depth + 1)
            } else {
                let value = try parseValue(depth: depth + 1)
                memberStack.append((key: key, value: value))
            }
            skipWhitespace()
            guard pos < bytes.count else { throw JSONParseError("unexpected end of JSON input in object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                let members = Array(memberStack[base...])
                memberStack.removeSubrange(base...)
                return .object(JSONObject(parsed: members))
            }
            throw JSONParseError("expected ',' or '}' in object at offset \(pos)")
        }
    }

    mutating func parseArray(depth: Int, transformingElements transform: ((JSONValue) throws -> JSONValue)? = nil) throws -> JSONValue {
        pos += 1
        let base = elementStack.count
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array([]) }
        while true {
            skipWhitespace()
            let element = try parseValue(depth: depth + 1)
            elementStack.append(try transform?(element) ?? element)
            skipWhitespace()
            guard pos < bytes.count else { throw JSONParseError("unexpected end of JSON input in array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                let array = Array(elementStack[base...])
                elementStack.removeSubrange(base...)
                return .array(array)
            }
            throw JSONParseError("expected ',' or ']' in array at offset \(pos)")
        }
    }

    /// Checks a value as `parseValue` would, building nothing.
    mutating func skipValue(depth: Int) throws {
        guard depth < Self.maxDepth else { throw JSONParseError("JSON nested deeper than \(Self.maxDepth) levels") }
        guard pos < bytes.count else { throw JSONParseError("unexpected end of JSON input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            skipWhitespace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return }
            while true {
                skipWhitespace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw JSONParseError("expected object key string at offset \(pos)") }
                try skipString()
                skipWhitespace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw JSONParseError("expected ':' after object key at offset \(pos)") }
                pos += 1
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard pos < bytes.count else { throw JSONParseError("unexpected end of JSON input in object") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return }
                throw JSONParseError("expected ',' or '}' in object at offset \(pos)")
            }
        case UInt8(ascii: "["):
            pos += 1
            skipWhitespace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard pos < bytes.count else { throw JSONParseError("unexpected end of JSON input in array") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return }
                throw JSONParseError("expected ',' or ']' in array at offset \(pos)")
            }
        case UInt8(ascii: "\""):
            try skipString()
        default:
            // Literals and numbers allocate nothing.
            _ = try parseValue(depth: depth)
        }
    }

    /// Checks a string as `parseString` would; only one with an escape or non-ASCII bytes is
    /// handed to it (and then built), the rest is a scan.
    mutating func skipString() throws {
        let quote = pos
        pos += 1
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") { pos += 1; return }
            if b == UInt8(ascii: "\\") || b >= 0x80 { break }
            if b < 0x20 { throw JSONParseError("control character in string at offset \(pos)") }
            pos += 1
        }
        pos = quote
        _ = try parseString()
    }

    mutating func parseString() throws -> String {
        pos += 1  // opening quote
        // Most strings in Kubernetes JSON are short, ASCII and without escapes: those become a
        // String straight from the input bytes (ASCII is valid UTF-8, so nothing is repaired);
        // anything else takes the byte-by-byte path below, from the first escape on.
        let start = pos
        var ascii = true
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let end = pos
                pos += 1
                let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if ascii { return String(decoding: text, as: UTF8.self) }
                guard let s = String(validating: text, as: UTF8.self) else {
                    throw JSONParseError("invalid UTF-8 in string ending at offset \(end + 1)")
                }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw JSONParseError("control character in string at offset \(pos)") }
            if b >= 0x80 { ascii = false }
            pos += 1
        }
        var scalars = Array(bytes[start..<pos])
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                guard let s = String(validating: scalars, as: UTF8.self) else {
                    throw JSONParseError("invalid UTF-8 in string ending at offset \(pos)")
                }
                return s
            }
            if b < 0x20 { throw JSONParseError("control character in string at offset \(pos)") }
            if b == UInt8(ascii: "\\") {
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        // A surrogate pair: the low half must follow as another \u escape.
                        if pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                            pos += 2
                            let low = try parseHex4()
                            if (0xDC00...0xDFFF).contains(low) {
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                code = 0xFFFD
                            }
                        } else {
                            code = 0xFFFD
                        }
                    } else if (0xDC00...0xDFFF).contains(code) {
                        code = 0xFFFD
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw JSONParseError("invalid escape '\\\(Character(Unicode.Scalar(e)))' in string at offset \(pos - 1)")
                }
                continue
            }
            scalars.append(b)
            pos += 1
        }
        throw JSONParseError("unterminated string")
    }

    mutating func parseHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw JSONParseError("truncated \\u escape at offset \(pos)") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw JSONParseError("invalid hex digit in \\u escape at offset \(pos)")
            }
            value = value * 16 + digit
            pos += 1
        }
        return value
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var isInteger = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else {
            throw JSONParseError("invalid number at offset \(start)")
        }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else {
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else {
                throw JSONParseError("invalid number at offset \(start): digit expected after '.'")
            }
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else {
                throw JSONParseError("invalid number at offset \(start): digit expected in exponent")
            }
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int64(text) { return .int(i) }
        guard let d = Double(text) else { throw JSONParseError("invalid number '\(text)' at offset \(start)") }
        // Like Go's decoder: a number beyond the float64 range is an error, not infinity (which
        // JSON cannot write back). Found by the FuzzObjectJSON fuzzer.
        guard d.isFinite else { throw JSONParseError("number '\(text)' at offset \(start) is out of range") }
        return .double(d)
    }
}

enum JSONTextWriter {
    static func write(_ value: JSONValue, into out: inout [UInt8], pretty: Bool, indent: Int) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite, d.rounded() == d, abs(d) < 1e15 {
                out.append(contentsOf: Array(String(Int64(d)).utf8))
            } else if d.isFinite {
                out.append(contentsOf: Array("\(d)".utf8))
            } else {
                out.append(contentsOf: Array("null".utf8))
            }
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            if a.isEmpty { out.append(contentsOf: Array("[]".utf8)); return }
            out.append(UInt8(ascii: "["))
            for (i, element) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { newline(&out, indent + 2) }
                write(element, into: &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { newline(&out, indent) }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty { out.append(contentsOf: Array("{}".utf8)); return }
            out.append(UInt8(ascii: "{"))
            // Members are kept in key order: the canonical form needs no sorting.
            for (i, member) in o.members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { newline(&out, indent + 2) }
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: " ")) }
                write(member.value, into: &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { newline(&out, indent) }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Copies the runs between characters that need escaping whole: most strings have none, and a
    /// byte-by-byte append checked the array's capacity and uniqueness once per byte.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            for i in bytes.indices {
                let b = bytes[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default: out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        out.append(UInt8(ascii: "\""))
    }
}
