#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// What a request presents: an Authorization header value and/or a client certificate.
struct Credentials: Sendable, Equatable {
    var authorization: String?
    var clientCertificatePEM: Data?
    var clientKeyPEM: Data?
}

/// Supplies credentials per request and, after a 401, says whether fresh ones are worth a retry.
protocol CredentialSource: Sendable {
    func current() async throws -> Credentials
    /// Called after the server refused `refused` with 401: reload (re-read the file, re-run the
    /// plugin) and answer true when the new credentials differ, so the request is retried once.
    func refresh(after refused: Credentials) async throws -> Bool
}

/// Credentials that never change (a token in the kubeconfig, basic auth, a client certificate).
struct StaticCredentials: CredentialSource {
    let credentials: Credentials
    func current() async throws -> Credentials { credentials }
    func refresh(after refused: Credentials) async throws -> Bool { false }
}

/// A bearer token read from a file and re-read when the file changes: bound service-account
/// tokens are rotated by the kubelet. The file's modification time is checked at most every
/// `recheckInterval` seconds, and the file is re-read at once after a 401.
actor TokenFileCredentials: CredentialSource {
    let path: String
    let recheckInterval: Duration
    let base: Credentials
    private var token: String?
    private var modified: Date?
    private var lastCheck: ContinuousClock.Instant?

    init(path: String, recheckInterval: Duration = .seconds(5), base: Credentials = Credentials()) {
        self.path = path
        self.recheckInterval = recheckInterval
        self.base = base
    }

    func current() async throws -> Credentials {
        let now = ContinuousClock.now
        if token == nil || lastCheck.map({ now - $0 >= recheckInterval }) ?? true {
            lastCheck = now
            let mtime = Self.modificationDate(path)
            if token == nil || mtime != modified {
                try reload()
            }
        }
        return credentials()
    }

    func refresh(after refused: Credentials) async throws -> Bool {
        try reload()
        lastCheck = ContinuousClock.now
        return credentials() != refused
    }

    private func credentials() -> Credentials {
        var c = base
        if let token { c.authorization = "Bearer \(token)" }
        return c
    }

    private func reload() throws {
        let data: Data
        do {
            data = try LocalFiles.contents(of: path)
        } catch {
            throw KubeError.configuration("token file \(path): cannot be read: \(error)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !text.isEmpty else { throw KubeError.configuration("token file \(path): empty") }
        token = text
        modified = Self.modificationDate(path)
    }

    static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}

/// Credentials from an exec plugin, cached until their `expirationTimestamp` and fetched again
/// after a 401. Concurrent callers share one run of the plugin.
actor ExecCredentials: CredentialSource {
    let plugin: ExecCredentialPlugin
    let base: Credentials
    private var cached: (credentials: Credentials, expiry: Date?)?
    private var inFlight: Task<(Credentials, Date?), any Error>?

    init(plugin: ExecCredentialPlugin, base: Credentials = Credentials()) {
        self.plugin = plugin
        self.base = base
    }

    func current() async throws -> Credentials {
        // Refresh a little before expiry, so a request does not race the deadline.
        if let cached, cached.expiry.map({ $0.timeIntervalSinceNow > 10 }) ?? true {
            return cached.credentials
        }
        return try await run()
    }

    func refresh(after refused: Credentials) async throws -> Bool {
        if let cached, cached.credentials != refused {
            return true  // someone else already fetched new ones
        }
        cached = nil
        let fresh = try await run()
        return fresh != refused
    }

    private func run() async throws -> Credentials {
        if let inFlight { return try await inFlight.value.0 }
        let plugin = self.plugin
        let base = self.base
        let task = Task { () throws -> (Credentials, Date?) in
            let result = try await plugin.run()
            var c = base
            if let token = result.token { c.authorization = "Bearer \(token)" }
            if let cert = result.clientCertificatePEM, let key = result.clientKeyPEM {
                c.clientCertificatePEM = cert
                c.clientKeyPEM = key
            }
            return (c, result.expiration)
        }
        inFlight = task
        defer { inFlight = nil }
        let (creds, expiry) = try await task.value
        cached = (creds, expiry)
        return creds
    }
}
