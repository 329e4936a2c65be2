import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import Logging
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// Metric analysis end to end: the real manager against KubeTestServer, measuring through libcurl a
/// real Prometheus (started on loopback by the test) that scrapes `MetricsExporter`, whose series
/// per colour the test controls.
final class AnalysisEndToEndTests: XCTestCase {
    static let bg = "pynomaly-bg"
    static let newImage = "ghcr.io/elgerytme/pynomaly:v0.1.4"

    /// Short rate windows so a change of the exporter's profile shows within a few scrapes.
    static func metrics(interval: Int, count: Int, window: String = "3s") -> JSONValue {
        let errors = #"sum(rate(http_requests_total{namespace="{{namespace}}",job="{{service}}",status=~"5.."}[WINDOW])) / sum(rate(http_requests_total{namespace="{{namespace}}",job="{{service}}"}[WINDOW]))"#
            .replacingOccurrences(of: "WINDOW", with: window)
        let p95 = #"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{{namespace}}",job="{{service}}"}[WINDOW])))"#
            .replacingOccurrences(of: "WINDOW", with: window)
        return [
            ["name": "error-ratio", "query": .string(errors), "successCondition": ["max": 0.01], "intervalSeconds": .int(Int64(interval)), "count": .int(Int64(count))],
            ["name": "latency-p95", "query": .string(p95), "successCondition": ["max": 0.5], "intervalSeconds": .int(Int64(interval)), "count": .int(Int64(count))],
        ]
    }

    static func prometheusClient() -> PrometheusHTTPClient {
        PrometheusHTTPClient { endpoint in
            try CurlTransport.endpoint(address: endpoint.address, caPEM: endpoint.caPEM, bearerToken: endpoint.bearerToken, timeout: endpoint.timeoutSeconds)
        }
    }

    /// Exporter and Prometheus for the given scrape targets, healthy traffic everywhere.
    static func startPrometheus(_ targets: [String]) throws -> (MetricsExporter, TestPrometheus) {
        let exporter = try MetricsExporter()
        for target in targets { exporter.set(target, .healthy) }
        let prometheus = try TestPrometheus(exporter: exporter, targets: targets)
        try prometheus.waitForSamples(targets, samples: 4)
        return (exporter, prometheus)
    }

    /// The blue-green sample with analysis against `prometheus`.
    func createBlueGreen(_ rig: OperatorRig, prometheus: TestPrometheus, interval: Int = 2, count: Int = 3, scaleDownDelay: Int = 60,
                         inconclusiveLimit: Int = 1, prePromotion: Bool = true) async throws {
        try await rig.createBlueGreenSample { cr in
            cr[path: ["spec", "strategy", "blueGreen", "scaleDownDelaySeconds"]] = .int(Int64(scaleDownDelay))
            cr[path: ["spec", "analysis"]] = [
                "prometheus": ["address": .string(prometheus.address), "timeoutSeconds": 2],
                "metrics": Self.metrics(interval: interval, count: count),
                "inconclusiveLimit": .int(Int64(inconclusiveLimit)),
                "prePromotion": .bool(prePromotion),
            ]
        }
    }

    func waitForBlueIdle(_ rig: OperatorRig, file: StaticString = #filePath, line: UInt = #line) async throws {
        try await rig.waitForBlueIdle(name: Self.bg, healthy: false, timeout: 20, file: file, line: line)
    }

    func analysis(_ rig: OperatorRig, _ name: String = AnalysisEndToEndTests.bg) async throws -> JSONValue? {
        try await rig.cr(name)[path: ["status", "analysis"]]
    }

    func events(_ rig: OperatorRig, _ name: String, reason: String) async throws -> [String] {
        try await rig.events(for: name).filter { $0["reason"]?.stringValue == reason }.compactMap { $0["message"]?.stringValue }
    }

    // MARK: a good revision

