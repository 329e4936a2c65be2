#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeYAML

/// A kubeconfig file (or several merged, as kubectl merges `KUBECONFIG`). Relative paths in it
/// are already resolved against the directory of the file that named them.
public struct Kubeconfig: Sendable, Hashable {
    public struct Cluster: Sendable, Hashable {
        public var server: String?
        /// Absolute path of `certificate-authority`.
        public var certificateAuthority: String?
        public var certificateAuthorityData: Data?
        public var insecureSkipTLSVerify = false
        public var tlsServerName: String?
        public var proxyURL: String?
        /// The file that defined this entry.
        public var file: String
    }

    public struct User: Sendable, Hashable {
        public var token: String?
        /// Absolute path of `tokenFile`.
        public var tokenFile: String?
        public var clientCertificate: String?
        public var clientCertificateData: Data?
        public var clientKey: String?
        public var clientKeyData: Data?
        public var username: String?
        public var password: String?
        public var exec: ExecConfiguration?
        /// Set when the entry uses the removed `auth-provider` mechanism (its name).
        public var authProvider: String?
        public var file: String
    }

    public struct Context: Sendable, Hashable {
        public var cluster: String
        public var user: String
        public var namespace: String?
        public var file: String
    }

    public var clusters: [String: Cluster] = [:]
    public var users: [String: User] = [:]
    public var contexts: [String: Context] = [:]
    public var currentContext: String?
    /// The files this configuration was read from, in order.
    public var files: [String] = []

    public init() {}

    /// How errors name the configuration: the file, or the files joined as in `KUBECONFIG`.
    var origin: String { files.isEmpty ? "<none>" : files.joined(separator: ":") }

    // MARK: - Loading

    /// Reads and parses one file.
    public static func load(file: String) throws -> Kubeconfig {
        let path = absolutePath(file, relativeTo: FileManager.default.currentDirectoryPath)
        let text: String
        do {
            text = try LocalFiles.text(of: path)
        } catch {
            throw KubeError.configuration("kubeconfig \(path): cannot be read: \(error)")
        }
        return try parse(text, file: path)
    }

    /// Reads several files and merges them as kubectl does: the first file to define a cluster,
    /// user or context name wins, and `current-context` comes from the first file that sets it.
    /// Missing files are skipped (as kubectl skips them in `KUBECONFIG`); malformed ones are errors.
    public static func load(files: [String]) throws -> Kubeconfig {
        var merged = Kubeconfig()
        for file in files where !file.isEmpty {
            let path = absolutePath(file, relativeTo: FileManager.default.currentDirectoryPath)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            merged.merge(try load(file: path))
        }
        return merged
    }

    /// Adds the entries of `other` that this configuration does not define yet.
    public mutating func merge(_ other: Kubeconfig) {
        clusters.merge(other.clusters) { mine, _ in mine }
        users.merge(other.users) { mine, _ in mine }
        contexts.merge(other.contexts) { mine, _ in mine }
        if currentContext?.isEmpty ?? true { currentContext = other.currentContext }
        files.append(contentsOf: other.files)
    }

    /// Parses kubeconfig text; `file` names it in errors and anchors relative paths.
    public static func parse(_ text: String, file: String) throws -> Kubeconfig {
        let root: JSONValue
        do {
            root = try YAML.parse(text)
        } catch {
            throw KubeError.configuration("kubeconfig \(file): \(error)")
        }
        var p = Parser(file: file)
        return try p.parse(root)
    }

    static func absolutePath(_ path: String, relativeTo directory: String) -> String {
        var expanded = path
        if expanded == "~" || expanded.hasPrefix("~/") {
            expanded = FileManager.default.homeDirectoryForCurrentUser.path + expanded.dropFirst()
        }
        if expanded.hasPrefix("/") { return URL(fileURLWithPath: expanded).standardizedFileURL.path }
        return URL(fileURLWithPath: directory).appendingPathComponent(expanded).standardizedFileURL.path
    }

    // MARK: - Resolving a context

