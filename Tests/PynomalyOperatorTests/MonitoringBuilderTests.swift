import Foundation
import KubeCore
import PynomalyOperator
import Testing

@Suite("MonitoringBuilder")
struct MonitoringBuilderTests {
    static func context(serviceMonitor: Bool, prometheusRule: Bool) throws -> BuildContext {
        try BuilderTests.context { cr in
            cr.spec.monitoring = PynomalyDeploymentSpec.Monitoring(serviceMonitor: serviceMonitor, prometheusRule: prometheusRule)
        }
    }

    @Test func nothingUnlessAskedFor() throws {
        let ctx = try Self.context(serviceMonitor: false, prometheusRule: false)
        #expect(MonitoringBuilder.serviceMonitor(ctx) == nil)
        #expect(MonitoringBuilder.prometheusRule(ctx) == nil)
    }

    @Test func goldens() throws {
        let ctx = try Self.context(serviceMonitor: true, prometheusRule: true)
        try Golden.check(try #require(MonitoringBuilder.serviceMonitor(ctx)), "ServiceMonitor.yaml")
        try Golden.check(try #require(MonitoringBuilder.prometheusRule(ctx)), "PrometheusRule.yaml")
    }

    @Test func serviceMonitorSelectsTheStableServiceAndScrapesTheMetricsPath() throws {
        let ctx = try Self.context(serviceMonitor: true, prometheusRule: false)
        let monitor = try #require(MonitoringBuilder.serviceMonitor(ctx))
        #expect(monitor[path: ["spec", "selector", "matchLabels"]] == .object(ctx.selectorLabels.mapValues(JSONValue.string)))
        #expect(monitor[path: ["spec", "endpoints"]]?.arrayValue?.first?["path"]?.stringValue == ctx.spec.probes.metricsPath)
        #expect(monitor[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["controller"]?.boolValue == true)
    }

    /// The runbook's conditions: error rate > 5 % critical and > 1 % warning, p95 > 2 s critical and
    /// > 1 s warning, all pods down, memory and CPU above 80 % of the limit.
    @Test func rulesCarryTheRunbookThresholds() throws {
        let ctx = try Self.context(serviceMonitor: false, prometheusRule: true)
        let rule = try #require(MonitoringBuilder.prometheusRule(ctx))
        let rules = rule[path: ["spec", "groups"]]?.arrayValue?.first?["rules"]?.arrayValue ?? []
        func find(_ alert: String) -> (expr: String, severity: String)? {
            rules.first { $0["alert"]?.stringValue == alert }.map {
                ($0["expr"]?.stringValue ?? "", $0[path: ["labels", "severity"]]?.stringValue ?? "")
            }
        }
        let expected: [(String, String, String)] = [
            ("PynomalyHighErrorRate", "> 0.05", "critical"), ("PynomalyElevatedErrorRate", "> 0.01", "warning"),
            ("PynomalyHighLatency", "> 2.0", "critical"), ("PynomalyElevatedLatency", "> 1.0", "warning"),
            ("PynomalyAllPodsDown", "== 0", "critical"), ("PynomalyHighMemory", "> 0.8", "warning"), ("PynomalyHighCPU", "> 0.8", "warning"),
        ]
        #expect(rules.count == expected.count)
        for (alert, threshold, severity) in expected {
            let found = try #require(find(alert), "\(alert) missing")
            #expect(found.expr.contains(threshold), "\(alert): \(found.expr)")
            #expect(found.severity == severity)
            #expect(found.expr.contains("namespace=\"\(ctx.namespace)\""), "\(alert) is scoped to the CR's namespace")
        }
    }
}
