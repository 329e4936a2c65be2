import Foundation
import KubeCore
import XCTest

@testable import PynomalyOperator

/// The runbook's own kubectl commands, typed as an operator of Pynomaly would, against the test
/// API server with the real operator: namespace, Secret from literals (kubectl sends those as
/// protobuf), the CR, get/describe/wait, a secret rotation through `--dry-run=client -o yaml |
/// kubectl apply -f -` that rolls the pods, scale, events, and the app's permissions.
final class RunbookKubectlTests: XCTestCase {
    static let namespace = "pynomaly-production"

    func testTheRunbookCommandsWork() async throws {
        let rig = try await OperatorRig()
        rig.start()
        let kubeconfig = rig.cluster.kubeconfig
        let ns = Self.namespace
        func run(_ arguments: [String], _ expect: String? = nil) async throws -> String {
            let result = try await kubectl(kubeconfig, arguments)
            XCTAssertEqual(result.status, 0, "kubectl \(arguments.joined(separator: " ")): \(result.output)")
            if let expect { XCTAssertTrue(result.output.contains(expect), "kubectl \(arguments.joined(separator: " ")): \(result.output)") }
            return result.output
        }

        _ = try await run(["create", "namespace", ns], "namespace/\(ns) created")
        _ = try await run(["create", "secret", "generic", "pynomaly-secret", "-n", ns,
                           "--from-literal=database-password=first", "--from-literal=redis-password=r"], "secret/pynomaly-secret created")

        // The sample's PynomalyDeployment only (the Secret is the one created above).
        guard var cr = try OperatorRig.sample().first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            return XCTFail("the sample has no PynomalyDeployment")
        }
        cr[path: ["metadata", "namespace"]] = .string(ns)
        let manifest = FileManager.default.temporaryDirectory.appendingPathComponent("runbook-\(UUID().uuidString).json")
        try Data(cr.serialized()).write(to: manifest)
        defer { try? FileManager.default.removeItem(at: manifest) }
        _ = try await run(["apply", "-f", manifest.path], "pynomalydeployment.pynomaly.ai/pynomaly created")
        _ = try await run(["wait", "--for=condition=Ready", "pyd/pynomaly", "-n", ns, "--timeout=60s"], "condition met")
        _ = try await run(["get", "pyd", "-n", ns], "Healthy")
        let children = try await run(["get", "svc,deploy,cm", "-n", ns])
        XCTAssertTrue(children.contains("service/pynomaly") && children.contains("deployment.apps/pynomaly"), children)
        _ = try await run(["describe", "pyd", "pynomaly", "-n", ns], "RolloutComplete")

        // Secret rotation, the runbook's way: the new value rolls the pods.
        let before = try await rig.admin.get(.deployments, namespace: ns, name: "pynomaly")[path: ["spec", "template", "metadata", "annotations",
                                                                                                    PynomalyAnnotations.referencedHash]]
        let rotated = try await run(["create", "secret", "generic", "pynomaly-secret", "-n", ns, "--from-literal=database-password=second",
                                     "--from-literal=redis-password=r", "--dry-run=client", "-o", "yaml"])
        let rotatedFile = FileManager.default.temporaryDirectory.appendingPathComponent("rotated-\(UUID().uuidString).yaml")
        try Data(rotated.utf8).write(to: rotatedFile)
        defer { try? FileManager.default.removeItem(at: rotatedFile) }
        _ = try await run(["apply", "-f", rotatedFile.path], "secret/pynomaly-secret")
        try await waitUntil("the rotated password rolls the pods", timeout: 30) {
            let after = try await rig.admin.get(.deployments, namespace: ns, name: "pynomaly")[path: ["spec", "template", "metadata", "annotations",
                                                                                                       PynomalyAnnotations.referencedHash]]
            return after != nil && after != before
        }
        _ = try await run(["wait", "--for=condition=Ready", "pyd/pynomaly", "-n", ns, "--timeout=60s"], "condition met")

        _ = try await run(["scale", "pyd", "pynomaly", "-n", ns, "--replicas=4"], "scaled")
        try await waitUntil("4 replicas", timeout: 30) {
            try await rig.admin.get(.deployments, namespace: ns, name: "pynomaly")[path: ["spec", "replicas"]]?.intValue == 4
        }
        try await waitUntil("the operator's Events are listed", timeout: 30) {
            let events = try await kubectl(kubeconfig, ["get", "events", "-n", ns, "--sort-by=.lastTimestamp"])
            return events.status == 0 && events.output.contains("RolloutComplete")
        }
        let rules = try await run(["auth", "can-i", "--list", "-n", ns, "--as=system:serviceaccount:\(ns):pynomaly"])
        // This server runs without RBAC here (every authenticated user may do anything), so the
        // impersonated account's list is everything, as kube-apiserver's AlwaysAllow answers.
        XCTAssertTrue(rules.contains("Resources") && rules.contains("Non-Resource URLs"), "a rules table: \(rules)")
        try await rig.stop()
    }
}
