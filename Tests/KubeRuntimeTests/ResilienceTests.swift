import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// The user agent of the operator's client in these tests: faults are scoped to it, so the test's
/// own set-up client (in-memory, `kube-test-client/1.0`) is never faulted.
let operatorUserAgent = "resilience-operator/1.0"

/// The libcurl client over real HTTPS, with retries sized for tests.
func makeOperatorClient(_ server: KubeTestServer, retryPolicy: RetryPolicy? = RetryPolicy(maxAttempts: 30, maxTotalDelay: 40, initialBackoff: 0.02,
                                                                                          maxBackoff: 0.5)) throws -> KubeAPIClient {
    let configuration = ClientConfiguration(server: server.url,
                                            tls: TLSConfiguration(certificateAuthorityPEM: Data(server.caCertificatePEM.utf8)),
                                            authentication: .bearerToken(server.adminToken), namespace: "default", qps: 0,
                                            timeout: 60, connectTimeout: 2, userAgent: operatorUserAgent)
    return try makeKubeClient(configuration: configuration, retryPolicy: retryPolicy)
}


/// The mirror controller of `ControllerServerTests` (same `MirrorReconciler`), run over HTTPS by
/// the libcurl client, with 4 workers and a `ConcurrencyProbe`.
final class MirrorRig: Sendable {
    let server: KubeTestServer
    let operatorClient: KubeAPIClient
    /// The test's own client (in-memory, never faulted): set-up writes and the server-side truth.
    let admin: KubeAPIClient
    let sources: Informer
    let mirrors: Informer
    let controller: Controller
    let probe = ConcurrencyProbe()
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(server: KubeTestServer, retryPolicy: RetryPolicy? = nil) throws {
        self.server = server
        operatorClient = try retryPolicy.map { try makeOperatorClient(server, retryPolicy: $0) } ?? makeOperatorClient(server)
        admin = KubeAPIClient(transport: server.transport)
        sources = Informer(client: operatorClient, resource: .configMaps,
                           options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        mirrors = Informer(client: operatorClient, resource: .configMaps,
                           options: InformerOptions(namespace: "default", labelSelector: InformerOptions.managedBySelector, watcher: fastWatcher))
        controller = Controller(
            name: "mirror", primary: sources,
            reconciler: MirrorReconciler(client: operatorClient, sources: sources.store, mirrors: mirrors.store),
            options: ControllerOptions(maxConcurrentReconciles: 4, resyncPeriod: nil,
                                       queue: WorkQueueConfiguration(baseDelay: 0.005, maxDelay: 1, qps: 1000, burst: 1000)),
            hooks: probe)
        controller.owns(mirrors)
    }

    func start() {
        let (sources, mirrors, controller) = (sources, mirrors, controller)
        tasks.withLock {
            $0 = [Task { await sources.run() }, Task { await mirrors.run() }, Task { await controller.run() }]
        }
    }

    /// Cancels the informers and the controller, then stops the server. A cancelled curl watch
    /// only notices at its next chunk, so closing the server's connections ends it promptly.
    func stopAll() async throws {
        let running = tasks.withLock { $0 }
        running.forEach { $0.cancel() }
        try await server.stop()
        for t in running { await t.value }
    }

    static func source(_ i: Int, version: Int) -> JSONValue {
        configMap("src-\(i)", namespace: "default", labels: ["mirror": "true"], data: ["v": String(version), "i": String(i)]).removingServerFields()
    }

    func createSource(_ i: Int) async throws {
        _ = try await admin.create(.configMaps, namespace: "default", object: Self.source(i, version: 0))
    }

    func updateSource(_ i: Int, version: Int) async throws {
        let patch: JSONValue = ["data": ["v": .string(String(version))]]
        _ = try await admin.patch(.configMaps, namespace: "default", name: "src-\(i)", type: .merge, body: patch.serialized())
    }

    /// Why the world is not converged yet (nil = converged): every source has a mirror with its
    /// data owned by it, no mirror is orphaned, and both caches hold exactly the server's keys at
    /// the server's resourceVersions.
    func divergence(expectedSources: Int) async throws -> String? {
        let sourcesNow = try await serverObjects(admin, .configMaps, namespace: "default", selector: "mirror=true")
        let mirrorsNow = try await serverObjects(admin, .configMaps, namespace: "default", selector: InformerOptions.managedBySelector)
        if sourcesNow.count != expectedSources { return "the server has \(sourcesNow.count) sources, expected \(expectedSources)" }
        for (key, src) in sourcesNow {
            guard let m = mirrorsNow[ObjectKey(namespace: key.namespace, name: key.name + "-mirror")] else { return "\(key) has no mirror" }
            if m["data"] != src["data"] { return "\(key)'s mirror has other data" }
            if m[path: ["metadata", "ownerReferences"]]?[0]?["uid"] != src[path: ["metadata", "uid"]] { return "\(key)'s mirror has another owner" }
        }
        if mirrorsNow.count != sourcesNow.count { return "\(mirrorsNow.count - sourcesNow.count) orphan mirrors" }
        for (name, informer, truth) in [("sources", sources, sourcesNow), ("mirrors", mirrors, mirrorsNow)] {
            let cache = cacheObjects(informer.store).mapValues { $0[path: ["metadata", "resourceVersion"]] }
            let server = truth.mapValues { $0[path: ["metadata", "resourceVersion"]] }
            if cache != server {
                let missing = Set(server.keys).subtracting(cache.keys).count, extra = Set(cache.keys).subtracting(server.keys).count
                return "the \(name) cache differs from the server (\(missing) missing, \(extra) extra, or stale resourceVersions)"
            }
        }
        return nil
    }

    func waitConverged(expectedSources: Int, timeout: Double, file: StaticString = #filePath, line: UInt = #line) async throws {
        var last: String?
        do {
            // Each check lists about a thousand objects, so poll more slowly than the default.
            try await waitUntil("everything converged", timeout: timeout, interval: 0.25, file: file, line: line) {
                last = try await divergence(expectedSources: expectedSources)
                return last == nil
            }
        } catch {
            XCTFail("not converged: \(last ?? "?")", file: file, line: line)
            throw error
        }
    }

    func assertNoKeyReconciledTwiceAtOnce(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(probe.maxConcurrentPerKey, 1, "a key was reconciled by two workers at once: \(probe.overlappingKeys)", file: file, line: line)
        XCTAssertTrue(probe.overlappingKeys.isEmpty, file: file, line: line)
    }
}

/// The issue's "must show": the controller runtime converges while the API server misbehaves.
final class ResilienceTests: XCTestCase {
    /// 1,000 sources created (some updated, some deleted) while every watch is dropped after 50
    /// events and two watches are forced to 410.
    func testConvergesThroughDroppedAndExpiredWatches() async throws {
        let server = try await KubeTestServer.start()
        let rig = try MirrorRig(server: server)
        server.faults.dropWatches(afterEvents: 50)
        server.faults.expireNextWatches(1)
        rig.start()
        for i in 0..<500 { try await rig.createSource(i) }
        // The second 410 hits a watch mid-run (the first was spent on an early re-watch).
        try await waitUntil("the first forced 410 was served", timeout: 30) { server.faults.expiredWatchCount == 1 }
        server.faults.expireNextWatches(1)
        for i in 500..<1000 { try await rig.createSource(i) }
        for i in stride(from: 0, to: 1000, by: 7) { try await rig.updateSource(i, version: 1) }
        for i in stride(from: 0, to: 1000, by: 20) {
            _ = try await rig.admin.delete(.configMaps, namespace: "default", name: "src-\(i)")
        }
        try await rig.waitConverged(expectedSources: 950, timeout: 120)
        XCTAssertEqual(server.faults.expiredWatchCount, 2, "both forced 410s were served")
        XCTAssertGreaterThanOrEqual(server.faults.droppedWatchCount, 20, "watches were dropped every 50 events")
        XCTAssertGreaterThanOrEqual(rig.sources.listCount + rig.mirrors.listCount, 3, "a 410 made an informer list again")
        rig.assertNoKeyReconciledTwiceAtOnce()
        XCTAssertGreaterThan(rig.probe.maxConcurrentTotal, 1, "the 4 workers ran in parallel")
        try await rig.stopAll()
    }

