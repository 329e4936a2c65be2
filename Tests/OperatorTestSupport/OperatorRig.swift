import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import KubeYAML
import Logging
import Synchronization
import XCTest

import PynomalyOperator

/// The real manager with the operator's controllers, in process, against KubeTestServer over
/// HTTPS (libcurl), with the simulated Deployment controller and kubelet on.
public final class OperatorRig: Sendable {
    public let cluster: TestCluster
    public let manager: Manager
    public let controller: Controller
    public let restoreController: Controller
    public let events: EventRecorder
    public let caches: OperatorCaches
    public let probe = ConcurrencyProbe()
    /// Every line the operator logged (debug level, JSON).
    public let log = OutputBuffer()
    private let task = Mutex<Task<ManagerOutcome, any Error>?>(nil)

    public var server: KubeTestServer { cluster.server }
    public var admin: KubeAPIClient { cluster.admin }

    public static let namespace = "default"

    /// `withoutCRDs`: CRDs the cluster lacks at first. `healthProbes`: serve `/readyz` on a free
    /// loopback port (`manager.healthProbePort`). `gracefulShutdownTimeout`: the manager's.
    public init(podStartDelay: Double = 0.02, progressDeadline: Double = 0.4, resyncPeriod: Double = 600, conflictRecheckPeriod: Double = 30,
         statusSettle: Double = PynomalyDeploymentReconciler.defaultStatusSettle, prometheus: (any PrometheusQuerying)? = nil, withoutCRDs: Set<String> = [], healthProbes: Bool = false,
         gracefulShutdownTimeout: Double = 30) async throws {
        var options = KubeTestServerOptions()
        options.simulation = .on
        options.simulation.podStartDelay = podStartDelay
        options.simulation.progressDeadline = progressDeadline
        cluster = try await TestCluster.start(options, withoutCRDs: withoutCRDs)
        let configuration = try ConfigurationResolver.resolve(kubeconfigPath: cluster.kubeconfig, context: nil)
        var operatorConfiguration = configuration
        operatorConfiguration.qps = 0
        let client = try makeKubeClient(configuration: operatorConfiguration)
        let log = log
        let logger = Logger(label: "pynomaly-operator") { label in
            StructuredLogHandler(label: label, format: .json, level: .debug) { log.append($0) }
        }
        manager = Manager(client: client, options: ManagerOptions(healthProbeBindAddress: healthProbes ? .loopbackEphemeral : nil,
                                                                  gracefulShutdownTimeout: gracefulShutdownTimeout, crdHint: OperatorSetup.crdHint),
                          logger: logger)
        let registered = OperatorSetup.register(on: manager, configuration: OperatorConfiguration(maxConcurrentReconciles: 4, resyncPeriod: resyncPeriod,
                                                                                                      conflictRecheckPeriod: conflictRecheckPeriod,
                                                                                                      statusSettle: statusSettle,
                                                                                                      prometheus: prometheus),
                                                hooks: probe)
        controller = registered.controller
        restoreController = registered.restoreController
        events = registered.events
        caches = registered.caches
    }

    public func start() {
        let manager = manager
        task.withLock { $0 = Task { try await manager.run() } }
    }

    public func stop() async throws {
        _ = try await stopManager()
        try await cluster.stop()
    }

    /// Shuts the manager down (as SIGTERM does) and answers how its `run` ended; the cluster stays.
    @discardableResult
    public func stopManager() async throws -> ManagerOutcome? {
        manager.shutDown()
        guard let running = task.withLock({ $0 }) else { return nil }
        return try await running.value
    }

    // MARK: Objects

