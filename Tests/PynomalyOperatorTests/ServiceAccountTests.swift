import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// The app's ServiceAccount end to end. The test server's ServiceAccount admission refuses pods
/// whose account does not exist and mounts the token unless the pod or its account says false, as
/// kube-apiserver does: the pods show what the Deployment's template and the account decide.
final class ServiceAccountTests: XCTestCase {
    static let tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The app's pods and whether each mounts a token.
    func podTokens(_ rig: OperatorRig, instance: String = "pynomaly") async throws -> [(account: String?, token: Bool)] {
        let pods = try await rig.admin.list(.pods, namespace: OperatorRig.namespace,
                                            options: ListOptions(labelSelector: "app.kubernetes.io/instance=\(instance)")).items
        return pods.filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }.map { pod in
            let mounts = pod[path: ["spec", "containers"]]?.arrayValue?.flatMap { $0["volumeMounts"]?.arrayValue ?? [] } ?? []
            return (pod[path: ["spec", "serviceAccountName"]]?.stringValue, mounts.contains { $0["mountPath"]?.stringValue == Self.tokenPath })
        }
    }

    func testTheAppRunsAsItsOwnAccountWithoutAToken() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.ready)
        let uid = try await rig.cr()[path: ["metadata", "uid"]]?.stringValue
        let fetched = try await rig.get(.serviceAccounts, "pynomaly")
        let account = try XCTUnwrap(fetched)
        XCTAssertEqual(account["automountServiceAccountToken"], false)
        XCTAssertEqual(account[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["uid"]?.stringValue, uid)
        let template = try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "spec"]]
        XCTAssertEqual(template?["serviceAccountName"]?.stringValue, "pynomaly")
        XCTAssertEqual(template?["automountServiceAccountToken"], false)
        let pods = try await podTokens(rig)
        XCTAssertFalse(pods.isEmpty)
        for pod in pods {
            XCTAssertEqual(pod.account, "pynomaly")
            XCTAssertFalse(pod.token, "no token is mounted")
        }

        // A hand edit of the account is restored.
        _ = try await rig.admin.patch(.serviceAccounts, namespace: OperatorRig.namespace, name: "pynomaly", type: .merge,
                                      body: JSONValue.object(["automountServiceAccountToken": true]).serialized(), subresource: nil, options: WriteOptions())
        try await waitUntil("the account mounts no token again") {
            try await rig.get(.serviceAccounts, "pynomaly")?["automountServiceAccountToken"] == false
        }

        // Asking for the token: the account and the pods mount it (a new revision rolls the pods).
        try await rig.patchSpec(["automountServiceAccountToken": true])
        try await waitUntil("the account mounts its token") { try await rig.get(.serviceAccounts, "pynomaly")?["automountServiceAccountToken"] == true }
        try await rig.waitForCondition(ConditionType.ready)
        let asked = try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "spec", "automountServiceAccountToken"]]
        XCTAssertEqual(asked, true)
        try await waitUntil("every pod mounts the token") {
            let pods = try await self.podTokens(rig)
            return !pods.isEmpty && pods.allSatisfy(\.token)
        }
        try await rig.stop()
    }

    func testANamedAccountIsUsedAsIsAndNotCreated() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        let existing: JSONValue = ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "team-reader", "labels": ["team": "ml"]]]
        let created = try await rig.admin.create(.serviceAccounts, namespace: OperatorRig.namespace, object: existing)
        try await rig.create(try OperatorRig.sampleDeployment { $0[path: ["spec", "serviceAccountName"]] = "team-reader" })
        try await rig.waitForCondition(ConditionType.ready)
        let template = try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "spec"]]
        XCTAssertEqual(template?["serviceAccountName"]?.stringValue, "team-reader")
        XCTAssertNil(template?["automountServiceAccountToken"], "the account's own setting decides")
        let ownAccount = try await rig.get(.serviceAccounts, "pynomaly")
        XCTAssertNil(ownAccount, "no account of the operator's is created")
        let after = try await rig.get(.serviceAccounts, "team-reader")
        XCTAssertEqual(after?[path: ["metadata", "resourceVersion"]], created[path: ["metadata", "resourceVersion"]], "the named account is not written")
        XCTAssertNil(after?[path: ["metadata", "ownerReferences"]])
        let namedPods = try await podTokens(rig)
        XCTAssertFalse(namedPods.isEmpty)
        for pod in namedPods {
            XCTAssertEqual(pod.account, "team-reader")
            XCTAssertTrue(pod.token, "an account without automountServiceAccountToken: false mounts its token, as kube-apiserver does")
        }

        // Back to the operator's own account, then to the named one again: the operator's goes.
        try await rig.patchSpec(["serviceAccountName": .null])
        try await waitUntil("the operator's account exists") { try await rig.get(.serviceAccounts, "pynomaly") != nil }
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.patchSpec(["serviceAccountName": "team-reader"])
        try await waitUntil("the operator's account is deleted") { try await rig.get(.serviceAccounts, "pynomaly") == nil }
        try await rig.waitForCondition(ConditionType.ready)
        let last = try await rig.get(.serviceAccounts, "team-reader")
        XCTAssertEqual(last?[path: ["metadata", "resourceVersion"]], created[path: ["metadata", "resourceVersion"]])
        try await rig.stop()
    }

    /// BlueGreen creates the account before its colour Deployments: the pods are admitted.
    func testBlueGreenCreatesTheAccountBeforeItsDeployments() async throws {
        let rig = try await OperatorRig()
        rig.start()
        let documents = try OperatorRig.sample("pynomaly-bluegreen.yaml")
        for document in documents {
            let resource: ResourceType = document["kind"]?.stringValue == "Secret" ? .secrets : .pynomalyDeployments
            _ = try await rig.admin.create(resource, namespace: OperatorRig.namespace, object: document)
        }
        try await waitUntil("blue serves", timeout: 30) {
            try await rig.cr("pynomaly-bg")[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue"
        }
        let account = try await rig.get(.serviceAccounts, "pynomaly-bg")
        XCTAssertEqual(account?["automountServiceAccountToken"], false)
        let blue = try await rig.get(.deployments, "pynomaly-bg-blue")
        XCTAssertEqual(blue?[path: ["spec", "template", "spec", "serviceAccountName"]]?.stringValue, "pynomaly-bg")
        let pods = try await podTokens(rig, instance: "pynomaly-bg")
        XCTAssertFalse(pods.isEmpty)
        XCTAssertTrue(pods.allSatisfy { $0.account == "pynomaly-bg" && !$0.token }, "\(pods)")
        try await rig.stop()
    }
}
