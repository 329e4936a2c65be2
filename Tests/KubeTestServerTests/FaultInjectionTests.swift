import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// Fault injection through the in-process handler. The same faults over HTTPS with the libcurl
/// client are covered by `ResilienceTransportTests` (KubeRuntimeTests, which links KubeClient).
final class FaultInjectionTests: XCTestCase {
    func testInjectedFailuresLookLikeKubeAPIServersAndAreCounted() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let status1 = await c.post("/api/v1/namespaces/default/configmaps", configMap("a")).status
        XCTAssertEqual(status1, 201)

        server.faults.failRequests(share: 1, with: .tooManyRequests(retryAfterSeconds: 2), scope: FaultScope(verbs: ["list"]))
        let throttled = await c.get("/api/v1/namespaces/default/configmaps")
        XCTAssertEqual(throttled.status, 429)
        XCTAssertEqual(throttled.header("Retry-After"), "2")
        XCTAssertEqual(throttled.json["reason"], "TooManyRequests")
        XCTAssertEqual(throttled.json["code"], 429)
        XCTAssertEqual(throttled.json[path: ["details", "retryAfterSeconds"]], 2)
        let status2 = await c.get("/api/v1/namespaces/default/configmaps/a").status
        XCTAssertEqual(status2, 200, "get is outside the scope")
        XCTAssertEqual(server.requestCount(verb: "list", resource: "configmaps"), 1, "an injected failure is still counted")
        XCTAssertEqual(server.faults.injectedCount(status: 429), 1)

        server.faults.reset()
        server.faults.failRequests(share: 1, with: .internalError, scope: FaultScope(resources: ["secrets"]))
        let failed = await c.get("/api/v1/namespaces/default/secrets")
        XCTAssertEqual(failed.status, 500)
        XCTAssertEqual(failed.json["reason"], "InternalError")
        XCTAssertEqual(failed.json[path: ["details", "causes"]]?[0]?["message"], "injected fault")
        let status3 = await c.get("/api/v1/namespaces/default/configmaps").status
        XCTAssertEqual(status3, 200, "configmaps are outside the scope")
        XCTAssertEqual(server.faults.injectedCount(status: 500), 1)

        // A share fails about that share of requests, the same ones for the same seed.
        func pattern(seed: UInt64) async -> [Int] {
            server.faults.reset()
            server.faults.failRequests(share: 0.3, with: .internalError, seed: seed)
            var codes: [Int] = []
            for _ in 0..<200 { codes.append(await c.get("/api/v1/namespaces/default/configmaps/a").status) }
            return codes
        }
        let first = await pattern(seed: 42)
        let failures = first.filter { $0 == 500 }.count
        XCTAssertTrue((40...80).contains(failures), "30 % of 200 requests failed, got \(failures)")
        XCTAssertEqual(Set(first), [200, 500])
        let again = await pattern(seed: 42)
        XCTAssertEqual(first, again, "the same seed fails the same requests")
        server.faults.reset()
    }

    func testWatchesAreDroppedAfterNEventsAndExpiredOnDemand() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let start = server.currentResourceVersion
        for i in 0..<10 {
            let status = await c.post("/api/v1/namespaces/default/configmaps", configMap("cm-\(i)")).status
            XCTAssertEqual(status, 201)
        }

        server.faults.dropWatches(afterEvents: 3)
        // The stream ends by itself (well before the read deadline) after exactly 3 events.
        let began = Date()
        let droppedStream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(start)")
        let dropped = try await readLines(droppedStream, timeout: 10)
        XCTAssertEqual(dropped.map { $0["type"] }, ["ADDED", "ADDED", "ADDED"])
        XCTAssertLessThan(Date().timeIntervalSince(began), 5)
        XCTAssertEqual(server.faults.droppedWatchCount, 1)

        // A live watch is dropped once it delivered its budget of new events.
        let live = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(server.currentResourceVersion)")
        for i in 10..<14 {
            let status = await c.post("/api/v1/namespaces/default/configmaps", configMap("cm-\(i)")).status
            XCTAssertEqual(status, 201)
        }
        let liveLines = try await readLines(live, timeout: 10)
        XCTAssertEqual(liveLines.compactMap { $0[path: ["object", "metadata", "name"]]?.stringValue }, ["cm-10", "cm-11", "cm-12"])
        server.faults.dropWatches(afterEvents: nil)

        server.faults.expireNextWatches(2)
        let rv = server.currentResourceVersion
        for _ in 0..<2 {
            let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(rv)")
            let lines = try await readLines(stream, timeout: 10)
            XCTAssertEqual(lines.count, 1)
            XCTAssertEqual(lines.first?["type"], "ERROR")
            XCTAssertEqual(lines.first?[path: ["object", "code"]], 410)
            XCTAssertEqual(lines.first?[path: ["object", "reason"]], "Expired")
        }
        // The third watch is served normally.
        let third = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(rv)")
        let status4 = await c.post("/api/v1/namespaces/default/configmaps", configMap("after")).status
        XCTAssertEqual(status4, 201)
        let thirdLines = try await readLines(third, count: 1, timeout: 10)
        XCTAssertEqual(thirdLines.first?["type"], "ADDED")
        third.body.cancel()
        XCTAssertEqual(server.faults.expiredWatchCount, 2)
        XCTAssertEqual(server.requestCount(verb: "watch", resource: "configmaps"), 5, "forced 410s are counted as watches")
    }

    func testCutResponsesDelaysAndRestartInMemory() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let client = KubeAPIClient(transport: server.transport)
        let created = try await client.create(.configMaps, namespace: "default", object: configMap("kept"))
        let createdRV = Int64(created[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0

        server.faults.cutNextResponses(1, scope: FaultScope(verbs: ["get"]))
        do {
            _ = try await client.get(.configMaps, namespace: "default", name: "kept")
            XCTFail("a cut response must fail")
        } catch KubeError.transport(let t) {
            XCTAssertEqual(t.kind, .connectionClosed)
        }
        XCTAssertEqual(server.faults.cutResponseCount, 1)
        _ = try await client.get(.configMaps, namespace: "default", name: "kept")  // only the next one was cut

        server.faults.delayResponses(seconds: 0.3, scope: FaultScope(verbs: ["get"]))
        let began = Date()
        _ = try await client.get(.configMaps, namespace: "default", name: "kept")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(began), 0.3)
        server.faults.delayResponses(seconds: nil)

        // Restart: an open watch breaks with an error; objects stay and resourceVersions continue.
        let watch = try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: String(createdRV)))
        let reader = Task { () -> (any Error)? in
            do {
                for try await _ in watch {}
                return nil
            } catch {
                return error
            }
        }
        let port = server.port
        try await server.restart()
        let error = await reader.value
        guard case KubeError.transport(let t)? = error as? KubeError else {
            return XCTFail("the broken watch must end with a transport error, got \(String(describing: error))")
        }
        XCTAssertEqual(t.kind, .connectionClosed)
        XCTAssertEqual(server.port, port)
        let kept = try await client.get(.configMaps, namespace: "default", name: "kept")
        XCTAssertNotNil(kept["data"])
        let next = try await client.create(.configMaps, namespace: "default", object: configMap("after-restart"))
        let nextRV = Int64(next[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
        XCTAssertGreaterThan(nextRV, createdRV)
    }
}
