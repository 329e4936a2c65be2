import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// Records which manager ran each reconcile, and when.
final class ReconcileLog: ReconcileHooks {
    private let entries = Mutex<[(manager: String, key: ObjectKey)]>([])
    let manager: String
    init(manager: String) { self.manager = manager }
    func willReconcile(_ key: ObjectKey, controller: String) { entries.withLock { $0.append((manager, key)) } }
    func didReconcile(_ key: ObjectKey, controller: String, result: ReconcileResult, seconds: Double) {}
    var count: Int { entries.withLock { $0.count } }
    var keys: [ObjectKey] { entries.withLock { $0.map(\.key) } }
}

/// A reconciler that waits for a gate before it finishes (to hold a reconcile in flight).
final class GatedReconciler: Reconciler {
    private let state = Mutex<(open: Bool, started: Int, finished: Int, waiters: [CheckedContinuation<Void, Never>])>((false, 0, 0, []))
    func reconcile(_ key: ObjectKey) async -> ReconcileResult {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resume = state.withLock { s -> Bool in
                s.started += 1
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if resume { c.resume() }
        }
        state.withLock { $0.finished += 1 }
        return .done
    }
    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0.resume() }
    }
    var started: Int { state.withLock { $0.started } }
    var finished: Int { state.withLock { $0.finished } }
}

final class ManagerTests: XCTestCase {
    /// Short timings so hand-over tests take seconds; the Lease stores whole seconds.
    static let election = (leaseDuration: 2.0, renewDeadline: 1.5, retryPeriod: 0.25)

    /// A manager running the mirror controller over HTTPS, electing on `default/mirror-lock`.
    private func mirrorManager(_ server: KubeTestServer, identity: String?, log: ReconcileLog,
                               probes: Bool = false) throws -> Manager {
        try mirrorManagerAndController(server, identity: identity, log: log, probes: probes).manager
    }

