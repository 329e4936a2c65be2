#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Logging
import Synchronization

/// Settings of a manager (the `run` command's flags).
public struct ManagerOptions: Sendable {
    /// nil: no leader election (one replica only, or tests).
    public var leaderElection: LeaderElectionConfiguration?
    /// `/metrics`; nil: not served.
    public var metricsBindAddress: BindAddress?
    /// `/healthz` and `/readyz`; nil: not served. The same address as metrics serves all three.
    public var healthProbeBindAddress: BindAddress?
    /// How long a graceful shutdown waits for reconciles in flight (controller-runtime: 30 s).
    public var gracefulShutdownTimeout: Double
    /// The command that installs the process's CRDs, named in the error an informer logs when the
    /// API server does not serve its kind (404); nil: the error only asks whether the CRD is installed.
    public var crdHint: String?

    public init(leaderElection: LeaderElectionConfiguration? = nil, metricsBindAddress: BindAddress? = nil,
                healthProbeBindAddress: BindAddress? = nil, gracefulShutdownTimeout: Double = 30, crdHint: String? = nil) {
        self.crdHint = crdHint
        self.leaderElection = leaderElection
        self.metricsBindAddress = metricsBindAddress
        self.healthProbeBindAddress = healthProbeBindAddress
        self.gracefulShutdownTimeout = gracefulShutdownTimeout
    }
}

/// How a manager's `run` ended; the process exit code follows from it.
public enum ManagerOutcome: Sendable, Hashable {
    /// Shut down on request. `drained`: every reconcile in flight finished within the timeout.
    case stopped(drained: Bool)
    /// The lease was lost: the manager stopped acting at once. The process must exit non-zero so
    /// that it restarts as a follower.
    case lostLeadership

    /// 0 after a drained shutdown, 1 otherwise (controller-runtime exits non-zero in both cases).
    public var exitCode: Int32 {
        if case .stopped(drained: true) = self { return 0 }
        return 1
    }
}

/// Runs what a controller process is made of, in controller-runtime's order: the probe and
/// metrics servers; the shared informers (on every replica, so a new leader starts with warm
/// caches and `/readyz` reflects their sync); leader election; and, only while leading, the
/// controllers. A shutdown request (`shutDown()` or cancelling `run`) stops taking work, waits up
/// to `gracefulShutdownTimeout` for reconciles in flight, releases the lease and returns.
/// Losing the lease stops the controllers at once and returns `.lostLeadership`.
public final class Manager: Sendable {
    public typealias Client = Watcher.Client & KubernetesReader & KubernetesWriter

    public let client: any Client
    public let options: ManagerOptions
    public let metrics: RuntimeMetrics
    public let healthChecks = HealthChecks()
    public let logger: Logger
    private let clock: any RuntimeClock

    private struct InformerKey: Hashable {
        var group, resource: String
        var namespace, labelSelector, fieldSelector: String?
        var transform: ObjectTransform
    }
    private struct State {
        var informers: [InformerKey: Informer] = [:]
        var informerOrder: [Informer] = []
        var controllers: [Controller] = []
        var runnables: [@Sendable () async -> Void] = []
        var running = false
        var events: AsyncStream<Event>.Continuation?
        var pendingStop = false
        var metricsServer: ProbeServer?
        var probeServer: ProbeServer?
        var elector: LeaderElector?
    }
    private enum Event: Sendable {
        case stopRequested
        case leadership(Bool)
        case electionEnded(LeaderElector.Outcome)
    }
    private let state = Mutex(State())

    public init(client: any Client, options: ManagerOptions = ManagerOptions(), metrics: RuntimeMetrics = RuntimeMetrics(),
                clock: any RuntimeClock = SystemClock(), logger: Logger = .disabled) {
        self.client = client
        self.options = options
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
    }

    /// The informer for `resource` with these options, shared: two controllers asking for the
    /// same watch get one cache and one watch stream.
    public func informer(for resource: ResourceType, options informerOptions: InformerOptions = InformerOptions()) -> Informer {
        let key = InformerKey(group: resource.group, resource: resource.resource, namespace: informerOptions.namespace,
                              labelSelector: informerOptions.labelSelector, fieldSelector: informerOptions.fieldSelector,
                              transform: informerOptions.transform)
        return state.withLock { s in
            if let existing = s.informers[key] { return existing }
            precondition(!s.running, "informers must be created before the manager runs")
            let informer = Informer(client: client, resource: resource, options: informerOptions, clock: clock,
                                    logger: logger, crdHint: options.crdHint)
            s.informers[key] = informer
            s.informerOrder.append(informer)
            return informer
        }
    }

