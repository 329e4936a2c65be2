import CCurl
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The HTTPS transport to a real API server, over libcurl's multi interface: one thread polls
/// every transfer, connections are pooled (HTTP/2 multiplexed when offered), streams apply
/// back-pressure, and credentials are attached per request (refreshed once after a 401).
/// The thread stops when the transport and every request and stream it started are gone.
public final class CurlTransport: KubeTransport {
    public let configuration: ClientConfiguration
    private let engine: CurlEngine
    private let lifetime: CurlEngineLifetime
    private let credentials: any CredentialSource
    private let server: ServerComponents

    /// - Parameters:
    ///   - maxConnectionsPerHost: the connection pool's bound (more concurrent requests queue); 0,
    ///     the default, sets none, like client-go: over HTTP/1.1 every watch holds a connection for
    ///     its whole life, so any bound below the number of watches starves the other requests.
    ///   - streamBufferLimit: bytes a stream buffers for a slow consumer before it stops reading the socket.
    ///   - tokenFileRecheckInterval: how often a token file's modification time is checked.
    public init(configuration: ClientConfiguration, maxConnectionsPerHost: Int = 0, streamBufferLimit: Int = 1 << 20,
                tokenFileRecheckInterval: Duration = .seconds(5)) throws {
        self.configuration = configuration
        self.server = try configuration.serverComponents()
        var options = CurlEngineOptions()
        options.maxConnectionsPerHost = max(0, maxConnectionsPerHost)
        options.maxTotalConnections = options.maxConnectionsPerHost
        options.streamBufferLimit = max(16 << 10, streamBufferLimit)
        self.engine = try CurlEngine(options: options)
        self.lifetime = CurlEngineLifetime(engine: engine)
        self.credentials = Self.makeCredentialSource(configuration, recheck: tokenFileRecheckInterval)
    }

    /// Counters of the connection pool and the stream buffers.
    public var statistics: CurlTransportStatistics { engine.statistics.withLock { $0 } }

    /// The engine's thread starts a request at its `notBefore`: its poll wakes up for it.
    public var holdsRequestsUntilDue: Bool { true }

    /// The bound on a stream's buffer (see `statistics.streamBufferHighWaterMark`).
    public var streamBufferLimit: Int { engine.options.streamBufferLimit }

    public func send(_ request: KubeRequest) async throws -> KubeResponse {
        let used = try await credentials.current()
        let response = try await perform(request, credentials: used)
        if response.statusCode == 401, try await credentials.refresh(after: used) {
            return try await perform(request, credentials: try await credentials.current())
        }
        return response
    }

    public func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        let used = try await credentials.current()
        let response = try await openStream(request, credentials: used)
        if response.statusCode == 401, try await credentials.refresh(after: used) {
            response.body.cancel()
            return try await openStream(request, credentials: try await credentials.current())
        }
        return response
    }

    // MARK: - Internals

    static func makeCredentialSource(_ c: ClientConfiguration, recheck: Duration) -> any CredentialSource {
        var base = Credentials()
        if let cert = c.tls.clientCertificatePEM, let key = c.tls.clientKeyPEM {
            base.clientCertificatePEM = cert
            base.clientKeyPEM = key
        }
        switch c.authentication {
        case .none:
            return StaticCredentials(credentials: base)
        case .bearerToken(let token):
            base.authorization = "Bearer \(token)"
            return StaticCredentials(credentials: base)
        case .basic(let user, let password):
            base.authorization = "Basic \(Data("\(user):\(password)".utf8).base64EncodedString())"
            return StaticCredentials(credentials: base)
        case .tokenFile(let path):
            return TokenFileCredentials(path: path, recheckInterval: recheck, base: base)
        case .exec(let exec):
            var cluster: JSONObject = ["server": .string(c.server), "insecure-skip-tls-verify": .bool(c.tls.insecureSkipVerify)]
            if let ca = c.tls.certificateAuthorityPEM { cluster["certificate-authority-data"] = .string(ca.base64EncodedString()) }
            if let name = c.tls.serverName { cluster["tls-server-name"] = .string(name) }
            if let proxy = c.proxyURL { cluster["proxy-url"] = .string(proxy) }
            return ExecCredentials(plugin: ExecCredentialPlugin(configuration: exec, clusterInfo: .object(cluster)), base: base)
        }
    }

    func makeSpec(_ request: KubeRequest, credentials: Credentials) -> CurlRequestSpec {
        // With tls-server-name the URL carries that name (so libcurl sends it as SNI and verifies
        // the certificate against it, as kubectl does), CONNECT_TO points the connection at the
        // real address, and the Host header keeps the real authority.
        let realHost = ServerComponents.urlHost(server.host)
        var headers: [String] = ["Accept: \(request.accept)"]
        var connectTo: String?
        let urlHost: String
        if let name = configuration.tls.serverName, !name.isEmpty, name != server.host, server.scheme == "https" {
            urlHost = ServerComponents.urlHost(name)
            connectTo = "\(urlHost):\(server.port):\(realHost):\(server.port)"
            headers.append("Host: \(realHost):\(server.port)")
        } else {
            urlHost = realHost
        }
        if let ct = request.contentType { headers.append("Content-Type: \(ct)") }
        if let auth = credentials.authorization { headers.append("Authorization: \(auth)") }
        var tls = configuration.tls
        tls.clientCertificatePEM = credentials.clientCertificatePEM
        tls.clientKeyPEM = credentials.clientKeyPEM
        let timeout: Double? = request.isWatch ? nil : (request.timeout ?? (configuration.timeout > 0 ? configuration.timeout : nil))
        return CurlRequestSpec(
            url: "\(server.scheme)://\(urlHost):\(server.port)\(server.pathPrefix)\(request.pathAndQuery)",
            method: request.method, headers: headers, body: request.body, timeout: timeout,
            connectTimeout: configuration.connectTimeout, tls: tls, connectTo: connectTo,
            proxy: configuration.proxyURL, userAgent: configuration.userAgent, isStream: request.isWatch,
            notBefore: request.notBefore)
    }

    private func perform(_ request: KubeRequest, credentials: Credentials) async throws -> KubeResponse {
        var spec = makeSpec(request, credentials: credentials)
        spec.isStream = false
        let transfer = CurlTransfer(spec: spec, lifetime: lifetime)
        let engine = self.engine
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<KubeResponse, any Error>) in
                transfer.setWaiter(.response(c))
                engine.post(.add(transfer))
            }
        } onCancel: {
            transfer.cancel()
        }
    }

    private func openStream(_ request: KubeRequest, credentials: Credentials) async throws -> KubeStreamResponse {
        var spec = makeSpec(request, credentials: credentials)
        spec.isStream = true
        spec.timeout = request.isWatch ? nil : spec.timeout
        let transfer = CurlTransfer(spec: spec, lifetime: lifetime)
        let engine = self.engine
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<KubeStreamResponse, any Error>) in
                transfer.setWaiter(.stream(c))
                engine.post(.add(transfer))
            }
        } onCancel: {
            transfer.cancel()
        }
    }
}
