import Foundation
import KubeCore
import KubeTestServer
import XCTest

@testable import KubeClient

/// The libcurl transport over HTTP/2 (ALPN `h2`), as it talks to a real API server: every watch
/// multiplexed on one connection and every request on one other (the transport keeps the two
/// apart: see `CurlEngine`), a stream reset that leaves the connection alone, and GOAWAY, after
/// which the client reconnects and re-watches from its resourceVersion.
final class HTTP2TransportTests: XCTestCase {
    var server: KubeTestServer!

    override func setUp() async throws {
        var options = KubeTestServerOptions()
        options.http2Enabled = true
        server = try await KubeTestServer.start(options)
    }

    override func tearDown() async throws {
        try await server?.stop()
    }

    /// One connection at most for requests and one for watches: over HTTP/1.1 a second concurrent
    /// watch would wait forever, so the first request must already have negotiated HTTP/2 (checked,
    /// to fail instead of hanging).
    func oneConnectionClient() async throws -> KubeAPIClient {
        let client = KubeAPIClient(transport: try CurlTransport(configuration: configuration(for: server), maxConnectionsPerHost: 1))
        _ = try await client.get(.namespaces, namespace: nil, name: "default")
        if server.http2ConnectionCount != 1 { throw HTTP2NotNegotiated() }
        return client
    }

    struct HTTP2NotNegotiated: Error {}

    func currentRV(_ client: KubeAPIClient) async throws -> String {
        let list = try await client.list(.configMaps, namespace: "default", options: ListOptions(limit: 1))
        return try XCTUnwrap(list.metadata.resourceVersion)
    }

    /// The next event's object name, or the error that ended the stream.
    func nextEvent(_ stream: WatchStream) async -> Result<String?, any Error> {
        do {
            for try await event in stream { return .success(event.object[path: ["metadata", "name"]]?.stringValue) }
            return .success(nil)
        } catch {
            return .failure(error)
        }
    }

