import ArgumentParser
import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import KubeYAML
import Synchronization

/// `make run`: an embedded KubeTestServer with the CRDs installed, a kubeconfig for kubectl, and the
/// operator's preflight run against it. With `--kubeconfig` it runs preflight against that cluster instead.
@main
struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pynomaly-sandbox",
        abstract: "Runs an embedded Kubernetes test API server with the operator's CRDs, for trying things with kubectl.")

    @Option(help: "Check this real cluster's kubeconfig with preflight instead of starting the embedded server.")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context, with --kubeconfig.")
    var context: String?

    @Option(help: "Where the sandbox writes its kubeconfig.")
    var stateDirectory = ".sandbox"

    @Option(help: "The folder of CustomResourceDefinitions to install.")
    var crds = "crds"

    @Option(help: "The port of the embedded API server (0: any free port).")
    var port = 0

    @Flag(help: "Set everything up, run preflight, then exit (for tests).")
    var exitAfterSetup = false

    func run() async throws {
        if let kubeconfig {
            say("pynomaly-sandbox: checking the cluster of \(kubeconfig) with preflight (no embedded server)")
            var args = ["preflight", "--kubeconfig", kubeconfig]
            if let context { args += ["--context", context] }
            let status = try runOperator(args)
            throw ExitCode(status)
        }

        var options = KubeTestServerOptions()
        options.port = port
        let server = try await KubeTestServer.start(options)
        say("pynomaly-sandbox: test API server listening on \(server.url)")

        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let kubeconfigPath = (stateDirectory as NSString).appendingPathComponent("kubeconfig")
        try server.writeKubeconfig(to: kubeconfigPath)

        // Everything below goes over HTTPS through the operator's own client, as a real cluster would.
        let client = try makeKubeClient(configuration: try ConfigurationResolver.resolve(kubeconfigPath: kubeconfigPath, context: nil))
        try await installCRDs(client)
        let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "pynomaly-system"]]
        _ = try await client.create(.namespaces, namespace: nil, object: namespace, options: WriteOptions())

        let preflightStatus = try runOperator(["preflight", "--kubeconfig", kubeconfigPath])
        say("""

            The sandbox is running. Try:
              kubectl --kubeconfig \(kubeconfigPath) get crds
              kubectl --kubeconfig \(kubeconfigPath) apply -f manifests/samples/pynomaly.yaml
              kubectl --kubeconfig \(kubeconfigPath) get pyd
            The operator's reconcile loop (`pynomaly-operator run`) arrives with the controller runtime;
            until then the sandbox serves the API and runs preflight. Ctrl-C stops it.
            """)
        if exitAfterSetup {
            try await server.stop()
            if preflightStatus != 0 { throw ExitCode(preflightStatus) }
            return
        }
        await waitForTerminationSignal()
        say("pynomaly-sandbox: stopping")
        try await server.stop()
    }

    func installCRDs(_ client: KubeAPIClient) async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: crds).filter { $0.hasSuffix(".yaml") }.sorted()
        guard !files.isEmpty else { throw ValidationError("no CRDs found in \(crds)") }
        for file in files {
            let path = (crds as NSString).appendingPathComponent(file)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for document in try YAML.parseDocuments(text) {
                let created = try await client.create(.customResourceDefinitions, namespace: nil, object: document, options: WriteOptions())
                say("pynomaly-sandbox: installed CRD \(created[path: ["metadata", "name"]]?.stringValue ?? file)")
            }
        }
    }

    /// Runs the pynomaly-operator binary that was built next to this one.
    func runOperator(_ args: [String]) throws -> Int32 {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let binary = here.appendingPathComponent("pynomaly-operator")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw ValidationError("pynomaly-operator is not built next to pynomaly-sandbox (\(binary.path)); run `swift build` first")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = args
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Suspends until SIGINT or SIGTERM arrives.
func waitForTerminationSignal() async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let queue = DispatchQueue(label: "signals")
    let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let pending = Mutex<CheckedContinuation<Void, Never>?>(continuation)
        for source in sources {
            // Whichever signal comes first resumes; a later one finds nothing to resume.
            source.setEventHandler { pending.withLock { $0.take() }?.resume() }
            source.resume()
        }
    }
    sources.forEach { $0.cancel() }
}

/// Writes a line straight to standard output (unbuffered), so the sandbox's lines and those of the
/// operator subprocess stay in order when piped.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
