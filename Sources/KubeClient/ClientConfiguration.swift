#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Everything needed to talk to one API server: where it is, how to trust it, who we are, and the
/// client-side limits. Produced by `Kubeconfig`, `InClusterConfiguration` or `ConfigurationResolver`.
public struct ClientConfiguration: Sendable, Hashable {
    /// The server URL, e.g. `https://10.0.0.1:6443`; a path prefix (`https://host/k8s`) is kept.
    public var server: String
    public var tls: TLSConfiguration
    public var authentication: Authentication
    /// The namespace of the current context (or of the in-cluster service account).
    public var namespace: String
    /// Sustained requests per second of the client-side rate limiter (0 disables it).
    public var qps: Double
    /// Requests allowed in a burst above `qps`.
    public var burst: Int
    /// Timeout of one non-watch request in seconds (0: none). Watches never time out, but dead
    /// connections are noticed through TCP keepalive.
    public var timeout: Double
    /// Timeout of establishing a connection, in seconds.
    public var connectTimeout: Double
    public var userAgent: String
    /// An explicit proxy (`proxy-url`); nil lets libcurl honour `HTTPS_PROXY`/`NO_PROXY` as kubectl does.
    public var proxyURL: String?
    /// Where this configuration came from, for messages ("kubeconfig /x/config, context test", "in-cluster").
    public var source: String

    public init(server: String, tls: TLSConfiguration = TLSConfiguration(), authentication: Authentication = .none,
                namespace: String = "default", qps: Double = 20, burst: Int = 30, timeout: Double = 60,
                connectTimeout: Double = 10, userAgent: String = "pynomaly-operator", proxyURL: String? = nil,
                source: String = "explicit") {
        self.server = server
        self.tls = tls
        self.authentication = authentication
        self.namespace = namespace
        self.qps = qps
        self.burst = burst
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.userAgent = userAgent
        self.proxyURL = proxyURL
        self.source = source
    }
}

/// How the server's certificate is verified and which client certificate is presented.
public struct TLSConfiguration: Sendable, Hashable {
    /// PEM bundle of trusted CAs (certificate-authority-data, or the file's contents).
    public var certificateAuthorityPEM: Data?
    /// Only verification is skipped, never encryption; kubectl's `insecure-skip-tls-verify`.
    public var insecureSkipVerify: Bool
    /// Verify the server's certificate against this name instead of the URL's host (`tls-server-name`).
    public var serverName: String?
    public var clientCertificatePEM: Data?
    public var clientKeyPEM: Data?

    public init(certificateAuthorityPEM: Data? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil,
                clientCertificatePEM: Data? = nil, clientKeyPEM: Data? = nil) {
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipVerify = insecureSkipVerify
        self.serverName = serverName
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
    }
}

/// How requests are authenticated (client certificates live in `TLSConfiguration`).
public enum Authentication: Sendable, Hashable {
    case none
    case bearerToken(String)
    /// A token read from a file and re-read when it changes (bound service-account tokens rotate).
    case tokenFile(String)
    case exec(ExecConfiguration)
    case basic(username: String, password: String)
}

/// A client-go credential plugin (`users[].user.exec`).
public struct ExecConfiguration: Sendable, Hashable {
    public struct EnvVar: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public var command: String
    public var args: [String]
    public var env: [EnvVar]
    /// `client.authentication.k8s.io/v1` or `client.authentication.k8s.io/v1beta1`.
    public var apiVersion: String
    public var installHint: String?
    public var provideClusterInfo: Bool
    /// The directory of the kubeconfig that named the plugin: a relative command with a '/' is resolved there.
    public var baseDirectory: String?

    public init(command: String, args: [String] = [], env: [EnvVar] = [], apiVersion: String = "client.authentication.k8s.io/v1",
                installHint: String? = nil, provideClusterInfo: Bool = false, baseDirectory: String? = nil) {
        self.command = command
        self.args = args
        self.env = env
        self.apiVersion = apiVersion
        self.installHint = installHint
        self.provideClusterInfo = provideClusterInfo
        self.baseDirectory = baseDirectory
    }
}

extension ClientConfiguration {
    /// The server URL split into scheme, host (unbracketed), port and path prefix; throws when it is not usable.
    func serverComponents() throws -> ServerComponents {
        guard let c = URLComponents(string: server), let scheme = c.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = c.host, !host.isEmpty
        else {
            throw KubeError.configuration("\(source): server \"\(server)\" is not an http(s) URL")
        }
        let unbracketed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var prefix = c.percentEncodedPath
        while prefix.hasSuffix("/") { prefix.removeLast() }
        return ServerComponents(scheme: scheme, host: unbracketed, port: c.port ?? (scheme == "https" ? 443 : 80), pathPrefix: prefix)
    }
}

struct ServerComponents: Sendable, Hashable {
    var scheme: String
    var host: String
    var port: Int
    var pathPrefix: String

    /// The host as it appears in a URL: IPv6 literals in brackets.
    static func urlHost(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
