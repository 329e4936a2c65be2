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
    /// HTTP/2 streams carrying a watch, reset by `resetWatchStreams()`.
    private let watchStreams: ConnectionSet

    init(core: APIServerCore, host: String, port: Int, tls: TLSConfiguration) async throws {
        let sslContext = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.group = group
        let open = ConnectionSet()
        connections = open
        let watching = ConnectionSet()
        watchStreams = watching
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
                                    if let parent = stream.parent, let streamID = try stream.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID) {
                                        open.noteStream(streamID, on: ObjectIdentifier(parent))
                                    }
                                    try stream.pipeline.syncOperations.addHandlers([EndStreamOnLastFrame(), HTTP2FramePayloadToHTTP1ServerCodec()])
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
                                case .http2((let channel, let streams))?: await Self.serveHTTP2(channel, streams: streams, core: core, watchStreams: watching)
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
    static func serveHTTP2(_ channel: any Channel, streams: NIOHTTP2Handler.AsyncStreamMultiplexer<Connection>, core: APIServerCore,
                           watchStreams: ConnectionSet) async {
        await withDiscardingTaskGroup { tasks in
            do {
                for try await stream in streams.inbound {
                    tasks.addTask { await serve(stream, core: core, http2: true, watchStreams: watchStreams) }
                }
            } catch {
                // The connection went away.
            }
        }
    }

    /// Sends GOAWAY on every HTTP/2 connection and then closes them, as an API server shutting
    /// down or rebalancing (`--goaway-chance`) does: clients open a new connection and re-watch.
    /// The GOAWAY names the last stream the server took (as Go's server does), so a client knows
    /// every request it sent was received and retries none of them on its own.
    func goAway() async {
        for channel in connections.all {
            guard (try? await channel.pipeline.containsHandler(type: NIOHTTP2Handler.self).get()) != nil else { continue }
            let last = connections.lastStream(of: ObjectIdentifier(channel)) ?? .rootStream
            let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: last, errorCode: .noError, opaqueData: nil))
            try? await channel.writeAndFlush(frame)
            try? await channel.close()
        }
    }

    /// Resets every HTTP/2 stream that carries a watch (RST_STREAM) and returns once each is
    /// closed, so that a connection closed afterwards reaches its client after the resets. A client
    /// that sees the connection end first may take a watch (no Content-Length) for finished rather
    /// than broken, as libcurl did in the suites.
    func resetWatchStreams() async {
        for stream in watchStreams.all { try? await stream.close() }
        // The resets leave now, not with the close that follows (see `KubeTestServer.restart`).
        for channel in connections.all { channel.flush() }
    }

    func stop() async {
        try? await serverChannel.channel.close()
        // Flushed first: an HTTP/2 connection may still hold the RST_STREAM frames of
        // `resetWatchStreams` in its write buffer, and a close does not send them; the client would
        // then see only the connection end and take a broken watch for a finished one.
        for channel in connections.all {
            channel.flush()
            try? await channel.close()
        }
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

    static func serve(_ connection: Connection, core: APIServerCore, http2: Bool, watchStreams: ConnectionSet? = nil) async {
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
                        if case .stream = resp.body, let watchStreams {
                            let id = ObjectIdentifier(channel)
                            watchStreams.add(id, channel)
                            channel.closeFuture.whenComplete { _ in watchStreams.remove(id) }
                        }
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
            // Fault injection: the full Content-Length, half the body, then the connection closes
            // (HTTP/1.1) or, since the caller then closes the stream channel without END_STREAM,
            // the stream is reset (HTTP/2).
            headers.replaceOrAdd(name: "Content-Length", value: String(data.count))
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: resp.status), headers: headers)))
            try await out.write(.body(.byteBuffer(ByteBuffer(bytes: data.prefix(data.count / 2)))))
            return false
        case .data(let data):
            headers.replaceOrAdd(name: "Content-Length", value: String(data.count))
            if !keepAlive, !http2 { headers.replaceOrAdd(name: "Connection", value: "close") }
            // One write and one flush, so that over HTTP/2 END_STREAM rides on the last frame
            // (`EndStreamOnLastFrame`).
            var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: resp.status), headers: headers))]
            if !data.isEmpty, !isHead { parts.append(.body(.byteBuffer(ByteBuffer(bytes: data)))) }
            parts.append(.end(nil))
            try await out.write(contentsOf: parts)
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