    /// The client configuration of `context` (default: `current-context`).
    public func configuration(context override: String? = nil) throws -> ClientConfiguration {
        let name: String
        if let override, !override.isEmpty {
            name = override
        } else if let current = currentContext, !current.isEmpty {
            name = current
        } else {
            throw KubeError.configuration("kubeconfig \(origin): current-context is not set")
        }
        guard let ctx = contexts[name] else {
            throw KubeError.configuration("kubeconfig \(origin): context \"\(name)\" not found")
        }
        guard let cluster = clusters[ctx.cluster] else {
            throw KubeError.configuration("kubeconfig \(ctx.file): context \"\(name)\": cluster \"\(ctx.cluster)\" not found")
        }
        guard let server = cluster.server, !server.isEmpty else {
            throw KubeError.configuration("kubeconfig \(cluster.file): cluster \"\(ctx.cluster)\": server missing")
        }
        let clusterErr = { (m: String) in KubeError.configuration("kubeconfig \(cluster.file): cluster \"\(ctx.cluster)\": \(m)") }

        var tls = TLSConfiguration(insecureSkipVerify: cluster.insecureSkipTLSVerify, serverName: cluster.tlsServerName)
        if let data = cluster.certificateAuthorityData {
            tls.certificateAuthorityPEM = data
        } else if let path = cluster.certificateAuthority {
            tls.certificateAuthorityPEM = try Self.read(path, what: "certificate-authority", error: clusterErr)
        }
        if tls.insecureSkipVerify, tls.certificateAuthorityPEM != nil {
            throw clusterErr("insecure-skip-tls-verify together with a certificate authority is not allowed")
        }

        var auth = Authentication.none
        if !ctx.user.isEmpty {
            guard let user = users[ctx.user] else {
                throw KubeError.configuration("kubeconfig \(ctx.file): context \"\(name)\": user \"\(ctx.user)\" not found")
            }
            let userErr = { (m: String) in KubeError.configuration("kubeconfig \(user.file): user \"\(ctx.user)\": \(m)") }
            if let provider = user.authProvider {
                throw userErr("auth-provider \"\(provider)\" is not supported; use an exec credential plugin")
            }
            let cert = try user.clientCertificateData ?? user.clientCertificate.map { try Self.read($0, what: "client-certificate", error: userErr) }
            let key = try user.clientKeyData ?? user.clientKey.map { try Self.read($0, what: "client-key", error: userErr) }
            switch (cert, key) {
            case (.some, nil): throw userErr("client-certificate without client-key")
            case (nil, .some): throw userErr("client-key without client-certificate")
            default: break
            }
            tls.clientCertificatePEM = cert
            tls.clientKeyPEM = key
            if let exec = user.exec {
                auth = .exec(exec)
            } else if let file = user.tokenFile {
                // client-go prefers the file: it is re-read as it rotates.
                auth = .tokenFile(file)
            } else if let token = user.token, !token.isEmpty {
                auth = .bearerToken(token)
            } else if let username = user.username, !username.isEmpty {
                auth = .basic(username: username, password: user.password ?? "")
            }
        }
        return ClientConfiguration(server: server, tls: tls, authentication: auth,
                                   namespace: (ctx.namespace?.isEmpty ?? true) ? "default" : ctx.namespace ?? "default",
                                   proxyURL: cluster.proxyURL, source: "kubeconfig \(origin), context \"\(name)\"")
    }

    private static func read(_ path: String, what: String, error: (String) -> KubeError) throws -> Data {
        do {
            return try LocalFiles.contents(of: path)
        } catch let e {
            throw error("\(what) \(path): cannot be read: \(e)")
        }
    }
}

// MARK: - Parsing

/// Walks the YAML tree; every error names the file and the key path (`users[1].name`).
private struct Parser {
    let file: String
    var directory: String { LocalFiles.directory(of: file) }

    func error(_ key: String, _ message: String) -> KubeError {
        KubeError.configuration("kubeconfig \(file): \(key): \(message)")
    }