    /// A controller wired to this manager's metrics, clock and logger; add it with `add`.
    public func makeController(name: String, primary: Informer, reconciler: any Reconciler,
                               options controllerOptions: ControllerOptions = ControllerOptions(),
                               hooks: (any ReconcileHooks)? = nil) -> Controller {
        let controller = Controller(name: name, primary: primary, reconciler: reconciler, options: controllerOptions,
                                    clock: clock, hooks: hooks, metrics: metrics, logger: logger)
        add(controller)
        return controller
    }

    /// Adds a controller; it runs while this manager leads.
    public func add(_ controller: Controller) {
        state.withLock { s in
            precondition(!s.running, "controllers must be added before the manager runs")
            s.controllers.append(controller)
        }
    }

    /// Adds a background task that runs on every replica, leader or not, from start until the
    /// controllers have drained (e.g. an `EventRecorder`'s flush loop); it must end when cancelled.
    public func addRunnable(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { s in
            precondition(!s.running, "runnables must be added before the manager runs")
            s.runnables.append(body)
        }
    }

    /// Whether this manager currently leads (always true without leader election, once running).
    public var isLeader: Bool {
        state.withLock { s in s.running && (s.elector?.isLeader ?? (options.leaderElection == nil)) }
    }

    /// Whether the start is over: running, every informer synced (or its kind absent and allowed
    /// to be), and no controller with work queued or in flight. A standby that does not lead has
    /// settled once its caches have.
    public func hasSettled() async -> Bool {
        let (running, informers, controllers) = state.withLock { ($0.running, $0.informerOrder, $0.controllers) }
        guard running, informers.allSatisfy(\.countsAsReady) else { return false }
        for controller in controllers {
            if await controller.queue.depth > 0 { return false }
            if await !controller.queue.inFlight.isEmpty { return false }
        }
        return true
    }

    /// The bound port of the metrics server (tests bind port 0); nil when not serving.
    public var metricsPort: UInt16? { state.withLock { $0.metricsServer?.port } }
    /// The bound port of the health-probe server; nil when not serving.
    public var healthProbePort: UInt16? { state.withLock { $0.probeServer?.port } }

    /// Asks a running manager to shut down gracefully (what SIGTERM does); `run` then returns.
    public func shutDown() {
        let continuation = state.withLock { s -> AsyncStream<Event>.Continuation? in
            if s.events == nil { s.pendingStop = true }
            return s.events
        }
        continuation?.yield(.stopRequested)
    }

    /// Runs until shut down or until leadership is lost. Throws only when a server cannot bind
    /// or the leader-election settings are unusable, before anything else started.
    public func run() async throws -> ManagerOutcome {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let (informers, controllers, runnables, stopEarly) = state.withLock { s in
            s.running = true
            s.events = continuation
            return (s.informerOrder, s.controllers, s.runnables, s.pendingStop)
        }
        if stopEarly { continuation.yield(.stopRequested) }
        defer {
            continuation.finish()
            state.withLock { s in s.running = false; s.events = nil; s.pendingStop = false }
        }

        healthChecks.addInformersSyncedCheck(informers)
        let elector = try options.leaderElection.map { configuration in
            try LeaderElector(client: client, configuration: configuration, clock: clock, callbacks: electionCallbacks(), metrics: metrics)
        }
        let (metricsServer, probeServer) = try await startServers()
        state.withLock { s in s.metricsServer = metricsServer; s.probeServer = probeServer; s.elector = elector }
        logger.info("manager starting", metadata: [
            "informers": .string("\(informers.count)"), "controllers": .string("\(controllers.count)"),
            "leaderElection": .string(elector.map { "\($0.configuration.leaseNamespace)/\($0.configuration.leaseName) as \($0.identity)" } ?? "off"),
        ])

        let informerTasks = informers.map { informer in Task { await informer.run() } }
        let runnableTasks = runnables.map { body in Task { await body() } }
        defer { for task in informerTasks + runnableTasks { task.cancel() } }

        var electorTask: Task<Void, Never>?
        if let elector {
            let changes = elector.leadershipChanges()
            electorTask = Task {
                let forward = Task { for await leading in changes { continuation.yield(.leadership(leading)) } }
                let outcome = await elector.run()
                await forward.value
                continuation.yield(.electionEnded(outcome))
            }
        } else {
            continuation.yield(.leadership(true))
        }

        var controllersTask: Task<Void, Never>?
        let outcome: ManagerOutcome = await withTaskCancellationHandler {
            for await event in events {
                switch event {
                case .leadership(true):
                    guard controllersTask == nil else { continue }
                    logger.info("starting controllers")
                    controllersTask = Task {
                        await withTaskGroup(of: Void.self) { group in
                            for controller in controllers { group.addTask { await controller.run() } }
                        }
                    }
                case .leadership(false), .electionEnded(.lostLeadership):
                    // Stop acting at once: no drain, no more writes.
                    logger.error("leadership lost: stopping every controller now")
                    controllersTask?.cancel()
                    electorTask?.cancel()
                    return .lostLeadership
                case .electionEnded(.stopped):
                    continue
                case .stopRequested:
                    return await gracefulShutdown(controllers: controllers, controllersTask: controllersTask, electorTask: electorTask)
                }
            }
            return await gracefulShutdown(controllers: controllers, controllersTask: controllersTask, electorTask: electorTask)
        } onCancel: {
            continuation.yield(.stopRequested)
        }
        for task in runnableTasks { task.cancel() }
        for task in runnableTasks { await task.value }
        for task in informerTasks { task.cancel() }
        for task in informerTasks { await task.value }
        // Nothing after the servers started throws, so this is the one way out.
        await metricsServer?.stop()
        await probeServer?.stop()
        state.withLock { s in s.metricsServer = nil; s.probeServer = nil; s.elector = nil }
        logger.info("manager stopped", metadata: ["outcome": .string("\(outcome)")])
        return outcome
    }

