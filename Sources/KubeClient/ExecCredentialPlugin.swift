#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Runs a client-go credential plugin and reads the `ExecCredential` it prints
/// (client.authentication.k8s.io v1 and v1beta1).
struct ExecCredentialPlugin: Sendable {
    struct Output: Sendable {
        var token: String?
        var clientCertificatePEM: Data?
        var clientKeyPEM: Data?
        var expiration: Date?
    }

    let configuration: ExecConfiguration
    /// `spec.cluster` for plugins with `provideClusterInfo`.
    let clusterInfo: JSONValue?
    let environment: [String: String]
    /// How long one run may take before the plugin is killed and the request fails with an error
    /// that says so. client-go has no limit because kubectl's plugins may wait for an interactive
    /// login; this client runs them with no terminal (`interactive: false`, stdin /dev/null), so a
    /// run that takes this long is hung, and without a limit it would hold every request waiting
    /// for credentials.
    let timeout: Double

    static let defaultTimeout: Double = 60

    init(configuration: ExecConfiguration, clusterInfo: JSONValue? = nil,
         environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Double = Self.defaultTimeout) {
        self.configuration = configuration
        self.clusterInfo = clusterInfo
        self.environment = environment
        self.timeout = timeout
    }

    private var name: String { "exec plugin \"\(configuration.command)\"" }

    private func fail(_ message: String) -> KubeError {
        var m = "\(name): \(message)"
        if let hint = configuration.installHint, !hint.isEmpty { m += " (\(hint))" }
        return KubeError.configuration(m)
    }

    /// The executable: a command with a '/' is a path (relative ones are taken from the kubeconfig's
    /// directory, as kubectl does); a bare name is looked up in PATH.
    func resolveExecutable() throws -> String {
        let command = configuration.command
        guard !command.isEmpty else { throw fail("command is empty") }
        if command.contains("/") {
            if command.hasPrefix("/") { return command }
            let base = configuration.baseDirectory ?? FileManager.default.currentDirectoryPath
            return URL(fileURLWithPath: base).appendingPathComponent(command).standardizedFileURL.path
        }
        let path = configuration.env.last(where: { $0.name == "PATH" })?.value ?? environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw fail("executable not found in PATH")
    }

    /// The `KUBERNETES_EXEC_INFO` value: the ExecCredential the plugin is asked to fill in.
    func execInfo() -> String {
        var spec: JSONObject = ["interactive": false]
        if configuration.provideClusterInfo, let clusterInfo { spec["cluster"] = clusterInfo }
        let info: JSONValue = ["apiVersion": .string(configuration.apiVersion), "kind": "ExecCredential", "spec": .object(spec)]
        return info.serializedString()
    }

    func run() async throws -> Output {
        let executable = try resolveExecutable()
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw fail("\(executable) is not an executable file")
        }
        var env = environment
        for v in configuration.env { env[v.name] = v.value }
        env["KUBERNETES_EXEC_INFO"] = execInfo()

        let (status, stdout, stderr): (Int32, Data, Data)
        do {
            (status, stdout, stderr) = try await Self.runProcess(executable: executable, arguments: configuration.args, environment: env, timeout: timeout)
        } catch let failure as ChildProcess.Failure {
            switch failure {
            case .spawn(let error):
                throw KubeError.configuration("exec plugin \"\(executable)\": cannot start: \(error)")
            case .timedOut(let error):
                let errText = String(decoding: error.stderr, as: UTF8.self).trimmingWhitespace()
                throw fail("\(error); a plugin run here has no terminal, so one that waits for a login cannot finish"
                           + (errText.isEmpty ? "" : "; stderr: \(errText)"))
            }
        }
        let errText = String(decoding: stderr, as: UTF8.self).trimmingWhitespace()
        guard status == 0 else {
            throw fail("exited with status \(status)" + (errText.isEmpty ? "" : ": \(errText)"))
        }
        return try parse(stdout, stderr: errText)
    }

    func parse(_ stdout: Data, stderr: String = "") throws -> Output {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: stdout)
        } catch {
            throw fail("output is not JSON (\(error))" + (stderr.isEmpty ? "" : "; stderr: \(stderr)"))
        }
        guard value["kind"]?.stringValue == "ExecCredential" else {
            throw fail("output is not an ExecCredential (kind \(value["kind"]?.stringValue ?? "missing"))")
        }
        let version = value["apiVersion"]?.stringValue ?? ""
        guard version == configuration.apiVersion else {
            throw fail("plugin returned apiVersion \"\(version)\" but the kubeconfig asks for \"\(configuration.apiVersion)\"")
        }
        guard let status = value["status"]?.objectValue else { throw fail("ExecCredential has no status") }
        var out = Output()
        if let t = status["token"]?.stringValue, !t.isEmpty { out.token = t }
        let cert = status["clientCertificateData"]?.stringValue
        let key = status["clientKeyData"]?.stringValue
        if (cert == nil) != (key == nil) {
            throw fail("status.clientCertificateData and status.clientKeyData must be set together")
        }
        if let cert, let key {
            out.clientCertificatePEM = Data(cert.utf8)
            out.clientKeyPEM = Data(key.utf8)
        }
        guard out.token != nil || out.clientCertificatePEM != nil else {
            throw fail("ExecCredential status has neither a token nor a client certificate")
        }
        if let exp = status["expirationTimestamp"]?.stringValue {
            guard let date = RFC3339.parse(exp) else {
                throw fail("status.expirationTimestamp \"\(exp)\" is not an RFC 3339 time")
            }
            out.expiration = date
        }
        return out
    }

    /// Runs a process off the cooperative pool (reading its pipes blocks), both pipes read at once
    /// so a chatty stderr cannot deadlock it. `posix_spawn`, since the shipped binaries link
    /// FoundationEssentials only, which has no `Process`.
    static func runProcess(executable: String, arguments: [String], environment: [String: String],
                           timeout: Double) async throws -> (Int32, Data, Data) {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<(Int32, Data, Data), any Error>) in
            startOSThread(name: "exec-plugin") {
                do {
                    c.resume(returning: try ChildProcess.run(executable: executable, arguments: arguments, environment: environment, timeout: timeout))
                } catch {
                    c.resume(throwing: error)
                }
            }
        }
    }
}

/// RFC 3339 timestamps as Kubernetes writes them (with or without fractional seconds).
enum RFC3339 {
    static func parse(_ s: String) -> Date? { KubeTime.parse(s) }
}
