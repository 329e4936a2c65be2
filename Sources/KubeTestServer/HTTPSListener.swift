import Foundation
import KubeCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// The network side: TLS (optional client certificates), then HTTP/2 or HTTP/1.1 as ALPN
/// negotiates (HTTP/1.1 keep-alive without ALPN), each request handed to the shared
/// `APIServerCore`; watches are written as chunked streams (HTTP/1.1) or as one stream each,
/// multiplexed on the connection (HTTP/2).
final class HTTPSListener: Sendable {
    /// One HTTP/1.1 connection, or one HTTP/2 stream seen through the HTTP/1 codec.
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    typealias Negotiated = NIONegotiatedHTTPVersion<Connection, (any Channel, NIOHTTP2Handler.AsyncStreamMultiplexer<Connection>)>
    let group: MultiThreadedEventLoopGroup
    let serverChannel: NIOAsyncChannel<EventLoopFuture<Negotiated>, Never>
    let localPort: Int
    private let acceptTask: Task<Void, Never>
    /// Open connections, closed on stop so the event loops can shut down cleanly.
    private let connections: ConnectionSet

    init(core: APIServerCore, host: String, port: Int, tls: TLSConfiguration) async throws {
        let sslContext = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.group = group
        let open = ConnectionSet()
        connections = open
        let stats = core.connectionStats
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in
                    // Registered at accept time, so stop() also closes a connection still in its handshake.
                    let id = ObjectIdentifier(channel)
                    open.add(id, channel)
                    channel.closeFuture.whenComplete { _ in open.remove(id) }
                    stats.noteAccepted()
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }.flatMap {
                        // The wrappers are made in the initializers (deinit-based teardown on purpose:
                        // a connection accepted while the listener stops is never handed to the accept
                        // loop, and a wrapper made with `wrappingChannelSynchronously` then traps in its
                        // deinit; this one closes the channel).
                        channel.configureAsyncHTTPServerPipeline(
                            http1ConnectionInitializer: { ch in ch.eventLoop.makeCompletedFuture { try Connection(synchronouslyWrapping: ch) } },
                            http2ConnectionInitializer: { ch in
                                stats.noteHTTP2()
                                return ch.eventLoop.makeSucceededFuture(ch)
                            },
                            http2StreamInitializer: { stream in
                                stream.eventLoop.makeCompletedFuture {
                                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                    return try Connection(synchronouslyWrapping: stream)
                                }
                            })
                    }
                }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        localPort = serverChannel.channel.localAddress?.port ?? port
        let server = serverChannel
        acceptTask = Task {
            await withDiscardingTaskGroup { tasks in
                do {
                    try await server.executeThenClose { inbound in
                        for try await negotiation in inbound {
                            tasks.addTask {
                                switch try? await negotiation.get() {
                                case .http1_1(let connection)?: await Self.serve(connection, core: core, http2: false)
                                case .http2((let channel, let streams))?: await Self.serveHTTP2(channel, streams: streams, core: core)
                                case nil: break  // TLS or ALPN failed; the channel is closed.
                                }
                            }
                        }
                    }
                } catch {
                    // The listener was closed (server stopping).
                }
            }
        }
    }

    /// Every stream the client opens on an HTTP/2 connection is one request, served concurrently.
    static func serveHTTP2(_ channel: any Channel, streams: NIOHTTP2Handler.AsyncStreamMultiplexer<Connection>, core: APIServerCore) async {
        await withDiscardingTaskGroup { tasks in
            do {
                for try await stream in streams.inbound {
                    tasks.addTask { await serve(stream, core: core, http2: true) }
                }
            } catch {
                // The connection went away.
            }
        }
    }

    /// Sends GOAWAY on every HTTP/2 connection and then closes them, as an API server shutting
    /// down or rebalancing (`--goaway-chance`) does: clients open a new connection and re-watch.
    func goAway() async {
        for channel in connections.all {
            guard (try? await channel.pipeline.containsHandler(type: NIOHTTP2Handler.self).get()) != nil else { continue }
            let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .rootStream, errorCode: .noError, opaqueData: nil))
            try? await channel.writeAndFlush(frame)
            try? await channel.close()
        }
    }

    func stop() async {
        try? await serverChannel.channel.close()
        for channel in connections.all { try? await channel.close() }
        // Every connection task has ended before the event loops go away.
        await acceptTask.value
        try? await group.shutdownGracefully()
    }

    /// The user named by a verified client certificate, if the client presented one.
    static func certificateUser(_ channel: Channel, http2: Bool) async -> UserInfo? {
        // An HTTP/2 stream's TLS handler is on its connection (an HTTP/1.1 connection's parent is
        // the listening socket).
        let connection = http2 ? (channel.parent ?? channel) : channel
        let der = try? await connection.eventLoop.submit { () -> [UInt8]? in
            let handler = try connection.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            return try handler.peerCertificate?.toDERBytes()
        }.get()
        guard let bytes = der ?? nil else { return nil }
        return CertificateAuthority.user(fromDER: bytes)
    }

    static func serve(_ connection: Connection, core: APIServerCore, http2: Bool) async {
        let channel = connection.channel
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                var certUser: UserInfo??
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body.clear()
                    case .body(var chunk):
                        body.writeBuffer(&chunk)
                    case .end:
                        guard let h = head else { continue }
                        if certUser == nil { certUser = .some(await certificateUser(channel, http2: http2)) }
                        let req = APIRequest(method: h.method.rawValue, target: h.uri, headers: h.headers.map { ($0.name, $0.value) },
                                             body: Data(body.readableBytesView), certificateUser: certUser ?? nil)
                        let resp = await core.handle(req)
                        let keepAlive = try await write(resp, to: outbound, keepAlive: h.isKeepAlive && !http2, channel: channel,
                                                        isHead: h.method == .HEAD, http2: http2)
                        // An HTTP/2 stream carries one request.
                        if !keepAlive || http2 { return }
                        head = nil
                    }
                }
            }
        } catch {
            // The peer went away or TLS failed; nothing to answer.
        }
    }

    /// Writes one response; returns whether the connection may carry another request.
    static func write(_ resp: APIResponse, to out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, keepAlive: Bool,
                      channel: Channel, isHead: Bool, http2: Bool) async throws -> Bool {
        var headers = HTTPHeaders()
        var cut = false
        // Connection-specific headers are HTTP/1 framing; HTTP/2 forbids them.
        for (n, v) in resp.headers where !["transfer-encoding", "connection", "keep-alive"].contains(n.lowercased()) {
            if n == FaultInjector.cutBodyHeader { cut = true; continue }
            headers.add(name: n, value: v)
        }
        headers.add(name: "Date", value: Self.httpDate())
        switch resp.body {
        case .data(let data) where cut && !isHead:
            // Fault injection: the full Content-Length, half the body, then the connection closes.
            headers.replaceOrAdd(name: "Content-Length", value: String(data.count))
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: resp.status), headers: headers)))
            try await out.write(.body(.byteBuffer(ByteBuffer(bytes: data.prefix(data.count / 2)))))
            return false
        case .data(let data):
            headers.replaceOrAdd(name: "Content-Length", value: String(data.count))
            if !keepAlive, !http2 { headers.replaceOrAdd(name: "Connection", value: "close") }
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: resp.status), headers: headers)))
            if !data.isEmpty, !isHead { try await out.write(.body(.byteBuffer(ByteBuffer(bytes: data)))) }
            try await out.write(.end(nil))
            return keepAlive
        case .stream(let watch):
            if !http2 { headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked") }
            channel.closeFuture.whenComplete { _ in watch.cancel() }
            do {
                try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: resp.status), headers: headers)))
                while let chunk = try await watch.next() {
                    try await out.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
                }
                try await out.write(.end(nil))
            } catch {
                watch.cancel()
                throw error
            }
            return keepAlive
        }
    }

    static func httpDate(_ date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: date)
    }
}

/// Connections accepted over the server's life (all listeners) and how many negotiated HTTP/2.
final class ConnectionStats: Sendable {
    private let counts = Mutex<(accepted: Int, http2: Int)>((0, 0))
    func noteAccepted() { counts.withLock { $0.accepted += 1 } }
    func noteHTTP2() { counts.withLock { $0.http2 += 1 } }
    var accepted: Int { counts.withLock { $0.accepted } }
    var http2: Int { counts.withLock { $0.http2 } }
}

/// The open connections of a listener.
final class ConnectionSet: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    func add(_ id: ObjectIdentifier, _ channel: any Channel) { channels.withLock { $0[id] = channel } }
    func remove(_ id: ObjectIdentifier) { _ = channels.withLock { $0.removeValue(forKey: id) } }
    var all: [any Channel] { channels.withLock { Array($0.values) } }
}
