import Foundation
import KubeCore
import XCTest

@testable import KubeClient

final class KubeconfigTests: XCTestCase {
    let caPEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

    func testParsesClustersUsersContextsAndResolvesCurrentContext() throws {
        let dir = try temporaryDirectory(self)
        try write(caPEM, to: "\(dir)/ca.crt")
        try write("tok-from-file\n", to: "\(dir)/token")
        let text = """
            apiVersion: v1
            kind: Config
            current-context: dev
            clusters:
            - name: dev-cluster
              cluster:
                server: https://10.0.0.1:6443
                certificate-authority: ca.crt
                tls-server-name: api.internal
            - name: prod-cluster
              cluster:
                server: https://prod.example.com
                certificate-authority-data: \(Data(caPEM.utf8).base64EncodedString())
            users:
            - name: dev-user
              user:
                tokenFile: token
            - name: prod-user
              user:
                token: abc123
            - name: basic-user
              user:
                username: alice
                password: s3cret
            contexts:
            - name: dev
              context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
            - name: prod
              context: {cluster: prod-cluster, user: prod-user}
            - name: basic
              context: {cluster: prod-cluster, user: basic-user}
            """
        try write(text, to: "\(dir)/config")
        let kc = try Kubeconfig.load(file: "\(dir)/config")
        XCTAssertEqual(kc.currentContext, "dev")
        XCTAssertEqual(Set(kc.clusters.keys), ["dev-cluster", "prod-cluster"])
        XCTAssertEqual(kc.clusters["dev-cluster"]?.certificateAuthority, "\(dir)/ca.crt", "relative path resolved against the file's directory")
        XCTAssertEqual(kc.users["dev-user"]?.tokenFile, "\(dir)/token")

        let dev = try kc.configuration()
        XCTAssertEqual(dev.server, "https://10.0.0.1:6443")
        XCTAssertEqual(dev.namespace, "team-a")
        XCTAssertEqual(dev.tls.certificateAuthorityPEM, Data(caPEM.utf8))
        XCTAssertEqual(dev.tls.serverName, "api.internal")
        XCTAssertEqual(dev.authentication, .tokenFile("\(dir)/token"))

        let prod = try kc.configuration(context: "prod")
        XCTAssertEqual(prod.server, "https://prod.example.com")
        XCTAssertEqual(prod.namespace, "default")
        XCTAssertEqual(prod.tls.certificateAuthorityPEM, Data(caPEM.utf8))
        XCTAssertEqual(prod.authentication, .bearerToken("abc123"))

        XCTAssertEqual(try kc.configuration(context: "basic").authentication, .basic(username: "alice", password: "s3cret"))
    }

    func testClientCertificateFilesAndExecPlugin() throws {
        let dir = try temporaryDirectory(self)
        try write("CERT", to: "\(dir)/client.crt")
        try write("KEY", to: "\(dir)/client.key")
        let text = """
            current-context: c
            clusters:
            - name: k
              cluster: {server: "https://[fd00::1]:6443", insecure-skip-tls-verify: true}
            users:
            - name: cert
              user: {client-certificate: client.crt, client-key: client.key}
            - name: plugin
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1beta1
                  command: ./bin/get-token
                  args: ["--cluster", "k"]
                  env: [{name: FOO, value: bar}]
                  provideClusterInfo: true
            contexts:
            - name: c
              context: {cluster: k, user: cert}
            - name: e
              context: {cluster: k, user: plugin}
            """
        try write(text, to: "\(dir)/config")
        let kc = try Kubeconfig.load(file: "\(dir)/config")
        let c = try kc.configuration()
        XCTAssertTrue(c.tls.insecureSkipVerify)
        XCTAssertEqual(c.tls.clientCertificatePEM, Data("CERT".utf8))
        XCTAssertEqual(c.tls.clientKeyPEM, Data("KEY".utf8))
        XCTAssertEqual(c.authentication, .none)
        XCTAssertEqual(try c.serverComponents().host, "fd00::1")

        let e = try kc.configuration(context: "e")
        guard case .exec(let exec) = e.authentication else { return XCTFail("expected exec, got \(e.authentication)") }
        XCTAssertEqual(exec.command, "./bin/get-token")
        XCTAssertEqual(exec.args, ["--cluster", "k"])
        XCTAssertEqual(exec.env, [.init(name: "FOO", value: "bar")])
        XCTAssertEqual(exec.apiVersion, "client.authentication.k8s.io/v1beta1")
        XCTAssertTrue(exec.provideClusterInfo)
        XCTAssertEqual(exec.baseDirectory, dir)
        XCTAssertEqual(try ExecCredentialPlugin(configuration: exec).resolveExecutable(), "\(dir)/bin/get-token")
    }

