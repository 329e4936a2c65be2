import Foundation
import KubeCore
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// `spec.analysis` as the API server and the operator judge it: the CRD's schema and CEL rules
/// refuse what they can express, and the operator refuses the rest as InvalidSpec naming the field,
/// without touching what runs.
final class AnalysisSchemaTests: XCTestCase {
    static let metric: JSONValue = ["name": "errors", "query": "vector(0)", "successCondition": ["max": 0.01]]

    func create(_ cluster: TestCluster, name: String, _ change: (inout JSONValue) -> Void) async throws -> KubeError? {
        let cr = try OperatorRig.sampleDeployment(name: name) { cr in
            cr[path: ["spec", "analysis"]] = ["prometheus": ["address": "http://prometheus.monitoring:9090"], "metrics": [Self.metric]]
            change(&cr)
        }
        do {
            _ = try await cluster.admin.create(.pynomalyDeployments, namespace: OperatorRig.namespace, object: cr)
            return nil
        } catch let error as KubeError {
            return error
        }
    }

    func testTheSchemaRefusesWhatItCanExpress() async throws {
        let cluster = try await TestCluster.start()
        let accepted = try await create(cluster, name: "ok") { _ in }
        XCTAssertNil(accepted, "a valid analysis is accepted")
        let stored = try await cluster.admin.get(.pynomalyDeployments, namespace: OperatorRig.namespace, name: "ok")
        XCTAssertEqual(stored[path: ["spec", "analysis", "metrics"]]?[0]?["count"]?.intValue, 5, "defaults applied")
        XCTAssertEqual(stored[path: ["spec", "analysis", "inconclusiveLimit"]]?.intValue, 1)

        let cases: [(String, (inout JSONValue) -> Void, String)] = [
            ("no-bound", { $0[path: ["spec", "analysis", "metrics"]] = [["name": "e", "query": "vector(0)", "successCondition": [:]]] },
             "successCondition needs max, min or both"),
            ("min-over-max", { $0[path: ["spec", "analysis", "metrics"]] = [["name": "e", "query": "vector(0)", "successCondition": ["min": 2, "max": 1]]] },
             "successCondition.min must not be greater than successCondition.max"),
            ("limit-over-count", { $0[path: ["spec", "analysis", "metrics"]] = [["name": "e", "query": "vector(0)", "successCondition": ["max": 1],
                                                                                  "count": 2, "failureLimit": 2]] },
             "failureLimit must be less than count"),
            ("bad-address", { $0[path: ["spec", "analysis", "prometheus", "address"]] = "prometheus:9090" }, "address"),
            ("bad-name", { $0[path: ["spec", "analysis", "metrics"]] = [["name": "Errors", "query": "vector(0)", "successCondition": ["max": 1]]] },
             "name"),
            ("twice", { $0[path: ["spec", "analysis", "metrics"]] = [Self.metric, Self.metric] }, "analysis metric names must be unique"),
            ("no-server", { $0[path: ["spec", "analysis"]] = ["enabled": true] }, "analysis.prometheus is required"),
            ("zero-interval", { $0[path: ["spec", "analysis", "metrics"]] = [["name": "e", "query": "vector(0)", "successCondition": ["max": 1], "intervalSeconds": 0]] },
             "intervalSeconds"),
            ("window", { cr in
                cr[path: ["spec", "strategy"]] = ["type": "BlueGreen", "blueGreen": ["scaleDownDelaySeconds": 100]]
                cr[path: ["spec", "analysis", "metrics"]] = [["name": "e", "query": "vector(0)", "successCondition": ["max": 1], "intervalSeconds": 30, "count": 4]]
            }, "must fit in strategy.blueGreen.scaleDownDelaySeconds"),
        ]
        for (name, change, expected) in cases {
            let error = try await create(cluster, name: name, change)
            XCTAssertEqual(error?.status?.code, 422, "\(name): \(String(describing: error))")
            XCTAssertTrue(error?.status?.message?.contains(expected) == true, "\(name): \(error?.status?.message ?? "accepted")")
        }
        // The same window with postPromotion off is fine: nothing runs after the switch.
        let noPost = try await create(cluster, name: "no-post") { cr in
            cr[path: ["spec", "strategy"]] = ["type": "BlueGreen", "blueGreen": ["scaleDownDelaySeconds": 100]]
            cr[path: ["spec", "analysis", "postPromotion"]] = false
            cr[path: ["spec", "analysis", "metrics"]] = [["name": "e", "query": "vector(0)", "successCondition": ["max": 1], "intervalSeconds": 30, "count": 4]]
        }
        XCTAssertNil(noPost)
        try await cluster.stop()
    }

    /// A template the schema lets through but the operator cannot render safely: Stalled/InvalidSpec
    /// naming the metric's query, and the healthy revision keeps running untouched.
    func testABadTemplateStallsWithoutTouchingTheHealthyRevision() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.ready, "True", timeout: 30)
        let before = try await rig.get(.deployments, "pynomaly")
        try await rig.patchSpec([
            "image": "ghcr.io/elgerytme/pynomaly:v0.1.4",
            "analysis": ["prometheus": ["address": "http://prometheus.monitoring:9090"],
                         "metrics": [["name": "errors", "query": "sum(up{job={{service}}})", "successCondition": ["max": 1]]]],
        ])
        try await rig.waitForCondition(ConditionType.stalled, "True", reason: ConditionReason.invalidSpec)
        try await rig.waitForIdle()
        let cr = try await rig.cr()
        let message = rig.condition(cr, ConditionType.stalled)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("spec.analysis.metrics[0].query") && message.contains("inside a quoted label value"), message)
        let after = try await rig.get(.deployments, "pynomaly")
        XCTAssertEqual(after?[path: ["spec", "template"]], before?[path: ["spec", "template"]], "the running revision is untouched")
        XCTAssertEqual(after?[path: ["metadata", "uid"]], before?[path: ["metadata", "uid"]])
        XCTAssertEqual(cr[path: ["status", "currentRevision"]]?.intValue, 1)
        try await rig.stop()
    }
}