/// The open connections of a listener, and the highest stream each HTTP/2 connection's client opened.
final class ConnectionSet: Sendable {
    private let state = Mutex<(channels: [ObjectIdentifier: any Channel], lastStreams: [ObjectIdentifier: HTTP2StreamID])>(([:], [:]))
    func add(_ id: ObjectIdentifier, _ channel: any Channel) { state.withLock { $0.channels[id] = channel } }
    func remove(_ id: ObjectIdentifier) {
        state.withLock {
            $0.channels.removeValue(forKey: id)
            $0.lastStreams.removeValue(forKey: id)
        }
    }
    var all: [any Channel] { state.withLock { Array($0.channels.values) } }
    func noteStream(_ stream: HTTP2StreamID, on connection: ObjectIdentifier) {
        state.withLock { s in
            // A stream of a connection already closed would otherwise leave an entry behind.
            guard s.channels[connection] != nil else { return }
            s.lastStreams[connection] = max(s.lastStreams[connection] ?? .rootStream, stream)
        }
    }
    func lastStream(of connection: ObjectIdentifier) -> HTTP2StreamID? { state.withLock { $0.lastStreams[connection] } }
}

/// Sets END_STREAM on a response's last HEADERS or DATA frame instead of sending an empty DATA
/// frame after it, as Go's HTTP/2 server (kube-apiserver's) does. The HTTP/1 codec ends every
/// response with that empty frame; libcurl considers a response with a Content-Length complete at
/// its last byte and resets a stream whose END_STREAM has not arrived yet, and swift-nio-http2
/// closes a connection that receives 200 resets in 30 s (ENHANCE_YOUR_CALM), which broke any client
/// after a few hundred requests. A frame is held only until the next write or flush of the stream,
/// so nothing written and flushed (a watch event) waits.
final class EndStreamOnLastFrame: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var held: (payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        if let (heldPayload, heldPromise) = held, let ended = Self.ending(heldPayload, with: payload) {
            held = nil
            context.write(wrapOutboundOut(ended), promise: Self.combined(heldPromise, promise, on: context.eventLoop))
            return
        }
        releaseHeld(context: context)
        switch payload {
        case .headers(let h) where !h.endStream:
            held = (payload, promise)
        case .data(let d) where !d.endStream:
            held = (payload, promise)
        default:
            context.write(data, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        releaseHeld(context: context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        releaseHeld(context: context)
        context.close(mode: mode, promise: promise)
    }

    private func releaseHeld(context: ChannelHandlerContext) {
        guard let (payload, promise) = held else { return }
        held = nil
        context.write(wrapOutboundOut(payload), promise: promise)
    }

    /// `held` with END_STREAM set, when `next` is the empty DATA frame that only ends the stream.
    static func ending(_ held: HTTP2Frame.FramePayload, with next: HTTP2Frame.FramePayload) -> HTTP2Frame.FramePayload? {
        guard case .data(let end) = next, end.endStream, end.data.readableBytes == 0, end.paddingBytes == nil else { return nil }
        switch held {
        case .headers(var h):
            h.endStream = true
            return .headers(h)
        case .data(var d):
            d.endStream = true
            return .data(d)
        default:
            return nil
        }
    }

    static func combined(_ a: EventLoopPromise<Void>?, _ b: EventLoopPromise<Void>?, on loop: any EventLoop) -> EventLoopPromise<Void>? {
        guard a != nil || b != nil else { return nil }
        let both = loop.makePromise(of: Void.self)
        both.futureResult.whenComplete { result in
            a?.completeWith(result)
            b?.completeWith(result)
        }
        return both
    }
}