    /// `mirrorManager` with its controller, for tests that look at its queue.
    private func mirrorManagerAndController(_ server: KubeTestServer, identity: String?, log: ReconcileLog,
                                            probes: Bool = false) throws -> (manager: Manager, controller: Controller) {
        let client = try makeOperatorClient(server)
        let election = identity.map {
            LeaderElectionConfiguration(leaseNamespace: "default", leaseName: "mirror-lock", identity: $0,
                                        leaseDuration: Self.election.leaseDuration, renewDeadline: Self.election.renewDeadline,
                                        retryPeriod: Self.election.retryPeriod)
        }
        let manager = Manager(client: client, options: ManagerOptions(
            leaderElection: election,
            metricsBindAddress: probes ? .loopbackEphemeral : nil, healthProbeBindAddress: probes ? .loopbackEphemeral : nil))
        let sources = manager.informer(for: .configMaps, options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        let mirrors = manager.informer(for: .configMaps, options: InformerOptions(namespace: "default", labelSelector: InformerOptions.managedBySelector,
                                                                                   watcher: fastWatcher))
        let controller = manager.makeController(
            name: "mirror", primary: sources,
            reconciler: MirrorReconciler(client: client, sources: sources.store, mirrors: mirrors.store),
            options: ControllerOptions(maxConcurrentReconciles: 2, resyncPeriod: nil), hooks: log)
        controller.owns(mirrors)
        return (manager, controller)
    }

    private func source(_ name: String) -> JSONValue {
        configMap(name, namespace: "default", labels: ["mirror": "true"], data: ["v": name]).removingServerFields()
    }

    private func mirrored(_ admin: KubeAPIClient, _ name: String) async throws -> Bool {
        do {
            _ = try await admin.get(.configMaps, namespace: "default", name: "\(name)-mirror")
            return true
        } catch let error as KubeError where error.isNotFound { return false }
    }

    private func leaseHolder(_ admin: KubeAPIClient) async throws -> String? {
        let lease = try await admin.get(.leases, namespace: "default", name: "mirror-lock")
        return lease[path: ["spec", "holderIdentity"]]?.stringValue
    }

    func testTwoManagersExactlyOneReconcilesAndTheOtherTakesOverWithinTheLease() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let (logA, logB) = (ReconcileLog(manager: "a"), ReconcileLog(manager: "b"))
        let a = try mirrorManager(server, identity: "manager-a", log: logA)
        let runA = Task { try await a.run() }
        try await waitUntil("a leads") { a.isLeader }
        let b = try mirrorManager(server, identity: "manager-b", log: logB)
        let runB = Task { try await b.run() }

        for i in 0..<10 { _ = try await admin.create(.configMaps, namespace: "default", object: source("s\(i)")) }
        try await waitUntil("every source is mirrored") {
            for i in 0..<10 where try await !self.mirrored(admin, "s\(i)") { return false }
            return true
        }
        XCTAssertTrue(a.isLeader)
        XCTAssertFalse(b.isLeader)
        XCTAssertGreaterThan(logA.count, 0)
        XCTAssertEqual(logB.count, 0, "a follower never reconciles")

        // The leader stops gracefully: it releases the lease, so b takes over well within the lease.
        let stoppedAt = Date()
        runA.cancel()
        let outcomeA = try await runA.value
        XCTAssertEqual(outcomeA, .stopped(drained: true))
        try await waitUntil("b leads", timeout: Self.election.leaseDuration + 2) { b.isLeader }
        XCTAssertLessThan(Date().timeIntervalSince(stoppedAt), Self.election.leaseDuration + 1)
        let reconcilesOfA = logA.count
        _ = try await admin.create(.configMaps, namespace: "default", object: source("late"))
        try await waitUntil("the new leader mirrors") { try await self.mirrored(admin, "late") }
        XCTAssertEqual(logA.count, reconcilesOfA, "a stopped manager reconciles nothing")
        XCTAssertTrue(logB.keys.contains(ObjectKey(namespace: "default", name: "late")))
        let holder = try await leaseHolder(admin)
        XCTAssertEqual(holder, "manager-b")

        b.shutDown()
        let outcomeB = try await runB.value
        XCTAssertEqual(outcomeB, .stopped(drained: true))
        let released = try await leaseHolder(admin)
        XCTAssertEqual(released ?? "", "", "a graceful shutdown releases the lease")
        try await server.stop()
    }

    func testAManagerWhoseLeaseIsTakenStopsActing() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let log = ReconcileLog(manager: "a")
        let (a, controller) = try mirrorManagerAndController(server, identity: "manager-a", log: log)
        let run = Task { try await a.run() }
        try await waitUntil("a leads") { a.isLeader }
        _ = try await admin.create(.configMaps, namespace: "default", object: source("before"))
        try await waitUntil("mirrored while leading") { try await self.mirrored(admin, "before") }

        // Another process writes the lease with a valid renewal of its own.
        try await waitUntil("the lease was taken") {
            var lease = try await admin.get(.leases, namespace: "default", name: "mirror-lock")
            lease[path: ["spec", "holderIdentity"]] = "thief"
            lease[path: ["spec", "leaseDurationSeconds"]] = 60
            lease[path: ["spec", "renewTime"]] = .string(KubeTime.format(Date(), fractionalDigits: 6))
            do {
                _ = try await admin.update(.leases, namespace: "default", name: "mirror-lock", object: lease)
                return true
            } catch let error as KubeError where error.isConflict { return false }
        }
        let outcome = try await run.value
        XCTAssertEqual(outcome, .lostLeadership)
        XCTAssertEqual(outcome.exitCode, 1, "the process must exit non-zero")
        let reconciles = log.count
        // run returns once its informers ended; the cancelled controller takes no more work and
        // lets a reconcile in flight finish.
        try await waitUntil("a's controller stopped") { await controller.queue.isShuttingDown && controller.metrics.activeWorkers == 0 }
        let adds = await controller.queue.metrics().addsTotal
        // A live watch of the same ConfigMaps tells when the change below has been delivered.
        let witness = Informer(client: try makeOperatorClient(server), resource: .configMaps,
                               options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        let watching = Task { await witness.run() }
        try await waitUntil("the witness synced") { witness.hasSynced }
        _ = try await admin.create(.configMaps, namespace: "default", object: source("after"))
        try await waitUntil("a live watch delivered the new source") { witness.store.get(namespace: "default", name: "after") != nil }
        let mirroredAfter = try await mirrored(admin, "after")
        XCTAssertFalse(mirroredAfter, "a manager that lost its lease writes nothing")
        XCTAssertEqual(log.count, reconciles)
        let addsAfter = await controller.queue.metrics().addsTotal
        XCTAssertEqual(addsAfter, adds, "nothing reaches the stopped controller's queue")
        watching.cancel()
        await watching.value
        try await server.stop()
    }

