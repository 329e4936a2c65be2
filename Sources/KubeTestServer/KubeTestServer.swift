import Foundation
import KubeCore
import NIOSSL
import Synchronization

/// How to start a `KubeTestServer`.
public struct KubeTestServerOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0 = a free port below the ephemeral range (see `ListenPort`).
    public var port = 0
    /// When true every request is authorized with the RBAC objects in the store (system:masters always allowed).
    /// When false every authenticated user may do anything, and anonymous requests get 401 outside /version and /healthz.
    public var rbacEnabled = false
    /// The OwnerReferencesPermissionEnforcement admission plugin (off by default in kube-apiserver,
    /// on in OpenShift): ownerReference changes need `delete` on the object, `blockOwnerDeletion`
    /// needs `update` on the owner's `finalizers`. Only meaningful with `rbacEnabled`.
    public var ownerReferencesPermissionEnforcement = false
    /// Offer HTTP/2 in ALPN (`h2`, then `http/1.1`), as kube-apiserver does: clients that speak it
    /// multiplex every request and watch on one connection. False offers `http/1.1` only, for tests
    /// about HTTP/1.1 itself (chunked watches, one connection per watch, a cut response that closes
    /// the TCP connection).
    public var http2Enabled = true
    /// SANs of the serving certificate (IP addresses become IP SANs).
    public var certificateHosts = ["localhost", "127.0.0.1"]
    /// Set in the past to test an expired serving certificate.
    public var certificateNotValidAfter: Date? = nil
    /// Events kept for watch resumption; a watch from an older resourceVersion gets 410.
    public var watchEventWindow = 10_000
    /// Seconds between BOOKMARKs on watches with allowWatchBookmarks.
    public var bookmarkInterval: Double = 5
    /// Do what kube-controller-manager would: the garbage collector (ownerReferences, Foreground/Orphan
    /// finalizers), the namespace controller (a deleted namespace is emptied, then removed) and the
    /// `default` ServiceAccount of every namespace (without it Pods are refused, as in fixture 20).
    public var controllerManagerEnabled = true
    /// Lines a watcher may fall behind before the server closes its watch.
    public var watchQueueLimit = 10_000
    /// Watch duration when the client gives no timeoutSeconds.
    public var defaultWatchTimeout: Double = 1800
    /// Simulated kube-controller-manager and kubelet (Deployments roll out, Pods start, Jobs finish,
    /// HPAs scale); off by default. `KubeTestServer.simulation` changes it while the server runs.
    public var simulation = SimulationSettings()
    public init() {}
}

/// A loopback HTTPS API server that behaves like kube-apiserver v1.36 for the parts an operator
/// uses: REST CRUD with real resourceVersion/generation semantics, watches, patches, server-side
/// apply, CRDs, RBAC, discovery and kubectl's Table output. See docs/test-server.md.
public final class KubeTestServer: Sendable {
    let core: APIServerCore
    /// Replaced by `restart()`.
    private let listenerBox: Mutex<HTTPSListener>
    let ca: CertificateAuthority
    let tls: TLSConfiguration

    var listener: HTTPSListener { listenerBox.withLock { $0 } }
    public var port: Int { listener.localPort }
    /// Faults a test can switch on and off (FaultInjection.swift, docs/test-server.md).
    public var faults: FaultInjector { core.faults }
    /// Simulated controllers a test can switch on, tune and steer (Simulation/, docs/test-server.md).
    public var simulation: ControllerSimulator { core.simulation }
    /// "https://HOST:PORT"
    public var url: String {
        let host = core.options.host.contains(":") ? "[\(core.options.host)]" : core.options.host
        return "https://\(host):\(port)"
    }
    /// The per-run CA that signed the serving certificate.
    public var caCertificatePEM: String { ca.pem }
    /// User "admin", groups system:masters and system:authenticated.
    public var adminToken: String { core.adminToken }

    private init(core: APIServerCore, listener: HTTPSListener, ca: CertificateAuthority, tls: TLSConfiguration) {
        self.core = core
        self.listenerBox = Mutex(listener)
        self.ca = ca
        self.tls = tls
    }

