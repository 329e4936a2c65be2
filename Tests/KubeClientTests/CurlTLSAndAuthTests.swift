import Foundation
import KubeCore
import KubeTestServer
import XCTest

@testable import KubeClient

/// TLS verification failures over real HTTPS, each named by its cause.
final class CurlTLSTests: XCTestCase {
    func testUnknownCA() async throws {
        let server = try await KubeTestServer.start()
        let other = try await KubeTestServer.start()
        let curl = try CurlTransport(configuration: configuration(for: server, caPEM: other.caCertificatePEM))
        let error = await thrownError { try await KubeAPIClient(transport: curl).get(.namespaces, namespace: nil, name: "default") }
        XCTAssertEqual(transportKind(error), .tlsUnknownCA, "\(String(describing: error))")
        XCTAssertTrue("\(String(describing: error))".contains(server.url), "the error names the server")

        // insecure-skip-tls-verify accepts it (and a matching CA does too).
        var insecure = configuration(for: server)
        insecure.tls = TLSConfiguration(insecureSkipVerify: true)
        let ns = try await KubeAPIClient(transport: try CurlTransport(configuration: insecure)).get(.namespaces, namespace: nil, name: "default")
        XCTAssertEqual(ns[path: ["metadata", "name"]], "default")
        try await server.stop()
        try await other.stop()
    }

    func testNameMismatchAndTLSServerName() async throws {
        var options = KubeTestServerOptions()
        options.certificateHosts = ["kube.example.test"]
        let server = try await KubeTestServer.start(options)
        let error = await thrownError {
            try await KubeAPIClient(transport: try CurlTransport(configuration: configuration(for: server))).get(.namespaces, namespace: nil, name: "default")
        }
        XCTAssertEqual(transportKind(error), .tlsNameMismatch, "\(String(describing: error))")

        // tls-server-name: verify against the certificate's name while connecting to 127.0.0.1.
        var named = configuration(for: server)
        named.tls.serverName = "kube.example.test"
        let ns = try await KubeAPIClient(transport: try CurlTransport(configuration: named)).get(.namespaces, namespace: nil, name: "default")
        XCTAssertEqual(ns[path: ["metadata", "name"]], "default")
        try await server.stop()
    }

    func testExpiredServerCertificate() async throws {
        var options = KubeTestServerOptions()
        options.certificateNotValidAfter = Date(timeIntervalSinceNow: -3600)
        let server = try await KubeTestServer.start(options)
        let error = await thrownError {
            try await KubeAPIClient(transport: try CurlTransport(configuration: configuration(for: server))).get(.namespaces, namespace: nil, name: "default")
        }
        XCTAssertEqual(transportKind(error), .tlsExpired, "\(String(describing: error))")
        try await server.stop()
    }

    func testConnectionRefusedAndTimeout() async throws {
        let server = try await KubeTestServer.start()
        let url = server.url
        try await server.stop()
        var config = ClientConfiguration(server: url, authentication: .bearerToken("x"), qps: 0)
        config.tls.insecureSkipVerify = true
        let refused = await thrownError { try await KubeAPIClient(transport: try CurlTransport(configuration: config)).send(KubeRequest(method: .get, path: "/version")) }
        XCTAssertEqual(transportKind(refused), .connect, "\(String(describing: refused))")

        let live = try await KubeTestServer.start()
        // A watch read as a plain request never ends: the per-request timeout stops it.
        let slow = KubeRequest(method: .get, path: "/api/v1/namespaces/default/configmaps", query: [.init("watch", "true")], timeout: 0.5)
        let start = ContinuousClock.now
        let timedOut = await thrownError { try await KubeAPIClient(transport: try CurlTransport(configuration: configuration(for: live))).send(slow) }
        XCTAssertEqual(transportKind(timedOut), .timeout, "\(String(describing: timedOut))")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        try await live.stop()
    }
}

/// Bearer tokens, token files, exec plugins and client certificates against the test server.
final class CurlAuthTests: XCTestCase {
    static let shared = SharedServer()
    override class func tearDown() { shared.stopBlocking() }