    func testGracefulShutdownWaitsForReconcilesInFlightThenReleasesTheLease() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let client = try makeOperatorClient(server)
        let gate = GatedReconciler()
        let manager = Manager(client: client, options: ManagerOptions(
            leaderElection: LeaderElectionConfiguration(leaseNamespace: "default", leaseName: "mirror-lock", identity: "solo",
                                                        leaseDuration: 2, renewDeadline: 1.5, retryPeriod: 0.25)))
        let sources = manager.informer(for: .configMaps, options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        let controller = manager.makeController(name: "gated", primary: sources, reconciler: gate, options: ControllerOptions(resyncPeriod: nil))
        _ = try await admin.create(.configMaps, namespace: "default", object: source("held"))
        let run = Task { try await manager.run() }
        try await waitUntil("a reconcile is in flight") { gate.started == 1 }

        manager.shutDown()
        // How many reconciles had finished when run returned (nil: not returned yet).
        let finishedAtReturn = Mutex<Int?>(nil)
        let watcher = Task {
            _ = try await run.value
            finishedAtReturn.withLock { $0 = gate.finished }
        }
        // The shutdown has reached the controller (it takes no more work); the gate still holds the reconcile.
        try await waitUntil("the controller stopped taking work") { await controller.queue.isShuttingDown }
        XCTAssertNil(finishedAtReturn.withLock { $0 }, "shutdown waits for the reconcile in flight")
        let holderWhileDraining = try await leaseHolder(admin)
        XCTAssertEqual(holderWhileDraining, "solo", "the lease is kept until the work has drained")
        gate.open()
        let outcome = try await run.value
        _ = try await watcher.value
        XCTAssertEqual(finishedAtReturn.withLock { $0 }, 1, "run returned only after the reconcile in flight finished")
        XCTAssertEqual(outcome, .stopped(drained: true))
        XCTAssertEqual(outcome.exitCode, 0)
        XCTAssertEqual(gate.finished, 1)
        let holder = try await leaseHolder(admin)
        XCTAssertEqual(holder ?? "", "", "released after draining")
        try await server.stop()
    }

    /// Settled (start-up over) only while running, once every cache synced and no reconcile is
    /// queued or in flight: a reconcile held in flight keeps it unsettled until it finishes.
    func testHasSettledOnceSyncedAndNoWorkIsQueuedOrInFlight() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let gate = GatedReconciler()
        let manager = Manager(client: try makeOperatorClient(server))
        let sources = manager.informer(for: .configMaps, options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        _ = manager.makeController(name: "gated", primary: sources, reconciler: gate, options: ControllerOptions(resyncPeriod: nil))
        _ = try await admin.create(.configMaps, namespace: "default", object: source("held"))
        let settledBeforeRun = await manager.hasSettled()
        XCTAssertFalse(settledBeforeRun, "not running yet")
        let run = Task { try await manager.run() }
        try await waitUntil("a reconcile is in flight") { gate.started == 1 }
        XCTAssertTrue(sources.hasSynced)
        let settledInFlight = await manager.hasSettled()
        XCTAssertFalse(settledInFlight, "a reconcile is in flight")
        gate.open()
        try await waitUntil("settled once the reconcile finished") { await manager.hasSettled() }
        XCTAssertEqual(gate.finished, 1)
        manager.shutDown()
        _ = try await run.value
        let settledAfterStop = await manager.hasSettled()
        XCTAssertFalse(settledAfterStop, "stopped")
        try await server.stop()
    }

