import Foundation
import KubeClient
import KubeCore
import Testing

@testable import PynomalyOperator

/// The certificate-expiry alert of the PrometheusRule, checked by promtool on cert-manager's
/// metric: it fires inside `warnDays` and not outside, whichever label carries the namespace.
@Suite(.serialized) struct CertificateAlertTests {
    static func context(tls: Bool, warnDays: Int32? = nil) throws -> BuildContext {
        try BuilderTests.context { cr in
            cr.spec.monitoring = PynomalyDeploymentSpec.Monitoring(serviceMonitor: false, prometheusRule: true)
            cr.spec.ingress = PynomalyDeploymentSpec.Ingress(host: "pynomaly.example",
                                                             tls: tls ? .init(secretName: "pynomaly-tls", warnDays: warnDays) : nil)
        }
    }

    static func alerts(_ ctx: BuildContext) -> [JSONValue] {
        MonitoringBuilder.prometheusRule(ctx)?[path: ["spec", "groups"]]?.arrayValue?.first?["rules"]?.arrayValue ?? []
    }

    @Test func onlyWithTLS() throws {
        #expect(!Self.alerts(try Self.context(tls: false)).contains { $0["alert"]?.stringValue == "PynomalyCertificateExpiringSoon" })
        let rule = Self.alerts(try Self.context(tls: true, warnDays: 10)).first { $0["alert"]?.stringValue == "PynomalyCertificateExpiringSoon" }
        #expect(rule?["expr"]?.stringValue?.hasSuffix("- time() < 864000") == true, "\(rule?["expr"]?.stringValue ?? "")")
    }

    @Test func firesInsideTheWarningWindowAndNotOutside() throws {
        let ctx = try Self.context(tls: true)
        let rules = Self.alerts(ctx)
        let rule = try #require(rules.first { $0["alert"]?.stringValue == "PynomalyCertificateExpiringSoon" })
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pynomaly-promtool-cert-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rules.json").path
        try JSONValue.object(["groups": [["name": "certificate", "rules": [rule]]]]).serializedString().write(toFile: path, atomically: true, encoding: .utf8)

        let day = 86_400
        let metric = "certmanager_certificate_expiration_timestamp_seconds"
        // (series labels, expiry in days from the start of the test, fires?)
        let scenarios: [(String, Int, Bool)] = [
            (#"namespace="\#(ctx.namespace)",name="pynomaly-tls""#, 3, true),
            (#"namespace="\#(ctx.namespace)",name="pynomaly-tls""#, 30, false),
            (#"namespace="cert-manager",exported_namespace="\#(ctx.namespace)",name="pynomaly-tls""#, 3, true),
            (#"namespace="\#(ctx.namespace)",name="another-tls""#, 3, false),
        ]
        let tests: [JSONValue] = scenarios.map { labels, days, fires in
            [
                "name": .string("\(labels) in \(days) days"),
                "interval": "1m",
                "input_series": [["series": .string("\(metric){\(labels)}"), "values": .string("\(days * day)x180")]],
                "alert_rule_test": [[
                    "eval_time": "2h", "alertname": "PynomalyCertificateExpiringSoon",
                    "exp_alerts": fires ? [["exp_labels": rule["labels"] ?? [:], "exp_annotations": rule["annotations"] ?? [:]]] : [],
                ]],
            ]
        }
        let result = try TestPrometheus.testRules(path, tests: .array(tests), in: directory)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }
}