    func testUnauthorizedWithoutOrWithBadToken() async throws {
        let server = try await Self.shared.get()
        for auth in [Authentication.none, .bearerToken("not-a-token")] {
            let client = try makeKubeClient(configuration: configuration(for: server, authentication: auth))
            let error = await thrownError { try await client.get(.namespaces, namespace: nil, name: "default") } as? KubeError
            XCTAssertEqual(error?.isUnauthorized, true, "\(auth): \(String(describing: error))")
            XCTAssertEqual(error?.httpCode, 401)
        }
    }

    func testTokenFileRotationPickedUpWithoutRestart() async throws {
        let server = try await Self.shared.get()
        let dir = try temporaryDirectory(self)
        let path = "\(dir)/token"
        server.addUser(token: "rotating-1", name: "rotator", groups: ["system:masters", "system:authenticated"])
        try write("rotating-1\n", to: path)
        let client = try makeKubeClient(configuration: configuration(for: server, authentication: .tokenFile(path)))
        _ = try await client.get(.namespaces, namespace: nil, name: "default")

        server.addUser(token: "rotating-2", name: "rotator", groups: ["system:masters", "system:authenticated"])
        server.removeToken("rotating-1")
        try write("rotating-2\n", to: path)
        // The old token now gets 401; the client re-reads the file and retries once.
        let ns = try await client.get(.namespaces, namespace: nil, name: "default")
        XCTAssertEqual(ns[path: ["metadata", "name"]], "default")

        server.removeToken("rotating-2")
        let error = await thrownError { try await client.get(.namespaces, namespace: nil, name: "default") } as? KubeError
        XCTAssertEqual(error?.isUnauthorized, true, "a refused token that did not change is reported, not retried forever")
    }

