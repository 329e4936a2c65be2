import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// Protobuf request bodies (`k8s\0` + runtime.Unknown), built here byte by byte so each test
/// states exactly what is on the wire. kubectl's own bodies are covered in KubectlTests.
final class ProtobufBodyTests: XCTestCase {
    var server: KubeTestServer!

    override func setUp() async throws {
        server = try await KubeTestServer.start()
    }

    override func tearDown() async throws {
        try await server.stop()
    }

    // MARK: A minimal encoder

    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        return out + [UInt8(v)]
    }

    static func bytes(_ field: Int, _ payload: [UInt8]) -> [UInt8] { varint(UInt64(field << 3 | 2)) + varint(UInt64(payload.count)) + payload }
    static func string(_ field: Int, _ s: String) -> [UInt8] { bytes(field, Array(s.utf8)) }
    static func bool(_ field: Int, _ b: Bool) -> [UInt8] { varint(UInt64(field << 3)) + [b ? 1 : 0] }
    static func entry(_ field: Int, _ key: String, _ value: [UInt8]) -> [UInt8] { bytes(field, string(1, key) + bytes(2, value)) }

    static func envelope(apiVersion: String, kind: String, raw: [UInt8]) -> Data {
        Data([0x6B, 0x38, 0x73, 0x00] + bytes(1, string(1, apiVersion) + string(2, kind)) + bytes(2, raw))
    }

    func post(_ path: String, _ body: Data) async -> RawAnswer {
        let resp = await server.handleRaw(method: "POST", pathAndQuery: path,
                                          headers: [("Authorization", "Bearer \(server.adminToken)"), ("Content-Type", "application/vnd.kubernetes.protobuf"),
                                                    ("Accept", "application/vnd.kubernetes.protobuf, application/json"), ("User-Agent", "kubectl/v1.36.0")],
                                          body: body)
        var all = Data()
        while let chunk = try? await resp.body.next() { all.append(chunk) }
        return RawAnswer(status: resp.statusCode, headers: resp.headers, body: all)
    }

    // MARK: Tests

    func testSecretDecodesToTheSameObjectAsJSON() async throws {
        let meta = Self.string(1, "db") + Self.entry(11, "app", Array("pynomaly".utf8)) + Self.bytes(8, [])  // empty creationTimestamp, as Go sends it
        let raw = Self.bytes(1, meta) + Self.entry(2, "password", [0x00, 0xFF, 0x10]) + Self.entry(2, "user", Array("app".utf8))
            + Self.string(3, "Opaque") + Self.entry(4, "extra", Array("x".utf8))
        let answer = await post("/api/v1/namespaces/default/secrets", Self.envelope(apiVersion: "v1", kind: "Secret", raw: raw))
        XCTAssertEqual(answer.status, 201, String(decoding: answer.body, as: UTF8.self))
        let viaProto = answer.json
        XCTAssertEqual(viaProto[path: ["data", "password"]], .string(Data([0x00, 0xFF, 0x10]).base64EncodedString()))
        XCTAssertEqual(viaProto[path: ["data", "user"]], .string(Data("app".utf8).base64EncodedString()))
        XCTAssertEqual(viaProto[path: ["data", "extra"]], .string(Data("x".utf8).base64EncodedString()), "stringData is merged into data, as for JSON")
        XCTAssertNil(viaProto["stringData"])
        XCTAssertEqual(viaProto["type"], "Opaque")
        XCTAssertEqual(viaProto[path: ["metadata", "labels", "app"]], "pynomaly")
        XCTAssertNotNil(viaProto[path: ["metadata", "creationTimestamp"]]?.stringValue)

        // The same object sent as JSON ends up with the same data, type and managed fields.
        let c = TestClient(server)
        let viaJSON = await c.post("/api/v1/namespaces/default/secrets", [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "db2", "labels": ["app": "pynomaly"]],
            "data": ["password": .string(Data([0x00, 0xFF, 0x10]).base64EncodedString()), "user": .string(Data("app".utf8).base64EncodedString())],
            "stringData": ["extra": "x"], "type": "Opaque",
        ]).json
        XCTAssertEqual(viaProto["data"], viaJSON["data"])
        XCTAssertEqual(viaProto[path: ["metadata", "managedFields"]]?[0]?["fieldsV1"], viaJSON[path: ["metadata", "managedFields"]]?[0]?["fieldsV1"])
        XCTAssertNotNil(viaProto[path: ["metadata", "managedFields"]]?[0]?["fieldsV1"])
    }

    func testZeroScalarsAreUnsetAsInGo() async throws {
        // Go writes non-pointer strings even when empty; "" means unset, so the type is defaulted.
        let raw = Self.bytes(1, Self.string(1, "empty-type") + Self.string(2, "")) + Self.string(3, "")
        let answer = await post("/api/v1/namespaces/default/secrets", Self.envelope(apiVersion: "v1", kind: "Secret", raw: raw))
        XCTAssertEqual(answer.status, 201, String(decoding: answer.body, as: UTF8.self))
        XCTAssertEqual(answer.json["type"], "Opaque")
        XCTAssertNil(answer.json[path: ["metadata", "generateName"]])
    }

    func testConfigMapNamespaceAndServiceAccount() async throws {
        let cm = Self.bytes(1, Self.string(1, "settings")) + Self.entry(2, "a", Array("1".utf8)) + Self.entry(3, "bin", [0xDE, 0xAD]) + Self.bool(4, true)
        let cmAnswer = await post("/api/v1/namespaces/default/configmaps", Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: cm))
        XCTAssertEqual(cmAnswer.status, 201, String(decoding: cmAnswer.body, as: UTF8.self))
        XCTAssertEqual(cmAnswer.json[path: ["data", "a"]], "1")
        XCTAssertEqual(cmAnswer.json[path: ["binaryData", "bin"]], .string(Data([0xDE, 0xAD]).base64EncodedString()))
        XCTAssertEqual(cmAnswer.json["immutable"], true)

        let ns = Self.bytes(1, Self.string(1, "team-a") + Self.bytes(8, [])) + Self.bytes(2, []) + Self.bytes(3, [])
        let nsAnswer = await post("/api/v1/namespaces", Self.envelope(apiVersion: "v1", kind: "Namespace", raw: ns))
        XCTAssertEqual(nsAnswer.status, 201, String(decoding: nsAnswer.body, as: UTF8.self))
        XCTAssertEqual(nsAnswer.json[path: ["spec", "finalizers"]], ["kubernetes"], "defaulted like a JSON create")
        XCTAssertEqual(nsAnswer.json[path: ["status", "phase"]], "Active")

        let sa = Self.bytes(1, Self.string(1, "operator") + Self.string(3, "team-a")) + Self.bytes(3, Self.string(1, "registry")) + Self.bool(4, false)
        let saAnswer = await post("/api/v1/namespaces/team-a/serviceaccounts", Self.envelope(apiVersion: "v1", kind: "ServiceAccount", raw: sa))
        XCTAssertEqual(saAnswer.status, 201, String(decoding: saAnswer.body, as: UTF8.self))
        XCTAssertEqual(saAnswer.json["imagePullSecrets"], [["name": "registry"]])
        XCTAssertEqual(saAnswer.json["automountServiceAccountToken"], false)
    }

    func testValidationAppliesToProtobufBodies() async throws {
        let raw = Self.bytes(1, Self.string(1, "bad")) + Self.entry(2, "no/slash", Array("v".utf8))
        let answer = await post("/api/v1/namespaces/default/configmaps", Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: raw))
        XCTAssertEqual(answer.status, 422, String(decoding: answer.body, as: UTF8.self))
        XCTAssertEqual(answer.json[path: ["details", "causes"]]?[0]?["field"], "data[no/slash]")
    }

    func testUnsupportedKindIs415NamingTheKind() async throws {
        let raw = Self.bytes(1, Self.string(1, "web"))
        let answer = await post("/apis/apps/v1/namespaces/default/deployments", Self.envelope(apiVersion: "apps/v1", kind: "Deployment", raw: raw))
        XCTAssertEqual(answer.status, 415)
        XCTAssertEqual(answer.json["reason"], "UnsupportedMediaType")
        let message = answer.json["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("not Deployment"), message)
        XCTAssertTrue(message.hasPrefix("the body of the request was in an unknown format"), message)
    }

    func testMalformedBodiesAre400WithTheCause() async throws {
        let noMagic = await post("/api/v1/namespaces/default/configmaps", Data(#"{"kind":"ConfigMap"}"#.utf8))
        XCTAssertEqual(noMagic.status, 400)
        XCTAssertEqual(noMagic.json["message"]?.stringValue,
                       "the object provided is unrecognized (must be of type ConfigMap): provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (7b226b696e64223a22436f6e6669674d6170227d)")

        // The raw object claims 10 more bytes than there are.
        var truncated = Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: [])
        truncated.append(contentsOf: Self.varint(UInt64(1 << 3 | 2)) + [10, 1, 2])
        let short = await post("/api/v1/namespaces/default/configmaps", truncated)
        XCTAssertEqual(short.status, 400)
        XCTAssertTrue(short.json["message"]?.stringValue?.contains("unexpected EOF") == true, short.json["message"]?.stringValue ?? "")

        // A string field sent with the varint wire type.
        let wrongWire = Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: Self.bytes(1, Self.varint(1 << 3) + [1]))
        let wire = await post("/api/v1/namespaces/default/configmaps", wrongWire)
        XCTAssertEqual(wire.status, 400)
        XCTAssertEqual(wire.json["message"]?.stringValue, #"ConfigMap in version "v1" cannot be handled as a ConfigMap: proto: wrong wireType = 0 for field Name"#)
    }
}
