import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// The user paths of the README, with the real kubectl against KubeTestServer over HTTPS:
/// get, apply, apply --server-side, patch (merge, JSON, strategic), scale, delete, get -w.
final class KubectlEndToEndTests: XCTestCase {
    var server: KubeTestServer!
    var kubectl: Kubectl!

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override func setUp() async throws {
        server = try await KubeTestServer.start()
        kubectl = try Kubectl.make(server: server)
    }

    override func tearDown() async throws {
        try await server?.stop()
    }

    func testConfigMapLifecycle() throws {
        let manifest = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
              labels: {app: demo}
            data:
              a: "1"
            """
        XCTAssertTrue(try kubectl.ok(["apply", "-f", "-"], stdin: manifest).contains("configmap/settings created"))
        XCTAssertTrue(try kubectl.ok(["apply", "-f", "-"], stdin: manifest).contains("configmap/settings unchanged"))

        try kubectl.ok(["patch", "configmap", "settings", "--type", "merge", "-p", #"{"data":{"b":"2"}}"#])
        try kubectl.ok(["patch", "configmap", "settings", "--type", "json", "-p", #"[{"op":"replace","path":"/data/a","value":"10"}]"#])
        let failedTest = try kubectl.run(["patch", "configmap", "settings", "--type", "json", "-p", #"[{"op":"test","path":"/data/a","value":"nope"}]"#])
        XCTAssertNotEqual(failedTest.status, 0, "a failing JSON-patch test must be rejected")

        let json = try JSONValue(parsing: try kubectl.ok(["get", "configmap", "settings", "-o", "json"]))
        XCTAssertEqual(json[path: ["data", "a"]], "10")
        XCTAssertEqual(json[path: ["data", "b"]], "2")

        let table = try kubectl.ok(["get", "configmaps", "-l", "app=demo"])
        XCTAssertTrue(table.contains("NAME"), table)
        XCTAssertTrue(table.contains("settings"), table)

        XCTAssertTrue(try kubectl.ok(["delete", "configmap", "settings"]).contains(#"configmap "settings" deleted"#))
        let gone = try kubectl.run(["get", "configmap", "settings"])
        XCTAssertNotEqual(gone.status, 0)
        XCTAssertTrue(gone.stderr.contains(#"configmaps "settings" not found"#), gone.stderr)
    }

    func testServerSideApplyConflictsAndForce() throws {
        let first = """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: shared}
            data: {owner: first}
            """
        try kubectl.ok(["apply", "--server-side", "--field-manager", "first", "-f", "-"], stdin: first)
        let second = first.replacingOccurrences(of: "owner: first", with: "owner: second")
        let conflict = try kubectl.run(["apply", "--server-side", "--field-manager", "second", "-f", "-"], stdin: second)
        XCTAssertNotEqual(conflict.status, 0)
        XCTAssertTrue(conflict.stderr.contains("conflict"), conflict.stderr)
        try kubectl.ok(["apply", "--server-side", "--field-manager", "second", "--force-conflicts", "-f", "-"], stdin: second)
        let json = try JSONValue(parsing: try kubectl.ok(["get", "configmap", "shared", "-o", "json", "--show-managed-fields"]))
        XCTAssertEqual(json[path: ["data", "owner"]], "second")
        let managers = json[path: ["metadata", "managedFields"]]?.arrayValue?.compactMap { $0["manager"]?.stringValue } ?? []
        XCTAssertEqual(managers, ["second"], "force must move ownership of data.owner to the second manager")

        // A field the manager applied before and stops applying is removed; a field it never owned stays.
        try kubectl.ok(["patch", "configmap", "shared", "--type", "merge", "-p", #"{"data":{"human":"kept"}}"#])
        try kubectl.ok(["apply", "--server-side", "--field-manager", "second", "-f", "-"],
                       stdin: second.replacingOccurrences(of: "data: {owner: second}", with: "data: {owner: second, extra: x}"))
        XCTAssertEqual(try kubectl.ok(["get", "configmap", "shared", "-o", "jsonpath={.data.extra}"]), "x")
        try kubectl.ok(["apply", "--server-side", "--field-manager", "second", "-f", "-"], stdin: second)
        let after = try JSONValue(parsing: try kubectl.ok(["get", "configmap", "shared", "-o", "json"]))
        XCTAssertEqual(after["data"], ["owner": "second", "human": "kept"])
    }

    func testDeploymentStrategicPatchAndScale() throws {
        let manifest = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 2
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - {name: app, image: "nginx:1"}
                  - {name: sidecar, image: "busybox:1"}
            """
        try kubectl.ok(["apply", "-f", "-"], stdin: manifest)
        // Strategic merge (kubectl's default for built-ins): the container list merges by name.
        try kubectl.ok(["patch", "deployment", "web", "-p", #"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}}}"#])
        let images = try kubectl.ok(["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}"])
        XCTAssertEqual(images, "nginx:2 busybox:1")
        XCTAssertEqual(try kubectl.ok(["get", "deployment", "web", "-o", "jsonpath={.metadata.generation}"]), "2")

        XCTAssertTrue(try kubectl.ok(["scale", "deployment", "web", "--replicas=5"]).contains("scaled"))
        XCTAssertEqual(try kubectl.ok(["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "5")

        try kubectl.ok(["delete", "deployment", "web"])
        XCTAssertNotEqual(try kubectl.run(["get", "deployment", "web"]).status, 0)
    }

    func testCustomResourceFromCRD() throws {
        let crd = Self.repositoryRoot.appendingPathComponent("crds/pynomaly.ai_pynomalydeployments.yaml").path
        try kubectl.ok(["apply", "-f", crd])
        try kubectl.ok(["wait", "--for=condition=Established", "crd/pynomalydeployments.pynomaly.ai", "--timeout=20s"])
        let cr = """
            apiVersion: pynomaly.ai/v1alpha1
            kind: PynomalyDeployment
            metadata: {name: demo}
            spec:
              image: ghcr.io/elgerytme/pynomaly:v0.1.3
              replicas: 2
            """
        // Discovery of the new group can lag in kubectl's cache: the apply must still succeed.
        try kubectl.ok(["apply", "-f", "-"], stdin: cr)
        let table = try kubectl.ok(["get", "pyd"])
        XCTAssertTrue(table.contains("demo"), table)
        XCTAssertTrue(table.contains("IMAGE"), "printer columns must be shown: \(table)")

        try kubectl.ok(["scale", "pyd", "demo", "--replicas=5"])
        XCTAssertEqual(try kubectl.ok(["get", "pyd", "demo", "-o", "jsonpath={.spec.replicas}"]), "5")

        try kubectl.ok(["patch", "pyd", "demo", "--type", "merge", "-p", #"{"spec":{"image":"ghcr.io/elgerytme/pynomaly:v0.1.4"}}"#])
        XCTAssertEqual(try kubectl.ok(["get", "pyd", "demo", "-o", "jsonpath={.metadata.generation}"]), "3")

        // The schema rejects what it can express (422 with the field named).
        let invalid = try kubectl.run(["apply", "-f", "-"], stdin: cr.replacingOccurrences(of: "replicas: 2", with: "replicas: -1"))
        XCTAssertNotEqual(invalid.status, 0)
        XCTAssertTrue(invalid.stderr.contains("spec.replicas"), invalid.stderr)

        // Strategic merge is not defined for custom resources.
        let strategic = try kubectl.run(["patch", "pyd", "demo", "--type", "strategic", "-p", #"{"spec":{"replicas":1}}"#])
        XCTAssertNotEqual(strategic.status, 0)

        // Server-side apply of the original manifest conflicts with the fields `kubectl scale` (scale
        // subresource) and `kubectl patch` changed since; forcing takes them back.
        let reapplied = cr.replacingOccurrences(of: "replicas: 2", with: "replicas: 3")
        let conflict = try kubectl.run(["apply", "--server-side", "-f", "-"], stdin: reapplied)
        XCTAssertNotEqual(conflict.status, 0)
        XCTAssertTrue(conflict.stderr.contains("Apply failed with 2 conflicts"), conflict.stderr)
        XCTAssertTrue(conflict.stderr.contains(".spec.replicas") && conflict.stderr.contains(".spec.image"), conflict.stderr)
        try kubectl.ok(["apply", "--server-side", "--force-conflicts", "-f", "-"], stdin: reapplied)
        XCTAssertEqual(try kubectl.ok(["get", "pyd", "demo", "-o", "jsonpath={.spec.replicas} {.spec.image}"]), "3 ghcr.io/elgerytme/pynomaly:v0.1.3")
        try kubectl.ok(["delete", "pyd", "demo"])
        XCTAssertNotEqual(try kubectl.run(["get", "pyd", "demo"]).status, 0)
    }

    func testGetWatchShowsChanges() async throws {
        let watch = try kubectl.start(["get", "configmaps", "-w", "--output-watch-events"])
        defer { watch.stop() }
        let outBuf = watch.stdout, errBuf = watch.stderr

        let client = KubeAPIClient(transport: server.transport)
        // Writes go through the server's in-memory transport while kubectl watches over HTTPS.
        let cm: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "watched"], "data": ["k": "v"]]
        // Created before or after kubectl's initial list, the object shows as ADDED either way, and the
        // watch starts from the list's resourceVersion, so the deletion below cannot be missed.
        _ = try await client.create(.configMaps, namespace: "default", object: cm, options: WriteOptions())
        let added = await outBuf.wait { $0.contains("ADDED") && $0.contains("watched") }
        XCTAssertTrue(added, "kubectl get -w did not show the new ConfigMap: \(outBuf.text) \(errBuf.text)")
        // The server streams one-row Tables with the ConfigMap printer's DATA column (the key count),
        // which kubectl's own fallback printing does not have.
        XCTAssertTrue(outBuf.text.contains("DATA"), "watch events were not rendered as Tables: \(outBuf.text)")
        XCTAssertNotNil(outBuf.text.range(of: #"ADDED\s+watched\s+1\s"#, options: .regularExpression), outBuf.text)
        _ = try await client.delete(.configMaps, namespace: "default", name: "watched", options: DeleteOptions())
        let deleted = await outBuf.wait { $0.contains("DELETED") && $0.contains("watched") }
        XCTAssertTrue(deleted, "kubectl get -w did not show the deletion: \(outBuf.text) \(errBuf.text)")
    }
}
