import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// The real network path: TLS with the per-run CA, bearer tokens, client certificates, keep-alive,
/// chunked watches, and kubectl against the server.
final class HTTPSTests: XCTestCase {
    struct Run { var status: Int32; var out: String; var err: String }

    /// Runs a tool and waits for it (bounded by the tool's own timeout flags).
    func run(_ tool: String, _ args: [String], env: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    func tempFile(_ name: String, _ content: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func requireTool(_ path: String) throws {
        // These machines have curl and kubectl; their absence is a failure, not a skip.
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw NSError(domain: "HTTPSTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(path) is not installed"])
        }
    }

    /// Outgoing connections take local ports from the ephemeral range; a listener there could find
    /// its port taken after a restart, so the server listens below it and a taken port is an error.
    func testListensBelowTheEphemeralRangeAndRefusesATakenPort() async throws {
        let server = try await KubeTestServer.start()
        let first = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
        XCTAssertLessThan(server.port, first)
        XCTAssertGreaterThanOrEqual(server.port, 10_000)
        var options = KubeTestServerOptions()
        options.port = server.port
        do {
            let second = try await KubeTestServer.start(options)
            try await second.stop()
            XCTFail("a second listener on port \(server.port) must fail")
        } catch {
            XCTAssertTrue("\(error)".contains("Address already in use"), "\(error)")
        }
        try await server.restart()
        let status = await TestClient(server).get("/api/v1/namespaces").status
        XCTAssertEqual(status, 200)
        try await server.stop()
    }

    func testTLSTokensAndClientCertificatesOverCurl() async throws {
        try requireTool("/usr/bin/curl")
        let server = try await KubeTestServer.start()
        let ca = try tempFile("ca.crt", server.caCertificatePEM)

        let version = try run("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", ca, "\(server.url)/version"])
        XCTAssertEqual(version.status, 0, version.err)
        XCTAssertEqual(try JSONValue(parsing: version.out)["gitVersion"], "v1.36.2")

