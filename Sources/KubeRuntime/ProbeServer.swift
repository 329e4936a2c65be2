import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server for the manager's probe and metrics ports (`--metrics-bind-address`,
/// `--health-probe-bind-address`): `GET /metrics` (Prometheus text), `GET /healthz`, `GET /readyz`.
///
/// Dependency-free on purpose (POSIX sockets, one accept thread, each connection handled on a
/// Dispatch worker), so the shipped operator stays lean. One request per connection
/// (`Connection: close`). Slow or bad clients cannot hold others up: each connection has a
/// deadline for its whole request, the request head is bounded, and the number of open
/// connections is capped (beyond it new ones get 503 at once).
public final class ProbeServer: Sendable {
    public struct Configuration: Sendable {
        /// Time a client has to send its whole request head, in seconds.
        public var requestTimeout: Double
        /// Largest request head (request line + headers) accepted, in bytes.
        public var maxRequestHeadBytes: Int
        /// Connections handled at once.
        public var maxConnections: Int

        public init(requestTimeout: Double = 5, maxRequestHeadBytes: Int = 8192, maxConnections: Int = 32) {
            self.requestTimeout = requestTimeout
            self.maxRequestHeadBytes = maxRequestHeadBytes
            self.maxConnections = maxConnections
        }
    }

    /// The Prometheus text exposition format's content type.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    public let address: BindAddress
    public let configuration: Configuration
    private let metrics: (@Sendable () -> String)?
    private let checks: HealthChecks?

    private struct State {
        var listener: Int32 = -1
        var port: UInt16 = 0
        var started = false
        var stopping = false
        var connections: Set<Int32> = []
    }
    private let state = Mutex(State())
    /// The accept loop and every connection handler: `stop` resumes once it is empty.
    private let running = DispatchGroup()

    /// Serves `/metrics` from `metricsText` (the exposition text) and `/healthz` `/readyz` from `checks`; a nil one answers 404.
    public init(address: BindAddress, metricsText: (@Sendable () -> String)? = nil, checks: HealthChecks? = nil,
                configuration: Configuration = Configuration()) {
        self.address = address
        self.metrics = metricsText
        self.checks = checks
        self.configuration = configuration
    }

    /// Serves `RuntimeMetrics.exposition()` on `/metrics`.
    public convenience init(address: BindAddress, metrics: RuntimeMetrics?, checks: HealthChecks? = nil,
                            configuration: Configuration = Configuration()) {
        let render: (@Sendable () -> String)? = metrics.map { m in { @Sendable in m.exposition() } }
        self.init(address: address, metricsText: render, checks: checks, configuration: configuration)
    }

    /// The port bound (the system's choice when the address asked for port 0); 0 before `start`.
    public var port: UInt16 { state.withLock { $0.port } }

