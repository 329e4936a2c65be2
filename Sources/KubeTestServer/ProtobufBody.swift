import Foundation
import KubeCore

/// Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
/// kubectl and client-go use for built-in kinds (`kubectl create secret|configmap|namespace|
/// serviceaccount`, `kubectl auth can-i`). The body is the 4-byte magic `k8s\0` and a `runtime.Unknown` message whose
/// `raw` field holds the object's message. Decoded by hand for the few kinds listed in `schemas`
/// (field numbers of k8s.io/api's generated.proto) into the JSON the JSON path would receive, so
/// the object then goes through the same defaulting and validation.
enum ProtobufBody {
    static let contentType = "application/vnd.kubernetes.protobuf"
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// Why a body could not be decoded; `message` is worded like the Go decoder's error.
    struct DecodeError: Error, Equatable {
        var message: String
    }

    /// What the envelope holds.
    struct Envelope: Equatable {
        var apiVersion: String
        var kind: String
        var raw: [UInt8]
    }

    // MARK: Schemas

    indirect enum FieldType: Sendable {
        case string, bytes, bool, int64, int32, time
        case message(Schema)
        case stringMap, bytesMap
    }

    struct Field: Sendable {
        var name: String
        var type: FieldType
        var repeated = false
        /// A Go pointer field (`*bool`, `*int64`): present on the wire only when set, so a zero
        /// value is kept. Other scalars are always written and their zero value means "unset",
        /// as `omitempty` leaves it out of the JSON form.
        var pointer = false
    }

    typealias Schema = [Int: Field]

    static let ownerReference: Schema = [
        5: Field(name: "apiVersion", type: .string), 1: Field(name: "kind", type: .string), 3: Field(name: "name", type: .string),
        4: Field(name: "uid", type: .string), 6: Field(name: "controller", type: .bool, pointer: true), 7: Field(name: "blockOwnerDeletion", type: .bool, pointer: true),
    ]

    /// ObjectMeta without managedFields (17), which clients do not send on create.
    static let objectMeta: Schema = [
        1: Field(name: "name", type: .string), 2: Field(name: "generateName", type: .string), 3: Field(name: "namespace", type: .string),
        4: Field(name: "selfLink", type: .string), 5: Field(name: "uid", type: .string), 6: Field(name: "resourceVersion", type: .string),
        7: Field(name: "generation", type: .int64), 8: Field(name: "creationTimestamp", type: .time),
        9: Field(name: "deletionTimestamp", type: .time), 10: Field(name: "deletionGracePeriodSeconds", type: .int64, pointer: true),
        11: Field(name: "labels", type: .stringMap), 12: Field(name: "annotations", type: .stringMap),
        13: Field(name: "ownerReferences", type: .message(ownerReference), repeated: true),
        14: Field(name: "finalizers", type: .string, repeated: true),
    ]

    static let objectReference: Schema = [
        1: Field(name: "kind", type: .string), 2: Field(name: "namespace", type: .string), 3: Field(name: "name", type: .string),
        4: Field(name: "uid", type: .string), 5: Field(name: "apiVersion", type: .string), 6: Field(name: "resourceVersion", type: .string),
        7: Field(name: "fieldPath", type: .string),
    ]

    static let resourceAttributes: Schema = [
        1: Field(name: "namespace", type: .string), 2: Field(name: "verb", type: .string), 3: Field(name: "group", type: .string),
        4: Field(name: "version", type: .string), 5: Field(name: "resource", type: .string), 6: Field(name: "subresource", type: .string),
        7: Field(name: "name", type: .string),
    ]

    static let namespaceCondition: Schema = [
        1: Field(name: "type", type: .string), 2: Field(name: "status", type: .string), 4: Field(name: "lastTransitionTime", type: .time),
        5: Field(name: "reason", type: .string), 6: Field(name: "message", type: .string),
    ]

