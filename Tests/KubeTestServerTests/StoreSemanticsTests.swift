import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// resourceVersion, generation, lists, watches and deletion semantics.
final class StoreSemanticsTests: XCTestCase {
    var server: KubeTestServer!
    var c: TestClient!

    override func setUp() async throws {
        var o = KubeTestServerOptions()
        o.bookmarkInterval = 0.3
        server = try await KubeTestServer.start(o)
        c = TestClient(server)
    }

    override func tearDown() async throws {
        try await server.stop()
    }

    func testResourceVersionIsOneClusterWideCounterAcrossKinds() async throws {
        var last: Int64 = 0
        for i in 0..<5 {
            let cm = await c.post("/api/v1/namespaces/default/configmaps", configMap("cm-\(i)"))
            let dep = await c.post("/apis/apps/v1/namespaces/default/deployments", deployment("d-\(i)"))
            let sec = await c.post("/api/v1/namespaces/default/secrets", ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string("s-\(i)")]])
            for answer in [cm, dep, sec] {
                XCTAssertEqual(answer.status, 201, String(decoding: answer.body, as: UTF8.self))
                let rv = try XCTUnwrap(Int64(answer.rv))
                XCTAssertGreaterThan(rv, last, "resourceVersions must increase across kinds")
                last = rv
            }
        }
        let list = await c.get("/api/v1/namespaces/default/configmaps")
        XCTAssertEqual(list.rv, String(last), "a list carries the latest write's resourceVersion")
        XCTAssertEqual(String(server.currentResourceVersion), String(last))
    }

    func testGenerationMovesOnSpecChangesOnly() async throws {
        let base = "/apis/apps/v1/namespaces/default/deployments"
        let created = await c.post(base, deployment("gen"))
        XCTAssertEqual(created.json[path: ["metadata", "generation"]], 1)
        let label = await c.mergePatch("\(base)/gen", ["metadata": ["labels": ["team": "a"]]])
        XCTAssertEqual(label.json[path: ["metadata", "generation"]], 1, "labels do not bump generation")
        XCTAssertGreaterThan(Int64(label.rv) ?? 0, Int64(created.rv) ?? 0)
        let annotation = await c.mergePatch("\(base)/gen", ["metadata": ["annotations": ["note": "x"]]])
        XCTAssertEqual(annotation.json[path: ["metadata", "generation"]], 2, "a Deployment's annotations bump generation (fixture 05)")
        let spec = await c.mergePatch("\(base)/gen", ["spec": ["replicas": 3]])
        XCTAssertEqual(spec.json[path: ["metadata", "generation"]], 3)
        let status = await c.mergePatch("\(base)/gen/status", ["status": ["replicas": 3]])
        XCTAssertEqual(status.json[path: ["metadata", "generation"]], 3, "status writes do not bump generation")
        XCTAssertEqual(status.json[path: ["status", "replicas"]], 3)
        // The main endpoint ignores status.
        var body = status.json
        body[path: ["status", "replicas"]] = 9
        let put = await c.put("\(base)/gen", body)
        XCTAssertEqual(put.status, 200)
        XCTAssertEqual(put.json[path: ["status", "replicas"]], 3)
        XCTAssertEqual(put.rv, status.rv, "a PUT that changes nothing but status is a no-op")
        // ConfigMaps have no generation.
        let cm = await c.post("/api/v1/namespaces/default/configmaps", configMap("nogen"))
        XCTAssertNil(cm.json[path: ["metadata", "generation"]])
    }

    func testNoopWriteKeepsResourceVersionAndEmitsNoEvent() async throws {
        let created = await c.post("/api/v1/namespaces/default/configmaps", configMap("noop"))
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(created.rv)&timeoutSeconds=1")
        let same = await c.mergePatch("/api/v1/namespaces/default/configmaps/noop", ["data": ["k": "v"]])
        XCTAssertEqual(same.rv, created.rv)
        let lines = try await readLines(stream)
        XCTAssertEqual(lines.count, 0, "no event for a no-op write: \(lines)")
    }

    func testStalePutConflictsAndUnconditionalPutSucceeds() async throws {
        let path = "/api/v1/namespaces/default/configmaps/cf"
        let created = await c.post("/api/v1/namespaces/default/configmaps", configMap("cf"))
        var body = created.json
        body["data"] = ["k": "2"]
        let first = await c.put(path, body)
        XCTAssertEqual(first.status, 200)
        body["data"] = ["k": "3"]
        let stale = await c.put(path, body)
        XCTAssertEqual(stale.status, 409)
        XCTAssertEqual(stale.json["reason"], "Conflict")
        XCTAssertEqual(stale.json["message"]?.stringValue,
                       "Operation cannot be fulfilled on configmaps \"cf\": the object has been modified; please apply your changes to the latest version and try again")
        body[path: ["metadata", "resourceVersion"]] = nil
        let unconditional = await c.put(path, body)
        XCTAssertEqual(unconditional.status, 200, "PUT without resourceVersion is unconditional")
    }

    func testWatchDeliversAThousandEventsInOrderFromAResourceVersion() async throws {
        let start = await c.post("/api/v1/namespaces/default/configmaps", configMap("w"))
        for i in 0..<1000 {
            let r = await c.mergePatch("/api/v1/namespaces/default/configmaps/w", ["data": ["k": .string(String(i))]])
            XCTAssertEqual(r.status, 200)
        }
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=\(start.rv)&timeoutSeconds=30")
        let lines = try await readLines(stream, count: 1000, timeout: 30)
        stream.body.cancel()
        XCTAssertEqual(lines.count, 1000)
        var previous = Int64(start.rv) ?? 0
        for (i, line) in lines.enumerated() {
            XCTAssertEqual(line["type"], "MODIFIED")
            XCTAssertEqual(line[path: ["object", "data", "k"]]?.stringValue, String(i))
            let rv = Int64(line[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
            XCTAssertGreaterThan(rv, previous)
            previous = rv
        }
    }

    func testWatchFromCompactedResourceVersionGetsExpiredError() async throws {
        let created = await c.post("/api/v1/namespaces/default/configmaps", configMap("old"))
        _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/old", ["data": ["k": "2"]])
        server.compactWatchHistory()
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(created.rv)")
        XCTAssertEqual(stream.statusCode, 200)
        let lines = try await readLines(stream, timeout: 5)
        XCTAssertEqual(lines.count, 1, "one ERROR line, then the stream closes")
        XCTAssertEqual(lines.first?["type"], "ERROR")
        XCTAssertEqual(lines.first?[path: ["object", "code"]], 410)
        XCTAssertEqual(lines.first?[path: ["object", "reason"]], "Expired")
        let exact = await c.get("/api/v1/namespaces/default/configmaps?resourceVersion=\(created.rv)&resourceVersionMatch=Exact")
        XCTAssertEqual(exact.status, 410)
    }

    func testWatchWindowBoundsHistory() async throws {
        try await server.stop()
        var o = KubeTestServerOptions()
        o.watchEventWindow = 10
        server = try await KubeTestServer.start(o)
        c = TestClient(server)
        let first = await c.post("/api/v1/namespaces/default/configmaps", configMap("win"))
        for i in 0..<40 { _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/win", ["data": ["k": .string(String(i))]]) }
        let old = try await readLines(await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(first.rv)"), timeout: 5)
        XCTAssertEqual(old.first?["type"], "ERROR")
        let recent = Int64(server.currentResourceVersion) - 3
        let fresh = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(recent)&timeoutSeconds=1")
        let lines = try await readLines(fresh, timeout: 5)
        XCTAssertEqual(lines.map { $0["type"]?.stringValue ?? "" }, ["MODIFIED", "MODIFIED", "MODIFIED"])
    }

    func testExactListServedFromHistory() async throws {
        let a = await c.post("/api/v1/namespaces/default/configmaps", configMap("h1"))
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("h2"))
        _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/h1", ["data": ["k": "changed"]])
        let past = await c.get("/api/v1/namespaces/default/configmaps?resourceVersion=\(a.rv)&resourceVersionMatch=Exact")
        XCTAssertEqual(past.status, 200)
        XCTAssertEqual(past.json["items"]?.arrayValue?.count, 1)
        XCTAssertEqual(past.json["items"]?[0]?[path: ["data", "k"]], "v")
        XCTAssertEqual(past.rv, a.rv)
    }

    func testPaginationOverTwelveHundredObjects() async throws {
        for i in 0..<1200 {
            let r = await c.post("/api/v1/namespaces/default/configmaps", configMap(String(format: "p-%04d", i), labels: ["even": i % 2 == 0 ? "yes" : "no"]))
            XCTAssertEqual(r.status, 201)
        }
        var names: [String] = []
        var token = ""
        var pages = 0
        var firstRV = ""
        repeat {
            let r = await c.get("/api/v1/namespaces/default/configmaps?limit=500" + (token.isEmpty ? "" : "&continue=\(token)"))
            XCTAssertEqual(r.status, 200)
            if pages == 0 {
                firstRV = r.rv
                XCTAssertEqual(r.json[path: ["metadata", "remainingItemCount"]], 700)
                // A write between pages must not show up in later pages (they are served at the first page's resourceVersion).
                _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("p-9999"))
            }
            XCTAssertEqual(r.rv, firstRV, "every page carries the first page's resourceVersion")
            names += r.json["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } ?? []
            token = r.json[path: ["metadata", "continue"]]?.stringValue ?? ""
            pages += 1
        } while !token.isEmpty && pages < 10
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(names.count, 1200)
        XCTAssertEqual(names, names.sorted())
        XCTAssertFalse(names.contains("p-9999"))
        let selected = await c.get("/api/v1/namespaces/default/configmaps?limit=500&labelSelector=even%3Dyes")
        XCTAssertEqual(selected.json["items"]?.arrayValue?.count, 500)
        XCTAssertNil(selected.json[path: ["metadata", "remainingItemCount"]], "omitted with a label selector")
        let zero = await c.get("/api/v1/namespaces/default/configmaps?limit=5&resourceVersion=0")
        XCTAssertEqual(zero.json["items"]?.arrayValue?.count, 1201, "resourceVersion=0 ignores limit")
    }

    func testExpiredContinueTokenGets410() async throws {
        for i in 0..<3 { _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("e\(i)")) }
        let page = await c.get("/api/v1/namespaces/default/configmaps?limit=1")
        let token = try XCTUnwrap(page.json[path: ["metadata", "continue"]]?.stringValue)
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("e9"))
        server.compactWatchHistory()
        let expired = await c.get("/api/v1/namespaces/default/configmaps?limit=1&continue=\(token)")
        XCTAssertEqual(expired.status, 410)
        XCTAssertEqual(expired.json["reason"], "Expired")
        let fresh = try XCTUnwrap(expired.json[path: ["metadata", "continue"]]?.stringValue)
        let rest = await c.get("/api/v1/namespaces/default/configmaps?limit=10&continue=\(fresh)")
        XCTAssertEqual(rest.status, 200)
        XCTAssertEqual(rest.json["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue }, ["e1", "e2", "e9"])
    }

    func testSelectorWatchTurnsLeavingIntoDeletedAndEnteringIntoAdded() async throws {
        let list = await c.get("/api/v1/namespaces/default/configmaps?labelSelector=app%3Dw")
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dw&resourceVersion=\(list.rv)&timeoutSeconds=2")
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("sel", labels: ["app": "w"]))
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("other", labels: ["app": "x"]))
        _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/sel", ["metadata": ["labels": ["app": "gone"]]])
        _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/sel", ["metadata": ["labels": ["app": "w"]]])
        _ = await c.delete("/api/v1/namespaces/default/configmaps/sel")
        let lines = try await readLines(stream)
        XCTAssertEqual(lines.map { $0["type"]?.stringValue ?? "" }, ["ADDED", "DELETED", "ADDED", "DELETED"])
        XCTAssertTrue(lines.allSatisfy { $0[path: ["object", "metadata", "name"]] == "sel" })
    }

    func testInitialEventsAndBookmarks() async throws {
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("b1", labels: ["app": "bm"]))
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dbm&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
        let lines = try await readLines(stream)
        XCTAssertEqual(lines.first?["type"], "ADDED")
        XCTAssertEqual(lines.dropFirst().first?["type"], "BOOKMARK")
        XCTAssertEqual(lines.dropFirst().first?[path: ["object", "metadata", "annotations", "k8s.io/initial-events-end"]], "true")
        XCTAssertGreaterThanOrEqual(lines.filter { $0["type"] == "BOOKMARK" }.count, 2, "periodic bookmarks every bookmarkInterval: \(lines)")
    }

    func testSlowWatcherIsClosedWithoutBlockingWriters() async throws {
        try await server.stop()
        var o = KubeTestServerOptions()
        o.watchQueueLimit = 5
        server = try await KubeTestServer.start(o)
        c = TestClient(server)
        let start = await c.post("/api/v1/namespaces/default/configmaps", configMap("slow"))
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(start.rv)")
        for i in 0..<50 {
            let r = await c.mergePatch("/api/v1/namespaces/default/configmaps/slow", ["data": ["k": .string(String(i))]])
            XCTAssertEqual(r.status, 200, "writers are never blocked by a slow watcher")
        }
        let lines = try await readLines(stream, timeout: 5)
        XCTAssertLessThan(lines.count, 50, "the watcher that fell behind was closed")
    }
}
