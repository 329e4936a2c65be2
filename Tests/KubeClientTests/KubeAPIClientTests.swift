import Foundation
import KubeCore
import Synchronization
import XCTest

@testable import KubeClient

final class KubeAPIClientTests: XCTestCase {
    func apiError(_ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async -> KubeError? {
        do {
            try await body()
            XCTFail("expected an API error", file: file, line: line)
        } catch let e as KubeError {
            return e
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
        return nil
    }

    func testNonStatusBodySynthesisesAStatusFromTheCode() async throws {
        let t = ScriptedTransport { _, _ in KubeResponse(statusCode: 404, headers: [(name: "Content-Type", value: "text/plain")], body: Data("404 page not found\n".utf8)) }
        let client = KubeAPIClient(transport: t)
        let e = await apiError { _ = try await client.send(KubeRequest(method: .get, path: "/nope")) }
        XCTAssertEqual(e?.isNotFound, true)
        XCTAssertEqual(e?.httpCode, 404)
        XCTAssertEqual(e?.status?.reason, "NotFound")
        XCTAssertEqual(e?.status?.code, 404)
        XCTAssertEqual(e?.status?.message, "the server could not find the requested resource (404 page not found)")
    }

    func testStatusBodyIsDecodedWhole() async throws {
        let t = ScriptedTransport { r, _ in
            switch r.method {
            case .post: return json(statusBody(409, reason: "AlreadyExists", message: "configmaps \"a\" already exists"), status: 409)
            case .put: return json(statusBody(409, reason: "Conflict", message: "the object has been modified"), status: 409)
            default:
                return json(statusBody(429, reason: "TooManyRequests", message: "slow"), status: 429, headers: [(name: "Retry-After", value: "7")])
            }
        }
        let client = KubeAPIClient(transport: t)
        let created = await apiError { _ = try await client.create(.configMaps, namespace: "ns", object: ["metadata": ["name": "a"]]) }
        XCTAssertEqual(created?.isAlreadyExists, true)
        XCTAssertEqual(created?.isConflict, false)
        XCTAssertEqual(created?.status?.message, "configmaps \"a\" already exists")
        let updated = await apiError { _ = try await client.update(.configMaps, namespace: "ns", name: "a", object: ["metadata": ["name": "a"]]) }
        XCTAssertEqual(updated?.isConflict, true)
        XCTAssertEqual(updated?.isAlreadyExists, false)
        let limited = await apiError { _ = try await client.get(.configMaps, namespace: "ns", name: "a") }
        XCTAssertEqual(limited?.isTooManyRequests, true)
        XCTAssertEqual(limited?.retryAfter, 7)
    }

    func testDeleteAnswersNilWhenGoneAndTheObjectWhenKept() async throws {
        let t = ScriptedTransport { r, _ in
            switch r.path.split(separator: "/").last {
            case "gone": return json(["kind": "Status", "apiVersion": "v1", "status": "Success", "details": ["name": "gone", "kind": "configmaps"]])
            case "finalized": return json(["kind": "ConfigMap", "metadata": ["name": "finalized", "deletionTimestamp": "2026-01-01T00:00:00Z"]])
            default: return json(["kind": "Deployment", "metadata": ["name": "fg"]], status: 202)
            }
        }
        let client = KubeAPIClient(transport: t)
        let gone = try await client.delete(.configMaps, namespace: "ns", name: "gone")
        XCTAssertNil(gone)
        let kept = try await client.delete(.configMaps, namespace: "ns", name: "finalized")
        XCTAssertEqual(kept?[path: ["metadata", "name"]], "finalized")
        let accepted = try await client.delete(.deployments, namespace: "ns", name: "fg", options: DeleteOptions(propagationPolicy: "Foreground"))
        XCTAssertEqual(accepted?["kind"], "Deployment")
        XCTAssertEqual(t.requests.last?.query, [QueryItem("propagationPolicy", "Foreground")])
    }

    func testAnswersOmitManagedFieldsOnlyWhenAsked() async throws {
        let managed: JSONValue = [["manager": "pynomaly-operator", "operation": "Apply", "fieldsV1": ["f:data": ["f:a": [:]]]]]
        let object: JSONValue = ["kind": "ConfigMap", "apiVersion": "v1", "data": ["a": "1"],
                                 "metadata": ["name": "c", "resourceVersion": "7", "managedFields": managed]]
        let t = ScriptedTransport { r, _ in
            if r.path.hasSuffix("/broken") {
                // Skipped fields are still checked: a malformed answer is refused either way.
                return KubeResponse(statusCode: 200, headers: [], body: Data(#"{"metadata":{"managedFields":[{"manager":}]}}"#.utf8))
            }
            return json(object)
        }
        let full = KubeAPIClient(transport: t)
        let kept = try await full.get(.configMaps, namespace: "ns", name: "c")
        XCTAssertEqual(kept, object)

        let lean = full.omittingManagedFieldsFromAnswers()
        XCTAssertTrue(lean.answersOmitManagedFields)
        var expected = object
        expected[path: ["metadata", "managedFields"]] = nil
        let got = try await lean.get(.configMaps, namespace: "ns", name: "c")
        let patched = try await lean.patch(.configMaps, namespace: "ns", name: "c", type: .merge, body: Data("{}".utf8))
        let created = try await lean.create(.configMaps, namespace: "ns", object: object)
        XCTAssertEqual([got, patched, created], [expected, expected, expected])
        do {
            _ = try await lean.get(.configMaps, namespace: "ns", name: "broken")
            XCTFail("a malformed answer must be refused")
        } catch let error as KubeError {
            guard case .decoding = error else { return XCTFail("expected a decoding error, got \(error)") }
        }
    }

    func testAWriteAnswerIsParsedOnlyWhenKept() async throws {
        let t = ScriptedTransport { r, _ in
            // Not JSON: a parse would fail, so only a kept answer can fail.
            KubeResponse(statusCode: r.method == .post ? 201 : 200, headers: [], body: Data("not json".utf8))
        }
        let client = KubeAPIClient(transport: t)
        let object: JSONValue = ["kind": "ConfigMap", "metadata": ["name": "c"]]
        let dropped = try await client.create(.configMaps, namespace: "ns", object: object, options: WriteOptions(), keepingAnswerIf: { false })
        XCTAssertNil(dropped)
        let droppedUpdate = try await client.update(.configMaps, namespace: "ns", name: "c", object: object, subresource: "status",
                                                    options: WriteOptions(), keepingAnswerIf: { false })
        XCTAssertNil(droppedUpdate)
        XCTAssertEqual(t.requests.map(\.method), [.post, .put])
        XCTAssertEqual(t.requests.last?.path, "/api/v1/namespaces/ns/configmaps/c/status")
        do {
            _ = try await client.update(.configMaps, namespace: "ns", name: "c", object: object, subresource: nil, options: WriteOptions(),
                                        keepingAnswerIf: { true })
            XCTFail("a kept answer is parsed, and this one is not JSON")
        } catch let error as KubeError {
            guard case .decoding = error else { return XCTFail("expected a decoding error, got \(error)") }
        }
    }

    func testWarningsReachTheHandlerAndTheCaller() async throws {
        let seen = Mutex<[String]>([])
        let t = ScriptedTransport { _, _ in
            json(["kind": "ConfigMap"], headers: [(name: "Warning", value: "299 - \"unknown field \\\"spec.foo\\\"\""),
                                                  (name: "warning", value: "299 - \"apps/v1beta1 is deprecated\"")])
        }
        let client = KubeAPIClient(transport: t, warningHandler: { w in seen.withLock { $0.append(w) } })
        let (value, warnings) = try await client.sendWithWarnings(KubeRequest(method: .get, path: "/x"))
        XCTAssertEqual(value["kind"], "ConfigMap")
        XCTAssertEqual(warnings, ["unknown field \"spec.foo\"", "apps/v1beta1 is deprecated"])
        XCTAssertEqual(seen.withLock { $0 }, warnings)
        XCTAssertEqual(KubeAPIClient.parseWarning("not a warning"), "not a warning")
    }

    func testDefaultNamespaceAndListDecoding() async throws {
        let t = ScriptedTransport { r, _ in
            if r.method == .get, r.path.hasSuffix("/configmaps") {
                return json(["kind": "ConfigMapList", "apiVersion": "v1", "metadata": ["resourceVersion": "42", "continue": "tok"],
                             "items": [["metadata": ["name": "a"]], ["metadata": ["name": "b"]]]])
            }
            return json(["kind": "ConfigMap"])
        }
        let client = KubeAPIClient(transport: t, defaultNamespace: "team")
        _ = try await client.get(.configMaps, namespace: nil, name: "a")
        XCTAssertEqual(t.requests.last?.path, "/api/v1/namespaces/team/configmaps/a")
        _ = try await client.create(.configMaps, namespace: nil, object: ["metadata": ["name": "x", "namespace": "own"]])
        XCTAssertEqual(t.requests.last?.path, "/api/v1/namespaces/own/configmaps", "the object's namespace beats the default")
        _ = try await client.get(.namespaces, namespace: "ignored", name: "kube-system")
        XCTAssertEqual(t.requests.last?.path, "/api/v1/namespaces/kube-system")
        let list = try await client.list(.configMaps, namespace: nil, options: ListOptions(limit: 2))
        XCTAssertEqual(t.requests.last?.path, "/api/v1/configmaps", "a nil namespace lists all namespaces")
        XCTAssertEqual(list.metadata.resourceVersion, "42")
        XCTAssertEqual(list.metadata.continue, "tok")
        XCTAssertEqual(list.items.map { $0["kind"] }, ["ConfigMap", "ConfigMap"])
        XCTAssertEqual(list.items.map { $0["apiVersion"] }, ["v1", "v1"])
    }

    func testNonJSONSuccessIsADecodingError() async {
        let t = ScriptedTransport { _, _ in KubeResponse(statusCode: 200, body: Data("ok".utf8)) }
        let e = await apiError { _ = try await KubeAPIClient(transport: t).send(KubeRequest(method: .get, path: "/healthz")) }
        guard case .decoding(let m)? = e else { return XCTFail("expected decoding error, got \(String(describing: e))") }
        XCTAssertTrue(m.hasPrefix("GET /healthz: answer (HTTP 200) is not JSON"), m)
        let raw = try? await KubeAPIClient(transport: t).sendChecked(KubeRequest(method: .get, path: "/healthz"))
        XCTAssertEqual(raw?.body, Data("ok".utf8))
    }

    func testWatchErrorAnswerAndEvents() async throws {
        let goneBody = FixedChunks([statusBody(410, reason: "Expired", message: "too old resource version: 1 (5)").serialized()])
        let events = FixedChunks([Data("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{\"type\":\"MOD".utf8),
                                  Data("IFIED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n".utf8)])
        let t = ScriptedTransport({ _, _ in json([:]) }, stream: { r, _ in
            r.query.contains(QueryItem("resourceVersion", "1"))
                ? KubeStreamResponse(statusCode: 410, headers: [], body: goneBody)
                : KubeStreamResponse(statusCode: 200, headers: [], body: events)
        })
        let client = KubeAPIClient(transport: t)
        let e = await apiError { _ = try await client.watch(.configMaps, namespace: "ns", options: ListOptions(resourceVersion: "1")) }
        XCTAssertEqual(e?.isGone, true)
        XCTAssertEqual(e?.status?.message, "too old resource version: 1 (5)")
        XCTAssertTrue(goneBody.cancelled)

        var types: [WatchEventType] = []
        for try await event in try await client.watch(.configMaps, namespace: "ns", options: ListOptions(resourceVersion: "2")) {
            types.append(event.type)
        }
        XCTAssertEqual(types, [.added, .modified])
        XCTAssertEqual(t.requests.last?.query.first, QueryItem("watch", "true"))
    }

    func testListAllFollowsContinueTokens() async throws {
        let t = ScriptedTransport { r, _ in
            let token = r.query.first { $0.name == "continue" }?.value
            let next: JSONValue = token == nil ? "p2" : (token == "p2" ? "p3" : .null)
            let base = token == nil ? 0 : (token == "p2" ? 2 : 4)
            var meta: JSONValue = ["resourceVersion": "9"]
            if !next.isNull { meta["continue"] = next }
            return json(["kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta,
                         "items": .array((base..<base + 2).map { ["metadata": ["name": .string("cm-\($0)")]] })])
        }
        let all = try await KubeAPIClient(transport: t).listAll(.configMaps, namespace: "ns", options: ListOptions(limit: 2))
        XCTAssertEqual(all.items.compactMap { $0[path: ["metadata", "name"]]?.stringValue }, (0..<6).map { "cm-\($0)" })
        XCTAssertEqual(t.count, 3)
    }

    func testCurlErrorKindsNameTheCause() {
        let cases: [(CURLcodeValue, String, TransportError.Kind)] = [
            (.peerFailed, "SSL certificate problem: unable to get local issuer certificate", .tlsUnknownCA),
            (.peerFailed, "SSL certificate problem: self-signed certificate in certificate chain", .tlsUnknownCA),
            (.peerFailed, "SSL: no alternative certificate subject name matches target host name 'localhost'", .tlsNameMismatch),
            (.peerFailed, "SSL certificate problem: certificate has expired", .tlsExpired),
            (.resolve, "Could not resolve host: nowhere.invalid", .dns),
            (.connect, "Failed to connect to 127.0.0.1 port 1: Connection refused", .connect),
            (.timeout, "Operation timed out after 100 milliseconds", .timeout),
            (.gotNothing, "Empty reply from server", .connectionClosed),
        ]
        for (code, message, kind) in cases {
            XCTAssertEqual(CurlErrorMapping.kind(code: code.curl, message: message), kind, message)
        }
    }
}
