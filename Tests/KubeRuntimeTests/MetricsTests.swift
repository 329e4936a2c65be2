import Foundation
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// The value of the sample `name{labels…}` in a Prometheus text exposition (labels matched as a
/// subset, in any order); nil when there is none.
func sample(_ exposition: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
    for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " ") else { continue }
        let series = line[..<space]
        let value = line[line.index(after: space)...]
        let metric: Substring
        var found: [String: String] = [:]
        if let brace = series.firstIndex(of: "{") {
            metric = series[..<brace]
            let inner = series[series.index(after: brace)...].dropLast()
            for pair in inner.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                found[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
        } else {
            metric = series
        }
        guard metric == name, labels.allSatisfy({ found[$0.key] == $0.value }) else { continue }
        return Double(value)
    }
    return nil
}

final class MetricsTests: XCTestCase {
    func testControllerRunExportsControllerRuntimeMetricsOverLoopback() async throws {
        let server = try await KubeTestServer.start()
        let metrics = RuntimeMetrics()
        let client = KubeAPIClient(transport: MetricsTransport(server.transport, metrics: metrics, host: "kube-test-server"))
        let objects = 6
        for i in 0..<objects {
            _ = try await client.create(.configMaps, namespace: "default",
                                        object: configMap("m-\(i)", namespace: "default", labels: ["suite": "metrics"]).removingServerFields())
        }
        let informer = Informer(client: client, resource: .configMaps,
                                options: InformerOptions(namespace: "default", labelSelector: "suite=metrics", watcher: fastWatcher))
        // m-0 fails once (an error and a retry), m-1 asks to be looked at again shortly, the rest succeed.
        let failedOnce = Mutex(false)
        let requeuedOnce = Mutex(false)
        let reconciler = ReconcileFunction { key in
            if key.name == "m-0", failedOnce.withLock({ let first = !$0; $0 = true; return first }) { return .error("boom") }
            if key.name == "m-1", requeuedOnce.withLock({ let first = !$0; $0 = true; return first }) { return .requeue(after: 0.05) }
            return .done
        }
        let controller = Controller(name: "metrics-test", primary: informer, reconciler: reconciler,
                                    options: ControllerOptions(maxConcurrentReconciles: 2, resyncPeriod: nil), metrics: metrics)
        let checks = HealthChecks()
        checks.addInformersSyncedCheck([informer])
        let probes = ProbeServer(address: .loopbackEphemeral, metrics: metrics, checks: checks)
        try probes.start()
        let port = probes.port
        XCTAssertEqual(try RawHTTPConnection.get(port, "/readyz").status, 500, "not ready before the informer synced")

        let informerTask = Task { await informer.run() }
        let running = Task { await controller.run() }
        try await waitUntil("every object was reconciled to success and the queue is idle") {
            let text = metrics.exposition()
            let success = sample(text, "controller_runtime_reconcile_total", ["controller": "metrics-test", "result": "success"]) ?? 0
            let depth = await controller.queue.depth
            let inFlight = await controller.queue.inFlight
            return success >= Double(objects) && depth == 0 && inFlight.isEmpty
                && (sample(text, "controller_runtime_active_workers", ["controller": "metrics-test"]) ?? -1) == 0
        }
        // One more object while running: the watch delivers it, and it counts as a 201.
        _ = try await client.create(.configMaps, namespace: "default",
                                    object: configMap("m-late", namespace: "default", labels: ["suite": "metrics"]).removingServerFields())
        try await waitUntil("the late object was reconciled") {
            (sample(metrics.exposition(), "controller_runtime_reconcile_total", ["controller": "metrics-test", "result": "success"]) ?? 0)
                >= Double(objects + 1)
        }
        try await waitUntil("the queue is empty again") {
            let (depth, inFlight) = (await controller.queue.depth, await controller.queue.inFlight)
            return depth == 0 && inFlight.isEmpty
        }

        let scrape = try RawHTTPConnection.get(port, "/metrics")
        XCTAssertEqual(scrape.status, 200)
        XCTAssertTrue(scrape.head.contains("Content-Type: text/plain; version=0.0.4"), scrape.head)
        let text = scrape.body
        let c = ["controller": "metrics-test"]
        let q = ["name": "metrics-test"]
        func value(_ name: String, _ labels: [String: String]) -> Double {
            guard let v = sample(text, name, labels) else {
                XCTFail("\(name)\(labels) missing from the scrape")
                return .nan
            }
            return v
        }
        XCTAssertGreaterThanOrEqual(value("controller_runtime_reconcile_total", c.merging(["result": "success"]) { $1 }), Double(objects + 1))
        XCTAssertEqual(value("controller_runtime_reconcile_total", c.merging(["result": "error"]) { $1 }), 1)
        XCTAssertEqual(value("controller_runtime_reconcile_total", c.merging(["result": "requeue_after"]) { $1 }), 1)
        XCTAssertEqual(value("controller_runtime_reconcile_total", c.merging(["result": "requeue"]) { $1 }), 0, "exported at 0")
        XCTAssertEqual(value("controller_runtime_reconcile_errors_total", c), 1)
        XCTAssertEqual(value("controller_runtime_active_workers", c), 0)
        XCTAssertEqual(value("controller_runtime_max_concurrent_reconciles", c), 2)
        let reconciles = value("controller_runtime_reconcile_time_seconds_count", c)
        XCTAssertGreaterThanOrEqual(reconciles, Double(objects + 3), "successes + the error + the requeue")
        XCTAssertEqual(value("controller_runtime_reconcile_time_seconds_bucket", c.merging(["le": "+Inf"]) { $1 }), reconciles)
        XCTAssertNotNil(sample(text, "controller_runtime_reconcile_time_seconds_bucket", c.merging(["le": "0.005"]) { $1 }),
                        "controller-runtime's buckets")

        XCTAssertEqual(value("workqueue_depth", q), 0, "depth returns to 0")
        XCTAssertGreaterThanOrEqual(value("workqueue_adds_total", q), Double(objects + 1 + 2), "initial keys, the late one, retry and requeue")
        XCTAssertEqual(value("workqueue_retries_total", q), 1)
        XCTAssertEqual(value("workqueue_queue_duration_seconds_count", q), reconciles, "one observation per item handed out")
        XCTAssertEqual(value("workqueue_work_duration_seconds_count", q), reconciles)
        XCTAssertNotNil(sample(text, "workqueue_work_duration_seconds_bucket", q.merging(["le": "1e-08"]) { $1 }), "10 ns first bucket")
        XCTAssertEqual(value("workqueue_unfinished_work_seconds", q), 0)
        XCTAssertEqual(value("workqueue_longest_running_processor_seconds", q), 0)

        let host = "kube-test-server"
        XCTAssertEqual(value("rest_client_requests_total", ["code": "201", "method": "POST", "host": host]), Double(objects + 1))
        XCTAssertGreaterThanOrEqual(value("rest_client_requests_total", ["code": "200", "method": "GET", "host": host]), 2,
                                    "the list and the watch")
        XCTAssertGreaterThanOrEqual(value("rest_client_request_duration_seconds_count", ["verb": "GET", "host": host]), 2)
        XCTAssertEqual(value("rest_client_request_duration_seconds_count", ["verb": "POST", "host": host]), Double(objects + 1))
        XCTAssertTrue(text.contains("# TYPE controller_runtime_reconcile_time_seconds histogram"))
        XCTAssertTrue(text.contains("# TYPE workqueue_adds_total counter"))

        XCTAssertEqual(try RawHTTPConnection.get(port, "/readyz").status, 200)
        running.cancel()
        await running.value
        informerTask.cancel()
        await informerTask.value
        await probes.stop()
        try await server.stop()
    }