    func testMergeFirstFileWinsAndCurrentContextFromFirstThatSetsIt() throws {
        let dir = try temporaryDirectory(self)
        try write("""
            clusters:
            - name: shared
              cluster: {server: "https://first:1"}
            users:
            - name: u
              user: {token: first-token}
            contexts:
            - name: a
              context: {cluster: shared, user: u, namespace: from-first}
            """, to: "\(dir)/one")
        try write("""
            current-context: a
            clusters:
            - name: shared
              cluster: {server: "https://second:2"}
            - name: only-second
              cluster: {server: "https://second-only:3"}
            users:
            - name: u
              user: {token: second-token}
            contexts:
            - name: a
              context: {cluster: only-second, user: u}
            - name: b
              context: {cluster: only-second, user: u}
            """, to: "\(dir)/two")
        try write("current-context: b\n", to: "\(dir)/three")
        let kc = try Kubeconfig.load(files: ["\(dir)/one", "\(dir)/missing", "\(dir)/two", "\(dir)/three"])
        XCTAssertEqual(kc.files, ["\(dir)/one", "\(dir)/two", "\(dir)/three"], "a missing file in the list is skipped")
        XCTAssertEqual(kc.currentContext, "a", "the first file that sets current-context wins")
        let c = try kc.configuration()
        XCTAssertEqual(c.server, "https://first:1")
        XCTAssertEqual(c.namespace, "from-first")
        XCTAssertEqual(c.authentication, .bearerToken("first-token"))
        XCTAssertEqual(try kc.configuration(context: "b").server, "https://second-only:3")
    }

    func testErrorsNameTheFileAndTheKey() throws {
        let dir = try temporaryDirectory(self)
        let path = "\(dir)/config"
        func message(_ text: String, context: String? = nil) throws -> String? {
            try write(text, to: path)
            return configurationMessage { _ = try Kubeconfig.load(file: path).configuration(context: context) }
        }
        let valid = """
            current-context: x
            clusters:
            - name: k
              cluster: {server: "https://k:6443"}
            users:
            - name: u
              user: {token: t}
            contexts:
            - name: x
              context: {cluster: k, user: u}
            """
        XCTAssertEqual(try message(valid, context: "foo"), "kubeconfig \(path): context \"foo\" not found")
        XCTAssertEqual(try message("""
            users:
            - name: a
              user: {token: t}
            - user: {token: t}
            """), "kubeconfig \(path): users[1].name missing")
        XCTAssertEqual(try message("""
            clusters:
            - name: k
              cluster: {server: "ht tp://nope"}
            """), "kubeconfig \(path): clusters[0].cluster.server: not a URL: \"ht tp://nope\"")
        XCTAssertEqual(try message("""
            clusters:
            - name: k
              cluster: {server: "https://k", certificate-authority-data: "!!!notbase64"}
            """), "kubeconfig \(path): clusters[0].cluster.certificate-authority-data: not valid base64")
        XCTAssertEqual(try message("""
            users:
            - name: u
              user: {token: 123}
            """), "kubeconfig \(path): users[0].user.token: expected a string, got integer")
        XCTAssertEqual(try message("""
            clusters:
            - name: k
            """), "kubeconfig \(path): clusters[0].cluster missing")
        XCTAssertEqual(try message("""
            users:
            - name: u
              user:
                exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}
            """), "kubeconfig \(path): users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported (use client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1)")
        XCTAssertEqual(try message(valid.replacingOccurrences(of: "current-context: x\n", with: "")),
                       "kubeconfig \(path): current-context is not set")
        XCTAssertEqual(try message(valid.replacingOccurrences(of: "{cluster: k, user: u}", with: "{cluster: nope, user: u}")),
                       "kubeconfig \(path): context \"x\": cluster \"nope\" not found")
        XCTAssertEqual(try message(valid.replacingOccurrences(of: "{cluster: k, user: u}", with: "{cluster: k, user: ghost}")),
                       "kubeconfig \(path): context \"x\": user \"ghost\" not found")
        XCTAssertEqual(try message(valid.replacingOccurrences(of: "{token: t}", with: "{client-certificate-data: Q0VSVA==}")),
                       "kubeconfig \(path): user \"u\": client-certificate without client-key")
        XCTAssertEqual(try message(valid.replacingOccurrences(of: "{server: \"https://k:6443\"}", with: "{certificate-authority: missing.crt}")),
                       "kubeconfig \(path): cluster \"k\": server missing")
        let missingCA = try message(valid.replacingOccurrences(of: "{server: \"https://k:6443\"}",
                                                               with: "{server: \"https://k:6443\", certificate-authority: missing.crt}"))
        XCTAssertTrue(missingCA?.hasPrefix("kubeconfig \(path): cluster \"k\": certificate-authority \(dir)/missing.crt: cannot be read") ?? false,
                      missingCA ?? "")
        let yaml = try message("clusters: [\n  - name: k\n  cluster: {")
        XCTAssertTrue(yaml?.hasPrefix("kubeconfig \(path): yaml: line ") ?? false, yaml ?? "")
        XCTAssertEqual(configurationMessage { _ = try Kubeconfig.load(file: "\(dir)/absent") }?.hasPrefix("kubeconfig \(dir)/absent: cannot be read"), true)
    }

