import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeCore
import KubeRuntime
import Logging
import PynomalyOperator
import ServiceLifecycle
import Synchronization

/// `pynomaly-operator run`: the controller manager. Flags follow controller-runtime's names.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs the operator: watches PynomalyDeployments and reconciles what they own.",
        discussion: """
            Exit codes: 0 after a graceful shutdown (SIGTERM/SIGINT: stop taking work, finish reconciles \
            in flight within the grace period, release the lease); 1 when leadership was lost or the \
            shutdown could not drain in time; 2 for unusable flags or kubeconfig.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Watch only this namespace (default: all namespaces).")
    var namespace: String?

    @Flag(inversion: .prefixedNo, help: "Elect a leader through a coordination.k8s.io Lease, so that only one replica acts.")
    var leaderElect = false

    @Option(help: "Namespace of the leader-election Lease (default: the pod's namespace in a cluster, else pynomaly-system).")
    var leaderElectionNamespace: String?

    @Option(help: "Name of the leader-election Lease.")
    var leaderElectionId = "pynomaly-operator-leader"

    @Option(help: "Seconds a leader's lease is valid without renewal.")
    var leaseDuration: Double = 15

    @Option(help: "Seconds a leader keeps trying to renew before it gives up leadership.")
    var renewDeadline: Double = 10

    @Option(help: "Seconds between attempts to acquire or renew the lease.")
    var retryPeriod: Double = 2

    @Option(help: "Where /metrics is served (e.g. :8080, 127.0.0.1:8080; 0 disables it).")
    var metricsBindAddress = ":8080"

    @Option(help: "Where /healthz and /readyz are served (0 disables them).")
    var healthProbeBindAddress = ":8081"

    // A pass mostly waits on API answers: with 4 workers the client's rate limit went partly unused
    // (make bench: 1,000 new CRs in 137 s with 4, 114 s with 8, same QPS).
    @Option(help: "PynomalyDeployments reconciled in parallel (never two reconciles of one object at once).")
    var maxConcurrentReconciles = 8

    @Option(help: "Client-side limit of API requests per second.")
    var kubeApiQps: Double = 20

    @Option(help: "Requests allowed in a burst above --kube-api-qps.")
    var kubeApiBurst = 30

    @Option(help: "Seconds granted to reconciles in flight on shutdown.")
    var gracefulShutdownTimeout: Double = 30

    @Option(help: "Seconds between full resyncs of every PynomalyDeployment (a safety net; converged objects cost no writes).")
    var resyncPeriod: Double = 600

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "json or text (default: json inside a cluster, text elsewhere).")
    var logFormat: String?

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        if let logFormat, LogFormat(rawValue: logFormat) == nil {
            throw ValidationError("--log-format \"\(logFormat)\" is not json or text")
        }
        guard maxConcurrentReconciles >= 1 else { throw ValidationError("--max-concurrent-reconciles must be at least 1") }
        guard kubeApiQps > 0, kubeApiBurst >= 1 else { throw ValidationError("--kube-api-qps must be positive and --kube-api-burst at least 1") }
        guard gracefulShutdownTimeout >= 0 else { throw ValidationError("--graceful-shutdown-timeout must not be negative") }
        guard resyncPeriod >= 0 else { throw ValidationError("--resync-period must not be negative") }
        do {
            _ = try BindAddress.parse(metricsBindAddress)
        } catch { throw ValidationError("--metrics-bind-address: \(error)") }
        do {
            _ = try BindAddress.parse(healthProbeBindAddress)
        } catch { throw ValidationError("--health-probe-bind-address: \(error)") }
    }

    func run() async throws {
        let inCluster = ProcessInfo.processInfo.environment["KUBERNETES_SERVICE_HOST"] != nil
        let format = logFormat.flatMap(LogFormat.init(rawValue:)) ?? (inCluster ? .json : .text)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "pynomaly-operator")

        var clientConfiguration: ClientConfiguration
        do {
            clientConfiguration = try connection.resolve()
        } catch {
            logger.critical("cannot load the client configuration", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        clientConfiguration.qps = kubeApiQps
        clientConfiguration.burst = kubeApiBurst
        logger.info("connecting", metadata: ["server": "\(clientConfiguration.server)", "source": "\(clientConfiguration.source)"])

        let metrics = RuntimeMetrics()
        let client: KubeAPIClient
        do {
            // rest_client_requests_total counts every attempt the API server answered, below the retries.
            // Nothing the operator runs reads managedFields, and its caches drop them: answers skip them.
            let host = URL(string: clientConfiguration.server)?.host ?? clientConfiguration.server
            client = try makeKubeClientWithTransport(configuration: clientConfiguration, instrument: { curl in
                MetricsTransport(curl, metrics: metrics, host: host)
            }).client.omittingManagedFieldsFromAnswers()
        } catch {
            logger.critical("cannot create the API client", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }

        let leaderElection = leaderElect ? LeaderElectionConfiguration(
            leaseNamespace: leaderElectionNamespace ?? Self.podNamespace() ?? "pynomaly-system",
            leaseName: leaderElectionId, leaseDuration: leaseDuration, renewDeadline: renewDeadline, retryPeriod: retryPeriod) : nil
        let options = ManagerOptions(
            leaderElection: leaderElection,
            metricsBindAddress: try? BindAddress.parse(metricsBindAddress),
            healthProbeBindAddress: try? BindAddress.parse(healthProbeBindAddress),
            gracefulShutdownTimeout: gracefulShutdownTimeout, crdHint: OperatorSetup.crdHint)
        let manager = Manager(client: client, options: options, metrics: metrics, logger: logger)
        OperatorSetup.register(on: manager, configuration: OperatorConfiguration(
            watchNamespace: namespace, maxConcurrentReconciles: maxConcurrentReconciles, resyncPeriod: resyncPeriod,
            prometheus: PrometheusHTTPClient { endpoint in
                try CurlTransport.endpoint(address: endpoint.address, caPEM: endpoint.caPEM, bearerToken: endpoint.bearerToken,
                                           timeout: endpoint.timeoutSeconds)
            }))
        manager.addRunnable { await MemoryScavenger.run(every: .seconds(10)) }
        manager.addRunnable { await StartupPages.release(whenSettled: { await manager.hasSettled() }) }

        let service = ManagerService(manager: manager)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "manager")],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("the manager failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let outcome = service.outcome ?? .stopped(drained: true)
        if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
    }

    /// The namespace of the pod's service account, inside a cluster.
    static func podNamespace() -> String? {
        let path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let trimmed = text.trimmingWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// The manager as a swift-service-lifecycle service: SIGTERM/SIGINT become `Manager.shutDown()`.
final class ManagerService: ServiceLifecycle.Service, Sendable {
    let manager: Manager
    private let result = Mutex<ManagerOutcome?>(nil)

    init(manager: Manager) { self.manager = manager }

    var outcome: ManagerOutcome? { result.withLock { $0 } }

    func run() async throws {
        let manager = manager
        let outcome = try await withGracefulShutdownHandler {
            try await manager.run()
        } onGracefulShutdown: {
            manager.shutDown()
        }
        result.withLock { $0 = outcome }
    }
}
