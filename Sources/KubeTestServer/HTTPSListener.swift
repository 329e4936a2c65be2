import Foundation
import KubeCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The network side: TLS (optional client certificates) + HTTP/1.1 keep-alive on SwiftNIO, each
/// request handed to the shared `APIServerCore`; watches are written as chunked streams.
final class HTTPSListener: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let group: MultiThreadedEventLoopGroup
    let serverChannel: NIOAsyncChannel<Connection, Never>
    let localPort: Int
    private let acceptTask: Task<Void, Never>
    /// Open connections, closed on stop so the event loops can shut down cleanly.
    private let connections = ConnectionSet()

    init(core: APIServerCore, host: String, port: Int, tls: TLSConfiguration) async throws {
        let sslContext = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.group = group
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        // Deinit-based teardown on purpose: a connection accepted while the
                        // listener stops is never handed to the accept loop, and a wrapper made
                        // with `wrappingChannelSynchronously` then traps in its deinit ("Deinited
                        // NIOAsyncWriter without calling finish()"); this one closes the channel.
                        return try Connection(synchronouslyWrapping: channel)
                    }
                }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        localPort = serverChannel.channel.localAddress?.port ?? port
        let server = serverChannel
        let open = connections
        acceptTask = Task {
            await withDiscardingTaskGroup { tasks in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            let channel = connection.channel
                            let id = ObjectIdentifier(channel)
                            open.add(id, channel)
                            tasks.addTask {
                                await Self.serve(connection, core: core)
                                open.remove(id)
                            }
                        }
                    }
                } catch {
                    // The listener was closed (server stopping).
                }
            }
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
    static func certificateUser(_ channel: Channel) async -> UserInfo? {
        let der = try? await channel.eventLoop.submit { () -> [UInt8]? in
            let handler = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            return try handler.peerCertificate?.toDERBytes()
        }.get()
        guard let bytes = der ?? nil else { return nil }
        return CertificateAuthority.user(fromDER: bytes)
    }

    static func serve(_ connection: Connection, core: APIServerCore) async {
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
                        if certUser == nil { certUser = .some(await certificateUser(channel)) }
                        let req = APIRequest(method: h.method.rawValue, target: h.uri, headers: h.headers.map { ($0.name, $0.value) },
                                             body: Data(body.readableBytesView), certificateUser: certUser ?? nil)
                        let resp = await core.handle(req)
                        let keepAlive = try await write(resp, to: outbound, keepAlive: h.isKeepAlive, channel: channel, isHead: h.method == .HEAD)
                        if !keepAlive { return }
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
                      channel: Channel, isHead: Bool) async throws -> Bool {
        var headers = HTTPHeaders()
        var cut = false
        for (n, v) in resp.headers where n.lowercased() != "transfer-encoding" {
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
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: resp.status), headers: headers)))
            if !data.isEmpty, !isHead { try await out.write(.body(.byteBuffer(ByteBuffer(bytes: data)))) }
            try await out.write(.end(nil))
            return keepAlive
        case .stream(let watch):
            headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
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

/// The open connections of a listener.
final class ConnectionSet: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    func add(_ id: ObjectIdentifier, _ channel: any Channel) { channels.withLock { $0[id] = channel } }
    func remove(_ id: ObjectIdentifier) { _ = channels.withLock { $0.removeValue(forKey: id) } }
    var all: [any Channel] { channels.withLock { Array($0.values) } }
}
