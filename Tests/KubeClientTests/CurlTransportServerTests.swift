import Foundation
import KubeCore
import KubeTestServer
import Synchronization
import XCTest

@testable import KubeClient

/// The libcurl transport and the API client against KubeTestServer over real HTTPS.
final class CurlTransportServerTests: XCTestCase {
    static let shared = SharedServer()
    /// Offers `http/1.1` only, for what only happens there (one connection per open watch).
    static let http1Only: SharedServer = {
        var options = KubeTestServerOptions()
        options.http2Enabled = false
        return SharedServer(options)
    }()
    override class func tearDown() {
        shared.stopBlocking()
        http1Only.stopBlocking()
    }

    /// A client without the rate limiter (these tests send thousands of requests).
    func client(_ server: KubeTestServer, maxConnections: Int = 8, streamBufferLimit: Int = 1 << 20) throws -> (KubeAPIClient, CurlTransport) {
        let curl = try CurlTransport(configuration: configuration(for: server), maxConnectionsPerHost: maxConnections,
                                     streamBufferLimit: streamBufferLimit)
        return (KubeAPIClient(transport: curl), curl)
    }

    func createNamespace(_ name: String, _ client: KubeAPIClient) async throws {
        _ = try await client.create(.namespaces, namespace: nil, object: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]])
    }

    func testCRUDAndTypedErrors() async throws {
        let server = try await Self.shared.get()
        let (client, curl) = try client(server)
        let raw = try await curl.send(KubeRequest(method: .get, path: "/version"))
        XCTAssertEqual(raw.statusCode, 200)
        XCTAssertEqual(raw.header("content-type"), "application/json", "header values arrive without their CR LF")
        let created = try await client.create(.configMaps, namespace: "default", object: configMap("crud", data: ["a": "1"]))
        XCTAssertEqual(created[path: ["metadata", "name"]], "crud")
        let rv1 = try XCTUnwrap(created[path: ["metadata", "resourceVersion"]]?.stringValue)

        let again = await thrownError { try await client.create(.configMaps, namespace: "default", object: configMap("crud")) } as? KubeError
        XCTAssertEqual(again?.isAlreadyExists, true, "\(String(describing: again))")
        XCTAssertEqual(again?.httpCode, 409)

        var changed = created
        changed["data"] = ["a": "2"]
        let updated = try await client.update(.configMaps, namespace: "default", name: "crud", object: changed)
        XCTAssertEqual(updated[path: ["data", "a"]], "2")
        XCTAssertNotEqual(updated[path: ["metadata", "resourceVersion"]]?.stringValue, rv1)

        // `changed` still carries the first resourceVersion: stale.
        changed["data"] = ["a": "3"]
        let stale = await thrownError { try await client.update(.configMaps, namespace: "default", name: "crud", object: changed) } as? KubeError
        XCTAssertEqual(stale?.isConflict, true, "\(String(describing: stale))")

        let patched = try await client.patch(.configMaps, namespace: "default", name: "crud", type: .merge, body: Data(#"{"data":{"b":"x"}}"#.utf8))
        XCTAssertEqual(patched[path: ["data", "b"]], "x")
        XCTAssertEqual(patched[path: ["data", "a"]], "2")

        let fetched = try await client.get(.configMaps, namespace: "default", name: "crud")
        XCTAssertEqual(fetched[path: ["data", "b"]], "x")

        let deleted = try await client.delete(.configMaps, namespace: "default", name: "crud")
        XCTAssertNil(deleted, "gone at once without finalizers")
        let missing = await thrownError { try await client.get(.configMaps, namespace: "default", name: "crud") } as? KubeError
        XCTAssertEqual(missing?.isNotFound, true, "\(String(describing: missing))")
        XCTAssertEqual(missing?.status?.details?.name, "crud")

        let unknown = await thrownError { try await client.send(KubeRequest(method: .get, path: "/apis/nope.example/v1/things")) } as? KubeError
        XCTAssertEqual(unknown?.isNotFound, true, "\(String(describing: unknown))")
    }

    func testWatchDeliversAThousandEventsInOrder() async throws {
        let server = try await Self.shared.get()
        let (client, _) = try client(server)
        try await createNamespace("watch-order", client)
        let start = try await client.list(.configMaps, namespace: "watch-order", options: ListOptions(limit: 1))
        let rv = try XCTUnwrap(start.metadata.resourceVersion)
        let stream = try await client.watch(.configMaps, namespace: "watch-order", options: ListOptions(resourceVersion: rv))

        let producer = Task {
            for i in 0..<1000 { _ = try await client.create(.configMaps, namespace: "watch-order", object: configMap("cm-\(i)", namespace: "watch-order")) }
        }
        var names: [String] = []
        var versions: [Int] = []
        for try await event in stream {
            XCTAssertEqual(event.type, .added)
            names.append(event.object[path: ["metadata", "name"]]?.stringValue ?? "?")
            versions.append(Int(event.object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? -1)
            if names.count == 1000 { break }
        }
        stream.cancel()
        try await producer.value
        XCTAssertEqual(names, (0..<1000).map { "cm-\($0)" })
        XCTAssertEqual(versions, versions.sorted())
        XCTAssertEqual(Set(versions).count, 1000)
        XCTAssertGreaterThan(versions.first ?? 0, Int(rv) ?? .max)
    }

    func testWatchFromCompactedResourceVersionIsGone() async throws {
        let server = try await Self.shared.get()
        let (client, _) = try client(server)
        try await createNamespace("watch-gone", client)
        let old = try await client.create(.configMaps, namespace: "watch-gone", object: configMap("a", namespace: "watch-gone"))
        let oldRV = try XCTUnwrap(old[path: ["metadata", "resourceVersion"]]?.stringValue)
        _ = try await client.create(.configMaps, namespace: "watch-gone", object: configMap("b", namespace: "watch-gone"))
        server.compactWatchHistory()
        // kube-apiserver answers 200 and then an ERROR event; either way the caller sees isGone.
        let error = await thrownError {
            let stream = try await client.watch(.configMaps, namespace: "watch-gone", options: ListOptions(resourceVersion: oldRV))
            for try await _ in stream {}
        } as? KubeError
        XCTAssertEqual(error?.isGone, true, "\(String(describing: error))")
    }

    func testPaginationOverTwelveHundredObjects() async throws {
        let server = try await Self.shared.get()
        let (client, _) = try client(server)
        try await createNamespace("paging", client)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<12 {
                group.addTask {
                    for i in 0..<100 { _ = try await client.create(.configMaps, namespace: "paging", object: configMap("p-\(batch * 100 + i)", namespace: "paging")) }
                }
            }
            try await group.waitForAll()
        }
        var seen: [String] = []
        var tokens: [String] = []
        var options = ListOptions(limit: 500)
        var pages = 0
        while true {
            let page = try await client.list(.configMaps, namespace: "paging", options: options)
            pages += 1
            seen.append(contentsOf: page.items.compactMap { $0[path: ["metadata", "name"]]?.stringValue })
            guard let token = page.metadata.continue, !token.isEmpty else { break }
            tokens.append(token)
            XCTAssertEqual(page.items.count, 500)
            options.continue = token
        }
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(tokens.count, 2)
        XCTAssertEqual(seen.count, 1200)
        XCTAssertEqual(Set(seen), Set((0..<1200).map { "p-\($0)" }), "every object exactly once")
        let all = try await client.listAll(.configMaps, namespace: "paging", options: ListOptions(limit: 500))
        XCTAssertEqual(all.items.count, 1200)
    }

    func testSlowWatchConsumerDoesNotGrowMemory() async throws {
        let server = try await Self.shared.get()
        let limit = 64 << 10
        let (client, curl) = try client(server, streamBufferLimit: limit)
        try await createNamespace("slow", client)
        let initial = try await client.list(.configMaps, namespace: "slow", options: ListOptions(limit: 1))
        let rv = try XCTUnwrap(initial.metadata.resourceVersion)
        let stream = try await client.watch(.configMaps, namespace: "slow", options: ListOptions(resourceVersion: rv))

        // 16 MB of events (4,000 of ~4 KiB), written in-process (no network) while the consumer
        // is stalled: far more than the stream buffer, the socket buffers and the server's queue of
        // a watcher that is not read (kube-apiserver drops such watchers; the test server buffers
        // up to 10,000 lines).
        let producerClient = KubeAPIClient(transport: server.transport)
        let total = 4_000
        let payload = String(repeating: "x", count: 4000)
        let producer = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for i in stride(from: worker, to: total, by: 4) {
                            _ = try await producerClient.create(.configMaps, namespace: "slow",
                                                                object: configMap("s-\(i)", namespace: "slow", data: ["payload": payload]))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var received = 0
        var lastRV = 0
        var names = Set<String>()
        for try await event in stream {
            received += 1
            let v = Int(event.object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "") ?? -1
            XCTAssertGreaterThan(v, lastRV)
            lastRV = v
            names.insert(event.object[path: ["metadata", "name"]]?.stringValue ?? "")
            if received == 1 {
                // Stalled while everything is produced...
                try await producer.value
                XCTAssertLessThanOrEqual(curl.statistics.streamBufferHighWaterMark, limit)
            } else if received % 500 == 0 {
                // ...then slow: pauses between reads.
                try await Task.sleep(for: .milliseconds(10))
            }
            if received == total { break }
        }
        stream.cancel()
        let stats = curl.statistics
        XCTAssertEqual(received, total)
        XCTAssertEqual(names.count, total)
        XCTAssertLessThanOrEqual(stats.streamBufferHighWaterMark, limit, "the buffer stays under its limit")
        XCTAssertGreaterThan(stats.streamBufferHighWaterMark, limit / 2, "the buffer did fill up")
        XCTAssertGreaterThan(stats.streamPauses, 0, "the transport paused the socket read for the slow consumer")
    }

    func testTwoHundredConcurrentRequestsOverBoundedConnections() async throws {
        let server = try await Self.shared.get()
        let (client, curl) = try client(server, maxConnections: 4)
        let codes = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<200 {
                group.addTask { try await client.get(.namespaces, namespace: nil, name: "default")[path: ["metadata", "name"]]?.stringValue }
            }
            var all: [String?] = []
            for try await c in group { all.append(c) }
            return all
        }
        XCTAssertEqual(codes.count, 200)
        XCTAssertTrue(codes.allSatisfy { $0 == "default" })
        let stats = curl.statistics
        XCTAssertEqual(stats.transfersStarted, 200)
        XCTAssertGreaterThanOrEqual(stats.connectionsOpened, 1)
        XCTAssertLessThanOrEqual(stats.connectionsOpened, 4, "connections are pooled and bounded")
    }

    /// One request after another reuses a reset easy handle, and nothing of the last request (method,
    /// body, headers) stays on it.
    func testSequentialRequestsReuseResetEasyHandles() async throws {
        let server = try await Self.shared.get()
        let (client, curl) = try client(server, maxConnections: 4)
        let before = curl.statistics
        for round in 0..<10 {
            let name = "reuse-\(round)"
            let configMap: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name)], "data": ["round": .string("\(round)")]]
            _ = try await client.create(.configMaps, namespace: "default", object: configMap, options: WriteOptions())
            let read = try await client.get(.configMaps, namespace: "default", name: name)
            XCTAssertEqual(read[path: ["data", "round"]]?.stringValue, "\(round)")
            let patched = try await client.patch(.configMaps, namespace: "default", name: name, type: .merge,
                                                 body: Data(#"{"data":{"patched":"yes"}}"#.utf8), subresource: nil, options: WriteOptions())
            XCTAssertEqual(patched[path: ["data", "patched"]]?.stringValue, "yes")
            _ = try await client.delete(.configMaps, namespace: "default", name: name, options: DeleteOptions())
            do {
                _ = try await client.get(.configMaps, namespace: "default", name: name)
                XCTFail("\(name) is deleted")
            } catch let error as KubeError where error.isNotFound {}
        }
        let after = curl.statistics
        XCTAssertEqual(after.transfersStarted - before.transfersStarted, 50)
        XCTAssertLessThanOrEqual(after.easyHandlesMade - before.easyHandlesMade, 2, "one after another, the handles are reused")
    }

    /// An operator runs a dozen watches (over HTTP/1.1 each holds a connection for its whole life)
    /// and still needs its requests answered: the default pool has no bound to starve them.
    func testManyOpenWatchesDoNotStarveRequestsOverHTTP1() async throws {
        let server = try await Self.http1Only.get()
        let before = server.acceptedConnectionCount
        try await manyOpenWatchesDoNotStarveRequests(server)
        XCTAssertGreaterThanOrEqual(server.acceptedConnectionCount - before, 13, "a connection per watch, and one for the GET")
        XCTAssertEqual(server.http2ConnectionCount, 0)
    }

    /// Over HTTP/2 the watches are streams of one connection, and the GET of one other.
    func testManyOpenWatchesDoNotStarveRequestsOverHTTP2() async throws {
        var options = KubeTestServerOptions()
        options.http2Enabled = true
        let server = try await KubeTestServer.start(options)
        try await manyOpenWatchesDoNotStarveRequests(server)
        XCTAssertEqual(server.acceptedConnectionCount, 2)
        XCTAssertEqual(server.http2ConnectionCount, 2)
        try await server.stop()
    }

    func manyOpenWatchesDoNotStarveRequests(_ server: KubeTestServer) async throws {
        let curl = try CurlTransport(configuration: configuration(for: server))
        let client = KubeAPIClient(transport: curl)
        final class Opened: Sendable { let count = Mutex(0) }
        let opened = Opened()
        var watches: [Task<Void, any Error>] = []
        for _ in 0..<12 {
            watches.append(Task {
                let stream = try await client.watch(.namespaces, namespace: nil, options: ListOptions(resourceVersion: "0"))
                var first = true
                for try await _ in stream where first { first = false; opened.count.withLock { $0 += 1 } }
            })
        }
        let allOpen = await eventually(timeout: 10) { opened.count.withLock { $0 } == 12 }
        XCTAssertTrue(allOpen, "every watch delivered its first event")
        let answered = Opened()
        let request = Task {
            _ = try await client.get(.namespaces, namespace: nil, name: "default")
            answered.count.withLock { $0 = 1 }
        }
        let done = await eventually(timeout: 30) { answered.count.withLock { $0 } == 1 }
        XCTAssertTrue(done, "a GET is answered while 12 watches are open")
        request.cancel()
        for watch in watches { watch.cancel() }
        for watch in watches { _ = await watch.result }
    }

    func testCancellingAWatchTaskEndsItPromptly() async throws {
        let server = try await Self.shared.get()
        let (client, curl) = try client(server)
        let firstEvent = Mutex(false)
        let task = Task {
            let stream = try await client.watch(.namespaces, namespace: nil, options: ListOptions(resourceVersion: "0"))
            for try await _ in stream { firstEvent.withLock { $0 = true } }
        }
        let running = await eventually { firstEvent.withLock { $0 } }
        XCTAssertTrue(running, "the watch is running")
        XCTAssertEqual(curl.statistics.activeTransfers, 1)
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        if case .failure(let e) = result { XCTAssertTrue(e is CancellationError, "\(e)") }
        let removed = await eventually { curl.statistics.activeTransfers == 0 }
        XCTAssertTrue(removed, "the transfer was removed")

        // A request cancelled while in flight ends too.
        let slow = Task { try await client.send(KubeRequest(method: .get, path: "/api/v1/namespaces", query: [.init("watch", "true")])) }
        let inFlight = await eventually { curl.statistics.activeTransfers == 1 }
        XCTAssertTrue(inFlight)
        slow.cancel()
        let r = await slow.result
        guard case .failure(let e) = r else { return XCTFail("expected cancellation") }
        XCTAssertEqual(transportKind(e), .cancelled)
    }

    func testHeldRequestsLeaveAtTheirTurnInTurnOrderAndCanBeCancelledWhileHeld() async throws {
        let server = try await Self.shared.get()
        let (_, curl) = try client(server)
        XCTAssertTrue(curl.holdsRequestsUntilDue)
        func create(_ name: String, notBefore: ContinuousClock.Instant) -> KubeRequest {
            var request = KubeRequest(method: .post, path: "/api/v1/namespaces/default/configmaps",
                                      body: configMap(name).serialized(), contentType: "application/json")
            request.notBefore = notBefore
            return request
        }
        // Handed over latest-turn first: the engine starts them by their turn, not by arrival.
        let now = ContinuousClock.now
        let lateDue = now + .milliseconds(1500), earlyDue = now + .milliseconds(100)
        let late = Task { try await curl.send(create("held-late", notBefore: lateDue)) }
        let lateHeld = await eventually { curl.statistics.heldTransfers == 1 }
        XCTAssertTrue(lateHeld, "the first request waits in the engine")
        let early = try await curl.send(create("held-early", notBefore: earlyDue))
        let earlyAnswered = ContinuousClock.now
        let lateAnswer = try await late.value
        let lateAnswered = ContinuousClock.now
        XCTAssertEqual(early.statusCode, 201)
        XCTAssertEqual(lateAnswer.statusCode, 201)
        XCTAssertGreaterThanOrEqual(earlyAnswered, earlyDue, "never before its turn")
        XCTAssertGreaterThanOrEqual(lateAnswered, lateDue, "never before its turn")
        func version(_ response: KubeResponse) throws -> Int {
            try XCTUnwrap(Int(try XCTUnwrap(JSONValue(parsing: response.body)[path: ["metadata", "resourceVersion"]]?.stringValue)))
        }
        XCTAssertLessThan(try version(early), try version(lateAnswer), "the earlier turn reached the server first")
        XCTAssertEqual(curl.statistics.heldTransfers, 0)

        // Cancelled while held: it never reaches the server.
        let never = Task { try await curl.send(create("held-never", notBefore: ContinuousClock.now + .seconds(60))) }
        let held = await eventually { curl.statistics.heldTransfers == 1 }
        XCTAssertTrue(held)
        never.cancel()
        guard case .failure(let e) = await never.result else { return XCTFail("expected cancellation") }
        XCTAssertEqual(transportKind(e), .cancelled)
        XCTAssertEqual(curl.statistics.heldTransfers, 0)
        let lookup = try await curl.send(KubeRequest(method: .get, path: "/api/v1/namespaces/default/configmaps/held-never"))
        XCTAssertEqual(lookup.statusCode, 404)
    }

    func testDroppingAStreamReleasesItsTransfer() async throws {
        let server = try await Self.shared.get()
        let (client, curl) = try client(server)
        do {
            let stream = try await client.watch(.namespaces, namespace: nil, options: ListOptions(resourceVersion: "0"))
            var it = stream.makeAsyncIterator()
            _ = try await it.next()
        }
        let released = await eventually { curl.statistics.activeTransfers == 0 }
        XCTAssertTrue(released)
    }

    func testAStreamOutlivesTheClientThatOpenedIt() async throws {
        let server = try await Self.shared.get()
        var stream: WatchStream?
        do {
            let (client, _) = try client(server)
            stream = try await client.watch(.namespaces, namespace: nil, options: ListOptions(resourceVersion: "0"))
        }
        // The transport value is gone; the watch keeps its engine running and sees new events.
        _ = try await KubeAPIClient(transport: server.transport).create(
            .namespaces, namespace: nil, object: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "outlive"]])
        var sawIt = false
        for try await event in try XCTUnwrap(stream) where event.object[path: ["metadata", "name"]] == "outlive" {
            sawIt = true
            break
        }
        XCTAssertTrue(sawIt)
        stream?.cancel()
    }
}
