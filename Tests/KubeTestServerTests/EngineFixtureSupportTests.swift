import Foundation
import KubeCore
@testable import KubeTestServer
import XCTest

/// Loads the recorded kube-apiserver fixtures for the engine tests.
enum EngineFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kube-apiserver-1.36")

    static func load(_ name: String) throws -> JSONValue {
        try JSONValue(parsing: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func step(_ file: String, _ index: Int) throws -> (request: JSONValue, response: JSONValue) {
        let doc = try load(file)
        guard let step = doc["steps"]?[index] else { throw FixtureMissing(file: file, index: index) }
        return (step["request"] ?? .null, step["response"] ?? .null)
    }

    struct FixtureMissing: Error { var file: String; var index: Int }

    /// The shared registry: built-in schemas plus the Widget CRD of fixture 19.
    static let registry: SchemaRegistry = {
        let registry = (try? SchemaRegistry.builtin()) ?? SchemaRegistry()
        if let crd = try? step("19-crd-lifecycle.json", 1).request["body"] { registry.register(crd: crd) }
        return registry
    }()

    static var widget: SchemaNode? { registry.schema(apiVersion: "example.com/v1", kind: "Widget") }
    static var deployment: SchemaNode? { registry.schema(apiVersion: "apps/v1", kind: "Deployment") }
    static var configMap: SchemaNode? { registry.schema(apiVersion: "v1", kind: "ConfigMap") }

    /// The fieldManager query parameter of a recorded path, else the User-Agent default.
    static func manager(_ request: JSONValue) -> String {
        let path = request["path"]?.stringValue ?? ""
        let query = URLComponents(string: "http://x" + path)?.queryItems ?? []
        return query.first { $0.name == "fieldManager" }?.value ?? "kube-fixtures"
    }

    static func force(_ request: JSONValue) -> Bool {
        (request["path"]?.stringValue ?? "").contains("force=true")
    }
}

/// Compares JSON values with a readable failure.
func assertJSONEqual(_ actual: JSONValue?, _ expected: JSONValue?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual?.serializedString(pretty: true), expected?.serializedString(pretty: true), message, file: file, line: line)
}

final class EngineSchemaRegistryTests: XCTestCase {
    func testBuiltinSchemasResolveReferences() throws {
        let deployment = try XCTUnwrap(EngineFixture.deployment)
        let containers = try XCTUnwrap(deployment.property("spec")?.property("template")?.property("spec")?.property("containers"))
        XCTAssertEqual(containers.type, "array")
        XCTAssertEqual(containers.patchMergeKey, "name")
        XCTAssertEqual(containers.listMapKeys, ["name"])
        let ports = try XCTUnwrap(containers.items?.property("ports"))
        XCTAssertEqual(ports.listMapKeys, ["containerPort", "protocol"])
        XCTAssertEqual(ports.items?.property("protocol")?.defaultValue, "TCP")
        XCTAssertEqual(deployment.property("spec")?.property("selector")?.mapType, "atomic")
        XCTAssertTrue(deployment.property("spec")?.property("strategy")?.property("rollingUpdate")?.property("maxSurge")?.intOrString ?? false)
        XCTAssertNil(EngineFixture.registry.schema(apiVersion: "apps/v1", kind: "NoSuchKind"))
    }

    func testCRDRegistrationAndUnregistration() throws {
        let registry = SchemaRegistry()
        let crd = try EngineFixture.step("19-crd-lifecycle.json", 1).request["body"] ?? .null
        registry.register(crd: crd)
        let widget = try XCTUnwrap(registry.schema(apiVersion: "example.com/v1", kind: "Widget"))
        XCTAssertEqual(widget.property("spec")?.required, ["size"])
        XCTAssertEqual(widget.property("spec")?.validations.first?.message, "a small widget may have at most 3 replicas")
        XCTAssertEqual(widget.property("status")?.property("conditions")?.listType, "map")
        registry.unregister(group: "example.com", kind: "Widget")
        XCTAssertNil(registry.schema(apiVersion: "example.com/v1", kind: "Widget"))
    }

    func testRegistryIsSafeUnderConcurrentUse() async throws {
        let registry = try SchemaRegistry.builtin()
        let crd = try EngineFixture.step("19-crd-lifecycle.json", 1).request["body"] ?? .null
        await withTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    if i % 4 == 0 { registry.register(crd: crd) }
                    return registry.schema(apiVersion: i % 2 == 0 ? "apps/v1" : "v1", kind: i % 2 == 0 ? "Deployment" : "ConfigMap") != nil
                }
            }
            for await found in group { XCTAssertTrue(found) }
        }
        XCTAssertNotNil(registry.schema(apiVersion: "example.com/v1", kind: "Widget"))
    }
}
