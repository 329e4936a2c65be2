import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest

/// The test server's faults as the libcurl client sees them over real HTTPS.
final class ResilienceTransportTests: XCTestCase {
    func testCutResponsesAreConnectionErrorsAndRetriedReadsSucceedOverHTTP2() async throws {
        try await cutResponsesAreConnectionErrorsAndRetriedReadsSucceed(http2: true)
    }

    /// Forced HTTP/1.1: there a cut response costs the TCP connection, a path HTTP/2 never takes.
    func testCutResponsesAreConnectionErrorsAndRetriedReadsSucceedOverHTTP1() async throws {
        try await cutResponsesAreConnectionErrorsAndRetriedReadsSucceed(http2: false)
    }

    func cutResponsesAreConnectionErrorsAndRetriedReadsSucceed(http2: Bool) async throws {
        var options = KubeTestServerOptions()
        options.http2Enabled = http2
        let server = try await KubeTestServer.start(options)
        let admin = KubeAPIClient(transport: server.transport)
        _ = try await admin.create(.configMaps, namespace: "default", object: configMap("cut", namespace: "default", data: ["k": String(repeating: "x", count: 4000)]).removingServerFields())

        let noRetry = try makeOperatorClient(server, retryPolicy: nil)
        server.faults.cutNextResponses(1, scope: FaultScope(verbs: ["get"]))
        do {
            _ = try await noRetry.get(.configMaps, namespace: "default", name: "cut")
            XCTFail("a response cut mid-body must fail")
        } catch KubeError.transport(let t) {
            XCTAssertEqual(t.kind, .connectionClosed, "\(t)")
        }
        XCTAssertEqual(server.faults.cutResponseCount, 1)

        // With retries, the GET is sent again and succeeds: over HTTP/2 on the same connection
        // (only the stream was reset), over HTTP/1.1 on a new one (the cut closed it).
        server.resetRequestCounts()
        server.faults.cutNextResponses(1, scope: FaultScope(verbs: ["get"]))
        let retrying = try makeOperatorClient(server)
        let connectionsBefore = server.acceptedConnectionCount
        let got = try await retrying.get(.configMaps, namespace: "default", name: "cut")
        XCTAssertEqual(got[path: ["data", "k"]]?.stringValue?.count, 4000)
        XCTAssertEqual(server.requestCount(verb: "get", resource: "configmaps"), 2, "the cut attempt and its retry")
        XCTAssertEqual(server.acceptedConnectionCount - connectionsBefore, http2 ? 1 : 2)
        XCTAssertEqual(server.http2ConnectionCount > 0, http2)
        try await server.stop()
    }

    func testWatchFaultsOverHTTPS() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let client = try makeOperatorClient(server)
        let start = String(server.currentResourceVersion)
        for i in 0..<5 {
            _ = try await admin.create(.configMaps, namespace: "default", object: configMap("w-\(i)", namespace: "default").removingServerFields())
        }

        // Dropped after 3 events: the stream ends cleanly, no error.
        server.faults.dropWatches(afterEvents: 3)
        var names: [String] = []
        for try await event in try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: start)) {
            names.append(event.object[path: ["metadata", "name"]]?.stringValue ?? "?")
        }
        XCTAssertEqual(names, ["w-0", "w-1", "w-2"])
        server.faults.dropWatches(afterEvents: nil)

        // A forced 410: the ERROR line with the Expired Status, which the client throws.
        server.faults.expireNextWatches(1)
        do {
            for try await event in try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: start)) {
                XCTFail("no event before the 410, got \(event.type)")
            }
            XCTFail("the forced 410 must end the watch with an error")
        } catch let e as KubeError {
            XCTAssertTrue(e.isGone, "\(e)")
            XCTAssertEqual(e.status?.reason, "Expired")
        }
        XCTAssertEqual(server.faults.expiredWatchCount, 1)

        // A restart breaks an open watch with an error the client reports; the store survives.
        let watch = try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: start))
        let seenSoFar = Mutex(0)
        let reader = Task { () -> (count: Int, error: (any Error)?) in
            var n = 0
            do {
                for try await _ in watch {
                    n += 1
                    seenSoFar.withLock { $0 = n }
                }
                return (n, nil)
            } catch {
                return (n, error)
            }
        }
        try await waitUntil("the backlog arrived") { seenSoFar.withLock { $0 } == 5 }
        let rvBefore = server.currentResourceVersion
        try await server.restart()
        let (seen, error) = await reader.value
        XCTAssertEqual(seen, 5, "nothing arrived after the restart")
        guard case KubeError.transport(let t)? = error as? KubeError else {
            return XCTFail("the broken watch must end with a transport error, got \(String(describing: error))")
        }
        XCTAssertEqual(t.kind, .connectionClosed, "\(t)")
        let list = try await client.list(.configMaps, namespace: "default")
        XCTAssertEqual(list.items.count, 5, "objects survive the restart")
        let created = try await client.create(.configMaps, namespace: "default", object: configMap("after", namespace: "default").removingServerFields())
        XCTAssertGreaterThan(Int64(created[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0, rvBefore)
        try await server.stop()
    }
}
