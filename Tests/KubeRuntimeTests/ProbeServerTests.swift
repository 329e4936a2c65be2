import Foundation
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import KubeRuntime

/// A raw loopback HTTP client: sends exactly the bytes given (so tests can send garbage or stall),
/// then reads the answer until the server closes (it always sends `Connection: close`).
final class RawHTTPConnection {
    let fd: Int32

    init(port: UInt16) throws {
        #if os(Linux)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    func write(_ text: String) { write(Array(text.utf8)) }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            #if os(Linux)
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #else
            let n = bytes[offset...].withUnsafeBytes { Darwin.send(fd, $0.baseAddress, $0.count, 0) }
            #endif
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads until the server closes or `timeout` passes; returns the status code (nil when none
    /// arrived), the head and the body.
    func readResponse(timeout: Double = 10) -> (status: Int?, head: String, body: String, closed: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        var closed = false
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { closed = true; break }
            data.append(contentsOf: chunk[0..<n])
        }
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        let statusLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
        let fields = statusLine.split(separator: " ")
        let status = fields.count >= 2 ? Int(fields[1]) : nil
        return (status, head, body, closed)
    }

    static func get(_ port: UInt16, _ path: String, method: String = "GET") throws -> (status: Int?, head: String, body: String) {
        let connection = try RawHTTPConnection(port: port)
        connection.write("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n")
        let r = connection.readResponse()
        return (r.status, r.head, r.body)
    }
}

final class ProbeServerTests: XCTestCase {
    func testBindAddressForms() throws {
        XCTAssertEqual(try BindAddress.parse(":8080"), BindAddress(host: .any, port: 8080))
        XCTAssertEqual(try BindAddress.parse("127.0.0.1:8081"), BindAddress(host: .ipv4("127.0.0.1"), port: 8081))
        XCTAssertEqual(try BindAddress.parse("[::1]:8080"), BindAddress(host: .ipv6("::1"), port: 8080))
        XCTAssertEqual(try BindAddress.parse(":0"), BindAddress(host: .any, port: 0))
        XCTAssertNil(try BindAddress.parse("0"), "0 disables the server")
        XCTAssertEqual(try BindAddress.parse("[::1]:8080")?.description, "[::1]:8080")

        for bad in ["8080", "localhost:8080", "::1:8080", ":http", ":70000", "[::1:80", "1.2.3:80", "", ":", "[nope]:80", ":-1"] {
            XCTAssertThrowsError(try BindAddress.parse(bad), "\"\(bad)\" must be refused") { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains("\"\(bad)\""), "the error names the value: \(text)")
                guard case ProbeServerError.invalidBindAddress(let value, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(value, bad)
            }
        }
    }

    func testRoutesHealthReadinessAndMethods() async throws {
        let checks = HealthChecks()
        let synced = Mutex(false)
        checks.addReadinessCheck("informers") { synced.withLock { $0 } }
        checks.addReadinessCheck("always") { true }
        let server = ProbeServer(address: .loopbackEphemeral, checks: checks)
        try server.start()
        let port = server.port
        XCTAssertGreaterThan(port, 0, "port 0 got a real port")

        let notReady = try RawHTTPConnection.get(port, "/readyz")
        XCTAssertEqual(notReady.status, 500)
        XCTAssertTrue(notReady.body.contains("[-]informers failed"), notReady.body)
        XCTAssertTrue(notReady.body.contains("[+]always ok"), notReady.body)
        XCTAssertTrue(notReady.body.contains("readyz check failed"), notReady.body)
        synced.withLock { $0 = true }
        let ready = try RawHTTPConnection.get(port, "/readyz")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.body, "ok")
        // kube-apiserver's `?verbose`: every check listed even when all pass.
        let verbose = try RawHTTPConnection.get(port, "/readyz?verbose")
        XCTAssertEqual(verbose.status, 200)
        XCTAssertEqual(verbose.body, "[+]informers ok\n[+]always ok\nreadyz check passed\n")
        let verboseHealth = try RawHTTPConnection.get(port, "/healthz?verbose=1")
        XCTAssertEqual(verboseHealth.body, "[+]ping ok\nhealthz check passed\n")

        let health = try RawHTTPConnection.get(port, "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.body, "ok")
        XCTAssertTrue(health.head.contains("Connection: close"))
        XCTAssertEqual(try RawHTTPConnection.get(port, "/nope").status, 404)
        XCTAssertEqual(try RawHTTPConnection.get(port, "/metrics").status, 404, "no metrics on this server")
        let post = try RawHTTPConnection.get(port, "/healthz", method: "POST")
        XCTAssertEqual(post.status, 405)
        XCTAssertTrue(post.head.contains("Allow: GET, HEAD"), post.head)
        let head = try RawHTTPConnection.get(port, "/healthz", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, "", "HEAD has no body")

        // Failing liveness check.
        checks.addLivenessCheck("deadlock") { false }
        let sick = try RawHTTPConnection.get(port, "/healthz")
        XCTAssertEqual(sick.status, 500)
        XCTAssertTrue(sick.body.contains("[+]ping ok") && sick.body.contains("[-]deadlock failed"), sick.body)
        await server.stop()
    }

