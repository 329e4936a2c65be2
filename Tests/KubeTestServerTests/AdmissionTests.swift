import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// OwnerReferencesPermissionEnforcement as a server option (the exact answers are held to the
/// recording in FixtureReplayTests 28): off by default, and never in the way of the simulated
/// controllers, which stand in for kube-controller-manager.
final class AdmissionTests: XCTestCase {
    static func blockingConfigMap(_ name: String, owner: JSONValue) -> JSONValue {
        ["apiVersion": "v1", "kind": "ConfigMap",
         "metadata": ["name": .string(name), "namespace": "default",
                      "ownerReferences": [["apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                           "uid": owner[path: ["metadata", "uid"]] ?? "", "controller": true, "blockOwnerDeletion": true]]],
         "data": ["k": "v"]]
    }

    /// A ServiceAccount that may create ConfigMaps and nothing else.
    func writer(_ server: KubeTestServer) async -> TestClient {
        let admin = TestClient(server)
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "cm-writer", "namespace": "default"],
            "rules": [["apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]]]])
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "cm-writer", "namespace": "default"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-writer"],
            "subjects": [["kind": "ServiceAccount", "name": "writer", "namespace": "default"]]])
        return TestClient(server, token: server.serviceAccountToken(namespace: "default", name: "writer"))
    }

    func testOffByDefaultAndOnWhenAsked() async throws {
        for enforce in [false, true] {
            var options = KubeTestServerOptions()
            options.rbacEnabled = true
            options.ownerReferencesPermissionEnforcement = enforce
            let server = try await KubeTestServer.start(options)
            let owner = await TestClient(server).post("/apis/apps/v1/namespaces/default/deployments", deployment("web")).json
            let answer = await writer(server).post("/api/v1/namespaces/default/configmaps", Self.blockingConfigMap("child", owner: owner))
            XCTAssertEqual(answer.status, enforce ? 403 : 201, String(decoding: answer.body, as: UTF8.self))
            if enforce {
                XCTAssertEqual(answer.json["message"]?.stringValue,
                               #"configmaps "child" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: , <nil>"#)
            }
            try await server.stop()
        }
    }

    func testSimulatedControllersAreNotHeldUp() async throws {
        var options = KubeTestServerOptions()
        options.rbacEnabled = true
        options.ownerReferencesPermissionEnforcement = true
        options.simulation = .on
        let server = try await KubeTestServer.start(options)
        let admin = TestClient(server)
        let created = await admin.post("/apis/apps/v1/namespaces/default/deployments", deployment("web", replicas: 2))
        XCTAssertEqual(created.status, 201)
        let ready = await eventually(timeout: 20) {
            await admin.get("/apis/apps/v1/namespaces/default/deployments/web").json[path: ["status", "readyReplicas"]]?.intValue == 2
        }
        let pods = await admin.get("/api/v1/namespaces/default/pods").json["items"]?.arrayValue ?? []
        XCTAssertTrue(ready, "the simulated Pods were not created: \(pods.count) Pods")
        XCTAssertTrue(pods.allSatisfy { $0[path: ["metadata", "ownerReferences"]]?[0]?["blockOwnerDeletion"] == true },
                      "the simulated Pods carry blocking references, which the plugin checks")
        try await server.stop()
    }
}
