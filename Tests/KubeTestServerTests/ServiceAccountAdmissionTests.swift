import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// The ServiceAccount admission plugin's token mount, as kube-apiserver decides it: the Pod's
/// `automountServiceAccountToken` when it says one, else its ServiceAccount's, else mounted.
final class ServiceAccountAdmissionTests: XCTestCase {
    static let tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

    func pod(_ name: String, account: String, automount: Bool?) -> JSONValue {
        var spec: JSONValue = ["serviceAccountName": .string(account), "containers": [["name": "c", "image": "busybox:1.36"]]]
        if let automount { spec["automountServiceAccountToken"] = .bool(automount) }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"], "spec": spec]
    }

    func testThePodDecidesElseItsAccountElseTheTokenIsMounted() async throws {
        let server = try await KubeTestServer.start(KubeTestServerOptions())
        let admin = TestClient(server)
        for (name, automount) in [("quiet", false), ("plain", nil) as (String, Bool?)] {
            var account: JSONValue = ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(name), "namespace": "default"]]
            if let automount { account["automountServiceAccountToken"] = .bool(automount) }
            let created = await admin.post("/api/v1/namespaces/default/serviceaccounts", account)
            XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        }
        let cases: [(pod: String, account: String, podSays: Bool?, mounted: Bool)] = [
            ("a", "quiet", nil, false),  // the account says false
            ("b", "quiet", true, true),  // the pod overrides its account
            ("c", "plain", nil, true),  // nobody says: mounted
            ("d", "plain", false, false),  // the pod says false
        ]
        for (name, account, podSays, mounted) in cases {
            let answer = await admin.post("/api/v1/namespaces/default/pods", pod(name, account: account, automount: podSays))
            XCTAssertEqual(answer.status, 201, String(decoding: answer.body, as: UTF8.self))
            let mounts = answer.json[path: ["spec", "containers"]]?[0]?["volumeMounts"]?.arrayValue ?? []
            XCTAssertEqual(mounts.contains { $0["mountPath"]?.stringValue == Self.tokenPath }, mounted, name)
            let volumes = answer.json[path: ["spec", "volumes"]]?.arrayValue ?? []
            XCTAssertEqual(volumes.contains { $0["name"]?.stringValue?.hasPrefix("kube-api-access-") == true }, mounted, name)
        }
        try await server.stop()
    }
}