    func testInClusterConfiguration() throws {
        let mount = try temporaryDirectory(self)
        try write("sa-token", to: "\(mount)/token")
        try write(caPEM, to: "\(mount)/ca.crt")
        try write("operators\n", to: "\(mount)/namespace")
        let env = ["KUBERNETES_SERVICE_HOST": "fd00:10::1", "KUBERNETES_SERVICE_PORT": "443"]
        XCTAssertTrue(InClusterConfiguration.isAvailable(environment: env, mountPath: mount))
        let c = try InClusterConfiguration.load(environment: env, mountPath: mount)
        XCTAssertEqual(c.server, "https://[fd00:10::1]:443", "an IPv6 host is bracketed")
        XCTAssertEqual(c.namespace, "operators")
        XCTAssertEqual(c.tls.certificateAuthorityPEM, Data(caPEM.utf8))
        XCTAssertEqual(c.authentication, .tokenFile("\(mount)/token"))
        XCTAssertEqual(try InClusterConfiguration.load(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                                       mountPath: mount).server, "https://10.0.0.1:443")
        XCTAssertFalse(InClusterConfiguration.isAvailable(environment: [:], mountPath: mount))
        XCTAssertEqual(configurationMessage { _ = try InClusterConfiguration.load(environment: ["KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "x"], mountPath: mount) },
                       "in-cluster: KUBERNETES_SERVICE_PORT \"x\" is not a port number")
    }

    func testResolverPrecedence() throws {
        let dir = try temporaryDirectory(self)
        func config(_ server: String) -> String {
            """
            current-context: c
            clusters: [{name: k, cluster: {server: "\(server)"}}]
            contexts: [{name: c, context: {cluster: k}}]
            """
        }
        try write(config("https://explicit"), to: "\(dir)/explicit")
        try write(config("https://env"), to: "\(dir)/env")
        try FileManager.default.createDirectory(atPath: "\(dir)/home/.kube", withIntermediateDirectories: true)
        try write(config("https://home"), to: "\(dir)/home/.kube/config")
        let mount = "\(dir)/sa"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        try write("t", to: "\(mount)/token")
        try write(caPEM, to: "\(mount)/ca.crt")
        let inCluster = ["KUBERNETES_SERVICE_HOST": "10.1.0.1", "KUBERNETES_SERVICE_PORT": "6443"]

        func resolve(_ path: String?, _ env: [String: String], context: String? = nil) throws -> String {
            try ConfigurationResolver(explicitPath: path, context: context, environment: env, homeDirectory: "\(dir)/home",
                                      inClusterMountPath: mount).resolve().server
        }
        var env = inCluster
        env["KUBECONFIG"] = "\(dir)/env"
        XCTAssertEqual(try resolve("\(dir)/explicit", env), "https://explicit")
        XCTAssertEqual(try resolve(nil, env), "https://env")
        XCTAssertEqual(try resolve(nil, inCluster), "https://10.1.0.1:6443")
        XCTAssertEqual(try resolve(nil, [:]), "https://home")
        XCTAssertEqual(try resolve(nil, inCluster, context: "c"), "https://home", "a --context names a kubeconfig entry")
        try FileManager.default.removeItem(atPath: "\(dir)/home/.kube/config")
        XCTAssertEqual(configurationMessage { _ = try resolve(nil, [:]) }?.hasPrefix("no configuration found"), true)
        XCTAssertEqual(configurationMessage { _ = try resolve(nil, ["KUBECONFIG": "\(dir)/nope1:\(dir)/nope2"]) },
                       "KUBECONFIG=\(dir)/nope1:\(dir)/nope2: none of these files exists")
    }
}