    mutating func parse(_ root: JSONValue) throws -> Kubeconfig {
        var config = Kubeconfig()
        config.files = [file]
        if root.isNull { return config }
        guard let top = root.objectValue else {
            throw KubeError.configuration("kubeconfig \(file): expected a mapping at the top level, got \(root.typeName)")
        }
        if let kind = try string(top["kind"], "kind"), !kind.isEmpty, kind != "Config" {
            throw error("kind", "expected \"Config\", got \"\(kind)\"")
        }
        config.currentContext = try string(top["current-context"], "current-context")

        for (i, item) in try list(top["clusters"], "clusters").enumerated() {
            let key = "clusters[\(i)]"
            let (name, body) = try named(item, key, field: "cluster", required: true)
            guard config.clusters[name] == nil else { continue }
            config.clusters[name] = try cluster(body ?? [:], "\(key).cluster")
        }
        for (i, item) in try list(top["users"], "users").enumerated() {
            let key = "users[\(i)]"
            let (name, body) = try named(item, key, field: "user", required: false)
            guard config.users[name] == nil else { continue }
            config.users[name] = try user(body ?? [:], "\(key).user")
        }
        for (i, item) in try list(top["contexts"], "contexts").enumerated() {
            let key = "contexts[\(i)]"
            let (name, body) = try named(item, key, field: "context", required: true)
            guard config.contexts[name] == nil else { continue }
            let c = body ?? [:]
            config.contexts[name] = Kubeconfig.Context(
                cluster: try string(c["cluster"], "\(key).context.cluster") ?? "",
                user: try string(c["user"], "\(key).context.user") ?? "",
                namespace: try string(c["namespace"], "\(key).context.namespace"),
                file: file)
        }
        return config
    }

    func list(_ v: JSONValue?, _ key: String) throws -> [JSONValue] {
        guard let v, !v.isNull else { return [] }
        guard let a = v.arrayValue else { throw error(key, "expected a list, got \(v.typeName)") }
        return a
    }

    func string(_ v: JSONValue?, _ key: String) throws -> String? {
        guard let v, !v.isNull else { return nil }
        guard let s = v.stringValue else { throw error(key, "expected a string, got \(v.typeName)") }
        return s
    }

    func bool(_ v: JSONValue?, _ key: String) throws -> Bool? {
        guard let v, !v.isNull else { return nil }
        guard let b = v.boolValue else { throw error(key, "expected a boolean, got \(v.typeName)") }
        return b
    }

    func base64(_ v: JSONValue?, _ key: String) throws -> Data? {
        guard let s = try string(v, key), !s.isEmpty else { return nil }
        let compact = s.filter { !$0.isWhitespace }
        guard let d = Data(base64Encoded: compact) else { throw error(key, "not valid base64") }
        return d
    }

    func path(_ v: JSONValue?, _ key: String) throws -> String? {
        guard let s = try string(v, key), !s.isEmpty else { return nil }
        return Kubeconfig.absolutePath(s, relativeTo: directory)
    }

    /// An entry `{name: ..., FIELD: {...}}`.
    func named(_ item: JSONValue, _ key: String, field: String, required: Bool) throws -> (String, JSONObject?) {
        guard let o = item.objectValue else { throw error(key, "expected a mapping, got \(item.typeName)") }
        guard let name = try string(o["name"], "\(key).name"), !name.isEmpty else {
            throw KubeError.configuration("kubeconfig \(file): \(key).name missing")
        }
        guard let body = o[field], !body.isNull else {
            if required { throw KubeError.configuration("kubeconfig \(file): \(key).\(field) missing") }
            return (name, nil)
        }
        guard let obj = body.objectValue else { throw error("\(key).\(field)", "expected a mapping, got \(body.typeName)") }
        return (name, obj)
    }

