import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// `spec.monitoring` end to end: nothing is created while the monitoring.coreos.com CRDs are not
/// served (the Monitoring condition says why), the objects appear once they are, and go when unset.
final class MonitoringTests: XCTestCase {
    /// Minimal CRDs for the Prometheus Operator's kinds, as a cluster with it installed serves them.
    static func monitoringCRDs() -> [JSONValue] {
        [("servicemonitors", "ServiceMonitor"), ("prometheusrules", "PrometheusRule")].map { plural, kind in
            [
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": ["name": .string("\(plural).monitoring.coreos.com")],
                "spec": [
                    "group": "monitoring.coreos.com", "scope": "Namespaced",
                    "names": ["plural": .string(plural), "singular": .string(kind.lowercased()), "kind": .string(kind), "listKind": .string("\(kind)List")],
                    "versions": [[
                        "name": "v1", "served": true, "storage": true,
                        "schema": ["openAPIV3Schema": ["type": "object", "properties": ["spec": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]],
                    ]],
                ],
            ]
        }
    }

    static func installMonitoringCRDs(_ admin: KubeAPIClient) async throws {
        for crd in monitoringCRDs() {
            _ = try await admin.create(.customResourceDefinitions, namespace: nil, object: crd, options: WriteOptions())
        }
        try await waitUntil("monitoring.coreos.com/v1 is served") {
            let served = try? await admin.servedResources(groupVersion: "monitoring.coreos.com/v1")
            return served?.contains("servicemonitors") == true && served?.contains("prometheusrules") == true
        }
    }

    func testWithoutTheCRDsNothingIsCreatedAndTheConditionSaysWhy() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment { $0[path: ["spec", "monitoring"]] = ["serviceMonitor": true, "prometheusRule": true] })
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.waitForCondition(ConditionType.monitoring, "False", reason: "CRDsNotServed")
        let cr = try await rig.cr()
        let message = rig.condition(cr, ConditionType.monitoring)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("ServiceMonitor") && message.contains("PrometheusRule") && message.contains("Prometheus Operator"), message)
        try await waitUntil("the MonitoringUnavailable Event is recorded") { try await rig.eventReasons().contains("MonitoringUnavailable") }
        try await rig.stop()
    }

    func testWithTheCRDsBothObjectsAreOwnedAndGoWhenUnset() async throws {
        let rig = try await OperatorRig()
        try await Self.installMonitoringCRDs(rig.admin)
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment { $0[path: ["spec", "monitoring"]] = ["serviceMonitor": true, "prometheusRule": true] })
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.waitForCondition(ConditionType.monitoring, "True", reason: "Applied")
        let uid = try await rig.cr()[path: ["metadata", "uid"]]?.stringValue
        let monitor = try await rig.get(MonitoringBuilder.serviceMonitorType, "pynomaly")
        let rule = try await rig.get(MonitoringBuilder.prometheusRuleType, "pynomaly")
        XCTAssertEqual(monitor?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue, uid)
        XCTAssertEqual(rule?[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue, uid)
        XCTAssertEqual(monitor?[path: ["spec", "endpoints"]]?.arrayValue?.first?["path"]?.stringValue, "/metrics")
        let alerts = rule?[path: ["spec", "groups"]]?.arrayValue?.first?["rules"]?.arrayValue?.compactMap { $0["alert"]?.stringValue } ?? []
        XCTAssertTrue(alerts.contains("PynomalyHighErrorRate") && alerts.contains("PynomalyAllPodsDown"), "\(alerts)")

        // Converged: a resync writes nothing more (the kinds are read by name, never rewritten).
        try await rig.waitForIdle()
        let writes = rig.writeCount
        try await rig.annotate("example.com/poke", "1")
        try await rig.waitForIdle()
        XCTAssertEqual(rig.writeCount, writes + 1, "no write but the test's own annotation when converged")

        try await rig.patchSpec(["monitoring": ["serviceMonitor": false]])
        try await waitUntil("the ServiceMonitor is deleted") { try await rig.get(MonitoringBuilder.serviceMonitorType, "pynomaly") == nil }
        let kept = try await rig.get(MonitoringBuilder.prometheusRuleType, "pynomaly")
        XCTAssertNotNil(kept, "the PrometheusRule is still wanted")
        try await rig.patchSpec(["monitoring": ["prometheusRule": false]])
        try await waitUntil("the PrometheusRule is deleted") { try await rig.get(MonitoringBuilder.prometheusRuleType, "pynomaly") == nil }
        try await waitUntil("the Monitoring condition is gone") { rig.condition(try await rig.cr(), ConditionType.monitoring) == nil }
        try await rig.stop()
    }
}