    func testRestClientCountsErrorsAndStatusCodes() async throws {
        let server = try await KubeTestServer.start()
        let metrics = RuntimeMetrics()
        let client = KubeAPIClient(transport: MetricsTransport(server.transport, metrics: metrics, host: "h"))
        do {
            _ = try await client.get(.configMaps, namespace: "default", name: "absent")
            XCTFail("absent object")
        } catch let error as KubeError where error.isNotFound {}
        let failing = MetricsTransport(FailingTransport(), metrics: metrics, host: "down")
        do {
            _ = try await failing.send(KubeRequest(method: .get, path: "/api"))
            XCTFail("the transport fails")
        } catch {}
        do {
            _ = try await failing.stream(KubeRequest(method: .get, path: "/api/v1/pods", isWatch: true))
            XCTFail("the transport fails")
        } catch {}
        let text = metrics.exposition()
        XCTAssertEqual(sample(text, "rest_client_requests_total", ["code": "404", "method": "GET", "host": "h"]), 1)
        XCTAssertEqual(sample(text, "rest_client_requests_total", ["code": "<error>", "method": "GET", "host": "down"]), 2)
        XCTAssertEqual(sample(text, "rest_client_request_duration_seconds_count", ["verb": "GET", "host": "down"]), 2)
        try await server.stop()
    }

    func testLeaderElectionMasterStatus() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let (metricsA, metricsB) = (RuntimeMetrics(), RuntimeMetrics())
        func elector(_ id: String, _ metrics: RuntimeMetrics) throws -> LeaderElector {
            let config = LeaderElectionConfiguration(leaseNamespace: "default", leaseName: "metrics-lock", identity: id,
                                                     leaseDuration: 2, renewDeadline: 1.5, retryPeriod: 0.1, releaseOnCancel: true)
            return try LeaderElector(client: client, configuration: config, metrics: metrics)
        }
        let a = try elector("a_1", metricsA)
        let b = try elector("b_2", metricsB)
        let status = { (m: RuntimeMetrics) in sample(m.exposition(), "leader_election_master_status", ["name": "metrics-lock"]) }
        XCTAssertEqual(status(metricsA), 0, "exported at 0 before the election")
        let runA = Task { await a.run() }
        let runB = Task { await b.run() }
        try await waitUntil("someone leads") { a.isLeader || b.isLeader }
        let (leaderMetrics, followerMetrics, leaderTask, follower) = a.isLeader ? (metricsA, metricsB, runA, b) : (metricsB, metricsA, runB, a)
        XCTAssertEqual(status(leaderMetrics), 1)
        XCTAssertEqual(status(followerMetrics), 0)