    func cluster(_ o: JSONObject, _ key: String) throws -> Kubeconfig.Cluster {
        var c = Kubeconfig.Cluster(file: file)
        if let server = try string(o["server"], "\(key).server"), !server.isEmpty {
            guard Self.isURL(server) else { throw error("\(key).server", "not a URL: \"\(server)\"") }
            c.server = server
        }
        c.certificateAuthority = try path(o["certificate-authority"], "\(key).certificate-authority")
        c.certificateAuthorityData = try base64(o["certificate-authority-data"], "\(key).certificate-authority-data")
        c.insecureSkipTLSVerify = try bool(o["insecure-skip-tls-verify"], "\(key).insecure-skip-tls-verify") ?? false
        c.tlsServerName = try string(o["tls-server-name"], "\(key).tls-server-name").flatMap { $0.isEmpty ? nil : $0 }
        if let proxy = try string(o["proxy-url"], "\(key).proxy-url"), !proxy.isEmpty {
            guard Self.isURL(proxy, schemes: ["http", "https", "socks5", "socks5h"]) else {
                throw error("\(key).proxy-url", "not a URL: \"\(proxy)\"")
            }
            c.proxyURL = proxy
        }
        return c
    }

    static func isURL(_ s: String, schemes: Set<String> = ["http", "https"]) -> Bool {
        guard !s.contains(where: { $0.isWhitespace }), let c = URLComponents(string: s), let scheme = c.scheme?.lowercased(),
              schemes.contains(scheme), let host = c.host, !host.isEmpty
        else { return false }
        return true
    }

    func user(_ o: JSONObject, _ key: String) throws -> Kubeconfig.User {
        var u = Kubeconfig.User(file: file)
        u.token = try string(o["token"], "\(key).token").flatMap { $0.isEmpty ? nil : $0 }
        u.tokenFile = try path(o["tokenFile"], "\(key).tokenFile")
        u.clientCertificate = try path(o["client-certificate"], "\(key).client-certificate")
        u.clientCertificateData = try base64(o["client-certificate-data"], "\(key).client-certificate-data")
        u.clientKey = try path(o["client-key"], "\(key).client-key")
        u.clientKeyData = try base64(o["client-key-data"], "\(key).client-key-data")
        u.username = try string(o["username"], "\(key).username")
        u.password = try string(o["password"], "\(key).password")
        if let ap = o["auth-provider"], !ap.isNull {
            u.authProvider = ap["name"]?.stringValue ?? "unnamed"
        }
        if let e = o["exec"], !e.isNull {
            guard let eo = e.objectValue else { throw error("\(key).exec", "expected a mapping, got \(e.typeName)") }
            u.exec = try exec(eo, "\(key).exec")
        }
        return u
    }

    func exec(_ o: JSONObject, _ key: String) throws -> ExecConfiguration {
        guard let command = try string(o["command"], "\(key).command"), !command.isEmpty else {
            throw KubeError.configuration("kubeconfig \(file): \(key).command missing")
        }
        guard let apiVersion = try string(o["apiVersion"], "\(key).apiVersion"), !apiVersion.isEmpty else {
            throw KubeError.configuration("kubeconfig \(file): \(key).apiVersion missing")
        }
        let supported = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
        guard supported.contains(apiVersion) else {
            throw error("\(key).apiVersion", "\"\(apiVersion)\" is not supported (use \(supported.joined(separator: " or ")))")
        }
        var args: [String] = []
        for (i, a) in try list(o["args"], "\(key).args").enumerated() {
            guard let s = a.stringValue else { throw error("\(key).args[\(i)]", "expected a string, got \(a.typeName)") }
            args.append(s)
        }
        var env: [ExecConfiguration.EnvVar] = []
        for (i, item) in try list(o["env"], "\(key).env").enumerated() {
            guard let eo = item.objectValue else { throw error("\(key).env[\(i)]", "expected a mapping, got \(item.typeName)") }
            guard let name = try string(eo["name"], "\(key).env[\(i)].name"), !name.isEmpty else {
                throw KubeError.configuration("kubeconfig \(file): \(key).env[\(i)].name missing")
            }
            env.append(.init(name: name, value: try string(eo["value"], "\(key).env[\(i)].value") ?? ""))
        }
        return ExecConfiguration(command: command, args: args, env: env, apiVersion: apiVersion,
                                 installHint: try string(o["installHint"], "\(key).installHint"),
                                 provideClusterInfo: try bool(o["provideClusterInfo"], "\(key).provideClusterInfo") ?? false,
                                 baseDirectory: directory)
    }
}