    /// "v1/Kind" → the object's message.
    static let schemas: [String: Schema] = [
        "v1/Secret": [
            1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "data", type: .bytesMap),
            3: Field(name: "type", type: .string), 4: Field(name: "stringData", type: .stringMap), 5: Field(name: "immutable", type: .bool, pointer: true),
        ],
        "v1/ConfigMap": [
            1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "data", type: .stringMap),
            3: Field(name: "binaryData", type: .bytesMap), 4: Field(name: "immutable", type: .bool, pointer: true),
        ],
        "v1/Namespace": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "spec", type: .message([1: Field(name: "finalizers", type: .string, repeated: true)])),
            3: Field(name: "status", type: .message([
                1: Field(name: "phase", type: .string),
                2: Field(name: "conditions", type: .message(namespaceCondition), repeated: true),
            ])),
        ],
        // `kubectl auth can-i` (the runbook's RBAC review) sends these.
        "authorization.k8s.io/v1/SelfSubjectAccessReview": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "spec", type: .message([
                1: Field(name: "resourceAttributes", type: .message(resourceAttributes)),
                2: Field(name: "nonResourceAttributes", type: .message([1: Field(name: "path", type: .string), 2: Field(name: "verb", type: .string)])),
            ])),
        ],
        "authorization.k8s.io/v1/SelfSubjectRulesReview": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "spec", type: .message([1: Field(name: "namespace", type: .string)])),
        ],
        "v1/ServiceAccount": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "secrets", type: .message(objectReference), repeated: true),
            3: Field(name: "imagePullSecrets", type: .message([1: Field(name: "name", type: .string)]), repeated: true),
            4: Field(name: "automountServiceAccountToken", type: .bool, pointer: true),
        ],
    ]

    static var supportedKinds: [String] { schemas.keys.map { $0.split(separator: "/").last.map(String.init) ?? $0 }.sorted() }

    // MARK: Decoding

    /// Reads the `k8s\0` magic and the `runtime.Unknown` envelope.
    static func envelope(_ body: [UInt8]) throws(DecodeError) -> Envelope {
        guard body.count >= magic.count, Array(body.prefix(magic.count)) == magic else {
            throw DecodeError(message: "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
        }
        var reader = Reader(body, from: magic.count)
        var env = Envelope(apiVersion: "", kind: "", raw: [])
        while let (number, wire) = try reader.tag() {
            switch (number, wire) {
            case (1, 2):
                var typeMeta = Reader(try reader.lengthDelimited())
                while let (n, w) = try typeMeta.tag() {
                    switch (n, w) {
                    case (1, 2): env.apiVersion = try typeMeta.string()
                    case (2, 2): env.kind = try typeMeta.string()
                    default: try typeMeta.skip(wire: w)
                    }
                }
            case (2, 2): env.raw = Array(try reader.lengthDelimited())
            case (3, 2):
                let encoding = try reader.string()
                if !encoding.isEmpty { throw DecodeError(message: "unsupported content encoding \"\(encoding)\"") }
            default: try reader.skip(wire: wire)
            }
        }
        return env
    }

    /// Decodes one message by its schema; fields the schema does not know are skipped, as
    /// protobuf decoders do.
    static func decode(_ bytes: ArraySlice<UInt8>, schema: Schema) throws(DecodeError) -> JSONObject {
        var reader = Reader(bytes)
        var out = JSONObject()
        while let (number, wire) = try reader.tag() {
            guard let field = schema[number] else {
                try reader.skip(wire: wire)
                continue
            }
            let value: JSONValue?
            switch field.type {
            case .string:
                try expect(wire, 2, field)
                value = .string(try reader.string())
            case .bytes:
                try expect(wire, 2, field)
                value = .string(Data(try reader.lengthDelimited()).base64EncodedString())
            case .bool:
                try expect(wire, 0, field)
                value = .bool(try reader.varint() != 0)
            case .int64, .int32:
                try expect(wire, 0, field)
                value = .int(Int64(bitPattern: try reader.varint()))
            case .time:
                try expect(wire, 2, field)
                value = try time(reader.lengthDelimited())
            case .message(let inner):
                try expect(wire, 2, field)
                value = .object(try decode(reader.lengthDelimited(), schema: inner))
            case .stringMap, .bytesMap:
                try expect(wire, 2, field)
                let (k, v) = try mapEntry(reader.lengthDelimited(), bytes: { if case .bytesMap = field.type { true } else { false } }())
                var map = out[field.name]?.objectValue ?? [:]
                map[k] = v
                out[field.name] = .object(map)
                continue
            }
            guard let value else { continue }
            if !field.repeated, !field.pointer, value == .string("") || value == .bool(false) || value == .int(0) { continue }
            if field.repeated {
                out[field.name] = .array((out[field.name]?.arrayValue ?? []) + [value])
            } else {
                out[field.name] = value
            }
        }
        return out
    }

    static func expect(_ wire: Int, _ wanted: Int, _ field: Field) throws(DecodeError) {
        if wire != wanted { throw DecodeError(message: "proto: wrong wireType = \(wire) for field \(field.name.prefix(1).uppercased() + field.name.dropFirst())") }
    }

    static func mapEntry(_ bytes: ArraySlice<UInt8>, bytes isBytes: Bool) throws(DecodeError) -> (String, JSONValue) {
        var reader = Reader(bytes)
        var key = ""
        var value: JSONValue = .string("")
        while let (n, w) = try reader.tag() {
            switch (n, w) {
            case (1, 2): key = try reader.string()
            case (2, 2):
                let v = try reader.lengthDelimited()
                if isBytes {
                    value = .string(Data(v).base64EncodedString())
                } else {
                    guard let s = String(validating: v, as: UTF8.self) else { throw DecodeError(message: "proto: invalid UTF-8 in map value of \(key)") }
                    value = .string(s)
                }
            default: try reader.skip(wire: w)
            }
        }
        return (key, value)
    }

    /// metav1.Time: seconds and nanos; the zero time (an empty message) is JSON null, so left out.
    static func time(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> JSONValue? {
        var reader = Reader(bytes)
        var seconds: Int64 = 0, nanos: Int64 = 0
        while let (n, w) = try reader.tag() {
            switch (n, w) {
            case (1, 0): seconds = Int64(bitPattern: try reader.varint())
            case (2, 0): nanos = Int64(bitPattern: try reader.varint())
            default: try reader.skip(wire: w)
            }
        }
        if seconds == 0 && nanos == 0 { return nil }
        return .string(Time.format(Date(timeIntervalSince1970: Double(seconds))))
    }

    /// The object in the envelope as JSON (with apiVersion and kind), or nil when its kind has no
    /// schema here.
    static func object(_ env: Envelope) throws(DecodeError) -> JSONValue? {
        guard let schema = schemas["\(env.apiVersion)/\(env.kind)"] else { return nil }
        var o = try decode(env.raw[...], schema: schema)
        o["apiVersion"] = .string(env.apiVersion)
        o["kind"] = .string(env.kind)
        return .object(o)
    }

    /// kube-apiserver's summary of an undecodable body in its 400 message.
    static func summary(_ body: [UInt8]) -> String {
        if body.isEmpty { return "<empty>" }
        let hex = body.prefix(30).map { String(format: "%02x", $0) }.joined()
        return body.count > 30 ? hex + " ..." : hex
    }

    // MARK: Wire format

    struct Reader {
        let bytes: ArraySlice<UInt8>
        var pos: Int

        init(_ bytes: [UInt8], from start: Int) {
            self.bytes = bytes[...]
            pos = start
        }

        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            pos = bytes.startIndex
        }

        var atEnd: Bool { pos >= bytes.endIndex }

        mutating func varint() throws(DecodeError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard pos < bytes.endIndex else { throw DecodeError(message: "unexpected EOF") }
                let b = bytes[pos]
                pos += 1
                if shift >= 64 { throw DecodeError(message: "proto: integer overflow") }
                result |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return result }
                shift += 7
            }
        }

        /// The next field's number and wire type; nil at the end of the message.
        mutating func tag() throws(DecodeError) -> (Int, Int)? {
            if atEnd { return nil }
            let key = try varint()
            let number = Int(truncatingIfNeeded: key >> 3)
            let wire = Int(key & 7)
            if number <= 0 { throw DecodeError(message: "proto: illegal tag \(number) (wire type \(wire))") }
            return (number, wire)
        }

        mutating func lengthDelimited() throws(DecodeError) -> ArraySlice<UInt8> {
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - pos) else { throw DecodeError(message: "unexpected EOF") }
            let end = pos + Int(length)
            defer { pos = end }
            return bytes[pos..<end]
        }

        mutating func string() throws(DecodeError) -> String {
            let raw = try lengthDelimited()
            guard let s = String(validating: raw, as: UTF8.self) else { throw DecodeError(message: "proto: invalid UTF-8 string") }
            return s
        }

        mutating func skip(wire: Int) throws(DecodeError) {
            switch wire {
            case 0: _ = try varint()
            case 1: try advance(8)
            case 2: _ = try lengthDelimited()
            case 5: try advance(4)
            default: throw DecodeError(message: "proto: illegal wireType \(wire)")
            }
        }

        mutating func advance(_ n: Int) throws(DecodeError) {
            guard bytes.endIndex - pos >= n else { throw DecodeError(message: "unexpected EOF") }
            pos += n
        }
    }
}
