import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import Logging
import OperatorTestSupport
import Synchronization
import XCTest

@testable import PynomalyOperator

/// The operator upgraded without its new CRDs (Helm does not upgrade CRDs): with no PynomalyRestore
/// CRD, PynomalyDeployments are still reconciled, the gap is said where users look (log, status
/// condition, `/readyz?verbose`), and installing the CRD starts restores without a restart. And the
/// safety rule behind it: restores that are unknown for any reason but "not served" never let a
/// pass scale an app up in the middle of a restore.
final class MissingRestoreCRDTests: XCTestCase {
    static let restoreCRD = "pynomalyrestores.pynomaly.ai"

    func testWithoutTheRestoreCRDDeploymentsRunAndRestoresStartOnceItIsInstalled() async throws {
        let rig = try await OperatorRig(withoutCRDs: [Self.restoreCRD], healthProbes: true)
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())

        // Reconciled all the same: the Deployment exists, the CR gets Ready, and says what is missing.
        try await waitUntil("the app Deployment exists", timeout: 30) { try await rig.get(.deployments, "pynomaly") != nil }
        try await rig.waitForCondition(ConditionType.restoresAvailable, "False", reason: ConditionReason.crdNotInstalled, timeout: 30)
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        let reconciled = try await rig.cr()
        let condition = rig.condition(reconciled, ConditionType.restoresAvailable)
        let message = condition?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains(Self.restoreCRD) && message.contains("kubectl apply -f crds/"), message)

        // The log names the resource and the fix.
        let failure = try XCTUnwrap(rig.caches.restores?.lastListError)
        XCTAssertTrue(failure.isNotServed)
        XCTAssertEqual(failure.resource, Self.restoreCRD)
        XCTAssertTrue(rig.log.text.contains("cannot list pynomalyrestores.pynomaly.ai: the API server does not serve it: is its CRD installed? kubectl apply -f crds/"),
                      "the log says it")
        XCTAssertTrue(rig.log.text.contains("\"level\":\"error\""))

        // Readiness: ready (an optional kind), and `?verbose` names the restores informer.
        let port = try XCTUnwrap(rig.manager.healthProbePort)
        try await waitUntil("ready", timeout: 30) { (try? httpGet(port: port, path: "/readyz").status) == 200 }
        let verbose = try httpGet(port: port, path: "/readyz?verbose")
        XCTAssertEqual(verbose.status, 200)
        XCTAssertTrue(verbose.body.contains("[+]informer-pynomalyrestores.pynomaly.ai ok"), verbose.body)
        XCTAssertTrue(verbose.body.contains("[+]informer-pynomalydeployments.pynomaly.ai ok"), verbose.body)
        XCTAssertTrue(verbose.body.hasSuffix("readyz check passed\n"), verbose.body)

        // The condition is written once and then left alone: a resync writes no status, one Event in all.
        func announcements() async throws -> [JSONValue] {
            try await rig.events(for: "pynomaly").filter { $0["reason"]?.stringValue == "RestoresUnavailable" }
        }
        try await rig.waitForIdle(timeout: 30)
        let before = try await rig.cr()[path: ["metadata", "resourceVersion"]]
        let announcedBefore = try await announcements()
        XCTAssertEqual(announcedBefore.count, 1, "one Warning Event: \(announcedBefore)")
        for _ in 0..<3 {
            await rig.controller.resyncNow()
            try await rig.waitForIdle(timeout: 30)
        }
        let after = try await rig.cr()[path: ["metadata", "resourceVersion"]]
        XCTAssertEqual(before, after, "an unchanged condition costs no status write")
        let announcedAfter = try await announcements()
        XCTAssertEqual(announcedAfter.map { $0["count"] }, announcedBefore.map { $0["count"] }, "announced when it appeared, not per pass")
        XCTAssertTrue(rig.restoreController.metrics.reconcileTotal.isEmpty, "the restore controller waits for its informer")

        // `kubectl apply -f crds/`: the restores informer syncs by itself, the restore controller
        // starts, the condition goes away and a restore is reconciled.
        try await TestCluster.installCRD(named: Self.restoreCRD, rig.admin)
        try await waitUntil("the restores informer synced", timeout: 90) { rig.caches.restores?.hasSynced == true }
        XCTAssertNil(rig.caches.restores?.lastListError)
        try await waitUntil("RestoresAvailable was removed", timeout: 30) {
            rig.condition(try await rig.cr(), ConditionType.restoresAvailable) == nil
        }
        let restore: JSONValue = ["apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyRestore",
                                  "metadata": ["name": "nowhere", "namespace": "default"],
                                  "spec": ["deploymentName": "missing", "latest": true]]
        _ = try await rig.admin.create(.pynomalyRestores, namespace: "default", object: restore)
        var last: JSONValue = .null
        try await waitUntil("the restore was reconciled", timeout: 30) {
            last = try await rig.admin.get(.pynomalyRestores, namespace: "default", name: "nowhere")
            return last[path: ["status", "phase"]]?.stringValue == "Failed"
        }
        XCTAssertTrue((last[path: ["status", "message"]]?.stringValue ?? "").contains("does not exist"), "\(last["status"] ?? .null)")
        XCTAssertTrue(rig.log.text.contains("listing pynomalyrestores.pynomaly.ai works again"))
        try await rig.waitForCondition(ConditionType.ready, timeout: 30)
        try await rig.stop()
    }

    /// A restore holds the app at zero; the operator restarts and its restores LIST is refused (403):
    /// the new process must not take the empty cache for "no restores" and scale the app up. Passes
    /// requeue without writing; once the LIST works, the hold is seen and kept.
    func testRestoresUnknownForAnyReasonButNotServedNeverScaleTheAppUp() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createBackupSample()
        // The emergency backup runs for the whole test: the restore stays in progress.
        rig.server.simulation.settings.jobDuration = 600
        let restore: JSONValue = ["apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyRestore",
                                  "metadata": ["name": "hold", "namespace": "default"],
                                  "spec": ["deploymentName": "pynomaly", "latest": true]]
        _ = try await rig.admin.create(.pynomalyRestores, namespace: "default", object: restore)
        try await waitUntil("the restore reached EmergencyBackup", timeout: 30) {
            try await rig.admin.get(.pynomalyRestores, namespace: "default", name: "hold")[path: ["status", "phase"]]?.stringValue == "EmergencyBackup"
        }
        try await waitUntil("the app is held at zero", timeout: 30) { try await self.appReplicas(rig) == 0 }
        try await rig.stopManager()

        // The restarted operator may not list restores.
        rig.server.faults.failRequests(share: 1, with: .forbidden, scope: FaultScope(verbs: ["list"], resources: ["pynomalyrestores"]))
        let restarted = try await RestartedOperator(rig)
        let key = ObjectKey(namespace: "default", name: "pynomaly")
        try await waitUntil("the PynomalyDeployment was looked at twice", timeout: 60) { (restarted.probe.reconcileCounts[key] ?? 0) >= 2 }
        let replicas = try await appReplicas(rig)
        XCTAssertEqual(replicas, 0, "never scaled up while the restores were unknown")
        let heldCR = try await rig.cr()
        XCTAssertNotNil(heldCR[path: ["status", "restore"]], "the hold is still reported")
        XCTAssertGreaterThanOrEqual(restarted.probe.results["requeue_after"] ?? 0, 2, "each pass requeued: \(restarted.probe.results)")
        let failure = try XCTUnwrap(restarted.caches.restores?.lastListError)
        XCTAssertEqual(failure.cause, .forbidden)
        XCTAssertTrue(restarted.log.text.contains("cannot list pynomalyrestores.pynomaly.ai: RBAC forbids it"), "the log names the permission")
        let ready = restarted.manager.healthChecks.readyz(verbose: true)
        XCTAssertEqual(ready.status, 500, "a refused LIST is not an absent kind: not ready")
        XCTAssertTrue(ready.body.contains("[-]informer-pynomalyrestores.pynomaly.ai failed: reason withheld"), ready.body)
        XCTAssertNil(rig.condition(heldCR, ConditionType.restoresAvailable), "unknown is not \"not installed\"")

        // Permission granted: the hold is known and kept.
        rig.server.faults.stopFailingRequests()
        try await waitUntil("the restores informer synced", timeout: 90) { restarted.caches.restores?.hasSynced == true }
        let countAfterSync = restarted.probe.reconcileCounts[key] ?? 0
        try await waitUntil("a pass ran with the restores known", timeout: 30) { (restarted.probe.reconcileCounts[key] ?? 0) > countAfterSync }
        try await waitUntil("idle", timeout: 30) {
            let depth = await restarted.controller.queue.depth
            return depth == 0 && restarted.controller.metrics.activeWorkers == 0
        }
        let held = try await appReplicas(rig)
        XCTAssertEqual(held, 0, "the restore still holds the app")
        let phase = try await rig.admin.get(.pynomalyRestores, namespace: "default", name: "hold")[path: ["status", "phase"]]?.stringValue
        XCTAssertEqual(phase, "EmergencyBackup")
        try await restarted.stop()
        try await rig.cluster.stop()
    }

    /// The condition as `writeStatus` keeps it: set once (announced once), unchanged on later passes
    /// even when a pass built its status afresh, kept while unknown, removed once restores are known.
    func testRestoresAvailableConditionTransitions() throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let t1 = t0.addingTimeInterval(60)
        var status = PynomalyDeploymentStatus()
        let announced = PynomalyDeploymentReconciler.noteRestoresAvailability(.notServed("404"), in: &status, previous: nil, generation: 1, now: t0)
        XCTAssertTrue(announced?.contains("kubectl apply -f crds/") == true, announced ?? "nil")
        let condition = try XCTUnwrap(status.conditions?.first(type: ConditionType.restoresAvailable))
        XCTAssertEqual(condition.status, "False")
        XCTAssertEqual(condition.reason, ConditionReason.crdNotInstalled)

        // The next pass, its status built without the condition: the same condition, no announcement.
        var again = PynomalyDeploymentStatus()
        XCTAssertNil(PynomalyDeploymentReconciler.noteRestoresAvailability(.notServed("404"), in: &again, previous: status, generation: 1, now: t1))
        XCTAssertEqual(again, status, "nothing changed, so nothing is written")

        // Unknown (e.g. a 403 after the 404): what the CR had stays.
        var unknown = PynomalyDeploymentStatus()
        XCTAssertNil(PynomalyDeploymentReconciler.noteRestoresAvailability(.unknown("403"), in: &unknown, previous: status, generation: 1, now: t1))
        XCTAssertEqual(unknown, status)

        // Known: removed; a status without conditions stays without.
        var known = status
        XCTAssertNil(PynomalyDeploymentReconciler.noteRestoresAvailability(.known, in: &known, previous: status, generation: 1, now: t1))
        XCTAssertNil(known.conditions)
        var untouched = PynomalyDeploymentStatus()
        _ = PynomalyDeploymentReconciler.noteRestoresAvailability(.known, in: &untouched, previous: nil, generation: 1, now: t1)
        XCTAssertEqual(untouched, PynomalyDeploymentStatus())
    }

    // MARK: Helpers

    func appReplicas(_ rig: OperatorRig) async throws -> Int64? {
        try await rig.get(.deployments, "pynomaly")?[path: ["spec", "replicas"]]?.intValue
    }
}

/// A second operator process against the rig's cluster (fresh caches and queues), as after a restart.
final class RestartedOperator: Sendable {
    let manager: Manager
    let controller: Controller
    let caches: OperatorCaches
    let probe = ConcurrencyProbe()
    let log = OutputBuffer()
    private let task: Task<ManagerOutcome, any Error>

    init(_ rig: OperatorRig) async throws {
        var configuration = try ConfigurationResolver.resolve(kubeconfigPath: rig.cluster.kubeconfig, context: nil)
        configuration.qps = 0
        let client = try makeKubeClient(configuration: configuration)
        let log = log
        let logger = Logger(label: "pynomaly-operator") { label in
            StructuredLogHandler(label: label, format: .json, level: .debug) { log.append($0) }
        }
        let manager = Manager(client: client, options: ManagerOptions(crdHint: OperatorSetup.crdHint), logger: logger)
        let registered = OperatorSetup.register(on: manager, configuration: OperatorConfiguration(maxConcurrentReconciles: 4, resyncPeriod: 600),
                                                hooks: probe)
        self.manager = manager
        controller = registered.controller
        caches = registered.caches
        task = Task { try await manager.run() }
    }

    func stop() async throws {
        manager.shutDown()
        _ = try await task.value
    }
}