    /// Starts a server with an empty store (namespaces default, kube-system, kube-public, kube-node-lease).
    public static func start(_ options: KubeTestServerOptions = .init()) async throws -> KubeTestServer {
        let ca = try CertificateAuthority()
        let dns = options.certificateHosts.filter { CertificateAuthority.ipBytes($0) == nil }
        let ips = options.certificateHosts.compactMap(CertificateAuthority.ipBytes)
        let serving = try ca.issue(commonName: "kube-apiserver", dnsNames: dns, ipAddresses: ips, server: true,
                                   notValidAfter: options.certificateNotValidAfter)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(serving.certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.privateKeyPEM.utf8), format: .pem)))
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(ca.pem.utf8), format: .pem)])
        tls.certificateVerification = .optionalVerification
        tls.applicationProtocols = options.http2Enabled ? ["h2", "http/1.1"] : ["http/1.1"]
        // Closing a connection waits this long for the peer's close_notify (default 5 s, per
        // connection): a client that stopped reading (a cancelled watch) would stall stop()/restart().
        tls.shutdownTimeout = .milliseconds(250)
        var opts = options
        let core = APIServerCore(options: opts)
        let listener = try await ListenPort.bind(requested: options.port) { port in
            try await HTTPSListener(core: core, host: options.host, port: port, tls: tls)
        }
        opts.port = listener.localPort
        core.boundPort.withLock { $0 = listener.localPort }
        return KubeTestServer(core: core, listener: listener, ca: ca, tls: tls)
    }

    public func stop() async throws {
        core.simulation.shutdown()
        core.shutdown()
        await listener.stop()
    }

    /// Restarts the API server as a crash-and-restart would: every watch breaks (its stream ends
    /// with an error, not a clean end), the listener stops and every connection is closed, then a
    /// listener starts again on the same port. The store is kept, so objects survive and
    /// resourceVersions continue. Requests made in between fail to connect.
    public func restart() async throws {
        core.abortWatches()
        let old = listener
        await old.resetWatchStreams()
        // A moment for clients to read the resets before their connections close: libcurl 7.88
        // takes an HTTP/2 stream whose RST_STREAM arrives in the same read as the connection's end
        // for one that ended cleanly, and a restart must break every open watch.
        try? await Task.sleep(for: .milliseconds(100))
        await old.stop()
        let fresh = try await ListenPort.rebind(old.localPort) { port in
            try await HTTPSListener(core: core, host: core.options.host, port: port, tls: tls)
        }
        listenerBox.withLock { $0 = fresh }
    }

    /// TCP connections accepted since start (restarts included).
    public var acceptedConnectionCount: Int { core.connectionStats.accepted }
    /// Of those, the ones that negotiated HTTP/2.
    public var http2ConnectionCount: Int { core.connectionStats.http2 }

    /// Sends GOAWAY on every HTTP/2 connection and closes it: open watches on it end, and clients
    /// reconnect for their next request (HTTP/1.1 connections are left alone).
    public func goAwayHTTP2Connections() async {
        await listener.goAway()
    }

    /// Breaks every open watch as a broken stream would: over HTTP/2 the watch's stream is reset
    /// (RST_STREAM) and the connection stays open for the client's other streams; over HTTP/1.1 the
    /// connection closes. The server keeps running.
    public func resetWatchStreams() {
        core.abortWatches()
    }

    // MARK: Users

    public func addUser(token: String, name: String, groups: [String]) {
        var g = groups
        if !g.contains("system:authenticated") { g.append("system:authenticated") }
        core.tokens.withLock { $0[token] = UserInfo(name: name, groups: g) }
    }

    public func removeToken(_ token: String) {
        _ = core.tokens.withLock { $0.removeValue(forKey: token) }
    }

    /// A bearer token for ServiceAccount ns/name (user "system:serviceaccount:NS:NAME", groups
    /// system:serviceaccounts, system:serviceaccounts:NS, system:authenticated).
    public func serviceAccountToken(namespace: String, name: String) -> String {
        core.serviceAccountToken(namespace: namespace, name: name)
    }

    /// A client certificate + key (PEM) signed by the CA for mTLS auth (CN = user, O = groups).
    public func issueClientCertificate(user: String, groups: [String]) throws -> (certificatePEM: String, privateKeyPEM: String) {
        try ca.issue(commonName: user, organizations: groups, server: false)
    }

    // MARK: kubeconfig

    /// A kubeconfig (YAML text) for this server: CA inline, the given token (default admin), context "test".
    public func kubeconfig(token: String? = nil, namespace: String = "default") -> String {
        let ca64 = Data(caCertificatePEM.utf8).base64EncodedString()
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: \(url)
            certificate-authority-data: \(ca64)
        users:
        - name: test
          user:
            token: \(token ?? adminToken)
        contexts:
        - name: test
          context:
            cluster: test
            user: test
            namespace: \(namespace)
        current-context: test

        """
    }

    public func writeKubeconfig(to path: String, token: String? = nil, namespace: String = "default") throws {
        try kubeconfig(token: token, namespace: namespace).write(toFile: path, atomically: true, encoding: .utf8)
    }

    // MARK: In-process access

    /// In-process transport into the same request handler (no network), authenticated as the admin.
    public var transport: any KubeTransport { InMemoryTransport(core: core, token: adminToken) }

    /// An in-process transport with another bearer token (nil = anonymous).
    public func transport(token: String?, userAgent: String = "kube-test-client/1.0") -> any KubeTransport {
        InMemoryTransport(core: core, token: token, userAgent: userAgent)
    }

    /// Sends a request exactly as given (method, path with query, every header, raw body) through the
    /// in-process handler. Add an `Authorization` header yourself (none = anonymous).
    public func handleRaw(method: String, pathAndQuery: String, headers: [(name: String, value: String)], body: Data?) async -> KubeStreamResponse {
        let resp = await core.handle(APIRequest(method: method, target: pathAndQuery, headers: headers, body: body ?? Data()))
        return InMemoryTransport.streamResponse(resp)
    }

    /// Forget the watch event history: a watch or an Exact list from any older resourceVersion now gets 410.
    public func compactWatchHistory() {
        core.state.withLock { $0.store.compact() }
    }

    /// The current cluster-wide resourceVersion.
    public var currentResourceVersion: Int64 { core.state.withLock { $0.store.rv } }

    // MARK: Counters

    /// Requests served by verb (get/list/watch/create/update/patch/delete/deletecollection) and
    /// resource (plural, or "plural/subresource").
    public func requestCount(verb: String, resource: String) -> Int {
        core.counters.withLock { $0["\(verb) \(resource)"] ?? 0 }
    }

    /// Every counter, keyed "verb resource".
    public var requestCounts: [String: Int] { core.counters.withLock { $0 } }

    public func resetRequestCounts() {
        core.counters.withLock { $0.removeAll() }
    }
}

/// The in-memory `KubeTransport`: the same handler as HTTPS, without sockets or TLS.
struct InMemoryTransport: KubeTransport {
    let core: APIServerCore
    var token: String?
    var userAgent = "kube-test-client/1.0"

    func apiRequest(_ r: KubeRequest) -> APIRequest {
        var headers: [(name: String, value: String)] = [("Accept", r.accept), ("User-Agent", userAgent)]
        if let ct = r.contentType { headers.append(("Content-Type", ct)) }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return APIRequest(method: r.method.rawValue, target: r.pathAndQuery, headers: headers, body: r.body ?? Data())
    }

    func send(_ request: KubeRequest) async throws -> KubeResponse {
        let resp = try Self.checkCut(await core.handle(apiRequest(request)))
        switch resp.body {
        case .data(let d): return KubeResponse(statusCode: resp.status, headers: resp.headers, body: d)
        case .stream(let ch):
            var all = Data()
            while let chunk = try await ch.next() { all.append(chunk) }
            return KubeResponse(statusCode: resp.status, headers: resp.headers, body: all)
        }
    }

    func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        Self.streamResponse(try Self.checkCut(await core.handle(apiRequest(request))))
    }

    /// A response fault injection cut mid-body is, in memory, a closed connection.
    static func checkCut(_ resp: APIResponse) throws -> APIResponse {
        guard resp.headers.contains(where: { $0.name == FaultInjector.cutBodyHeader }) else { return resp }
        throw KubeError.transport(TransportError(kind: .connectionClosed, detail: "the test server cut the response (fault injection)"))
    }

    static func streamResponse(_ resp: APIResponse) -> KubeStreamResponse {
        switch resp.body {
        case .data(let d): return KubeStreamResponse(statusCode: resp.status, headers: resp.headers, body: SingleChunk(d))
        case .stream(let ch): return KubeStreamResponse(statusCode: resp.status, headers: resp.headers, body: ch)
        }
    }
}

/// A whole body offered as one chunk.
final class SingleChunk: ByteChunkSource, Sendable {
    private let data: Mutex<Data?>
    init(_ d: Data) { data = Mutex(d.isEmpty ? nil : d) }
    func next() async throws -> Data? { data.withLock { d in defer { d = nil }; return d } }
    func cancel() { data.withLock { $0 = nil } }
}