    /// Binds, listens and starts serving. Throws `ProbeServerError` naming the address and the failed call.
    public func start() throws {
        guard state.withLock({ s in
            if s.started { return false }
            s.started = true
            return true
        }) else { throw ProbeServerError.alreadyStarted }
        let fd = try Self.listen(on: address)
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let code = errno
            close(fd)
            throw ProbeServerError.socket(call: "getsockname", address: address.description, errno: code)
        }
        let family = Int32(bound.ss_family)
        let port: UInt16 = withUnsafePointer(to: &bound) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        state.withLock {
            $0.listener = fd
            $0.port = port
        }
        running.enter()
        startOSThread(name: "probe-accept") { [self] in
            acceptLoop(fd)
            close(fd)
            running.leave()
        }
    }

    /// Stops accepting, ends open connections, and returns once every handler has finished. The
    /// wait suspends the caller instead of blocking a thread: shutdown runs on Swift's cooperative
    /// pool, whose few threads the draining reconciles need.
    public func stop() async {
        let (fd, open, wasRunning) = state.withLock { s -> (Int32, Set<Int32>, Bool) in
            let running = s.started && !s.stopping && s.listener >= 0
            s.stopping = true
            return (s.listener, s.connections, running)
        }
        guard wasRunning else { return }
        // Wakes the accept loop (it also polls the flag) and the connections' reads; the accept
        // thread closes the listener when its loop ends.
        shutdown(fd, Int32(SHUT_RDWR))
        for connection in open { shutdown(connection, Int32(SHUT_RDWR)) }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            running.notify(queue: .global()) { continuation.resume() }
        }
    }

    // MARK: Accepting

    private func acceptLoop(_ listener: Int32) {
        while !state.withLock({ $0.stopping }) {
            // Poll with a timeout so a stop is noticed even where shutdown() does not wake accept().
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 200)
            if ready <= 0 { continue }
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                // Out of descriptors or memory: back off briefly instead of spinning on poll.
                if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED { usleep(50_000) }
                continue
            }
            Self.configure(connection)
            let admitted = state.withLock { s -> Bool in
                guard !s.stopping, s.connections.count < configuration.maxConnections else { return false }
                s.connections.insert(connection)
                return true
            }
            guard admitted else {
                Self.send(connection, Self.response(status: 503, body: "too many connections\n", head: false))
                close(connection)
                continue
            }
            running.enter()
            DispatchQueue.global().async { [self] in
                serve(connection)
                // Removed under the lock before closing, so `stop` never shuts down a reused descriptor.
                state.withLock { _ = $0.connections.remove(connection) }
                close(connection)
                running.leave()
            }
        }
    }

    // MARK: One connection

    private func serve(_ fd: Int32) {
        let reply: [UInt8]
        switch readHead(fd) {
        case .head(let head):
            reply = respond(to: head)
        case .tooLarge:
            reply = Self.response(status: 431, body: "request header fields too large\n", head: false)
        case .timedOut:
            reply = Self.response(status: 408, body: "request timeout\n", head: false)
        case .closed:
            return
        }
        Self.send(fd, reply)
        Self.drainBeforeClose(fd)
    }

    /// Half-closes and discards what the client still sends (briefly), so closing with unread
    /// bytes does not reset the connection before the client has read our answer.
    private static func drainBeforeClose(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_WR))
        let deadline = DispatchTime.now().uptimeNanoseconds + 200_000_000
        var scratch = [UInt8](repeating: 0, count: 4096)
        var discarded = 0
        while discarded < 1 << 16 {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(max(1, (deadline - now) / 1_000_000))) > 0 else { return }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            discarded += n
        }
    }

    private enum ReadResult {
        case head([UInt8])
        case tooLarge
        case timedOut
        case closed
    }

    /// Reads up to the blank line ending the request head, within the deadline and size limit.
    private func readHead(_ fd: Int32) -> ReadResult {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, configuration.requestTimeout) * 1e9)
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while true {
            if let end = Self.headEnd(buffer) { return .head(Array(buffer[..<end])) }
            if buffer.count > configuration.maxRequestHeadBytes { return .tooLarge }
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return .timedOut }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let waitMs = Int32(min(1000, max(1, (deadline - now) / 1_000_000)))
            let ready = poll(&pfd, 1, waitMs)
            if ready < 0 && errno != EINTR { return .closed }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return .closed }
            buffer.append(contentsOf: chunk[0..<n])
            if state.withLock({ $0.stopping }) { return .closed }
        }
    }

    /// The index just past the head's end (`\r\n\r\n`, or a bare `\n\n` from lax clients).
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for i in 1..<bytes.count where bytes[i] == 0x0A {
            if bytes[i - 1] == 0x0A { return i + 1 }
            if i >= 3, bytes[i - 1] == 0x0D, bytes[i - 2] == 0x0A, bytes[i - 3] == 0x0D { return i + 1 }
        }
        return nil
    }

    /// Routes a request head to its answer.
    func respond(to head: [UInt8]) -> [UInt8] {
        // Split on bytes: as Characters, "\r\n" is one grapheme and never equals "\n".
        let lineEnd = head.firstIndex(of: 0x0A) ?? head.endIndex
        guard let requestLine = String(validating: head[..<lineEnd], as: UTF8.self) else {
            return Self.response(status: 400, body: "bad request\n", head: false)
        }
        let parts = requestLine.trimmingWhitespace().split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/"), !parts[0].isEmpty,
              parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            return Self.response(status: 400, body: "bad request\n", head: false)
        }
        let method = String(parts[0])
        let target = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(target[0])
        // `?verbose` (any value, as kube-apiserver) lists every check even when all pass.
        let verbose = target.count > 1 && target[1].split(separator: "&").contains { $0 == "verbose" || $0.hasPrefix("verbose=") }
        let isHead = method == "HEAD"
        let route: (() -> (status: Int, body: String, contentType: String))?
        switch path {
        case "/metrics":
            route = metrics.map { m in { (200, m(), Self.metricsContentType) } }
        case "/healthz", "/livez":
            route = checks.map { c in { let r = c.healthz(verbose: verbose); return (r.status, r.body, "text/plain; charset=utf-8") } }
        case "/readyz":
            route = checks.map { c in { let r = c.readyz(verbose: verbose); return (r.status, r.body, "text/plain; charset=utf-8") } }
        default:
            route = nil
        }
        guard let route else { return Self.response(status: 404, body: "404 page not found\n", head: isHead) }
        guard method == "GET" || isHead else {
            return Self.response(status: 405, body: "method not allowed\n", head: false, extra: [("Allow", "GET, HEAD")])
        }
        let answer = route()
        return Self.response(status: answer.status, body: answer.body, contentType: answer.contentType, head: isHead)
    }

    // MARK: Bytes on the wire

    static func response(status: Int, body: String, contentType: String = "text/plain; charset=utf-8", head: Bool,
                         extra: [(String, String)] = []) -> [UInt8] {
        let reasons = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
                       431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"]
        let bodyBytes = Array(body.utf8)
        var text = "HTTP/1.1 \(status) \(reasons[status] ?? "Status")\r\n"
        text += "Content-Type: \(contentType)\r\nContent-Length: \(bodyBytes.count)\r\n"
        text += "X-Content-Type-Options: nosniff\r\nConnection: close\r\n"
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + (head ? [] : bodyBytes)
    }

    /// Writes all of `bytes` (within the socket's send timeout); a failure just ends the connection.
    private static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { sendNoSignal(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    // MARK: Sockets

    private static func sendNoSignal(_ fd: Int32, _ pointer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if os(Linux)
        return Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
        #else
        return Darwin.send(fd, pointer, count, 0)
        #endif
    }

    /// Send timeout, so a client that never reads cannot hold a handler; no SIGPIPE on Darwin.
    private static func configure(_ fd: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    private static var streamType: Int32 {
        #if os(Linux)
        return Int32(SOCK_STREAM.rawValue)
        #else
        return SOCK_STREAM
        #endif
    }

    /// A listening socket for `address` (for `.any`: IPv6 dual-stack, or IPv4 where IPv6 is unavailable).
    private static func listen(on address: BindAddress) throws -> Int32 {
        switch address.host {
        case .ipv4(let host):
            return try listenIPv4(host, address)
        case .ipv6(let host):
            return try listenIPv6(host, address)
        case .any:
            if let fd = try? listenIPv6("::", address) { return fd }
            return try listenIPv4("0.0.0.0", address)
        }
    }

    private static func listenIPv4(_ host: String, _ address: BindAddress) throws -> Int32 {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = address.port.bigEndian
        guard inet_pton(AF_INET, host, &sa.sin_addr) == 1 else {
            throw ProbeServerError.invalidBindAddress(value: address.description, reason: "\"\(host)\" is not an IPv4 address")
        }
        return try bindAndListen(family: AF_INET, address) { fd in
            withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
    }

    private static func listenIPv6(_ host: String, _ address: BindAddress) throws -> Int32 {
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_port = address.port.bigEndian
        guard inet_pton(AF_INET6, host, &sa.sin6_addr) == 1 else {
            throw ProbeServerError.invalidBindAddress(value: address.description, reason: "\"\(host)\" is not an IPv6 address")
        }
        let dualStack = host == "::"
        return try bindAndListen(family: AF_INET6, address, dualStack: dualStack) { fd in
            withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    private static func bindAndListen(family: Int32, _ address: BindAddress, dualStack: Bool = false,
                                      bindCall: (Int32) -> Int32) throws -> Int32 {
        let fd = socket(family, streamType, 0)
        guard fd >= 0 else { throw ProbeServerError.socket(call: "socket", address: address.description, errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            var v6only: Int32 = dualStack ? 0 : 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, socklen_t(MemoryLayout<Int32>.size))
        }
        guard bindCall(fd) == 0 else {
            let code = errno
            close(fd)
            throw ProbeServerError.socket(call: "bind", address: address.description, errno: code)
        }
        guard systemListen(fd) == 0 else {
            let code = errno
            close(fd)
            throw ProbeServerError.socket(call: "listen", address: address.description, errno: code)
        }
        return fd
    }

    private static func systemListen(_ fd: Int32) -> Int32 {
        #if os(Linux)
        return Glibc.listen(fd, 64)
        #else
        return Darwin.listen(fd, 64)
        #endif
    }
}
