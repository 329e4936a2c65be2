import Foundation
import KubeCore
import XCTest

/// Records the untyped calls the typed conveniences make and answers canned values.
final class RecordingClient: KubernetesReader, KubernetesWriter, KubernetesWatcher, @unchecked Sendable {
    struct Call: Equatable {
        var verb: String
        var resource: ResourceType
        var namespace: String?
        var name: String?
        var subresource: String?
        var body: JSONValue?
        var patchType: PatchType?
        var fieldManager: String?
        var force: Bool?
    }

    private let lock = NSLock()
    private var _calls: [Call] = []
    var calls: [Call] { lock.withLock { _calls } }
    /// The answer to every call but LIST/DELETE/WATCH; nil echoes the body sent (with a resourceVersion).
    let answer: JSONValue?
    var listAnswer: ObjectList<JSONValue> = ObjectList(metadata: ListMeta(), items: [])
    var deleteAnswer: JSONValue?
    var watchLines: [String] = []

    init(answer: JSONValue? = nil) { self.answer = answer }

    private func record(_ call: Call) -> JSONValue {
        lock.withLock { _calls.append(call) }
        if let answer { return answer }
        var echo = call.body ?? .object([:])
        echo[path: ["metadata", "resourceVersion"]] = "42"
        return echo
    }

    func get(_ resource: ResourceType, namespace: String?, name: String, subresource: String?) async throws -> JSONValue {
        record(Call(verb: "get", resource: resource, namespace: namespace, name: name, subresource: subresource))
    }

    func list(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> ObjectList<JSONValue> {
        _ = record(Call(verb: "list", resource: resource, namespace: namespace))
        return listAnswer
    }

    func create(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions) async throws -> JSONValue {
        record(Call(verb: "create", resource: resource, namespace: namespace, body: object))
    }

    func update(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String?,
                options: WriteOptions) async throws -> JSONValue {
        record(Call(verb: "update", resource: resource, namespace: namespace, name: name, subresource: subresource, body: object))
    }

    func patch(_ resource: ResourceType, namespace: String?, name: String, type: PatchType, body: Data, subresource: String?,
               options: WriteOptions) async throws -> JSONValue {
        record(Call(verb: "patch", resource: resource, namespace: namespace, name: name, subresource: subresource,
                    body: try JSONValue(parsing: body), patchType: type, fieldManager: options.fieldManager, force: options.force))
    }

    func delete(_ resource: ResourceType, namespace: String?, name: String, options: DeleteOptions) async throws -> JSONValue? {
        _ = record(Call(verb: "delete", resource: resource, namespace: namespace, name: name))
        return deleteAnswer
    }

    func watch(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> WatchStream {
        _ = record(Call(verb: "watch", resource: resource, namespace: namespace))
        return WatchStream(source: ChunkSource(chunks: watchLines.map { Data(($0 + "\n").utf8) }))
    }
}

/// A byte source that hands out prepared chunks.
final class ChunkSource: ByteChunkSource, @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [Data]
    init(chunks: [Data]) { self.chunks = chunks }
    func next() async throws -> Data? { lock.withLock { chunks.isEmpty ? nil : chunks.removeFirst() } }
    func cancel() { lock.withLock { chunks.removeAll() } }
}

final class TypedClientTests: XCTestCase {
    func testGetDecodesAndKeepsRaw() async throws {
        let json = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        let client = RecordingClient(answer: json)
        let d = try await client.get(Deployment.self, namespace: "fx", name: "def-web")
        XCTAssertEqual(d.metadata.name, "def-web")
        XCTAssertEqual(d.raw, json)
        XCTAssertEqual(client.calls, [RecordingClient.Call(verb: "get", resource: .deployments, namespace: "fx", name: "def-web")])
    }

    func testUpdateSendsTheMergedObject() async throws {
        let json = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        let client = RecordingClient(answer: json)
        var d = try await client.get(Deployment.self, namespace: "fx", name: "def-web")
        d.spec?.replicas = 3
        _ = try await client.update(d)
        let sent = client.calls.last?.body
        XCTAssertEqual(sent?[path: ["spec", "replicas"]], 3)
        XCTAssertEqual(sent?[path: ["spec", "template", "spec", "schedulerName"]], "default-scheduler")
        XCTAssertEqual(sent?[path: ["metadata", "resourceVersion"]], "417")
        XCTAssertEqual(client.calls.last?.name, "def-web")
        XCTAssertEqual(client.calls.last?.namespace, "fx")
        XCTAssertNil(client.calls.last?.subresource)

        _ = try await client.updateStatus(d)
        XCTAssertEqual(client.calls.last?.subresource, "status")
    }

    func testCreateUsesTheObjectsNamespaceAndReturnsTheAnswer() async throws {
        let client = RecordingClient()
        let created = try await client.create(ConfigMap(metadata: ObjectMeta(name: "c", namespace: "ns"), data: ["k": "v"]))
        XCTAssertEqual(created.metadata.resourceVersion, "42")
        XCTAssertEqual(created.data, ["k": "v"])
        XCTAssertEqual(client.calls.last?.namespace, "ns")
        XCTAssertEqual(client.calls.last?.body?["kind"], "ConfigMap")
    }

