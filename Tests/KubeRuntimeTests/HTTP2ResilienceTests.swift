import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// The runtime over the libcurl client on HTTP/2, as it runs against kube-apiserver: every
/// informer's list and watch multiplexed on one connection, watches that survive a reset stream and
/// a GOAWAY by re-watching from their resourceVersion (nothing lost, nothing twice), and a slow
/// consumer whose stalled stream leaves the connection's other streams moving.
final class HTTP2ResilienceTests: XCTestCase {
    /// A server with its defaults (HTTP/2 offered). The clients below are the operator's, with its
    /// defaults (no bound on connections), so only multiplexing keeps them on one connection.
    func http2Server() async throws -> KubeTestServer {
        let server = try await KubeTestServer.start()
        // In-memory set-up writes open no connection; everything counted below is the client's.
        XCTAssertEqual(server.acceptedConnectionCount, 0)
        return server
    }

    func labelled(_ name: String, _ labels: [String: String], data: [String: String] = [:]) -> JSONValue {
        configMap(name, namespace: "default", labels: labels, data: data).removingServerFields()
    }

    func testInformersStartedTogetherShareOneConnection() async throws {
        let server = try await http2Server()
        let client = try makeOperatorClient(server)
        let admin = KubeAPIClient(transport: server.transport)
        let groups = (0..<10).map { "g\($0)" }
        let informers = groups.map { group in
            Informer(client: client, resource: .configMaps,
                     options: InformerOptions(namespace: "default", labelSelector: "group=\(group)", watcher: fastWatcher))
        }
        // All lists go out at once, before any connection exists: the client must wait for the
        // first connection's ALPN answer and multiplex instead of opening one per request.
        let tasks = informers.map { informer in Task { await informer.run() } }
        defer { tasks.forEach { $0.cancel() } }
        for informer in informers {
            let synced = await informer.waitForSync()
            XCTAssertTrue(synced)
        }
        for group in groups { _ = try await admin.create(.configMaps, namespace: "default", object: labelled("cm-\(group)", ["group": group])) }
        try await waitUntil("every informer saw its object") { informers.allSatisfy { $0.store.count == 1 } }
        for (group, informer) in zip(groups, informers) {
            XCTAssertNotNil(informer.store.get(namespace: "default", name: "cm-\(group)"))
        }
        XCTAssertEqual(server.requestCount(verb: "watch", resource: "configmaps"), groups.count)
        XCTAssertEqual(server.acceptedConnectionCount, 2, "ten lists on one connection, ten watches on one other")
        XCTAssertEqual(server.http2ConnectionCount, 2)
        tasks.forEach { $0.cancel() }
        try await server.stop()
        for task in tasks { await task.value }
    }