    /// Stops taking work, waits (bounded) for reconciles in flight, then releases the lease.
    private func gracefulShutdown(controllers: [Controller], controllersTask: Task<Void, Never>?,
                                  electorTask: Task<Void, Never>?) async -> ManagerOutcome {
        logger.info("shutting down: draining reconciles in flight",
                    metadata: ["timeout": .string("\(options.gracefulShutdownTimeout)s")])
        let drain = Task {
            await withTaskGroup(of: Void.self) { group in
                for controller in controllers { group.addTask { await controller.shutDown() } }
            }
            await controllersTask?.value
        }
        let drained = await Self.wait(for: drain, timeout: options.gracefulShutdownTimeout, clock: clock)
        if !drained {
            logger.error("reconciles still in flight after the shutdown timeout; stopping anyway")
            controllersTask?.cancel()
        }
        // Release the lease only after the controllers stopped, so a successor never overlaps us.
        electorTask?.cancel()
        await electorTask?.value
        return .stopped(drained: drained)
    }

    /// true when `task` finished within `timeout` seconds; false when the time ran out first.
    private static func wait(for task: Task<Void, Never>, timeout: Double, clock: any RuntimeClock) async -> Bool {
        let race = FirstOfTwo()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            race.start(continuation)
            Task { await task.value; race.decide(true) }
            Task { try? await clock.sleep(for: timeout); race.decide(false) }
        }
    }

    private func electionCallbacks() -> LeaderElector.Callbacks {
        let logger = logger
        return LeaderElector.Callbacks(
            onStartedLeading: { logger.info("became leader") },
            onStoppedLeading: { logger.info("stopped leading") },
            onNewLeader: { holder in logger.info("leader is now \(holder)") })
    }

    /// Binds the metrics and probe servers (one server for both when they share an address).
    private func startServers() async throws -> (metrics: ProbeServer?, probes: ProbeServer?) {
        let metricsAddress = options.metricsBindAddress, probeAddress = options.healthProbeBindAddress
        if let metricsAddress, metricsAddress == probeAddress, metricsAddress.port != 0 {
            let server = ProbeServer(address: metricsAddress, metrics: metrics, checks: healthChecks)
            try server.start()
            logger.info("serving metrics and health probes", metadata: ["port": .string("\(server.port)")])
            return (server, server)
        }
        let metricsServer = metricsAddress.map { ProbeServer(address: $0, metrics: metrics, checks: nil) }
        let probeServer = probeAddress.map { ProbeServer(address: $0, metrics: nil, checks: healthChecks) }
        do {
            try metricsServer?.start()
            try probeServer?.start()
        } catch {
            await metricsServer?.stop()
            await probeServer?.stop()
            throw error
        }
        if let metricsServer { logger.info("serving metrics", metadata: ["port": .string("\(metricsServer.port)")]) }
        if let probeServer { logger.info("serving health probes", metadata: ["port": .string("\(probeServer.port)")]) }
        return (metricsServer, probeServer)
    }
}

/// Resumes a continuation with the first of two answers (the other is ignored).
private final class FirstOfTwo: Sendable {
    private let state = Mutex<(decided: Bool, continuation: CheckedContinuation<Bool, Never>?)>((false, nil))

    func start(_ continuation: CheckedContinuation<Bool, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func decide(_ value: Bool) {
        let continuation = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard !s.decided, let c = s.continuation else { return nil }
            s.decided = true
            return c
        }
        continuation?.resume(returning: value)
    }
}