    func testTwentyWatchesShareOneConnection() async throws {
        let client = try await oneConnectionClient()
        let rv = try await currentRV(client)
        var streams: [WatchStream] = []
        for _ in 0..<20 { streams.append(try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: rv))) }
        _ = try await client.create(.configMaps, namespace: "default", object: configMap("fan-out"))
        for stream in streams {
            guard case .success(let name) = await nextEvent(stream) else { return XCTFail("a watch failed") }
            XCTAssertEqual(name, "fan-out")
            stream.cancel()
        }
        XCTAssertEqual(server.acceptedConnectionCount, 2, "one connection for the twenty watches, one for the requests")
        XCTAssertEqual(server.http2ConnectionCount, 2)
    }

    /// A response's END_STREAM comes on its last frame: libcurl resets a stream whose body is
    /// complete but not yet ended, and a server that counts those resets (swift-nio-http2 closes the
    /// connection after 200 in 30 s) would drop the client every few hundred requests.
    func testHundredsOfRequestsKeepOneConnection() async throws {
        let client = try await oneConnectionClient()
        for i in 0..<300 {
            _ = try await client.create(.configMaps, namespace: "default", object: configMap("many-\(i)"))
            _ = try await client.get(.configMaps, namespace: "default", name: "many-\(i)")
        }
        let empty = try await client.list(.configMaps, namespace: "default", options: ListOptions(labelSelector: "none=here"))
        XCTAssertTrue(empty.items.isEmpty)
        XCTAssertEqual(server.acceptedConnectionCount, 1, "601 requests, one connection")
    }

    func testClientCertificatesAuthenticateEveryStream() async throws {
        // The certificate is on the connection; each HTTP/2 stream is authenticated from it.
        let (cert, key) = try server.issueClientCertificate(user: "cert-user", groups: ["devs"])
        var config = configuration(for: server, authentication: Authentication.none)
        config.tls.clientCertificatePEM = Data(cert.utf8)
        config.tls.clientKeyPEM = Data(key.utf8)
        let client = KubeAPIClient(transport: try CurlTransport(configuration: config, maxConnectionsPerHost: 1))
        for _ in 0..<3 {
            let review = try await client.create(ResourceType(group: "authentication.k8s.io", version: "v1", resource: "selfsubjectreviews", kind: "SelfSubjectReview",
                                                       namespaced: false),
                                                 namespace: nil, object: ["apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"])
            XCTAssertEqual(review[path: ["status", "userInfo", "username"]], "cert-user")
        }
        XCTAssertEqual(server.http2ConnectionCount, 1)
    }

    func testAStalledWatchDoesNotHoldUpTheOtherStreams() async throws {
        // HTTP/2 flow control is per stream: while one watch is not read (its window full, the
        // transport's read paused), requests on the same connection go on.
        let limit = 64 << 10
        let curl = try CurlTransport(configuration: configuration(for: server), maxConnectionsPerHost: 1, streamBufferLimit: limit)
        let client = KubeAPIClient(transport: curl)
        _ = try await client.get(.namespaces, namespace: nil, name: "default")
        guard server.http2ConnectionCount == 1 else { throw HTTP2NotNegotiated() }
        let rv = try await currentRV(client)
        let stream = try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: rv))

        let producer = KubeAPIClient(transport: server.transport)
        let total = 1_000
        let payload = String(repeating: "x", count: 4000)
        for i in 0..<total {
            _ = try await producer.create(.configMaps, namespace: "default", object: configMap("slow-\(i)", data: ["payload": payload]))
        }
        // 4 MB are waiting for the stalled watch; other streams still answer.
        let started = Date()
        for _ in 0..<20 { _ = try await client.get(.namespaces, namespace: nil, name: "default") }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertLessThanOrEqual(curl.statistics.streamBufferHighWaterMark, limit)

        var received = 0
        for try await event in stream {
            XCTAssertEqual(event.object[path: ["metadata", "name"]]?.stringValue, "slow-\(received)")
            received += 1
            if received == total { break }
        }
        stream.cancel()
        XCTAssertEqual(received, total)
        XCTAssertGreaterThan(curl.statistics.streamPauses, 0, "the transport paused the stalled stream")
        XCTAssertEqual(server.acceptedConnectionCount, 2, "one for the watch, one for the requests")
    }

    func testHTTP1ClientsStillGetHTTP1() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("h2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ca = dir.appendingPathComponent("ca.pem")
        try Data(server.caCertificatePEM.utf8).write(to: ca)
        for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["-sS", flag, "--cacert", ca.path, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                           "-H", "Authorization: Bearer \(server.adminToken)", "\(server.url)/api/v1/namespaces/default"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(text, "\(version) 200", "curl \(flag)")
        }
    }

    func testAStreamResetMidWatchLeavesTheConnectionOpen() async throws {
        let client = try await oneConnectionClient()
        let rv = try await currentRV(client)
        var streams: [WatchStream] = []
        for _ in 0..<5 { streams.append(try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: rv))) }
        _ = try await client.create(.configMaps, namespace: "default", object: configMap("before-reset"))
        for stream in streams {
            guard case .success("before-reset") = await nextEvent(stream) else { return XCTFail("no event before the reset") }
        }
        server.resetWatchStreams()
        for stream in streams {
            guard case .failure(let error) = await nextEvent(stream) else { return XCTFail("a reset watch ended without an error") }
            XCTAssertNotNil(transportKind(error), "\(error)")
        }
        // Re-watching and other requests go over the same connection.
        let now = try await currentRV(client)
        let resumed = try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: now))
        _ = try await client.create(.configMaps, namespace: "default", object: configMap("after-reset"))
        guard case .success("after-reset") = await nextEvent(resumed) else { return XCTFail("no event after re-watching") }
        resumed.cancel()
        XCTAssertEqual(server.acceptedConnectionCount, 2, "a stream reset must not cost the watches' connection")
    }

    func testGoAwayClientReconnectsAndRewatchesFromItsResourceVersion() async throws {
        let client = try await oneConnectionClient()
        let rv = try await currentRV(client)
        let watch = try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: rv))
        let first = try await client.create(.configMaps, namespace: "default", object: configMap("first"))
        guard case .success("first") = await nextEvent(watch) else { return XCTFail("no first event") }
        let seen = try XCTUnwrap(first[path: ["metadata", "resourceVersion"]]?.stringValue)

        await server.goAwayHTTP2Connections()
        // The watch ends (GOAWAY, then the connection closes); what happens meanwhile is not lost.
        if case .success(let name?) = await nextEvent(watch) { XCTFail("event \(name) after GOAWAY") }
        _ = try await KubeAPIClient(transport: server.transport).create(.configMaps, namespace: "default", object: configMap("while-away"))

        let again = try await client.watch(.configMaps, namespace: "default", options: ListOptions(resourceVersion: seen))
        guard case .success("while-away") = await nextEvent(again) else { return XCTFail("the re-watch from \(seen) missed an event") }
        again.cancel()
        // Before: one for the requests, one for the watch; after: a new one for the re-watch.
        XCTAssertEqual(server.acceptedConnectionCount, 3, "the client opens a new connection after GOAWAY")
        XCTAssertEqual(server.http2ConnectionCount, 3)
    }
}