    func testApplyIsAnApplyPatchWithoutManagedFields() async throws {
        let json = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        XCTAssertNotNil(json[path: ["metadata", "managedFields"]])
        let client = RecordingClient(answer: json)
        let d = try Deployment.decoded(from: json)
        _ = try await client.apply(d, fieldManager: "pynomaly-operator", force: true)
        let call = try XCTUnwrap(client.calls.last)
        XCTAssertEqual(call.verb, "patch")
        XCTAssertEqual(call.patchType, .apply)
        XCTAssertEqual(call.fieldManager, "pynomaly-operator")
        XCTAssertEqual(call.force, true)
        XCTAssertNil(call.subresource)
        XCTAssertNil(call.body?[path: ["metadata", "managedFields"]])
        XCTAssertEqual(call.body?["apiVersion"], "apps/v1")

        _ = try await client.applyStatus(d, fieldManager: "pynomaly-operator")
        XCTAssertEqual(client.calls.last?.subresource, "status")
        XCTAssertEqual(client.calls.last?.force, false)
    }

    func testListDecodesEveryItem() async throws {
        let client = RecordingClient()
        client.listAnswer = ObjectList(metadata: ListMeta(resourceVersion: "7"), items: [
            ["metadata": ["name": "a"], "data": ["x": "1"]], ["metadata": ["name": "b"]],
        ])
        let list = try await client.list(ConfigMap.self, namespace: "ns")
        XCTAssertEqual(list.items.map(\.metadata.name), ["a", "b"])
        XCTAssertEqual(list.metadata.resourceVersion, "7")
        XCTAssertEqual(list.items.first?.data, ["x": "1"])
    }

    func testDeleteAnswersNilWhenGoneAndTheObjectWhileFinalizersHoldIt() async throws {
        let client = RecordingClient()
        let gone = try await client.delete(ConfigMap.self, namespace: "ns", name: "c")
        XCTAssertNil(gone)
        client.deleteAnswer = ["kind": "Status", "status": "Success"]
        let status = try await client.delete(ConfigMap.self, namespace: "ns", name: "c")
        XCTAssertNil(status)
        client.deleteAnswer = ["kind": "ConfigMap", "metadata": ["name": "c", "deletionTimestamp": "2030-01-01T00:00:00Z", "finalizers": ["x"]]]
        let held = try await client.delete(ConfigMap.self, namespace: "ns", name: "c")
        XCTAssertEqual(held?.metadata.finalizers, ["x"])
    }

    func testScaleSubresource() async throws {
        let scaleJSON = try Fixtures.firstResponse(kind: "Scale", in: "08-scale-subresource.json")
        let client = RecordingClient(answer: scaleJSON)
        var scale = try await client.getScale(Deployment.self, namespace: "fx", name: "scale-web")
        XCTAssertEqual(client.calls.last?.subresource, "scale")
        XCTAssertEqual(scale.spec?.replicas, 2)
        scale.spec?.replicas = 5
        _ = try await client.updateScale(Deployment.self, scale)
        let call = try XCTUnwrap(client.calls.last)
        XCTAssertEqual(call.verb, "update")
        XCTAssertEqual(call.subresource, "scale")
        XCTAssertEqual(call.name, "scale-web")
        XCTAssertEqual(call.body?[path: ["spec", "replicas"]], 5)
        XCTAssertEqual(call.body?[path: ["status", "selector"]], "app=scale-web")
        XCTAssertEqual(call.body?["kind"], "Scale")
    }

    func testTypedWatchDecodesEventsAndBookmarks() async throws {
        let client = RecordingClient()
        client.watchLines = [
            #"{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"5"},"data":{"k":"v"}}}"#,
            #"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"6"}}}"#,
            #"{"type":"DELETED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"7"}}}"#,
        ]
        var events: [(WatchEventType, String?, String?)] = []
        for try await event in try await client.watch(ConfigMap.self, namespace: "ns") {
            events.append((event.type, event.object.metadata.name, event.object.metadata.resourceVersion))
        }
        XCTAssertEqual(events.map(\.0), [.added, .bookmark, .deleted])
        XCTAssertEqual(events.map(\.2), ["5", "6", "7"])
    }

    func testTypedWatchDecodeErrorNamesObjectAndField() async throws {
        let client = RecordingClient()
        client.watchLines = [
            #"{"type":"ADDED","object":{"kind":"Deployment","metadata":{"name":"web","namespace":"ns"},"spec":{"replicas":"two","selector":{},"template":{}}}}"#,
        ]
        do {
            for try await _ in try await client.watch(Deployment.self, namespace: "ns") {}
            XCTFail("expected a decoding error")
        } catch let error as KubeError {
            guard case .decoding(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("Deployment ns/web"), message)
            XCTAssertTrue(message.contains("spec.replicas"), message)
        }
    }

    func testTypedWatchEndsWithGoneOnAnErrorLine() async throws {
        let client = RecordingClient()
        client.watchLines = [
            #"{"type":"ADDED","object":{"kind":"Lease","metadata":{"name":"l"}}}"#,
            #"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version","reason":"Expired","code":410}}"#,
        ]
        var seen = 0
        do {
            for try await _ in try await client.watch(Lease.self, namespace: "ns") { seen += 1 }
            XCTFail("expected 410")
        } catch let error as KubeError {
            XCTAssertTrue(error.isGone)
        }
        XCTAssertEqual(seen, 1)
    }
}
