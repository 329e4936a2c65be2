import Foundation
import KubeClient
import KubeCore
import KubeYAML

/// What the bench needs to know to start the two processes.
struct BenchSettings: Sendable {
    /// Folder of the release binaries (pynomaly-sandbox, pynomaly-operator).
    var binaries: String
    /// Where logs and kubeconfigs go.
    var workDirectory: String
    var sample: String
    /// The operator's --kube-api-qps / --kube-api-burst, and the raw client's.
    var qps: Double
    var burst: Int
    var resyncPeriod: Double
    var maxConcurrentReconciles: Int
    /// What the operator's process gets on top of the bench's environment: what the image sets.
    var operatorEnvironment: [String: String]
}

/// The API server (`pynomaly-sandbox --server-only`) in its own process, and a client for it.
final class Cluster: Sendable {
    let server: Child
    let kubeconfig: String
    /// The bench's own client: its rate limit is high, so the bench never is the bottleneck.
    let admin: KubeAPIClient
    let settings: BenchSettings

    static func start(_ settings: BenchSettings, name: String) async throws -> Cluster {
        let directory = (settings.workDirectory as NSString).appendingPathComponent(name)
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server = try Child((settings.binaries as NSString).appendingPathComponent("pynomaly-sandbox"),
                               ["--server-only", "--state-directory", directory,
                                "--simulated-pod-start-seconds", "0", "--simulated-job-seconds", "0"],
                               logPath: (directory as NSString).appendingPathComponent("server.log"))
        do {
            try await server.waitForOutput("The sandbox is running", timeout: 60)
            let kubeconfig = (directory as NSString).appendingPathComponent("kubeconfig")
            var configuration = try ConfigurationResolver.resolve(kubeconfigPath: kubeconfig, context: nil)
            configuration.qps = 10_000
            configuration.burst = 10_000
            return Cluster(server: server, kubeconfig: kubeconfig, admin: try makeKubeClient(configuration: configuration), settings: settings)
        } catch {
            await server.stop()
            throw error
        }
    }

    private init(server: Child, kubeconfig: String, admin: KubeAPIClient, settings: BenchSettings) {
        self.server = server
        self.kubeconfig = kubeconfig
        self.admin = admin
        self.settings = settings
    }

    var directory: String { (kubeconfig as NSString).deletingLastPathComponent }

    func stop() async { await server.stop() }

    /// A client with the operator's rate limit (the trivial client of the raw-write baseline).
    func rateLimitedClient() throws -> KubeAPIClient {
        var configuration = try ConfigurationResolver.resolve(kubeconfigPath: kubeconfig, context: nil)
        configuration.qps = settings.qps
        configuration.burst = settings.burst
        return try makeKubeClient(configuration: configuration)
    }

    /// Starts `pynomaly-operator run` against this server and answers it with its ports.
    func startOperator(tag: String) throws -> OperatorProcess {
        let metricsPort = try freePort()
        let probePort = try freePort()
        let child = try Child((settings.binaries as NSString).appendingPathComponent("pynomaly-operator"),
                              ["run", "--kubeconfig", kubeconfig,
                               "--metrics-bind-address", "127.0.0.1:\(metricsPort)",
                               "--health-probe-bind-address", "127.0.0.1:\(probePort)",
                               "--kube-api-qps", String(settings.qps), "--kube-api-burst", String(settings.burst),
                               "--resync-period", String(settings.resyncPeriod),
                               "--max-concurrent-reconciles", String(settings.maxConcurrentReconciles),
                               "--log-level", "warning", "--log-format", "text"],
                              environment: settings.operatorEnvironment,
                              logPath: (directory as NSString).appendingPathComponent("operator-\(tag).log"))
        return OperatorProcess(child: child, metricsPort: metricsPort, probePort: probePort)
    }

    // MARK: Objects

    func createNamespace(_ name: String) async throws {
        let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
        _ = try await admin.create(.namespaces, namespace: nil, object: namespace)
    }

    /// The sample's Secret and PynomalyDeployment, parsed once.
    struct Sample: Sendable {
        var secret: JSONValue
        var deployment: JSONValue