    func testAGoodRevisionIsPromotedAfterItsAnalyses() async throws {
        let (exporter, prometheus) = try Self.startPrometheus(["\(Self.bg)-blue", "\(Self.bg)-green"])
        defer { prometheus.stop(); exporter.stop() }
        let rig = try await OperatorRig(prometheus: Self.prometheusClient())
        rig.start()
        try await createBlueGreen(rig, prometheus: prometheus)
        try await waitForBlueIdle(rig)
        let firstRun = try await analysis(rig)
        XCTAssertNil(firstRun, "a first deployment has nothing to protect: no analysis")

        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.bg)
        var steps: [String] = []
        try await waitUntil("green serves after both analyses", timeout: 60) {
            let cr = try await rig.cr(Self.bg)
            if let step = cr[path: ["status", "blueGreen", "step"]]?.stringValue, steps.last != step { steps.append(step) }
            return cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "green"
                && cr[path: ["status", "analysis", "stage"]]?.stringValue == "PostPromotion"
                && cr[path: ["status", "analysis", "phase"]]?.stringValue == "Successful"
        }
        XCTAssertTrue(steps.contains("PrePromotionAnalysis"), "\(steps)")
        XCTAssertTrue(steps.contains("PostPromotionAnalysis"), "\(steps)")
        let cr = try await rig.cr(Self.bg)
        let run = cr[path: ["status", "analysis"]]
        for metric in run?["metrics"]?.arrayValue ?? [] {
            XCTAssertEqual(metric["measured"]?.intValue, 3, "\(metric)")
            XCTAssertEqual(metric["successful"]?.intValue, 3, "\(metric)")
            XCTAssertEqual(metric["measurements"]?.arrayValue?.count, 3)
        }
        XCTAssertEqual(run?["metrics"]?.arrayValue?.count, 2)
        let condition = rig.condition(cr, ConditionType.analysisHealthy)
        XCTAssertEqual(condition?["status"]?.stringValue, "True")
        XCTAssertEqual(condition?["reason"]?.stringValue, "AnalysisPassed")
        let passedEvents = try await events(rig, Self.bg, reason: "AnalysisPassed").count
        XCTAssertEqual(passedEvents, 2, "pre- and post-promotion")
        let revision2 = cr[path: ["status", "history"]]?.arrayValue?.first { $0["revision"]?.intValue == 2 }
        XCTAssertEqual(revision2?["outcome"]?.stringValue, "Succeeded")
        // `kubectl pynomaly status` prints the measurements.
        let text = StatusView.render(cr)
        XCTAssertTrue(text.contains("Analysis:") && text.contains("PostPromotion of revision 2 on green: Successful"), text)
        XCTAssertTrue(text.contains("Measurements:") && text.contains("error-ratio") && text.contains("latency-p95"), text)
        try await rig.stop()
    }

    // MARK: errors after the switch

    func testAnErrorRatioOfThreePercentAfterTheSwitchSwitchesBackWithinTheWindow() async throws {
        let (exporter, prometheus) = try Self.startPrometheus(["\(Self.bg)-blue", "\(Self.bg)-green"])
        defer { prometheus.stop(); exporter.stop() }
        let rig = try await OperatorRig(prometheus: Self.prometheusClient())
        rig.start()
        try await createBlueGreen(rig, prometheus: prometheus, interval: 2, count: 4, scaleDownDelay: 60)
        try await waitForBlueIdle(rig)
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.bg)
        try await waitUntil("traffic switched to green and the post-promotion analysis runs", timeout: 60) {
            try await rig.cr(Self.bg)[path: ["status", "blueGreen", "step"]]?.stringValue == "PostPromotionAnalysis"
        }
        // The new revision starts failing 3 % of its requests once it takes the traffic.
        exporter.set("\(Self.bg)-green", TrafficProfile(requestsPerSecond: 100, errorRatio: 0.03, latencySeconds: 0.2))
        try await waitUntil("switched back to blue", timeout: 30) {
            let cr = try await rig.cr(Self.bg)
            return cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue" && cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Aborted"
        }
        let cr = try await rig.cr(Self.bg)
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeRevision"]]?.intValue, 1)
        XCTAssertEqual(cr[path: ["status", "lastRollback", "reason"]]?.stringValue, "AnalysisFailed")
        let condition = rig.condition(cr, ConditionType.analysisHealthy)
        XCTAssertEqual(condition?["status"]?.stringValue, "False")
        XCTAssertEqual(condition?["reason"]?.stringValue, "AnalysisFailed")
        let message = condition?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("error-ratio = 0.0") && message.contains("must be <= 0.01"), message)
        // Within the window: the old colour was never scaled down, so the switch-back was instant.
        let scaledDownEvents = try await events(rig, Self.bg, reason: "ScaledDown").count
        XCTAssertEqual(scaledDownEvents, 0)
        let failed = try await events(rig, Self.bg, reason: "AnalysisFailed")
        XCTAssertTrue(failed.contains { $0.contains("switching back to blue (revision 1) at once") }, "\(failed)")
        let promoted = cr[path: ["status", "blueGreen", "promotedAt"]]?.stringValue.flatMap(KubeTime.parse)
        let rolledBack = cr[path: ["status", "lastRollback", "at"]]?.stringValue.flatMap(KubeTime.parse)
        if let promoted, let rolledBack { XCTAssertLessThan(rolledBack.timeIntervalSince(promoted), 60, "inside scaleDownDelaySeconds") }
        let revision2 = cr[path: ["status", "history"]]?.arrayValue?.first { $0["revision"]?.intValue == 2 }
        XCTAssertEqual(revision2?["outcome"]?.stringValue, "RolledBack")
        // Not retried: a resync (a spec change outside the pod template) leaves blue serving revision 1.
        try await rig.patchSpec(["progressDeadlineSeconds": 601], name: Self.bg)
        try await rig.waitForCondition(ConditionType.stalled, "True", name: Self.bg)
        try await rig.waitForIdle()
        let after = try await rig.cr(Self.bg)
        XCTAssertEqual(after[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "blue")
        XCTAssertEqual(after[path: ["status", "blueGreen", "step"]]?.stringValue, "Aborted")
        let startedEvents = try await events(rig, Self.bg, reason: "AnalysisStarted").count
        XCTAssertEqual(startedEvents, 2, "one pre- and one post-promotion run, no retry")
        try await rig.stop()
    }

    // MARK: RollingUpdate bake

    func testARollingUpdateWhoseP95GoesOverHalfASecondIsRolledBackOnceAndNotRetried() async throws {
        let name = "pynomaly"
        let (exporter, prometheus) = try Self.startPrometheus([name])
        defer { prometheus.stop(); exporter.stop() }
        let rig = try await OperatorRig(prometheus: Self.prometheusClient())
        rig.start()
        try await rig.createSampleSecret()
        let cr = try OperatorRig.sampleDeployment(name: name) { cr in
            cr[path: ["spec", "analysis"]] = ["prometheus": ["address": .string(prometheus.address), "timeoutSeconds": 2],
                                              "metrics": Self.metrics(interval: 1, count: 3)]
        }
        try await rig.create(cr)
        try await rig.waitForCondition(ConditionType.ready, "True", name: name, timeout: 30)
        var status = try await rig.cr(name)
        XCTAssertEqual(status[path: ["status", "analysis", "stage"]]?.stringValue, "Bake")
        XCTAssertEqual(status[path: ["status", "analysis", "phase"]]?.stringValue, "Successful", "revision 1 baked before it became stable")
        XCTAssertEqual(status[path: ["status", "stableRevision"]]?.intValue, 1)

        // Revision 2 answers slowly: p95 ≈ 0.98 s once it serves.
        exporter.set(name, TrafficProfile(requestsPerSecond: 100, errorRatio: 0, latencySeconds: 0.8))
        let p95 = try AnalysisQueryTemplate(Self.metrics(interval: 1, count: 3)[1]?["query"]?.stringValue ?? "")
            .render(.init(namespace: OperatorRig.namespace, service: name, color: "", revision: 2))
        try await waitUntil("Prometheus sees only the slow answers", timeout: 20) {
            if case .value(let v) = await Self.prometheusClient().query(p95, at: Date(), endpoint: PrometheusEndpoint(address: prometheus.address)) {
                return v > 0.9
            }
            return false
        }
        try await rig.patchSpec(["image": .string(Self.newImage)], name: name)
        try await waitUntil("revision 2 rolled back after its bake", timeout: 40) {
            status = try await rig.cr(name)
            return status[path: ["status", "lastRollback", "reason"]]?.stringValue == "AnalysisFailed"
                && status[path: ["status", "phase"]]?.stringValue == "Degraded"
        }
        try await rig.waitForIdle()
        status = try await rig.cr(name)
        XCTAssertEqual(status[path: ["status", "stableRevision"]]?.intValue, 1)
        XCTAssertEqual(status[path: ["status", "currentRevision"]]?.intValue, 1)
        let imageAfterRollback = try await rig.deploymentImage(name)
        XCTAssertEqual(imageAfterRollback, "ghcr.io/elgerytme/pynomaly:v0.1.3")
        let revision2 = status[path: ["status", "history"]]?.arrayValue?.first { $0["revision"]?.intValue == 2 }
        XCTAssertEqual(revision2?["outcome"]?.stringValue, "RolledBack")
        let condition = rig.condition(status, ConditionType.analysisHealthy)
        XCTAssertEqual(condition?["reason"]?.stringValue, "AnalysisFailed")
        let message = condition?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("latency-p95 = 0.9") && message.contains("must be <= 0.5"), message)
        let rolledBackEvents = try await events(rig, name, reason: "RolledBack").count
        XCTAssertEqual(rolledBackEvents, 1)

        // Not retried: another generation that keeps the pod template keeps revision 1 and measures nothing.
        let started = try await events(rig, name, reason: "AnalysisStarted").count
        try await rig.patchSpec(["replicas": 4], name: name)
        try await waitUntil("4 replicas of revision 1", timeout: 20) {
            let deployment = try await rig.get(.deployments, name)
            return deployment?[path: ["spec", "replicas"]]?.intValue == 4 && deployment?[path: ["status", "readyReplicas"]]?.intValue == 4
        }
        try await rig.waitForIdle()
        let imageAfterResync = try await rig.deploymentImage(name)
        XCTAssertEqual(imageAfterResync, "ghcr.io/elgerytme/pynomaly:v0.1.3")
        let startedAfterResync = try await events(rig, name, reason: "AnalysisStarted").count
        XCTAssertEqual(startedAfterResync, started, "no second bake of revision 2")
        let rolledBackAfterResync = try await events(rig, name, reason: "RolledBack").count
        XCTAssertEqual(rolledBackAfterResync, 1, "rolled back once")
        try await rig.stop()
    }

    // MARK: Prometheus gone

    func testPrometheusStoppedMidAnalysisIsInconclusiveNotAPass() async throws {
        let (exporter, prometheus) = try Self.startPrometheus(["\(Self.bg)-blue", "\(Self.bg)-green"])
        defer { prometheus.stop(); exporter.stop() }
        let rig = try await OperatorRig(prometheus: Self.prometheusClient())
        rig.start()
        try await createBlueGreen(rig, prometheus: prometheus, interval: 2, count: 10, scaleDownDelay: 60, inconclusiveLimit: 1)
        try await waitForBlueIdle(rig)
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.bg)
        try await waitUntil("the pre-promotion analysis measured once", timeout: 60) {
            let run = try await self.analysis(rig)
            return run?["stage"]?.stringValue == "PrePromotion" && (run?["metrics"]?.arrayValue?.first?["successful"]?.intValue ?? 0) >= 1
        }
        prometheus.terminate()
        try await waitUntil("the run ended", timeout: 30) {
            try await self.analysis(rig)?["phase"]?.stringValue != "Running"
        }
        let cr = try await rig.cr(Self.bg)
        XCTAssertEqual(cr[path: ["status", "analysis", "phase"]]?.stringValue, "Inconclusive")
        XCTAssertEqual(rig.condition(cr, ConditionType.analysisHealthy)?["reason"]?.stringValue, "AnalysisInconclusive")
        XCTAssertEqual(cr[path: ["status", "blueGreen", "step"]]?.stringValue, "Aborted", "not promoted")
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "blue")
        let notes = cr[path: ["status", "analysis", "metrics"]]?.arrayValue?.flatMap { $0["measurements"]?.arrayValue ?? [] }
            .filter { $0["phase"]?.stringValue == "Inconclusive" }.compactMap { $0["message"]?.stringValue } ?? []
        XCTAssertFalse(notes.isEmpty)
        XCTAssertTrue(notes.allSatisfy { $0.hasPrefix("Prometheus: ") }, "\(notes)")
        try await rig.stop()
    }

    // MARK: requests during a run

    /// `promote --skip-analysis` (its exact patch) ends a long pre-promotion run and promotes;
    /// `abort` during the post-promotion run switches back at once.
    func testSkipAnalysisPromotesAndAbortSwitchesBackDuringARun() async throws {
        let (exporter, prometheus) = try Self.startPrometheus(["\(Self.bg)-blue", "\(Self.bg)-green"])
        defer { prometheus.stop(); exporter.stop() }
        let rig = try await OperatorRig(prometheus: Self.prometheusClient())
        rig.start()
        try await createBlueGreen(rig, prometheus: prometheus, interval: 5, count: 10, scaleDownDelay: 120)
        try await waitForBlueIdle(rig)
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.bg)
        try await waitUntil("the pre-promotion analysis measures", timeout: 60) {
            let run = try await self.analysis(rig)
            return run?["stage"]?.stringValue == "PrePromotion" && (run?["metrics"]?.arrayValue?.first?["measured"]?.intValue ?? 0) >= 1
        }
        _ = try await rig.admin.patch(.pynomalyDeployments, namespace: OperatorRig.namespace, name: Self.bg, type: .merge,
                                      body: PluginPatch.skipAnalysis(token: "skip-1", blueGreen: true).serialized(), subresource: nil,
                                      options: WriteOptions())
        try await waitUntil("promoted without waiting for the run", timeout: 20) {
            try await rig.cr(Self.bg)[path: ["status", "blueGreen", "step"]]?.stringValue == "PostPromotionAnalysis"
        }
        var cr = try await rig.cr(Self.bg)
        XCTAssertEqual(cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue, "green")
        XCTAssertEqual(cr[path: ["status", "handledRequests", "skip-analysis"]]?.stringValue, "skip-1")
        let skipped = try await events(rig, Self.bg, reason: "AnalysisSkipped")
        XCTAssertEqual(skipped.count, 1, "\(skipped)")

        try await rig.annotate(RequestAnnotation.abort.name, "abort-1", name: Self.bg)
        try await waitUntil("switched back by the abort", timeout: 20) {
            cr = try await rig.cr(Self.bg)
            return cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue" && cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Aborted"
        }
        XCTAssertEqual(cr[path: ["status", "lastRollback", "reason"]]?.stringValue, "AbortRequested")
        XCTAssertEqual(cr[path: ["status", "analysis", "phase"]]?.stringValue, "Aborted", "the post-promotion run was closed, not left running")
        try await rig.stop()
    }

    // MARK: restarts

    func testAnOperatorRestartedMidAnalysisKeepsItsCount() async throws {
        let (exporter, prometheus) = try Self.startPrometheus(["\(Self.bg)-blue", "\(Self.bg)-green"])
        defer { prometheus.stop(); exporter.stop() }
        let rig = try await OperatorRig(prometheus: Self.prometheusClient())
        rig.start()
        try await createBlueGreen(rig, prometheus: prometheus, interval: 2, count: 5, scaleDownDelay: 60, prePromotion: true)
        try await waitForBlueIdle(rig)
        try await rig.patchSpec(["image": .string(Self.newImage)], name: Self.bg)
        try await waitUntil("the pre-promotion analysis started", timeout: 60) {
            try await self.analysis(rig)?["stage"]?.stringValue == "PrePromotion"
        }
        rig.manager.shutDown()

        // A fresh manager per measurement: stop it as soon as the count moved.
        var counts: [Int64] = []
        var managers = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let run = try await analysis(rig)
            let measured = run?["metrics"]?.arrayValue?.first?["measured"]?.intValue ?? 0
            if counts.last != measured { counts.append(measured) }
            if run?["stage"]?.stringValue != "PrePromotion" || run?["phase"]?.stringValue != "Running" { break }
            let (manager, task) = try await Self.startManager(rig)
            managers += 1
            _ = try await eventually(timeout: 10) {
                let now = try await self.analysis(rig)
                return now?["metrics"]?.arrayValue?.first?["measured"]?.intValue != measured || now?["phase"]?.stringValue != "Running"
            }
            manager.shutDown()
            _ = try await task.value
        }
        XCTAssertGreaterThanOrEqual(managers, 3, "restarted mid-analysis: \(counts)")
        XCTAssertEqual(counts, counts.sorted(), "the count never went back: \(counts)")
        let final = try await rig.cr(Self.bg)
        let started = try await rig.events(for: Self.bg).filter {
            $0["reason"]?.stringValue == "AnalysisStarted" && $0["message"]?.stringValue?.hasPrefix("PrePromotion") == true
        }
        XCTAssertEqual(started.count, 1, "the run was never started again: \(started)")
        XCTAssertEqual(started.first?["count"]?.intValue ?? 1, 1, "one start, not one per manager")
        let run = final[path: ["status", "analysis"]]
        if run?["stage"]?.stringValue == "PrePromotion" {
            for metric in run?["metrics"]?.arrayValue ?? [] {
                XCTAssertEqual(metric["measured"]?.intValue, 5, "exactly count measurements: \(metric)")
                let times = (metric["measurements"]?.arrayValue ?? []).compactMap { $0["at"]?.stringValue.flatMap(KubeTime.parse) }
                for (a, b) in zip(times, times.dropFirst()) {
                    XCTAssertGreaterThanOrEqual(b.timeIntervalSince(a), 1.999, "no double count across restarts: \(times)")
                }
            }
        } else {
            // Already moved on to the post-promotion run: the pre-promotion run passed with its 5.
            let passedWithFive = try await events(rig, Self.bg, reason: "AnalysisPassed").first?.contains("5/5")
            XCTAssertEqual(passedWithFive, true)
        }
        try await rig.stop()
    }

    /// A manager like the rig's (same server, a fresh cache and queue), with a Prometheus client.
    static func startManager(_ rig: OperatorRig) async throws -> (Manager, Task<ManagerOutcome, any Error>) {
        var configuration = try ConfigurationResolver.resolve(kubeconfigPath: rig.cluster.kubeconfig, context: nil)
        configuration.qps = 0
        let client = try makeKubeClient(configuration: configuration)
        let manager = Manager(client: client, options: ManagerOptions(), logger: Logger(label: "pynomaly-operator") { _ in SwiftLogNoOpLogHandler() })
        OperatorSetup.register(on: manager, configuration: OperatorConfiguration(maxConcurrentReconciles: 4, resyncPeriod: 600,
                                                                                 prometheus: prometheusClient()))
        let task = Task { try await manager.run() }
        return (manager, task)
    }
}
