import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import Logging
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// A kind the API server does not serve (a CRD not installed, as after an operator upgrade that left
/// the CRDs behind): the informer says so in the log on every retry and keeps the error readable,
/// a controller that can do without it runs anyway, `/readyz?verbose` names it, it syncs by itself
/// once the CRD is created, and a shutdown while it cannot sync is immediate and drained.
final class MissingKindTests: XCTestCase {
    static let widgets = ResourceType(group: "example.com", version: "v1", resource: "widgets", kind: "Widget", namespaced: true)

    static let widgetCRD: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": ["name": "widgets.example.com"],
        "spec": [
            "group": "example.com", "scope": "Namespaced",
            "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"],
            "versions": [[
                "name": "v1", "served": true, "storage": true,
                "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]],
            ]],
        ],
    ]

    private func logger(_ lines: LogLines) -> Logger {
        Logger(label: "test") { label in StructuredLogHandler(label: label, format: .json, level: .debug) { lines.append($0) } }
    }

    func testAnUnservedKindIsLoggedOnEveryRetryAndSyncsOnceItsCRDExists() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let lines = LogLines()
        let informer = Informer(client: try makeOperatorClient(server), resource: Self.widgets,
                                options: InformerOptions(namespace: "default", watcher: fastWatcher), logger: logger(lines),
                                crdHint: "kubectl apply -f crds/")
        let run = Task { await informer.run() }
        func errorLines() -> [String] {
            lines.all.filter { $0.contains("\"level\":\"error\"") && $0.contains("cannot list widgets.example.com") }
        }
        try await waitUntil("two failed LISTs were logged") { errorLines().count >= 2 }
        let failure = try XCTUnwrap(informer.lastListError)
        XCTAssertTrue(failure.isNotServed)
        XCTAssertEqual(failure.httpCode, 404)
        XCTAssertEqual(failure.resource, "widgets.example.com")
        XCTAssertTrue(failure.description.contains("the API server does not serve it: is its CRD installed? kubectl apply -f crds/"),
                      failure.description)
        XCTAssertFalse(informer.hasSynced)
        XCTAssertGreaterThanOrEqual(failure.attempts, 2)
        let errors = errorLines()
        let first = try JSONValue(parsing: try XCTUnwrap(errors.first).trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(first["resource"]?.stringValue, "widgets.example.com")
        XCTAssertEqual(first["code"]?.stringValue, "404")
        XCTAssertNotNil(first["retryIn"]?.stringValue, "the line says when it tries again")
        XCTAssertTrue(first["msg"]?.stringValue?.contains("kubectl apply -f crds/") == true, "\(first)")

        // Installing the CRD is all it takes: the retries find it.
        _ = try await admin.create(.customResourceDefinitions, namespace: nil, object: Self.widgetCRD)
        try await waitUntil("the informer synced once the CRD exists") { informer.hasSynced }
        XCTAssertNil(informer.lastListError)
        XCTAssertTrue(lines.all.contains { $0.contains("listing widgets.example.com works again") }, "\(lines.all.suffix(5))")
        run.cancel()
        await run.value
        try await server.stop()
    }

    func testListFailuresNameTheirCauseAndFix() {
        let restores = ResourceType(group: "pynomaly.ai", version: "v1alpha1", resource: "pynomalyrestores", kind: "PynomalyRestore", namespaced: true)
        func failure(_ error: any Error, namespace: String? = "prod") -> ListFailure {
            ListFailure(error, resource: restores, namespace: namespace, attempts: 1, crdHint: "kubectl apply -f crds/")
        }
        let notFound = failure(KubeError.api(Status(message: "the server could not find the requested resource", reason: "NotFound", code: 404), httpCode: 404))
        XCTAssertEqual(notFound.cause, .notServed)
        XCTAssertEqual(notFound.logLevel, .error)
        XCTAssertTrue(notFound.description.hasPrefix("cannot list pynomalyrestores.pynomaly.ai: the API server does not serve it: is its CRD installed? kubectl apply -f crds/"),
                      notFound.description)

        let forbidden = failure(KubeError.api(Status(message: "forbidden", reason: "Forbidden", code: 403), httpCode: 403))
        XCTAssertEqual(forbidden.cause, .forbidden)
        XCTAssertFalse(forbidden.isNotServed, "403 says nothing about whether restores exist")
        XCTAssertEqual(forbidden.logLevel, .error)
        XCTAssertTrue(forbidden.fix.contains("list and watch on pynomalyrestores in API group \"pynomaly.ai\" in namespace prod"), forbidden.fix)
        let clusterWide = failure(KubeError.api(Status(message: "forbidden", reason: "Forbidden", code: 403), httpCode: 403), namespace: nil)
        XCTAssertTrue(clusterWide.fix.contains("in all namespaces (a ClusterRole)"), clusterWide.fix)

        let internalError = failure(serverError)
        XCTAssertEqual(internalError.cause, .serverError)
        XCTAssertEqual(internalError.logLevel, .warning)
        XCTAssertTrue(internalError.description.contains("boom"), "the cause is kept: \(internalError.description)")
        let noAnswer = failure(KubeError.transport(TransportError(kind: .connect, detail: "connection refused")))
        XCTAssertEqual(noAnswer.cause, .transport)
        XCTAssertEqual(noAnswer.logLevel, .warning)
        XCTAssertTrue(noAnswer.description.contains("connection refused"), noAnswer.description)
    }

    /// The primary syncs, the optional source never does (not served): the controller reconciles all
    /// the same, readiness passes for the optional kind (named in `?verbose`), and once its CRD exists
    /// and it syncs, every primary is reconciled again.
    func testAnOptionalSourceDoesNotHoldTheControllerBack() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let client = try makeOperatorClient(server)
        let primary = Informer(client: client, resource: .configMaps,
                               options: InformerOptions(namespace: "default", labelSelector: "suite=optional", watcher: fastWatcher))
        let widgets = Informer(client: client, resource: Self.widgets,
                               options: InformerOptions(namespace: "default", watcher: fastWatcher, kindMayBeAbsent: true))
        let reconciled = Mutex<[String: Int]>([:])
        let controller = Controller(name: "optional", primary: primary, reconciler: ReconcileFunction { key in
            reconciled.withLock { $0[key.name, default: 0] += 1 }
            return .done
        }, options: ControllerOptions(resyncPeriod: nil))
        controller.watches(widgets, requiredForSync: false) { _ in [] }
        let checks = HealthChecks()
        checks.addInformersSyncedCheck([primary, widgets])
        XCTAssertEqual(checks.readinessCheckNames, ["informer-configmaps", "informer-widgets.example.com"])
        _ = try await admin.create(.configMaps, namespace: "default",
                                   object: configMap("a", namespace: "default", labels: ["suite": "optional"]).removingServerFields())

        let informers = [Task { await primary.run() }, Task { await widgets.run() }]
        let work = Task { await controller.run() }
        try await waitUntil("the primary was reconciled without the optional source") { reconciled.withLock { $0["a"] ?? 0 } >= 1 }
        try await waitUntil("the optional source answered 404") { widgets.lastListError?.isNotServed == true }
        try await waitUntil("the controller is idle") {
            let depth = await controller.queue.depth
            return depth == 0 && controller.metrics.activeWorkers == 0
        }
        let before = reconciled.withLock { $0["a"] ?? 0 }
        XCTAssertFalse(widgets.hasSynced)
        let ready = checks.readyz(verbose: true)
        XCTAssertEqual(ready.status, 200, "a kind the process can do without does not fail readiness: \(ready.body)")
        XCTAssertEqual(ready.body, "[+]informer-configmaps ok\n[+]informer-widgets.example.com ok\nreadyz check passed\n")

        _ = try await admin.create(.customResourceDefinitions, namespace: nil, object: Self.widgetCRD)
        try await waitUntil("the optional source synced") { widgets.hasSynced }
        try await waitUntil("its sync queued every primary again") { reconciled.withLock { $0["a"] ?? 0 } > before }

        await controller.shutDown()
        await work.value
        for task in informers { task.cancel(); await task.value }
        try await server.stop()
    }

    /// A required informer that fails for any reason but 404 (or an optional one failing so) keeps
    /// readiness failing, and `?verbose` names it.
    func testReadinessNamesTheInformerThatCannotSync() async throws {
        let server = try await KubeTestServer.start()
        server.faults.failRequests(share: 1, with: .forbidden, scope: FaultScope(verbs: ["list"], resources: ["secrets"], userAgents: [operatorUserAgent]))
        let client = try makeOperatorClient(server, retryPolicy: nil)
        let configMaps = Informer(client: client, resource: .configMaps, options: InformerOptions(namespace: "default", watcher: fastWatcher))
        let secrets = Informer(client: client, resource: .secrets, options: InformerOptions(namespace: "default", watcher: fastWatcher, kindMayBeAbsent: true))
        let missing = Informer(client: client, resource: Self.widgets, options: InformerOptions(namespace: "default", watcher: fastWatcher))
        let checks = HealthChecks()
        checks.addInformersSyncedCheck([configMaps, secrets, missing])
        let tasks = [configMaps, secrets, missing].map { informer in Task { await informer.run() } }
        try await waitUntil("every informer synced or failed") {
            configMaps.hasSynced && secrets.lastListError?.cause == .forbidden && missing.lastListError?.isNotServed == true
        }
        let answer = checks.readyz(verbose: true)
        XCTAssertEqual(answer.status, 500)
        XCTAssertEqual(answer.body, """
            [+]informer-configmaps ok
            [-]informer-secrets failed: reason withheld
            [-]informer-widgets.example.com failed: reason withheld
            readyz check failed

            """)
        for task in tasks { task.cancel(); await task.value }
        try await server.stop()
    }

    /// SIGTERM while a controller still waits for an informer that cannot sync: nothing is in flight,
    /// so the manager stops at once and reports a drained shutdown (exit code 0). The timeout is
    /// 600 s: returning within the test's wait at all shows it was not waited for.
    func testShutdownWhileAnInformerCannotSyncIsImmediateAndDrained() async throws {
        let server = try await KubeTestServer.start()
        let lines = LogLines()
        let manager = Manager(client: try makeOperatorClient(server), options: ManagerOptions(gracefulShutdownTimeout: 600),
                              logger: logger(lines))
        let widgets = manager.informer(for: Self.widgets, options: InformerOptions(namespace: "default", watcher: fastWatcher))
        _ = manager.makeController(name: "waiting", primary: widgets, reconciler: ReconcileFunction { _ in .done },
                               options: ControllerOptions(resyncPeriod: nil))
        let outcome = Mutex<ManagerOutcome?>(nil)
        let run = Task {
            let result = try await manager.run()
            outcome.withLock { $0 = result }
        }
        try await waitUntil("the manager's logger reported the failed LIST") {
            widgets.lastListError != nil && lines.all.contains { $0.contains("cannot list widgets.example.com") }
        }
        try await waitUntil("the controller said what it waits for") {
            lines.all.contains { $0.contains("controller waiting for informers to sync") && $0.contains("widgets.example.com") }
        }
        manager.shutDown()
        try await waitUntil("the manager returned", timeout: 60) { outcome.withLock { $0 } != nil }
        XCTAssertEqual(outcome.withLock { $0 }, .stopped(drained: true))
        XCTAssertEqual(outcome.withLock { $0 }?.exitCode, 0)
        try await run.value
        try await server.stop()
    }

    func testControllerShutDownWakesARunWaitingForSync() async throws {
        let server = try await KubeTestServer.start()
        // Never run: it never syncs.
        let informer = Informer(client: KubeAPIClient(transport: server.transport), resource: .configMaps)
        let controller = Controller(name: "never", primary: informer, reconciler: ReconcileFunction { _ in .done },
                                    options: ControllerOptions(resyncPeriod: nil))
        let finished = Mutex(false)
        let work = Task {
            await controller.run()
            finished.withLock { $0 = true }
        }
        await controller.shutDown()
        try await waitUntil("run returned", timeout: 60) { finished.withLock { $0 } }
        await work.value
        // A controller shut down before it ran does not start either.
        let late = Controller(name: "late", primary: informer, reconciler: ReconcileFunction { _ in .done }, options: ControllerOptions(resyncPeriod: nil))
        await late.shutDown()
        await late.run()
        try await server.stop()
    }
}