        leaderTask.cancel()
        _ = await leaderTask.value
        XCTAssertEqual(status(leaderMetrics), 0, "released")
        try await waitUntil("the follower took over") { follower.isLeader }
        XCTAssertEqual(status(followerMetrics), 1)
        runA.cancel()
        runB.cancel()
        _ = await runA.value
        _ = await runB.value
        try await server.stop()
    }

    /// Pure timing: with a manual clock, each item's queue latency and work duration are observed
    /// exactly, and the in-flight gauges age at scrape time.
    func testWorkQueueObservationsAreExact() async throws {
        let clock = ManualClock()
        let metrics = RuntimeMetrics()
        let queue = WorkQueue<String>(clock: clock, metrics: metrics.workQueue(name: "q"))
        await queue.add("a")
        await queue.add("a")  // de-duplicated: one add
        await queue.add("b")
        clock.advance(by: 2)
        let first = await queue.get()
        XCTAssertEqual(first, "a")
        clock.advance(by: 3)
        var text = metrics.exposition()
        let q = ["name": "q"]
        XCTAssertEqual(sample(text, "workqueue_adds_total", q), 2)
        XCTAssertEqual(sample(text, "workqueue_depth", q), 1)
        XCTAssertEqual(sample(text, "workqueue_queue_duration_seconds_sum", q), 2)
        XCTAssertEqual(sample(text, "workqueue_unfinished_work_seconds", q), 3, "aged to the scrape time")
        XCTAssertEqual(sample(text, "workqueue_longest_running_processor_seconds", q), 3)
        XCTAssertEqual(sample(text, "workqueue_queue_duration_seconds_bucket", q.merging(["le": "1.0"]) { $1 }), 0)
        XCTAssertEqual(sample(text, "workqueue_queue_duration_seconds_bucket", q.merging(["le": "10.0"]) { $1 }), 1)

        await queue.done("a")
        _ = await queue.addRateLimited("a")
        text = metrics.exposition()
        XCTAssertEqual(sample(text, "workqueue_work_duration_seconds_sum", q), 3)
        XCTAssertEqual(sample(text, "workqueue_work_duration_seconds_count", q), 1)
        XCTAssertEqual(sample(text, "workqueue_retries_total", q), 1)
        XCTAssertEqual(sample(text, "workqueue_unfinished_work_seconds", q), 0)
    }

    func testResultLabelsAndRegistriesAreSeparate() {
        XCTAssertEqual(ControllerMetricsReporter.resultLabel(.done), "success")
        XCTAssertEqual(ControllerMetricsReporter.resultLabel(.requeue(after: 0)), "requeue")
        XCTAssertEqual(ControllerMetricsReporter.resultLabel(.requeue(after: 1)), "requeue_after")
        XCTAssertEqual(ControllerMetricsReporter.resultLabel(.error("x")), "error")
        XCTAssertEqual(ControllerMetricsReporter.resultLabel(.terminalError("x")), "error")

        let (one, two) = (RuntimeMetrics(), RuntimeMetrics())
        let reporter = one.controller(name: "c", maxConcurrentReconciles: 1)
        _ = two.controller(name: "c", maxConcurrentReconciles: 1)
        reporter.started()
        reporter.finished(.terminalError("bad spec"), seconds: 0.2)
        let c = ["controller": "c"]
        XCTAssertEqual(sample(one.exposition(), "controller_runtime_reconcile_errors_total", c), 1)
        XCTAssertEqual(sample(one.exposition(), "controller_runtime_terminal_reconcile_errors_total", c), 1)
        XCTAssertEqual(sample(two.exposition(), "controller_runtime_reconcile_errors_total", c), 0, "no shared state between managers")
        XCTAssertEqual(RuntimeMetrics.workQueueBuckets.count, 12)
        XCTAssertEqual(RuntimeMetrics.workQueueBuckets.first ?? 0, 1e-8, accuracy: 1e-20)
        XCTAssertEqual(RuntimeMetrics.workQueueBuckets.last ?? 0, 1000, accuracy: 1e-6)
    }
}

/// A transport whose every request fails before an answer arrives.
private struct FailingTransport: KubeTransport {
    func send(_ request: KubeRequest) async throws -> KubeResponse { throw KubeError.transport(TransportError(kind: .connect, detail: "refused")) }
    func stream(_ request: KubeRequest) async throws -> KubeStreamResponse { throw KubeError.transport(TransportError(kind: .connect, detail: "refused")) }
}
