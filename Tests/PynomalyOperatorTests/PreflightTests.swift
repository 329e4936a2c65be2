import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import KubeYAML
import OperatorTestSupport
import PynomalyOperator
import XCTest

/// `preflight` against KubeTestServer over real HTTPS: a good cluster passes; a missing CRD, missing
/// permissions, an untrusted certificate and bad credentials each fail with a message naming the cause.
final class PreflightTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func client(for server: KubeTestServer, token: String? = nil, caPEM: String? = nil) throws -> KubeAPIClient {
        let configuration = ClientConfiguration(
            server: server.url,
            tls: TLSConfiguration(certificateAuthorityPEM: Data((caPEM ?? server.caCertificatePEM).utf8)),
            authentication: .bearerToken(token ?? server.adminToken))
        return try makeKubeClient(configuration: configuration)
    }

    func installCRDs(_ client: KubeAPIClient) async throws {
        let dir = Self.repositoryRoot.appendingPathComponent("crds")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where file.hasSuffix(".yaml") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for document in try YAML.parseDocuments(text) {
                _ = try await client.create(.customResourceDefinitions, namespace: nil, object: document, options: WriteOptions())
            }
        }
        try await waitUntil("the CRD is Established") {
            let crd = try await client.get(.customResourceDefinitions, namespace: nil, name: Preflight.crdName, subresource: nil)
            return crd[path: ["status", "conditions"]]?.arrayValue?.contains {
                $0["type"]?.stringValue == "Established" && $0["status"]?.stringValue == "True"
            } ?? false
        }
    }

    func testPassesWithCRDAndAdmin() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let client = try client(for: server)
        try await installCRDs(client)
        let report = try await Preflight(client: client, operatorNamespace: "pynomaly-system").run()
        XCTAssertTrue(report.passed, report.rendered())
        XCTAssertTrue(report.serverVersion.hasPrefix("v1."), report.serverVersion)
        XCTAssertEqual(report.checks.count, Permission.operatorPermissions.reduce(0) { $0 + $1.verbs.count })
        XCTAssertTrue(report.rendered().contains("preflight passed"))
    }

    func testMissingCRDIsNamed() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let report = try await Preflight(client: try client(for: server), operatorNamespace: "pynomaly-system").run()
        XCTAssertFalse(report.passed)
        XCTAssertEqual(report.crdProblems.count, 1)
        XCTAssertTrue(report.crdProblems[0].contains("pynomalydeployments.pynomaly.ai is not installed"), report.crdProblems[0])
        XCTAssertTrue(report.rendered().contains("preflight FAILED"))
    }

    /// With RBAC on, a ServiceAccount bound to a role that lacks some verbs: exactly those are listed.
    func testMissingPermissionsAreListed() async throws {
        var options = KubeTestServerOptions()
        options.rbacEnabled = true
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let admin = try client(for: server)
        try await installCRDs(admin)

        // Everything the operator needs, except deleting Deployments and creating Leases.
        var rules: [JSONValue] = []
        for p in Permission.operatorPermissions {
            var verbs = p.verbs
            if p.resource == "deployments" { verbs.removeAll { $0 == "delete" } }
            if p.resource == "leases" { verbs.removeAll { $0 == "create" } }
            let resource = p.subresource.map { "\(p.resource)/\($0)" } ?? p.resource
            rules.append(["apiGroups": [.string(p.group)], "resources": [.string(resource)], "verbs": .array(verbs.map { .string($0) })])
        }
        let role: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                               "metadata": ["name": "pynomaly-operator"], "rules": .array(rules)]
        _ = try await admin.create(.clusterRoles, namespace: nil, object: role, options: WriteOptions())
        let binding: JSONValue = [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "pynomaly-operator"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pynomaly-operator"],
            "subjects": [["kind": "ServiceAccount", "name": "operator", "namespace": "pynomaly-system"]],
        ]
        _ = try await admin.create(.clusterRoleBindings, namespace: nil, object: binding, options: WriteOptions())

        let token = server.serviceAccountToken(namespace: "pynomaly-system", name: "operator")
        let report = try await Preflight(client: try client(for: server, token: token), operatorNamespace: "pynomaly-system").run()
        XCTAssertFalse(report.passed)
        let missing = Set(report.missingPermissions.map { "\($0.verb) \($0.permission)" })
        XCTAssertEqual(missing, ["delete deployments.apps", "create leases.coordination.k8s.io"], report.rendered())
        XCTAssertTrue(report.rendered().contains("delete deployments.apps"))
        XCTAssertTrue(report.crdProblems.isEmpty, "the CRD check falls back to discovery without CRD read access: \(report.crdProblems)")
    }

    func testUntrustedCertificateIsNamed() async throws {
        let server = try await KubeTestServer.start()
        let other = try await KubeTestServer.start()
        defer { Task { try? await server.stop(); try? await other.stop() } }
        do {
            _ = try await Preflight(client: try client(for: server, caPEM: other.caCertificatePEM), operatorNamespace: "x").run()
            XCTFail("a server signed by another CA must not be trusted")
        } catch {
            let message = describeConnectionFailure(error, server: server.url)
            XCTAssertTrue(message.contains("unknown authority"), message)
        }
    }

    func testBadCredentialsAreNamed() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        do {
            _ = try await Preflight(client: try client(for: server, token: "not-a-token"), operatorNamespace: "x").run()
            XCTFail("an unknown token must be rejected")
        } catch {
            let message = describeConnectionFailure(error, server: server.url)
            XCTAssertTrue(message.contains("401 Unauthorized"), message)
        }
    }
}
