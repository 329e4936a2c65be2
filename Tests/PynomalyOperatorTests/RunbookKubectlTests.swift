import Foundation
import KubeCore
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// The runbook's own kubectl commands, typed as an operator of Pynomaly would: namespace, Secret
/// from literals (kubectl sends those as protobuf), the CR, get/describe/wait, a secret rotation
/// through `--dry-run=client -o yaml | kubectl apply -f -` that rolls the pods, scale, events, and
/// the app's permissions. Walked against the sandbox as a user runs it (`pynomaly-sandbox`: its own
/// process with the embedded API server, the operator binary as its child, the sample applied) and
/// against the in-process rig (the same manager in the test process, where a failure is easier to
/// debug). Only kubectl touches the cluster, so both walks see exactly what a user would.
final class RunbookKubectlTests: XCTestCase {
    static let namespace = "pynomaly-production"

    func testTheRunbookCommandsWorkInTheSandbox() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runbook-sandbox-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sandbox = try ChildProcess("pynomaly-sandbox", ["--state-directory", directory,
                                                            "--metrics-bind-address", "127.0.0.1:0",
                                                            "--health-probe-bind-address", "127.0.0.1:0"])
        // Printed once the operator runs and the sample was applied.
        try await sandbox.waitForOutput("The sandbox is running", timeout: 90)
        try await walkTheRunbook(kubeconfig: (directory as NSString).appendingPathComponent("kubeconfig"))
        // The sandbox's own sample kept going alongside.
        let sample = try await kubectl((directory as NSString).appendingPathComponent("kubeconfig"), ["get", "pyd", "pynomaly", "-n", "default"])
        XCTAssertTrue(sample.output.contains("Healthy"), sample.output)
        sandbox.signal(SIGTERM)
        let status = try await sandbox.waitForExit()
        XCTAssertEqual(status, 0, sandbox.text)
        XCTAssertTrue(sandbox.text.contains("the operator stopped (exit status 0)"), sandbox.text)
    }

    func testTheRunbookCommandsWorkAgainstTheInProcessRig() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await walkTheRunbook(kubeconfig: rig.cluster.kubeconfig)
        try await rig.stop()
    }

    func walkTheRunbook(kubeconfig: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let ns = Self.namespace
        func run(_ arguments: [String], _ expect: String? = nil) async throws -> String {
            let result = try await kubectl(kubeconfig, arguments)
            XCTAssertEqual(result.status, 0, "kubectl \(arguments.joined(separator: " ")): \(result.output)", file: file, line: line)
            if let expect {
                XCTAssertTrue(result.output.contains(expect), "kubectl \(arguments.joined(separator: " ")): \(result.output)", file: file, line: line)
            }
            return result.output
        }
        // jsonpath needs the annotation key's dots escaped.
        let hashPath = "jsonpath={.spec.template.metadata.annotations.\(PynomalyAnnotations.referencedHash.replacingOccurrences(of: ".", with: "\\."))}"
        func referencedHash() async throws -> String {
            try await run(["get", "deployment", "pynomaly", "-n", ns, "-o", hashPath])
        }

        _ = try await run(["create", "namespace", ns], "namespace/\(ns) created")
        _ = try await run(["create", "secret", "generic", "pynomaly-secret", "-n", ns,
                           "--from-literal=database-password=first", "--from-literal=redis-password=r"], "secret/pynomaly-secret created")

        // The sample's PynomalyDeployment only (the Secret is the one created above).
        guard var cr = try OperatorRig.sample().first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            return XCTFail("the sample has no PynomalyDeployment", file: file, line: line)
        }
        cr[path: ["metadata", "namespace"]] = .string(ns)
        let manifest = FileManager.default.temporaryDirectory.appendingPathComponent("runbook-\(UUID().uuidString).json")
        try Data(cr.serialized()).write(to: manifest)
        defer { try? FileManager.default.removeItem(at: manifest) }
        _ = try await run(["apply", "-f", manifest.path], "pynomalydeployment.pynomaly.ai/pynomaly created")
        _ = try await run(["wait", "--for=condition=Ready", "pyd/pynomaly", "-n", ns, "--timeout=60s"], "condition met")
        _ = try await run(["get", "pyd", "-n", ns], "Healthy")
        let children = try await run(["get", "svc,deploy,cm", "-n", ns])
        XCTAssertTrue(children.contains("service/pynomaly") && children.contains("deployment.apps/pynomaly"), children, file: file, line: line)
        _ = try await run(["describe", "pyd", "pynomaly", "-n", ns], "RolloutComplete")

        // Secret rotation, the runbook's way: the new value rolls the pods.
        let before = try await referencedHash()
        XCTAssertFalse(before.isEmpty, "the pod template carries the referenced Secret's hash", file: file, line: line)
        let rotated = try await run(["create", "secret", "generic", "pynomaly-secret", "-n", ns, "--from-literal=database-password=second",
                                     "--from-literal=redis-password=r", "--dry-run=client", "-o", "yaml"])
        let rotatedFile = FileManager.default.temporaryDirectory.appendingPathComponent("rotated-\(UUID().uuidString).yaml")
        try Data(rotated.utf8).write(to: rotatedFile)
        defer { try? FileManager.default.removeItem(at: rotatedFile) }
        _ = try await run(["apply", "-f", rotatedFile.path], "secret/pynomaly-secret")
        try await waitUntil("the rotated password rolls the pods", timeout: 30) {
            let after = try await referencedHash()
            return !after.isEmpty && after != before
        }
        _ = try await run(["wait", "--for=condition=Ready", "pyd/pynomaly", "-n", ns, "--timeout=60s"], "condition met")

        _ = try await run(["scale", "pyd", "pynomaly", "-n", ns, "--replicas=4"], "scaled")
        try await waitUntil("4 replicas", timeout: 30) {
            try await run(["get", "deployment", "pynomaly", "-n", ns, "-o", "jsonpath={.spec.replicas}"]) == "4"
        }
        try await waitUntil("the operator's Events are listed", timeout: 30) {
            let events = try await kubectl(kubeconfig, ["get", "events", "-n", ns, "--sort-by=.lastTimestamp"])
            return events.status == 0 && events.output.contains("RolloutComplete")
        }
        let rules = try await run(["auth", "can-i", "--list", "-n", ns, "--as=system:serviceaccount:\(ns):pynomaly"])
        // Both servers run without RBAC (every authenticated user may do anything), so the
        // impersonated account's list is everything, as kube-apiserver's AlwaysAllow answers.
        XCTAssertTrue(rules.contains("Resources") && rules.contains("Non-Resource URLs"), "a rules table: \(rules)", file: file, line: line)
    }
}