    func testShutdownGivesUpAfterTheTimeout() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let gate = GatedReconciler()
        let manager = Manager(client: try makeOperatorClient(server), options: ManagerOptions(gracefulShutdownTimeout: 0.3))
        let sources = manager.informer(for: .configMaps, options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        _ = manager.makeController(name: "gated", primary: sources, reconciler: gate, options: ControllerOptions(resyncPeriod: nil))
        _ = try await admin.create(.configMaps, namespace: "default", object: source("stuck"))
        let run = Task { try await manager.run() }
        try await waitUntil("a reconcile is in flight") { gate.started == 1 }
        manager.shutDown()
        let outcome = try await run.value
        XCTAssertEqual(outcome, .stopped(drained: false))
        XCTAssertEqual(outcome.exitCode, 1)
        gate.open()
        try await server.stop()
    }

    func testReadyzTurnsReadyOnlyAfterTheCachesSyncedAndMetricsAreServed() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        for i in 0..<3 { _ = try await admin.create(.configMaps, namespace: "default", object: source("m\(i)")) }
        // Hold the operator's LISTs back, so the caches are not synced for a while.
        server.faults.delayResponses(seconds: 1.0, scope: FaultScope(verbs: ["list"], userAgents: [operatorUserAgent]))
        let log = ReconcileLog(manager: "a")
        let manager = try mirrorManager(server, identity: nil, log: log, probes: true)
        let run = Task { try await manager.run() }
        try await waitUntil("the probe server listens") { manager.healthProbePort != nil }
        let probePort = try XCTUnwrap(manager.healthProbePort)
        let metricsPort = try XCTUnwrap(manager.metricsPort)
        XCTAssertNotEqual(probePort, metricsPort)

        let early = try RawHTTPConnection.get(probePort, "/readyz")
        XCTAssertEqual(early.status, 500, "not ready before the caches synced: \(early.body)")
        // One check per informer (two of ConfigMaps: the second is numbered).
        XCTAssertTrue(early.body.contains("[-]informer-configmaps failed") && early.body.contains("[-]informer-configmaps-2 failed"), early.body)
        XCTAssertEqual(try RawHTTPConnection.get(probePort, "/healthz").status, 200, "alive while syncing")
        try await waitUntil("ready after sync") { try RawHTTPConnection.get(probePort, "/readyz").status == 200 }
        try await waitUntil("every source is mirrored") {
            for i in 0..<3 where try await !self.mirrored(admin, "m\(i)") { return false }
            return true
        }

        let metrics = try RawHTTPConnection.get(metricsPort, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        for name in ["controller_runtime_reconcile_total{controller=\"mirror\",result=\"success\"}",
                     "controller_runtime_reconcile_errors_total", "controller_runtime_reconcile_time_seconds_bucket",
                     "controller_runtime_active_workers", "workqueue_depth", "workqueue_adds_total", "workqueue_queue_duration_seconds",
                     "workqueue_work_duration_seconds", "workqueue_retries_total", "workqueue_unfinished_work_seconds",
                     "workqueue_longest_running_processor_seconds"] {
            XCTAssertTrue(metrics.body.contains(name), "\(name) missing from /metrics")
        }
        // Three sources reconciled at least once each, plus events of their mirrors. A reconcile is
        // counted when it returns, just after its mirror appeared: poll.
        func successes() throws -> Double {
            let body = try RawHTTPConnection.get(metricsPort, "/metrics").body
            let line = body.split(separator: "\n").first { $0.hasPrefix("controller_runtime_reconcile_total{controller=\"mirror\",result=\"success\"}") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        try await waitUntil("three successful reconciles are counted") { try successes() >= 3 }
        manager.shutDown()
        _ = try await run.value
        try await server.stop()
    }
}