    func testBadAndSlowClientsDoNotWedgeTheServer() async throws {
        let server = ProbeServer(address: .loopbackEphemeral, metricsText: { "m 1\n" }, checks: HealthChecks(),
                                 configuration: .init(requestTimeout: 1.5, maxRequestHeadBytes: 1024, maxConnections: 8))
        try server.start()
        let port = server.port

        // Slowloris: a request line, then nothing more.
        let slow = try RawHTTPConnection(port: port)
        slow.write("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        // Garbage.
        let garbage = try RawHTTPConnection(port: port)
        garbage.write([0x00, 0xFF, 0x13, 0x37] + Array("not http at all\r\n\r\n".utf8))
        // Oversize head.
        let huge = try RawHTTPConnection(port: port)
        huge.write("GET /healthz HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 4000) + "\r\n\r\n")

        // A good client is served at once, while the slow one still holds its connection.
        let started = Date()
        let ok = try RawHTTPConnection.get(port, "/healthz")
        XCTAssertEqual(ok.status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, "served before the slow client's deadline")
        let metrics = try RawHTTPConnection.get(port, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(metrics.body, "m 1\n")
        XCTAssertTrue(metrics.head.contains("Content-Type: text/plain; version=0.0.4"), metrics.head)

        XCTAssertEqual(garbage.readResponse().status, 400)
        let tooLarge = huge.readResponse()
        XCTAssertEqual(tooLarge.status, 431)
        // The slow client is cut off at its deadline.
        let slowAnswer = slow.readResponse(timeout: 10)
        XCTAssertEqual(slowAnswer.status, 408)
        XCTAssertTrue(slowAnswer.closed)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1.0)

        // Bad request lines.
        for line in ["GET\r\n\r\n", "GET /healthz\r\n\r\n", "GET healthz HTTP/1.1\r\n\r\n", "get /healthz HTTP/1.1\r\n\r\n"] {
            let c = try RawHTTPConnection(port: port)
            c.write(line)
            XCTAssertEqual(c.readResponse().status, 400, line)
        }

        // A client that connects and closes without a word does no harm either.
        for _ in 0..<5 { _ = try RawHTTPConnection(port: port) }
        XCTAssertEqual(try RawHTTPConnection.get(port, "/healthz").status, 200)

        // Stop returns with a connection still open and refuses new ones.
        let idle = try RawHTTPConnection(port: port)
        let stopping = Date()
        await server.stop()
        XCTAssertLessThan(Date().timeIntervalSince(stopping), 1.4, "stop ends open connections instead of waiting for their deadline")
        XCTAssertTrue(idle.readResponse(timeout: 2).closed)
        XCTAssertThrowsError(try RawHTTPConnection(port: port))
        await server.stop()  // idempotent
    }

    func testConnectionsOverTheLimitGet503() async throws {
        let server = ProbeServer(address: .loopbackEphemeral, checks: HealthChecks(),
                                 configuration: .init(requestTimeout: 3, maxRequestHeadBytes: 1024, maxConnections: 2))
        try server.start()
        let holders = try (0..<2).map { _ in try RawHTTPConnection(port: server.port) }
        holders[0].write("GET /healthz HTTP/1.1\r\n")
        holders[1].write("GET /healthz HTTP/1.1\r\n")
        // The two holders are admitted before the next connection is accepted (one accept thread, in order).
        try waitUntilSync("the third connection is refused") {
            let r = try RawHTTPConnection.get(server.port, "/healthz")
            return r.status == 503
        }
        for h in holders { h.write("\r\n") }
        XCTAssertEqual(holders[0].readResponse().status, 200)
        XCTAssertEqual(holders[1].readResponse().status, 200)
        try waitUntilSync("served again once the holders finished") { try RawHTTPConnection.get(server.port, "/healthz").status == 200 }
        await server.stop()
    }

    func testBindFailureNamesTheAddress() async throws {
        let first = ProbeServer(address: .loopbackEphemeral, checks: HealthChecks())
        try first.start()
        let taken = BindAddress(host: .ipv4("127.0.0.1"), port: first.port)
        let second = ProbeServer(address: taken, checks: HealthChecks())
        XCTAssertThrowsError(try second.start()) { error in
            XCTAssertTrue(String(describing: error).contains("127.0.0.1:\(first.port)"), "\(error)")
            XCTAssertTrue(String(describing: error).contains("bind"), "\(error)")
        }
        XCTAssertThrowsError(try first.start(), "a second start is refused")
        await first.stop()
    }

    func testReadyzFollowsInformerSync() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let informer = Informer(client: client, resource: .configMaps, options: InformerOptions(namespace: "default", watcher: fastWatcher))
        let checks = HealthChecks()
        checks.addInformersSyncedCheck([informer])
        let probes = ProbeServer(address: .loopbackEphemeral, checks: checks)
        try probes.start()
        let port = probes.port

        let before = try RawHTTPConnection.get(port, "/readyz")
        XCTAssertEqual(before.status, 500, "not ready before the informer synced")
        XCTAssertTrue(before.body.contains("[-]informer-configmaps failed: reason withheld"), before.body)
        XCTAssertEqual(try RawHTTPConnection.get(port, "/healthz").status, 200, "alive all along")

        let running = Task { await informer.run() }
        try await waitUntil("the informer synced") { informer.hasSynced }
        let after = try RawHTTPConnection.get(port, "/readyz")
        XCTAssertEqual(after.status, 200)
        XCTAssertEqual(after.body, "ok")

        running.cancel()
        await running.value
        await probes.stop()
        try await server.stop()
    }
}

/// Polls a synchronous condition with a deadline (for tests that drive blocking sockets).
func waitUntilSync(_ what: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line,
                   _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    XCTFail("timed out after \(timeout) s waiting until \(what)", file: file, line: line)
    throw CancellationError()
}