    /// 20 % of the operator's requests fail with 500 or 429 (+ Retry-After: 1).
    func testConvergesThroughFailingRequestsAndHonoursRetryAfter() async throws {
        let server = try await KubeTestServer.start()
        let rig = try MirrorRig(server: server)
        for i in 0..<60 { try await rig.createSource(i) }
        let scope = FaultScope(userAgents: [operatorUserAgent])
        server.faults.recordRequests = true
        // 10 % 500, then 1/9 of the rest 429: 20 % in all.
        server.faults.failRequests(share: 0.1, with: .internalError, scope: scope, seed: 20)
        server.faults.failRequests(share: 1.0 / 9, with: .tooManyRequests(retryAfterSeconds: 1), scope: scope)
        rig.start()
        for i in 60..<80 { try await rig.createSource(i) }
        for i in stride(from: 0, to: 80, by: 4) { try await rig.updateSource(i, version: 1) }
        try await rig.waitConverged(expectedSources: 80, timeout: 90)
        let end = Date()
        server.faults.reset()

        XCTAssertGreaterThan(server.faults.injectedCount(status: 500), 0)
        XCTAssertGreaterThan(server.faults.injectedCount(status: 429), 0)
        let log = server.faults.recordedRequests.filter { $0.userAgent == operatorUserAgent }
        let failed = log.filter { $0.injectedStatus != nil }.count
        XCTAssertEqual(Double(failed) / Double(log.count), 0.2, accuracy: 0.1, "about 20 % of \(log.count) requests failed")
        // Retry-After: the retry of a 429 (same method, path and body) came at least 1 s later.
        var retried = 0
        for (i, r) in log.enumerated() where r.injectedStatus == 429 {
            guard let retry = log[(i + 1)...].first(where: { $0.isSameRequest(as: r) }) else {
                // Only a request throttled in the last second may still be waiting (or was cancelled).
                XCTAssertGreaterThan(r.time, end.addingTimeInterval(-1.5), "\(r.method) \(r.target) was never retried")
                continue
            }
            retried += 1
            XCTAssertGreaterThanOrEqual(retry.time.timeIntervalSince(r.time), 1.0, "\(r.method) \(r.target) was retried before Retry-After")
        }
        XCTAssertGreaterThan(retried, 0)
        rig.assertNoKeyReconciledTwiceAtOnce()
        try await rig.stopAll()
    }

    /// The API server restarts mid-run: watches break, connections close, requests are refused
    /// for a moment; the informers come back and everything converges.
    func testConvergesThroughAnAPIServerRestart() async throws {
        let server = try await KubeTestServer.start()
        let rig = try MirrorRig(server: server)
        for i in 0..<150 { try await rig.createSource(i) }
        rig.start()
        try await waitUntil("half the mirrors exist", timeout: 30) { rig.mirrors.store.count >= 75 }
        let watchesBefore = server.requestCount(verb: "watch", resource: "configmaps")
        let rvBefore = server.currentResourceVersion
        try await server.restart()
        for i in 150..<200 { try await rig.createSource(i) }
        for i in stride(from: 0, to: 200, by: 5) { try await rig.updateSource(i, version: 1) }
        try await rig.waitConverged(expectedSources: 200, timeout: 90)
        XCTAssertGreaterThan(server.currentResourceVersion, rvBefore)
        XCTAssertGreaterThanOrEqual(server.requestCount(verb: "watch", resource: "configmaps"), watchesBefore + 2,
                                    "both informers watched again after the restart")
        rig.assertNoKeyReconciledTwiceAtOnce()
        try await rig.stopAll()
    }
}
