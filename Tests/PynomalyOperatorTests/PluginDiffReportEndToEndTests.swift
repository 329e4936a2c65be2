import Foundation
import KubeCore
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// `kubectl pynomaly diff` and `report`, the built binary (directly and through kubectl's plugin
/// mechanism) against a deployment the real operator reconciled on KubeTestServer.
final class PluginDiffReportEndToEndTests: XCTestCase {
    static let newImage = "ghcr.io/elgerytme/pynomaly:v0.1.4"

    func plugin(_ rig: OperatorRig, _ arguments: [String]) async throws -> PluginEndToEndTests.Run {
        try await PluginEndToEndTests.run(PluginEndToEndTests.binary.path, arguments + ["--kubeconfig", rig.cluster.kubeconfig])
    }

    func requireBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: PluginEndToEndTests.binary.path) else {
            XCTFail("build the plugin first: swift build --build-tests")
            throw CancellationError()
        }
    }

    /// `RESOURCE/NAME` → resourceVersion of everything `diff` could have written.
    func versions(_ rig: OperatorRig) async throws -> [String: String] {
        var result: [String: String] = [:]
        let resources: [ResourceType] = [.pynomalyDeployments, .deployments, .services, .configMaps, .secrets, .controllerRevisions,
                                         .podDisruptionBudgets, .jobs, .horizontalPodAutoscalers, .ingresses, .cronJobs, .persistentVolumeClaims]
        for resource in resources {
            for item in try await rig.admin.list(resource, namespace: OperatorRig.namespace, options: ListOptions()).items {
                result["\(resource.resource)/\(item[path: ["metadata", "name"]]?.stringValue ?? "?")"] = item[path: ["metadata", "resourceVersion"]]?.stringValue
            }
        }
        return result
    }

    func lines(_ text: String, _ prefix: String, containing part: String) -> Bool {
        text.split(separator: "\n").contains { $0.hasPrefix(prefix) && $0.contains(part) }
    }

    func testDiffOfARollingUpdateChangesNothing() async throws {
        try requireBinary()
        let rig = try await OperatorRig()
        try await rig.startWithReadySample()
        // No operator from here: whatever changes, changed because of the plugin.
        try await rig.stopManager()
        let before = try await versions(rig)

        // An image: the Deployment's template, a new ControllerRevision, a rolling restart.
        let image = try await plugin(rig, ["diff", "pynomaly", "--image", Self.newImage])
        XCTAssertEqual(image.status, 1, image.stderr)
        let out = image.stdout
        XCTAssertTrue(out.contains("--- deployment.apps/pynomaly (live)"), out)
        XCTAssertTrue(lines(out, "-", containing: "image: ghcr.io/elgerytme/pynomaly:v0.1.3"), out)
        XCTAssertTrue(lines(out, "+", containing: "image: ghcr.io/elgerytme/pynomaly:v0.1.4"), out)
        XCTAssertTrue(out.contains("+++ controllerrevision.apps/pynomaly-"), out)
        XCTAssertTrue(out.contains("--- pynomalydeployment.pynomaly.ai/pynomaly (live)"), out)
        XCTAssertTrue(out.contains("revision: new revision 2"), out)
        XCTAssertTrue(out.contains("pods: restarted (rolling), because: image ghcr.io/elgerytme/pynomaly:v0.1.3 -> ghcr.io/elgerytme/pynomaly:v0.1.4"), out)
        XCTAssertFalse(out.contains("configmap/pynomaly-config"), "the ConfigMap does not change: \(out)")
        // Server-side noise is not a change.
        XCTAssertFalse(out.contains("resourceVersion") || out.contains("managedFields"), out)

        // Configuration: the ConfigMap, and a restart because of it.
        let config = try await plugin(rig, ["diff", "pynomaly", "--set", "config.LOG_LEVEL=DEBUG"])
        XCTAssertEqual(config.status, 1, config.stderr)
        XCTAssertTrue(config.stdout.contains("--- configmap/pynomaly-config (live)"), config.stdout)
        XCTAssertTrue(lines(config.stdout, "-", containing: "LOG_LEVEL: INFO") && lines(config.stdout, "+", containing: "LOG_LEVEL: DEBUG"), config.stdout)
        XCTAssertTrue(config.stdout.contains("pods: restarted (rolling), because: configuration (ConfigMap data) changed"), config.stdout)

        // A manifest that only scales: no revision, no restart.
        let manifest = FileManager.default.temporaryDirectory.appendingPathComponent("diff-\(UUID().uuidString).yaml")
        let sample = try String(contentsOf: repositoryRoot.appendingPathComponent("manifests/samples/pynomaly.yaml"), encoding: .utf8)
        try sample.replacingOccurrences(of: "replicas: 3", with: "replicas: 5").write(to: manifest, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: manifest) }
        let scaled = try await plugin(rig, ["diff", "pynomaly", "-f", manifest.path])
        XCTAssertEqual(scaled.status, 1, scaled.stderr)
        XCTAssertTrue(lines(scaled.stdout, "-", containing: "replicas: 3") && lines(scaled.stdout, "+", containing: "replicas: 5"), scaled.stdout)
        XCTAssertTrue(scaled.stdout.contains("revision: revision 1 (no new revision)"), scaled.stdout)
        XCTAssertTrue(scaled.stdout.contains("pods: not restarted"), scaled.stdout)

        // No change: exit 0, nothing printed but the summary.
        for arguments in [["--image", "ghcr.io/elgerytme/pynomaly:v0.1.3"], ["-f", repositoryRoot.appendingPathComponent("manifests/samples/pynomaly.yaml").path]] {
            let same = try await plugin(rig, ["diff", "pynomaly"] + arguments)
            XCTAssertEqual(same.status, 0, "\(arguments): \(same.stdout) \(same.stderr)")
            XCTAssertTrue(same.stdout.contains("no changes: the operator would write nothing"), same.stdout)
            XCTAssertFalse(same.stdout.contains("+++"), same.stdout)
        }

        // Specs the operator (or the CRD schema) refuses: the field named, exit 2, nothing printed as a diff.
        let owned = try await plugin(rig, ["diff", "pynomaly", "--set", "config.DATABASE_HOST=elsewhere"])
        XCTAssertEqual(owned.status, 2, owned.stdout)
        XCTAssertTrue(owned.stderr.contains("would reject") && owned.stderr.contains("spec.config"), owned.stderr)
        XCTAssertFalse(owned.stdout.contains("+++"), owned.stdout)
        let negative = try await plugin(rig, ["diff", "pynomaly", "--set", "replicas=-1"])
        XCTAssertEqual(negative.status, 2, negative.stdout)
        XCTAssertTrue(negative.stderr.contains("spec.replicas"), negative.stderr)
        let neither = try await plugin(rig, ["diff", "pynomaly"])
        XCTAssertEqual(neither.status, 2)
        let missing = try await plugin(rig, ["diff", "nope", "--image", Self.newImage])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("pynomalydeployment nope not found"), missing.stderr)

        // Through kubectl, as users run it.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        let kubectlPath = try XCTUnwrap(path.split(separator: ":").map { "\($0)/kubectl" }.first { FileManager.default.isExecutableFile(atPath: $0) })
        let viaKubectl = try await PluginEndToEndTests.run(kubectlPath, ["pynomaly", "diff", "pynomaly", "--image", Self.newImage], environment: [
            "PATH": "\(PluginEndToEndTests.binary.deletingLastPathComponent().path):\(path)", "KUBECONFIG": rig.cluster.kubeconfig,
        ])
        XCTAssertEqual(viaKubectl.status, 1, viaKubectl.stderr)
        XCTAssertTrue(viaKubectl.stdout.contains("revision: new revision 2"), viaKubectl.stdout)

        let after = try await versions(rig)
        XCTAssertEqual(after, before, "diff wrote nothing")
        try await rig.stop()
    }

    func testDiffOfABlueGreenDeploymentNamesThePreviewColour() async throws {
        try requireBinary()
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createBlueGreenSample()
        try await rig.waitForBlueIdle(healthy: false, timeout: 30)
        try await rig.waitForIdle()
        try await rig.stopManager()
        let before = try await versions(rig)

        let image = try await plugin(rig, ["diff", "pynomaly-bg", "--image", Self.newImage])
        XCTAssertEqual(image.status, 1, image.stderr)
        let out = image.stdout
        XCTAssertTrue(out.contains("blue-green: revision 2 goes to the preview colour green (pynomaly-bg-green); blue keeps serving until promotion"), out)
        XCTAssertTrue(out.contains("deployment.apps/pynomaly-bg-green"), out)
        XCTAssertTrue(lines(out, "+", containing: "image: ghcr.io/elgerytme/pynomaly:v0.1.4"), out)
        XCTAssertFalse(out.contains("--- deployment.apps/pynomaly-bg-blue"), "the serving colour is not touched: \(out)")
        XCTAssertTrue(out.contains("pods: not restarted (the serving colour's pods keep running)"), out)

        let same = try await plugin(rig, ["diff", "pynomaly-bg", "--image", "ghcr.io/elgerytme/pynomaly:v0.1.3"])
        XCTAssertEqual(same.status, 0, same.stdout + same.stderr)
        XCTAssertTrue(same.stdout.contains("blue-green: active colour blue; no new preview"), same.stdout)

        let after = try await versions(rig)
        XCTAssertEqual(after, before, "diff wrote nothing")
        try await rig.stop()
    }

    func testReportOfAHealthyAndABrokenDeployment() async throws {
        try requireBinary()
        let rig = try await OperatorRig()
        try await rig.startWithReadySample()

        let good = try await plugin(rig, ["report", "pynomaly"])
        XCTAssertEqual(good.status, 0, good.stdout + good.stderr)
        for expected in ["Report for pynomalydeployment pynomaly in default: OK", "image ghcr.io/elgerytme/pynomaly:v0.1.3, revision 1",
                         "3/3 ready, 3 pods, 0 container restarts", "revision 1 (ghcr.io/elgerytme/pynomaly:v0.1.3): Succeeded",
                         "autoscaling: not enabled", "backup:", "not configured", "certificate: no TLS", "no Warning Events", "conditions healthy"] {
            XCTAssertTrue(good.stdout.contains(expected), "missing \(expected) in\n\(good.stdout)")
        }
        let json = try await plugin(rig, ["report", "pynomaly", "-o", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let parsed = try JSONValue(parsing: json.stdout)
        XCTAssertEqual(parsed["result"], "OK")
        XCTAssertEqual(parsed["checks"]?.arrayValue?.first { $0["name"] == "pods" }?[path: ["data", "ready"]], 3)

        // A referenced Secret deleted and a restart requested: the rollout waits, Ready goes False, a Warning is recorded.
        _ = try await rig.admin.delete(.secrets, namespace: OperatorRig.namespace, name: "pynomaly-secret", options: DeleteOptions())
        try await rig.patchSpec(["image": .string(Self.newImage)])
        try await rig.waitForCondition(ConditionType.ready, "False", reason: "ReferenceMissing")
        try await rig.waitForIdle()
        let bad = try await plugin(rig, ["report", "pynomaly", "--events", "1"])
        XCTAssertEqual(bad.status, 1, bad.stdout + bad.stderr)
        for expected in ["Report for pynomalydeployment pynomaly in default: FAIL", "FAIL  conditions:", "Ready=False ReferenceMissing",
                         "Warning Event", "ReferenceMissing: waiting for Secret pynomaly-secret", "the spec asks for ghcr.io/elgerytme/pynomaly:v0.1.4"] {
            XCTAssertTrue(bad.stdout.contains(expected), "missing \(expected) in\n\(bad.stdout)")
        }
        let badJSON = try JSONValue(parsing: try await plugin(rig, ["report", "pynomaly", "-o", "json"]).stdout)
        XCTAssertEqual(badJSON["result"], "FAIL")
        XCTAssertEqual(badJSON["checks"]?.arrayValue?.first { $0["name"] == "conditions" }?["status"], "FAIL")

        let missing = try await plugin(rig, ["report", "nope"])
        XCTAssertEqual(missing.status, 2)
        try await rig.stop()
    }
}