        init(path: String) throws {
            let documents = try YAML.parseDocuments(try String(contentsOfFile: path, encoding: .utf8))
            guard let secret = documents.first(where: { $0["kind"]?.stringValue == "Secret" }),
                  let deployment = documents.first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
                throw BenchError("\(path) needs a Secret and a PynomalyDeployment")
            }
            self.secret = secret
            self.deployment = deployment
        }

        /// The PynomalyDeployment renamed into `namespace`.
        func deployment(named name: String, namespace: String) -> JSONValue {
            var object = deployment
            object["metadata"] = ["name": .string(name), "namespace": .string(namespace)]
            return object
        }
    }

    /// A namespace with the sample's Secret in it.
    func prepareNamespace(_ namespace: String, sample: Sample) async throws {
        try await createNamespace(namespace)
        var secret = sample.secret
        secret["metadata"]?["namespace"] = .string(namespace)
        _ = try await admin.create(.secrets, namespace: namespace, object: secret)
    }

    /// Creates `names` as PynomalyDeployments, `concurrency` at a time.
    func createDeployments(_ names: [String], namespace: String, sample: Sample, concurrency: Int = 16) async throws {
        try await forEachConcurrently(names, concurrency: concurrency) { name in
            _ = try await self.admin.create(.pynomalyDeployments, namespace: namespace,
                                            object: sample.deployment(named: name, namespace: namespace))
        }
    }
}

/// Runs `body` for every element, at most `concurrency` at once.
func forEachConcurrently<T: Sendable>(_ items: [T], concurrency: Int,
                                      _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<max(1, concurrency) {
            guard let item = iterator.next() else { break }
            group.addTask { try await body(item) }
        }
        while try await group.next() != nil {
            if let item = iterator.next() { group.addTask { try await body(item) } }
        }
    }
}

/// The operator process and what it serves.
struct OperatorProcess: Sendable {
    let child: Child
    let metricsPort: Int
    let probePort: Int

    /// Waits until /readyz answers 200 (every informer synced).
    func waitUntilReady(timeout: Double = 60) async throws {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if httpGet(port: probePort, path: "/readyz")?.status == 200 { return }
            guard child.process.isRunning else { throw BenchError("the operator exited; see \(child.logPath)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the operator was not ready within \(timeout) s; see \(child.logPath)")
    }

    func sample() throws -> ProcessSample { try ProcessSample.read(pid: child.pid) }

    func metrics() throws -> OperatorMetrics {
        guard let answer = httpGet(port: metricsPort, path: "/metrics"), answer.status == 200 else {
            throw BenchError("the operator's /metrics did not answer")
        }
        return OperatorMetrics(exposition: answer.body)
    }
}

/// The counters the bench reads from the operator's /metrics.
struct OperatorMetrics: Sendable {
    /// rest_client_requests_total summed by method (GET, POST, PUT, PATCH, DELETE).
    var requestsByMethod: [String: Double] = [:]
    /// controller_runtime_reconcile_total of the pynomalydeployment controller, all results.
    var reconciles: Double = 0
    /// Requests the server answered 409 Conflict (a write from a stale resourceVersion).
    var conflicts: Double = 0

    init(exposition: String) {
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            if series.hasPrefix("rest_client_requests_total{"), let method = Self.label("method", in: series) {
                requestsByMethod[method, default: 0] += value
                if Self.label("code", in: series) == "409" { conflicts += value }
            } else if series.hasPrefix("controller_runtime_reconcile_total{"), Self.label("controller", in: series) == "pynomalydeployment" {
                reconciles += value
            }
        }
    }

    static func label(_ name: String, in series: Substring) -> String? {
        guard let start = series.range(of: name + "=\"") else { return nil }
        let rest = series[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    var requests: Double { requestsByMethod.values.reduce(0, +) }
    var writes: Double { ["POST", "PUT", "PATCH", "DELETE"].reduce(0) { $0 + (requestsByMethod[$1] ?? 0) } }
}