        // Two requests on one connection, with the admin token: over HTTP/2 (what curl negotiates
        // by default) and, forced, over HTTP/1.1 keep-alive.
        for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
            let two = try run("/usr/bin/curl", ["-sS", flag, "--max-time", "10", "--cacert", ca, "-H", "Authorization: Bearer \(server.adminToken)",
                                                "\(server.url)/api/v1/namespaces/default", "\(server.url)/api/v1/namespaces/kube-system",
                                                "-w", "\n%{http_version} %{num_connects}\n"])
            XCTAssertEqual(two.status, 0, two.err)
            XCTAssertTrue(two.out.contains("\"name\":\"default\""))
            XCTAssertTrue(two.out.contains("\"name\":\"kube-system\""))
            XCTAssertTrue(two.out.hasSuffix("\n\(version) 0\n"), "\(flag): the second request reused the connection: \(two.out.suffix(20))")
        }

        let anonymous = try run("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}",
                                                  "\(server.url)/api/v1/namespaces"])
        XCTAssertEqual(anonymous.out, "401")

        // mTLS: CN is the user, O the groups.
        let cert = try server.issueClientCertificate(user: "cert-admin", groups: ["system:masters"])
        let certPath = try tempFile("client.crt", cert.certificatePEM)
        let keyPath = try tempFile("client.key", cert.privateKeyPEM)
        let whoami = try run("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", ca, "--cert", certPath, "--key", keyPath,
                                               "-X", "POST", "-H", "Content-Type: application/json", "-d", "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}",
                                               "\(server.url)/apis/authentication.k8s.io/v1/selfsubjectreviews"])
        XCTAssertEqual(whoami.status, 0, whoami.err)
        XCTAssertEqual(try JSONValue(parsing: whoami.out)[path: ["status", "userInfo", "username"]], "cert-admin")

        // A watch stream over TLS: chunked over HTTP/1.1 (forced: chunked framing exists only
        // there), one stream without Transfer-Encoding over HTTP/2, which forbids it.
        let watch = try run("/usr/bin/curl", ["-sS", "-N", "--http1.1", "--max-time", "10", "--cacert", ca, "-H", "Authorization: Bearer \(server.adminToken)",
                                              "-D", "-", "\(server.url)/api/v1/namespaces?watch=1&timeoutSeconds=1"])
        XCTAssertEqual(watch.status, 0, watch.err)
        XCTAssertTrue(watch.out.lowercased().contains("transfer-encoding: chunked"), watch.out)
        XCTAssertTrue(watch.out.contains("\"type\":\"ADDED\""), watch.out)
        let h2Watch = try run("/usr/bin/curl", ["-sS", "-N", "--http2", "--max-time", "10", "--cacert", ca, "-H", "Authorization: Bearer \(server.adminToken)",
                                                "-D", "-", "\(server.url)/api/v1/namespaces?watch=1&timeoutSeconds=1"])
        XCTAssertEqual(h2Watch.status, 0, h2Watch.err)
        XCTAssertTrue(h2Watch.out.hasPrefix("HTTP/2 200"), h2Watch.out)
        XCTAssertFalse(h2Watch.out.lowercased().contains("transfer-encoding"), h2Watch.out)
        XCTAssertTrue(h2Watch.out.contains("\"type\":\"ADDED\""), h2Watch.out)
        try await server.stop()
    }

    func testServingCertificateNamesAndExpiry() async throws {
        try requireTool("/usr/bin/curl")
        var o = KubeTestServerOptions()
        o.certificateHosts = ["other.example"]
        let mismatch = try await KubeTestServer.start(o)
        let ca = try tempFile("ca.crt", mismatch.caCertificatePEM)
        let r = try run("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", ca, "\(mismatch.url)/version"])
        XCTAssertNotEqual(r.status, 0, "the certificate does not name 127.0.0.1")
        try await mismatch.stop()

        var e = KubeTestServerOptions()
        e.certificateNotValidAfter = Date().addingTimeInterval(-3600)
        let expired = try await KubeTestServer.start(e)
        let ca2 = try tempFile("ca.crt", expired.caCertificatePEM)
        let r2 = try run("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", ca2, "\(expired.url)/version"])
        XCTAssertNotEqual(r2.status, 0, "an expired serving certificate is refused")
        XCTAssertTrue(r2.err.lowercased().contains("expired"), r2.err)
        try await expired.stop()
    }

    func testKubectlWorksAgainstTheServer() async throws {
        try requireTool("/usr/bin/kubectl")
        let server = try await KubeTestServer.start()
        let kubeconfig = try tempFile("kubeconfig", server.kubeconfig())
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("kts-cache-\(UUID().uuidString.prefix(8))").path
        let env = ["KUBECONFIG": kubeconfig, "HOME": cache]
        func kubectl(_ args: String...) throws -> Run {
            try run("/usr/bin/kubectl", ["--request-timeout=20s", "--cache-dir", cache] + args, env: env)
        }
        let ns = try kubectl("get", "namespaces")
        XCTAssertEqual(ns.status, 0, ns.err)
        XCTAssertTrue(ns.out.contains("kube-system"), ns.out)
        // client-go negotiates HTTP/2 whenever the server offers it, as against kube-apiserver.
        XCTAssertEqual(server.http2ConnectionCount, server.acceptedConnectionCount, "kubectl spoke HTTP/2")
        XCTAssertGreaterThan(server.http2ConnectionCount, 0)

        let manifest = try tempFile("cm.yaml", """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: from-kubectl
        data:
          a: "1"
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 1
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
              - name: web
                image: nginx:1.27
        """)
        let apply = try kubectl("apply", "--server-side", "-f", manifest)
        XCTAssertEqual(apply.status, 0, apply.err)
        let applyAgain = try kubectl("apply", "-f", manifest)
        XCTAssertEqual(applyAgain.status, 0, applyAgain.err)
        let get = try kubectl("get", "cm", "from-kubectl", "-o", "jsonpath={.data.a}")
        XCTAssertEqual(get.out, "1", get.err)
        let scale = try kubectl("scale", "deployment/web", "--replicas=3")
        XCTAssertEqual(scale.status, 0, scale.err)
        let replicas = try kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
        XCTAssertEqual(replicas.out, "3", replicas.err)
        let table = try kubectl("get", "deployments")
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertTrue(table.out.contains("UP-TO-DATE"), table.out)
        let describe = try kubectl("describe", "configmap", "from-kubectl")
        XCTAssertEqual(describe.status, 0, describe.err)
        let delete = try kubectl("delete", "cm", "from-kubectl")
        XCTAssertEqual(delete.status, 0, delete.err)
        try await server.stop()
    }
}
