import Foundation
import KubeClient
import KubeCore
import PynomalyOperator
import Testing

/// The PrometheusRule of `spec.monitoring` checked by promtool (from the Debian package
/// `prometheus`): it parses, and each runbook alert fires on a synthetic series above its
/// threshold and stays silent below it.
@Suite(.serialized) struct PromtoolRuleTests {
    static func ruleFile() throws -> (path: String, rules: [JSONValue], directory: URL) {
        let ctx = try MonitoringBuilderTests.context(serviceMonitor: false, prometheusRule: true)
        let rule = try #require(MonitoringBuilder.prometheusRule(ctx))
        let groups = try #require(rule[path: ["spec", "groups"]])
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pynomaly-promtool-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("rules.json").path
        // A rules file is YAML; JSON is YAML.
        try JSONValue.object(["groups": groups]).serializedString().write(toFile: path, atomically: true, encoding: .utf8)
        return (path, groups.arrayValue?.first?["rules"]?.arrayValue ?? [], directory)
    }

    @Test func promtoolAcceptsTheGeneratedRules() throws {
        let (path, rules, directory) = try Self.ruleFile()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try ProcessRunner.run([try TestPrometheus.binary("promtool"), "check", "rules", path], environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS: \(rules.count) rules found"), "\(result.output)")
    }

    /// One promtool test group: series, when to look, and which alerts must (not) fire then.
    struct Scenario {
        var name: String
        var series: [(String, String)]
        var evalTime: String
        var expect: [(alert: String, fires: Bool)]
    }

    @Test func eachRunbookAlertFiresAboveItsThresholdAndNotBelow() throws {
        let (path, rules, directory) = try Self.ruleFile()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ctx = try MonitoringBuilderTests.context(serviceMonitor: false, prometheusRule: true)
        let ns = ctx.namespace, job = ctx.name
        let scope = #"namespace="\#(ns)",job="\#(job)""#
        let pod = #"namespace="\#(ns)",pod="\#(job)-7d9f-abcde",container="pynomaly""#
        // Counters per minute: `0+Nx40` grows by N each minute for 40 minutes.
        func requests(errorsPerMinute: Int, okPerMinute: Int) -> [(String, String)] {
            [(#"http_requests_total{\#(scope),status="500"}"#, "0+\(errorsPerMinute)x40"),
             (#"http_requests_total{\#(scope),status="200"}"#, "0+\(okPerMinute)x40")]
        }
        /// Every request in the bucket ending at `le` (so p95 interpolates inside it).
        func latency(allIn le: String) -> [(String, String)] {
            let bounds = ["0.5", "1", "1.5", "2.5", "+Inf"]
            let index = bounds.firstIndex(of: le) ?? 0
            return bounds.enumerated().map { i, bound in
                (#"http_request_duration_seconds_bucket{\#(scope),le="\#(bound)"}"#, i >= index ? "0+100x40" : "0x40")
            }
        }
        func memory(ratio: Double) -> [(String, String)] {
            [(#"container_memory_working_set_bytes{\#(pod)}"#, "\(Int(ratio * 1000))x40"),
             (#"kube_pod_container_resource_limits{\#(pod),resource="memory"}"#, "1000x40")]
        }
        func cpu(cores: Double) -> [(String, String)] {
            [(#"container_cpu_usage_seconds_total{\#(pod)}"#, "0+\(Int(cores * 60))x40"),
             (#"kube_pod_container_resource_limits{\#(pod),resource="cpu"}"#, "1x40")]
        }
        let scenarios = [
            Scenario(name: "errors 6 %", series: requests(errorsPerMinute: 6, okPerMinute: 94), evalTime: "20m",
                     expect: [("PynomalyHighErrorRate", true), ("PynomalyElevatedErrorRate", true)]),
            Scenario(name: "errors 3 %", series: requests(errorsPerMinute: 3, okPerMinute: 97), evalTime: "20m",
                     expect: [("PynomalyHighErrorRate", false), ("PynomalyElevatedErrorRate", true)]),
            Scenario(name: "errors 0.5 %", series: requests(errorsPerMinute: 1, okPerMinute: 199), evalTime: "20m",
                     expect: [("PynomalyHighErrorRate", false), ("PynomalyElevatedErrorRate", false)]),
            Scenario(name: "p95 2.5 s", series: latency(allIn: "+Inf"), evalTime: "20m",
                     expect: [("PynomalyHighLatency", true), ("PynomalyElevatedLatency", true)]),
            Scenario(name: "p95 1.475 s", series: latency(allIn: "1.5"), evalTime: "20m",
                     expect: [("PynomalyHighLatency", false), ("PynomalyElevatedLatency", true)]),
            Scenario(name: "p95 0.975 s", series: latency(allIn: "1"), evalTime: "20m",
                     expect: [("PynomalyHighLatency", false), ("PynomalyElevatedLatency", false)]),
            Scenario(name: "all pods down", series: [(#"up{\#(scope)}"#, "0x40")], evalTime: "10m", expect: [("PynomalyAllPodsDown", true)]),
            Scenario(name: "pods up", series: [(#"up{\#(scope)}"#, "1x40")], evalTime: "10m", expect: [("PynomalyAllPodsDown", false)]),
            Scenario(name: "memory 90 %", series: memory(ratio: 0.9), evalTime: "20m", expect: [("PynomalyHighMemory", true)]),
            Scenario(name: "memory 70 %", series: memory(ratio: 0.7), evalTime: "20m", expect: [("PynomalyHighMemory", false)]),
            Scenario(name: "cpu 90 %", series: cpu(cores: 0.9), evalTime: "30m", expect: [("PynomalyHighCPU", true)]),
            Scenario(name: "cpu 70 %", series: cpu(cores: 0.7), evalTime: "30m", expect: [("PynomalyHighCPU", false)]),
        ]
        // Every alert of the rule is covered both ways.
        let alerts = Set(rules.compactMap { $0["alert"]?.stringValue })
        let fired = Set(scenarios.flatMap { $0.expect.filter(\.fires).map(\.alert) })
        let silent = Set(scenarios.flatMap { $0.expect.filter { !$0.fires }.map(\.alert) })
        #expect(fired == alerts && silent == alerts, "alerts \(alerts.sorted()), fired \(fired.sorted()), silent \(silent.sorted())")

        func expected(_ alert: String) -> JSONValue {
            let rule = rules.first { $0["alert"]?.stringValue == alert }
            return ["exp_labels": rule?["labels"] ?? [:], "exp_annotations": rule?["annotations"] ?? [:]]
        }
        let tests: [JSONValue] = scenarios.map { scenario in
            [
                "name": .string(scenario.name),
                "interval": "1m",
                "input_series": .array(scenario.series.map { ["series": .string($0.0), "values": .string($0.1)] }),
                "alert_rule_test": .array(scenario.expect.map { alert, fires in
                    ["eval_time": .string(scenario.evalTime), "alertname": .string(alert), "exp_alerts": fires ? [expected(alert)] : []]
                }),
            ]
        }
        let result = try TestPrometheus.testRules(path, tests: .array(tests), in: directory)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    /// The test above must be able to fail: a wrong expectation makes promtool exit non-zero.
    @Test func promtoolReportsAnAlertThatDoesNotFire() throws {
        let (path, _, directory) = try Self.ruleFile()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ctx = try MonitoringBuilderTests.context(serviceMonitor: false, prometheusRule: true)
        let scope = #"namespace="\#(ctx.namespace)",job="\#(ctx.name)""#
        let tests: JSONValue = [[
            "interval": "1m",
            "input_series": [["series": .string(#"up{\#(scope)}"#), "values": "1x20"]],
            "alert_rule_test": [["eval_time": "10m", "alertname": "PynomalyAllPodsDown",
                                 "exp_alerts": [["exp_labels": ["severity": "critical", "pynomaly_deployment": .string(ctx.name)]]]]],
        ]]
        let result = try TestPrometheus.testRules(path, tests: tests, in: directory)
        #expect(result.status != 0, "\(result.output)")
    }
}

/// `PrometheusHTTPClient` over libcurl against a real Prometheus: the default queries measure what
/// the exporter serves, and each kind of failure becomes the outcome the run needs.
@Suite(.serialized) struct PrometheusClientTests {
    @Test func theDefaultQueriesMeasureTheExportedTraffic() async throws {
        let exporter = try MetricsExporter()
        defer { exporter.stop() }
        exporter.set("app-green", TrafficProfile(requestsPerSecond: 200, errorRatio: 0.03, latencySeconds: 0.2))
        exporter.set("app-blue", TrafficProfile(requestsPerSecond: 200, errorRatio: 0, latencySeconds: 0.8))
        let prometheus = try TestPrometheus(exporter: exporter, targets: ["app-green", "app-blue"])
        defer { prometheus.stop() }
        try prometheus.waitForSamples(["app-green", "app-blue"], samples: 4)
        let client = AnalysisEndToEndTests.prometheusClient()
        let endpoint = PrometheusEndpoint(address: prometheus.address, timeoutSeconds: 5)
        func measure(_ query: String, _ service: String) async throws -> AnalysisQueryOutcome {
            let rendered = try AnalysisQueryTemplate(query).render(.init(namespace: "default", service: service, color: "", revision: 1))
            return await client.query(rendered, at: Date(), endpoint: endpoint)
        }
        guard case .value(let errors) = try await measure(AnalysisDefaults.errorRatioQuery, "app-green") else { Issue.record("error ratio"); return }
        #expect(abs(errors - 0.03) < 0.001, "error ratio \(errors)")
        #expect(!AnalysisCondition(max: 0.01).passes(errors))
        guard case .value(let blueErrors) = try await measure(AnalysisDefaults.errorRatioQuery, "app-blue") else { Issue.record("blue"); return }
        #expect(blueErrors == 0, "each colour measures its own series")
        guard case .value(let fast) = try await measure(AnalysisDefaults.latencyP95Query, "app-green") else { Issue.record("p95"); return }
        #expect(abs(fast - 0.2425) < 0.001, "p95 in the (0.1, 0.25] bucket: \(fast)")
        guard case .value(let slow) = try await measure(AnalysisDefaults.latencyP95Query, "app-blue") else { Issue.record("p95 blue"); return }
        #expect(abs(slow - 0.975) < 0.001, "p95 in the (0.5, 1] bucket: \(slow)")
        // No memory series in this Prometheus: no data, which is inconclusive, never a pass.
        guard case .noData = try await measure(AnalysisDefaults.memoryQuery, "app-green") else { Issue.record("memory without series"); return }

        guard case .invalidQuery(let why) = await client.query("sum(rate(http_requests_total[1m]", at: Date(), endpoint: endpoint) else {
            Issue.record("a malformed query is refused"); return
        }
        #expect(why.contains("parse error"), "\(why)")
        guard case .invalidQuery = await client.query("http_requests_total", at: Date(), endpoint: endpoint) else {
            Issue.record("several series is a spec problem"); return
        }
        prometheus.terminate()
        guard case .unavailable = await client.query("vector(1)", at: Date(), endpoint: endpoint) else {
            Issue.record("a stopped Prometheus is unavailable"); return
        }
    }
}