    func testWatchesResumeThroughStreamResetsAndGoAwayWithoutLossOrRepeats() async throws {
        let server = try await http2Server()
        let client = try makeOperatorClient(server)
        let admin = KubeAPIClient(transport: server.transport)
        let operations = Operations()
        let watcher = Watcher(client: client, resource: .configMaps, namespace: "default", labelSelector: "stream=h2",
                              configuration: fastWatcher)
        let run = Task { await watcher.run { op in operations.list.withLock { $0.append(op) } } }
        defer { run.cancel() }
        try await waitUntil("the first list") { watcher.hasSynced }

        func upserted() -> [JSONValue] {
            operations.list.withLock { ops in ops.compactMap { if case .upsert(let o) = $0 { return o } else { return nil } } }
        }
        let batch = 60
        var created = 0
        // Each disruption hits an open, healthy watch (the batch before it was delivered); the next
        // batch is written while the watcher reconnects, so only a resumed watch can deliver it.
        let disruptions: [(String, @Sendable () async -> Void)] = [
            ("stream reset", { server.resetWatchStreams() }),
            ("GOAWAY", { await server.goAwayHTTP2Connections() }),
            ("stream reset", { server.resetWatchStreams() }),
            ("GOAWAY", { await server.goAwayHTTP2Connections() }),
            ("none", {}),
        ]
        for (what, disrupt) in disruptions {
            for _ in 0..<batch {
                _ = try await admin.create(.configMaps, namespace: "default", object: labelled("e-\(created)", ["stream": "h2"]))
                created += 1
            }
            let expected = created
            try await waitUntil("\(expected) events before the \(what)", timeout: 30) { upserted().count >= expected }
            await disrupt()
        }

        let names = upserted().compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        XCTAssertEqual(names, (0..<created).map { "e-\($0)" }, "every object once, in order")
        let versions = upserted().compactMap { $0[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap { Int64($0) } }
        XCTAssertEqual(versions, versions.sorted())
        XCTAssertEqual(Set(versions).count, created, "no event delivered twice")
        XCTAssertEqual(watcher.listCount, 1, "every reconnect resumed the watch from its resourceVersion instead of listing again")
        XCTAssertGreaterThanOrEqual(server.requestCount(verb: "watch", resource: "configmaps"), 5, "the first watch and one after each disruption")
        // The list had a connection, the watch another; a reset stream costs no connection, and
        // each GOAWAY one more (the re-watch's: no request follows to reopen the other).
        XCTAssertEqual(server.acceptedConnectionCount, 4)
        XCTAssertEqual(server.http2ConnectionCount, 4)
        run.cancel()
        try await server.stop()
        await run.value
    }

    func testASlowConsumerDoesNotStallTheConnectionsOtherWatches() async throws {
        let server = try await http2Server()
        // A small stream buffer, so the stalled watch pauses its read (and with it the stream's
        // HTTP/2 window) long before its backlog is written.
        let curl = try CurlTransport(configuration: ClientConfiguration(
            server: server.url, tls: TLSConfiguration(certificateAuthorityPEM: Data(server.caCertificatePEM.utf8)),
            authentication: .bearerToken(server.adminToken), namespace: "default", qps: 0, userAgent: operatorUserAgent),
                                     streamBufferLimit: 64 << 10)
        let client = KubeAPIClient(transport: curl)
        let admin = KubeAPIClient(transport: server.transport)
        let gate = Gate()
        let slowSeen = Mutex<[String]>([])
        let slow = Informer(client: client, resource: .configMaps,
                            options: InformerOptions(namespace: "default", labelSelector: "speed=slow", watcher: fastWatcher))
        slow.addHandler { change in
            await gate.wait()
            if case .added(let o) = change, let name = o[path: ["metadata", "name"]]?.stringValue { slowSeen.withLock { $0.append(name) } }
        }
        let fast = Informer(client: client, resource: .configMaps,
                            options: InformerOptions(namespace: "default", labelSelector: "speed=fast", watcher: fastWatcher))
        let tasks = [Task { await slow.run() }, Task { await fast.run() }]
        defer { tasks.forEach { $0.cancel() } }
        for informer in [slow, fast] {
            let synced = await informer.waitForSync()
            XCTAssertTrue(synced)
        }

        // 4 MB for the slow consumer, which is stuck in its first handler call.
        let total = 1_000
        let payload = String(repeating: "x", count: 4000)
        for i in 0..<total {
            _ = try await admin.create(.configMaps, namespace: "default", object: labelled("slow-\(i)", ["speed": "slow"], data: ["p": payload]))
        }
        try await waitUntil("the stalled stream paused its read", timeout: 30) { curl.statistics.streamPauses > 0 }
        // The other watch on the same connection still delivers, one event after another.
        for i in 0..<50 {
            _ = try await admin.create(.configMaps, namespace: "default", object: labelled("fast-\(i)", ["speed": "fast"]))
            try await waitUntil("fast-\(i) arrived while the slow watch is stalled") { fast.store.get(namespace: "default", name: "fast-\(i)") != nil }
        }
        XCTAssertTrue(slowSeen.withLock { $0.isEmpty }, "the slow consumer is still stuck")
        XCTAssertLessThanOrEqual(curl.statistics.streamBufferHighWaterMark, curl.streamBufferLimit,
                                 "the stalled stream's buffer stayed bounded")

        gate.open()
        try await waitUntil("the slow consumer caught up", timeout: 60) { slowSeen.withLock { $0.count } >= total }
        XCTAssertEqual(slowSeen.withLock { $0 }, (0..<total).map { "slow-\($0)" }, "every event once, in order")
        XCTAssertEqual(slow.store.count, total)
        XCTAssertEqual(slow.listCount, 1, "the stalled watch was never given up for a re-list")
        XCTAssertEqual(server.acceptedConnectionCount, 2, "both watches on one connection, every list on one other")
        tasks.forEach { $0.cancel() }
        try await server.stop()
        for task in tasks { await task.value }
    }
}

/// What a watcher handed its sink, in order.
final class Operations: Sendable {
    let list = Mutex<[CacheOperation]>([])
}

/// Holds callers until opened (then lets everyone through).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        waiters.forEach { $0.resume() }
    }
}
