import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// `kubectl create <kind>` sends built-in kinds as protobuf (`application/vnd.kubernetes.protobuf`):
/// the runbook's namespace, secret rotation, configmap and serviceaccount commands.
final class KubectlCreateTests: XCTestCase {
    var server: KubeTestServer!
    var kubectl: Kubectl!

    override func setUp() async throws {
        server = try await KubeTestServer.start()
        kubectl = try Kubectl.make(server: server)
    }

    override func tearDown() async throws {
        try await server?.stop()
    }

    func testCreateBuiltinsSentAsProtobuf() throws {
        XCTAssertTrue(try kubectl.ok(["create", "namespace", "pynomaly"]).contains("namespace/pynomaly created"))
        XCTAssertTrue(try kubectl.ok(["create", "secret", "generic", "pynomaly-secret-new", "-n", "pynomaly",
                                      "--from-literal=POSTGRES_PASSWORD=s3cr3t", "--from-literal=user=pynomaly"])
            .contains("secret/pynomaly-secret-new created"))
        XCTAssertTrue(try kubectl.ok(["create", "configmap", "settings", "-n", "pynomaly", "--from-literal=mode=prod"])
            .contains("configmap/settings created"))
        XCTAssertTrue(try kubectl.ok(["create", "serviceaccount", "runner", "-n", "pynomaly"]).contains("serviceaccount/runner created"))

        let ns = try JSONValue(parsing: try kubectl.ok(["get", "namespace", "pynomaly", "-o", "json"]))
        XCTAssertEqual(ns[path: ["spec", "finalizers"]], ["kubernetes"])
        XCTAssertEqual(ns[path: ["metadata", "labels", "kubernetes.io/metadata.name"]], "pynomaly")

        let secret = try JSONValue(parsing: try kubectl.ok(["get", "secret", "pynomaly-secret-new", "-n", "pynomaly", "-o", "json", "--show-managed-fields"]))
        XCTAssertEqual(secret["type"], "Opaque")
        XCTAssertEqual(secret[path: ["data", "POSTGRES_PASSWORD"]], .string(Data("s3cr3t".utf8).base64EncodedString()))
        XCTAssertEqual(secret[path: ["data", "user"]], .string(Data("pynomaly".utf8).base64EncodedString()))
        XCTAssertEqual(secret[path: ["metadata", "managedFields"]]?[0]?["manager"], "kubectl-create")

        let cm = try JSONValue(parsing: try kubectl.ok(["get", "configmap", "settings", "-n", "pynomaly", "-o", "json"]))
        XCTAssertEqual(cm[path: ["data", "mode"]], "prod")

        let sa = try JSONValue(parsing: try kubectl.ok(["get", "serviceaccount", "runner", "-n", "pynomaly", "-o", "json"]))
        XCTAssertEqual(sa[path: ["metadata", "namespace"]], "pynomaly")

        // Rotation as the runbook does it: render with the client, apply through the server.
        let rendered = try kubectl.ok(["create", "secret", "generic", "pynomaly-secret-new", "-n", "pynomaly",
                                       "--from-literal=POSTGRES_PASSWORD=rotated", "--dry-run=client", "-o", "yaml"])
        XCTAssertTrue(try kubectl.ok(["apply", "-f", "-"], stdin: rendered).contains("secret/pynomaly-secret-new configured"))
        let rotated = try JSONValue(parsing: try kubectl.ok(["get", "secret", "pynomaly-secret-new", "-n", "pynomaly", "-o", "json"]))
        XCTAssertEqual(rotated[path: ["data", "POSTGRES_PASSWORD"]], .string(Data("rotated".utf8).base64EncodedString()))

        // Validation runs on protobuf bodies as on JSON ones.
        let bad = try kubectl.run(["create", "configmap", "bad", "-n", "pynomaly", "--from-literal=a/b=1"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("a valid config key must consist of alphanumeric characters"), bad.stderr)
    }

    func testCreateOfAKindWithoutProtobufDecodingNamesTheKind() throws {
        // kubectl create deployment sends protobuf too; this server decodes only the kinds above,
        // and says which kind it could not take (kubectl apply, which sends JSON, works).
        let r = try kubectl.run(["create", "deployment", "web", "--image=nginx:1.27"])
        XCTAssertNotEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stderr.contains("the body of the request was in an unknown format"), r.stderr)
        XCTAssertTrue(r.stderr.contains("not Deployment"), r.stderr)
    }
}
