import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// One answer of the in-process handler, body parsed when it is JSON.
struct RawAnswer {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: Data
    var json: JSONValue { (try? JSONValue(parsing: body)) ?? .null }
    func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value }
    func headerValues(_ name: String) -> [String] { headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value) }
    var rv: String { json[path: ["metadata", "resourceVersion"]]?.stringValue ?? "" }
}

/// A small client over `handleRaw` for the tests: sends exactly what it is given.
struct TestClient {
    let server: KubeTestServer
    var token: String?
    var userAgent = "kube-fixtures/1.0"

    init(_ server: KubeTestServer, token: String? = nil) {
        self.server = server
        self.token = token ?? server.adminToken
    }

    func request(_ method: String, _ path: String, body: JSONValue? = nil, rawBody: String? = nil, contentType: String = "application/json",
                 accept: String = "application/json", headers extra: [(name: String, value: String)] = []) async -> RawAnswer {
        var headers: [(name: String, value: String)] = [("Accept", accept), ("User-Agent", userAgent)]
        if body != nil || rawBody != nil { headers.append(("Content-Type", contentType)) }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        headers.append(contentsOf: extra)
        let data = rawBody.map { Data($0.utf8) } ?? body?.serialized()
        let resp = await server.handleRaw(method: method, pathAndQuery: path, headers: headers, body: data)
        var all = Data()
        while let chunk = try? await resp.body.next() { all.append(chunk) }
        return RawAnswer(status: resp.statusCode, headers: resp.headers, body: all)
    }

    func get(_ path: String) async -> RawAnswer { await request("GET", path) }
    func post(_ path: String, _ body: JSONValue) async -> RawAnswer { await request("POST", path, body: body) }
    func put(_ path: String, _ body: JSONValue) async -> RawAnswer { await request("PUT", path, body: body) }
    func delete(_ path: String, _ body: JSONValue? = nil) async -> RawAnswer { await request("DELETE", path, body: body) }
    func mergePatch(_ path: String, _ body: JSONValue) async -> RawAnswer {
        await request("PATCH", path, body: body, contentType: "application/merge-patch+json")
    }

    /// Opens a watch and returns its stream (the caller reads lines).
    func watch(_ path: String) async -> KubeStreamResponse {
        var headers: [(name: String, value: String)] = [("Accept", "application/json"), ("User-Agent", userAgent)]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return await server.handleRaw(method: "GET", pathAndQuery: path, headers: headers, body: nil)
    }
}

/// Reads watch lines until `count` arrived, the stream ends, or the deadline passes.
func readLines(_ stream: KubeStreamResponse, count: Int = .max, timeout: Double = 10) async throws -> [JSONValue] {
    var splitter = LineSplitter()
    var lines: [JSONValue] = []
    let source = stream.body
    let timer = Task {
        try await Task.sleep(for: .seconds(timeout))
        source.cancel()
    }
    defer { timer.cancel() }
    while lines.count < count, let chunk = try await source.next() {
        for l in try splitter.feed(chunk) { lines.append(try JSONValue(parsing: l)) }
    }
    return lines
}


func configMap(_ name: String, ns: String = "default", labels: [String: String] = [:], data: [String: String] = ["k": "v"]) -> JSONValue {
    var meta: JSONObject = ["name": .string(name), "namespace": .string(ns)]
    if !labels.isEmpty { meta["labels"] = .object(labels.mapValues(JSONValue.string)) }
    return ["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(meta), "data": .object(data.mapValues(JSONValue.string))]
}

func deployment(_ name: String, ns: String = "default", replicas: Int64 = 1) -> JSONValue {
    ["apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": ["name": .string(name), "namespace": .string(ns), "labels": ["app": .string(name)]],
     "spec": ["replicas": .int(replicas), "selector": ["matchLabels": ["app": .string(name)]],
              "template": ["metadata": ["labels": ["app": .string(name)]],
                           "spec": ["containers": [["name": "web", "image": "nginx:1.27"]]]]]]
}

/// The Widget CRD of the fixtures (fixture 19, step 1).
func widgetCRD() throws -> JSONValue {
    let url = fixturesDirectory().appendingPathComponent("19-crd-lifecycle.json")
    let doc = try JSONValue(parsing: Data(contentsOf: url))
    guard let body = doc["steps"]?[1]?[path: ["request", "body"]] else { throw NSError(domain: "fixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "fixture 19 has no CRD body"]) }
    return body
}

func fixturesDirectory() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kube-apiserver-1.36")
}