    func testTokenFileModificationNoticedByItsMtime() async throws {
        let dir = try temporaryDirectory(self)
        let path = "\(dir)/token"
        try write("one", to: path)
        let source = TokenFileCredentials(path: path, recheckInterval: .zero)
        let first = try await source.current()
        XCTAssertEqual(first.authorization, "Bearer one")
        try write("two", to: path)
        // Some filesystems keep whole-second mtimes: make the change visible.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 5)], ofItemAtPath: path)
        let second = try await source.current()
        XCTAssertEqual(second.authorization, "Bearer two")

        let slow = TokenFileCredentials(path: path, recheckInterval: .seconds(3600))
        _ = try await slow.current()
        try write("three", to: path)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 10)], ofItemAtPath: path)
        let cached = try await slow.current()
        XCTAssertEqual(cached.authorization, "Bearer two", "not checked again within the interval")
        let refreshed = try await slow.refresh(after: cached)
        XCTAssertTrue(refreshed)
        let fresh = try await slow.current()
        XCTAssertEqual(fresh.authorization, "Bearer three", "a 401 re-reads at once")
    }

    /// Writes a plugin script that prints the token in `dir/token`, counts its runs and saves its KUBERNETES_EXEC_INFO.
    func writePlugin(_ dir: String, apiVersion: String) throws -> String {
        let script = """
            #!/bin/sh
            echo run >> "\(dir)/runs"
            printf '%s' "$KUBERNETES_EXEC_INFO" > "\(dir)/info.json"
            if [ -f "\(dir)/fail" ]; then echo "plugin says no: $EXTRA" >&2; exit 3; fi
            printf '{"apiVersion":"\(apiVersion)","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "\(dir)/token")"
            """
        let path = "\(dir)/plugin.sh"
        try write(script, to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    func runs(_ dir: String) -> Int {
        ((try? String(contentsOfFile: "\(dir)/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func testExecPluginTokenCachedAndRerunAfter401() async throws {
        let server = try await Self.shared.get()
        for apiVersion in ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] {
            let dir = try temporaryDirectory(self)
            _ = try writePlugin(dir, apiVersion: apiVersion)  // "./plugin.sh" in dir, resolved against baseDirectory
            let first = "exec-\(UUID().uuidString)"
            server.addUser(token: first, name: "exec-user", groups: ["system:masters", "system:authenticated"])
            try write(first, to: "\(dir)/token")
            let exec = ExecConfiguration(command: "./plugin.sh", apiVersion: apiVersion, baseDirectory: dir)
            let client = try makeKubeClient(configuration: configuration(for: server, authentication: .exec(exec)))
            _ = try await client.get(.namespaces, namespace: nil, name: "default")
            _ = try await client.get(.namespaces, namespace: nil, name: "kube-system")
            XCTAssertEqual(runs(dir), 1, "a credential without expiry is cached")
            let info = try JSONValue(parsing: Data(contentsOf: URL(fileURLWithPath: "\(dir)/info.json")))
            XCTAssertEqual(info["apiVersion"]?.stringValue, apiVersion)
            XCTAssertEqual(info["kind"], "ExecCredential")
            XCTAssertEqual(info[path: ["spec", "interactive"]], false)

            let second = "exec-\(UUID().uuidString)"
            server.addUser(token: second, name: "exec-user", groups: ["system:masters", "system:authenticated"])
            server.removeToken(first)
            try write(second, to: "\(dir)/token")
            _ = try await client.get(.namespaces, namespace: nil, name: "default")
            XCTAssertEqual(runs(dir), 2, "re-run after the 401")
        }
    }

    func testExecPluginFailureNamesCommandAndStderr() async throws {
        let server = try await Self.shared.get()
        let dir = try temporaryDirectory(self)
        _ = try writePlugin(dir, apiVersion: "client.authentication.k8s.io/v1")
        try write("", to: "\(dir)/fail")
        let exec = ExecConfiguration(command: "\(dir)/plugin.sh", env: [.init(name: "EXTRA", value: "quota exceeded")], baseDirectory: dir)
        let client = try makeKubeClient(configuration: configuration(for: server, authentication: .exec(exec)))
        let error = await thrownError { try await client.get(.namespaces, namespace: nil, name: "default") }
        guard case KubeError.configuration(let m)? = error as? KubeError else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(m, "exec plugin \"\(dir)/plugin.sh\": exited with status 3: plugin says no: quota exceeded")

        let missing = ExecConfiguration(command: "no-such-plugin-\(UUID().uuidString)", installHint: "install it from example.com")
        let e2 = await thrownError { try await ExecCredentialPlugin(configuration: missing).run() }
        XCTAssertEqual("\(String(describing: e2))".contains("executable not found in PATH (install it from example.com)"), true, "\(String(describing: e2))")
    }

    func testAHungExecPluginIsKilledAndNamedInTheError() async throws {
        let dir = try temporaryDirectory(self)
        // Waits for input that never comes (stdin is /dev/null, so `read` ends; sleep stands in for
        // a plugin waiting on a browser login or a network that does not answer).
        try write("#!/bin/sh\necho $$ > \"\(dir)/pid\"\necho 'open the browser to log in' >&2\nexec sleep 600\n", to: "\(dir)/p.sh")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/p.sh")
        let plugin = ExecCredentialPlugin(configuration: ExecConfiguration(command: "\(dir)/p.sh"), timeout: 0.5)
        let error = await thrownError { try await plugin.run() }
        guard case KubeError.configuration(let m)? = error as? KubeError else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(m.hasPrefix("exec plugin \"\(dir)/p.sh\": did not finish within 0.5 s and was killed"), m)
        XCTAssertTrue(m.contains("stderr: open the browser to log in"), m)
        // Killed and reaped, not left running.
        let pid = try XCTUnwrap(Int32(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(dir)/pid")), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(kill(pid, 0), -1)
        XCTAssertEqual(errno, ESRCH)
    }

    func testAPluginThatLeavesABackgroundProcessStillAnswers() async throws {
        let dir = try temporaryDirectory(self)
        // The background sleep keeps stdout open after the plugin exits: its answer must not wait
        // for it (nor time out).
        let credential = #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}"#
        try write("#!/bin/sh\nsleep 30 &\nprintf '%s' '\(credential)'\n", to: "\(dir)/p.sh")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/p.sh")
        let plugin = ExecCredentialPlugin(configuration: ExecConfiguration(command: "\(dir)/p.sh"), timeout: 120)
        let output = try await plugin.run()
        XCTAssertEqual(output.token, "t")
    }

    func testExecPluginOutputValidationAndExpiry() throws {
        let plugin = ExecCredentialPlugin(configuration: ExecConfiguration(command: "p", apiVersion: "client.authentication.k8s.io/v1"))
        let ok = try plugin.parse(Data(#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#.utf8))
        XCTAssertEqual(ok.token, "t")
        XCTAssertEqual(ok.expiration, Date(timeIntervalSince1970: 1_893_553_445))
        XCTAssertThrowsError(try plugin.parse(Data(#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}"#.utf8))) {
            XCTAssertEqual("\($0)", "configuration error: exec plugin \"p\": plugin returned apiVersion \"client.authentication.k8s.io/v1beta1\" but the kubeconfig asks for \"client.authentication.k8s.io/v1\"")
        }
        XCTAssertThrowsError(try plugin.parse(Data(#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#.utf8))) {
            XCTAssertEqual("\($0)", "configuration error: exec plugin \"p\": ExecCredential status has neither a token nor a client certificate")
        }
    }

    func testExpiredExecCredentialIsFetchedAgain() async throws {
        let dir = try temporaryDirectory(self)
        let script = """
            #!/bin/sh
            echo run >> "\(dir)/runs"
            printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2001-01-01T00:00:00Z"}}'
            """
        try write(script, to: "\(dir)/p.sh")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/p.sh")
        let source = ExecCredentials(plugin: ExecCredentialPlugin(configuration: ExecConfiguration(command: "\(dir)/p.sh")))
        _ = try await source.current()
        _ = try await source.current()
        XCTAssertEqual(runs(dir), 2, "an expired credential is not reused")
    }

    func testClientCertificateAuthentication() async throws {
        let server = try await Self.shared.get()
        let (cert, key) = try server.issueClientCertificate(user: "cert-admin", groups: ["system:masters"])
        var config = configuration(for: server, authentication: Authentication.none)
        config.tls.clientCertificatePEM = Data(cert.utf8)
        config.tls.clientKeyPEM = Data(key.utf8)
        let ns = try await makeKubeClient(configuration: config).get(.namespaces, namespace: nil, name: "kube-system")
        XCTAssertEqual(ns[path: ["metadata", "name"]], "kube-system")

        // The same certificate delivered by an exec plugin.
        let dir = try temporaryDirectory(self)
        let status: JSONValue = ["apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                 "status": ["clientCertificateData": .string(cert), "clientKeyData": .string(key)]]
        try write(status.serializedString(), to: "\(dir)/cred.json")
        try write("#!/bin/sh\ncat \"\(dir)/cred.json\"\n", to: "\(dir)/p.sh")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/p.sh")
        let viaExec = configuration(for: server, authentication: .exec(ExecConfiguration(command: "\(dir)/p.sh")))
        let ns2 = try await makeKubeClient(configuration: viaExec).get(.namespaces, namespace: nil, name: "default")
        XCTAssertEqual(ns2[path: ["metadata", "name"]], "default")
    }

    func testKubeconfigFromTheServerWorksEndToEnd() async throws {
        let server = try await Self.shared.get()
        let dir = try temporaryDirectory(self)
        try server.writeKubeconfig(to: "\(dir)/config", namespace: "kube-system")
        let config = try ConfigurationResolver(explicitPath: "\(dir)/config", environment: [:], homeDirectory: dir).resolve()
        XCTAssertEqual(config.namespace, "kube-system")
        let client = try makeKubeClient(configuration: config)
        let version = try await client.send(KubeRequest(method: .get, path: "/version"))
        XCTAssertNotNil(version["gitVersion"]?.stringValue, "\(version)")
    }
}