    /// The sample's documents (Secret and PynomalyDeployment), optionally renamed.
    public static func sample(_ file: String = "pynomaly.yaml") throws -> [JSONValue] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("manifests/samples/\(file)"), encoding: .utf8)
        return try YAML.parseDocuments(text)
    }

    public static func sampleDeployment(name: String = "pynomaly", _ change: (inout JSONValue) -> Void = { _ in }) throws -> JSONValue {
        guard var cr = try sample().first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            throw KubeError.configuration("the sample has no PynomalyDeployment")
        }
        cr[path: ["metadata", "name"]] = .string(name)
        change(&cr)
        return cr
    }

    public func createSampleSecret() async throws {
        guard let secret = try Self.sample().first(where: { $0["kind"]?.stringValue == "Secret" }) else { return }
        _ = try await admin.create(.secrets, namespace: Self.namespace, object: secret)
    }

    public func create(_ cr: JSONValue) async throws {
        _ = try await admin.create(.pynomalyDeployments, namespace: Self.namespace, object: cr)
    }

    /// A Job nobody controls under `name`: someone else's object holding a name the operator needs.
    public func createForeignJob(_ name: String) async throws {
        let job: JSONValue = [
            "apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name)],
            "spec": ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "main", "image": "busybox:1.36"]]]]],
        ]
        _ = try await admin.create(.jobs, namespace: Self.namespace, object: job)
    }

    public func cr(_ name: String = "pynomaly") async throws -> JSONValue {
        try await admin.get(.pynomalyDeployments, namespace: Self.namespace, name: name)
    }

    public func get(_ resource: ResourceType, _ name: String) async throws -> JSONValue? {
        do {
            return try await admin.get(resource, namespace: Self.namespace, name: name)
        } catch let error as KubeError where error.isNotFound { return nil }
    }

    /// Merge-patches the CR's spec (a user's `kubectl patch`).
    public func patchSpec(_ spec: JSONValue, name: String = "pynomaly") async throws {
        _ = try await admin.patch(.pynomalyDeployments, namespace: Self.namespace, name: name, type: .merge,
                                  body: JSONValue.object(["spec": spec]).serialized(), subresource: nil, options: WriteOptions())
    }

    public func annotate(_ key: String, _ value: String, name: String = "pynomaly") async throws {
        let body: JSONValue = ["metadata": ["annotations": .object([key: .string(value)])]]
        _ = try await admin.patch(.pynomalyDeployments, namespace: Self.namespace, name: name, type: .merge,
                                  body: body.serialized(), subresource: nil, options: WriteOptions())
    }

    public func condition(_ cr: JSONValue, _ type: String) -> JSONValue? {
        cr[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    /// Waits until condition `type` has `status` at the CR's current generation.
    public func waitForCondition(_ type: String, _ status: String = "True", name: String = "pynomaly", reason: String? = nil,
                          timeout: Double = 20, file: StaticString = #filePath, line: UInt = #line) async throws {
        var last: JSONValue = .null
        let reached = try await eventually(timeout: timeout) {
            let cr = try await self.cr(name)
            last = cr
            guard let c = self.condition(cr, type), c["status"]?.stringValue == status,
                  cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]] else { return false }
            return reason == nil || c["reason"]?.stringValue == reason
        }
        if !reached {
            XCTFail("\(name): \(type) did not become \(status)\(reason.map { " (\($0))" } ?? "") within \(timeout) s; status: \(last["status"]?.serializedString() ?? "none")",
                    file: file, line: line)
            throw CancellationError()
        }
    }

    public func deploymentImage(_ name: String = "pynomaly") async throws -> String? {
        try await get(.deployments, name)?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue
    }

    public func events(for name: String = "pynomaly") async throws -> [JSONValue] {
        try await admin.list(.events, namespace: Self.namespace, options: ListOptions()).items.filter {
            $0[path: ["involvedObject", "name"]]?.stringValue == name && $0[path: ["involvedObject", "kind"]]?.stringValue == "PynomalyDeployment"
        }
    }

    public func eventReasons(for name: String = "pynomaly") async throws -> [String] {
        try await events(for: name).compactMap { $0["reason"]?.stringValue }
    }

    /// Write requests served so far (everyone's; a test keeps its own client quiet while counting).
    public var writeCount: Int {
        server.requestCounts.filter { key, _ in ["create", "update", "patch", "delete", "deletecollection"].contains(key.split(separator: " ").first.map(String.init) ?? "") }
            .values.reduce(0, +)
    }

    /// Waits until the work queue is empty, no reconcile runs and every Event is written.
    public func waitForIdle(timeout: Double = 20) async throws {
        let idle = try await eventually(timeout: timeout) {
            let depth = await self.controller.queue.depth
            return depth == 0 && self.controller.metrics.activeWorkers == 0 && self.events.isIdle
        }
        XCTAssertTrue(idle, "the controller went idle")
    }
}

extension OperatorRig {
    /// Starts the operator and creates the sample PynomalyDeployment with its Secret; returns once
    /// the CR is Ready and, with `idle`, the controller has nothing left to do: where most
    /// end-to-end tests begin.
    public func startWithReadySample(idle: Bool = true) async throws {
        start()
        try await createSampleSecret()
        try await create(try Self.sampleDeployment())
        try await waitForCondition(ConditionType.ready)
        if idle { try await waitForIdle() }
    }

    /// Starts the operator and creates the backup sample; returns once its CR is Ready.
    public func startWithReadyBackupSample() async throws {
        start()
        try await createBackupSample()
        try await waitForCondition(ConditionType.ready)
    }

    /// Creates the backup sample: its Secret and PynomalyDeployment.
    public func createBackupSample() async throws {
        let documents = try OperatorRig.sample("pynomaly-backup.yaml")
        if let secret = documents.first(where: { $0["kind"]?.stringValue == "Secret" }) {
            _ = try await admin.create(.secrets, namespace: "default", object: secret)
        }
        guard let cr = documents.first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            throw KubeError.configuration("the backup sample has no PynomalyDeployment")
        }
        try await create(cr)
        try await waitForCondition(ConditionType.ready, timeout: 30)
    }
}
