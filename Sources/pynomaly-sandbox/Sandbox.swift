import ArgumentParser
import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import KubeYAML
import Synchronization

/// `make run`: an embedded KubeTestServer (simulated controllers on) with the CRDs installed, a
/// kubeconfig for kubectl, preflight, the operator (`pynomaly-operator run`) as a child process, and
/// the sample PynomalyDeployment applied, its rollout printed as it happens. With `--kubeconfig` it
/// runs preflight against that cluster instead.
@main
struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pynomaly-sandbox",
        abstract: "Runs the operator against an embedded Kubernetes test API server with simulated controllers.",
        discussion: """
            Starts the test API server (Deployments, Pods, Jobs and HPAs are simulated), installs the CRDs, \
            writes <state-directory>/kubeconfig, runs preflight, starts `pynomaly-operator run` against it, \
            applies the sample (PynomalyDeployment and Secret) and prints its rollout until Ctrl-C. Lines prefixed \
            "operator |" are the operator's log; "rollout |" lines are the sandbox's view of the objects.
            Exit codes: 0 after Ctrl-C/SIGTERM (or, with --exit-after-setup, once the sample is Ready); \
            non-zero when setup or preflight fails, the operator exits on its own, or the sample is not \
            Ready in time.
            """)

    @Option(help: "Check this real cluster's kubeconfig with preflight instead of starting the embedded server.")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context, with --kubeconfig.")
    var context: String?

    @Option(help: "Where the sandbox writes its kubeconfig.")
    var stateDirectory = ".sandbox"

    @Option(help: "The folder of CustomResourceDefinitions to install.")
    var crds = "crds"

    @Option(help: "The manifest applied once the operator runs (its PynomalyDeployments, Secrets and ConfigMaps).")
    var sample = "manifests/samples/pynomaly.yaml"

    @Option(help: "The port of the embedded API server (0: any free port).")
    var port = 0

    @Option(help: "Seconds a simulated Job runs before it completes (smoke tests, backups).")
    var simulatedJobSeconds = SimulationSettings().jobDuration

    @Option(help: "Seconds a simulated pod takes to become ready.")
    var simulatedPodStartSeconds = SimulationSettings().podStartDelay

    @Option(help: "The operator's --metrics-bind-address (0: disabled; 127.0.0.1:0: any free port).")
    var metricsBindAddress = "127.0.0.1:8080"

    @Option(help: "The operator's --health-probe-bind-address (0: disabled; 127.0.0.1:0: any free port).")
    var healthProbeBindAddress = "127.0.0.1:8081"

    @Option(help: "Seconds --exit-after-setup waits for the sample to become Ready.")
    var readyTimeout: Double = 60

    @Flag(help: "Set up, run preflight, start the operator, wait until the sample is Ready, then stop everything (for tests).")
    var exitAfterSetup = false

    @Flag(help: "Serve the API with the CRDs installed, without preflight, the operator or the sample (tests run their own).")
    var serverOnly = false

    func run() async throws {
        if let kubeconfig {
            say("pynomaly-sandbox: checking the cluster of \(kubeconfig) with preflight (no embedded server)")
            var args = ["preflight", "--kubeconfig", kubeconfig]
            if let context { args += ["--context", context] }
            let status = try await runOperatorToCompletion(args)
            throw ExitCode(status)
        }

        // Signals are caught from the start, so Ctrl-C during setup still stops the server cleanly.
        let (events, eventSink) = AsyncStream<SandboxEvent>.makeStream()
        let signals = SignalCatcher(eventSink)

        var options = KubeTestServerOptions()
        options.port = port
        options.simulation = .on
        options.simulation.jobDuration = max(0, simulatedJobSeconds)
        options.simulation.podStartDelay = max(0, simulatedPodStartSeconds)
        let server = try await KubeTestServer.start(options)
        say("pynomaly-sandbox: test API server listening on \(server.url) (simulated controllers on)")

        let status: Int32
        do {
            status = try await runEmbedded(server: server, events: events, eventSink: eventSink, signals: signals)
        } catch {
            say("pynomaly-sandbox: \(error)")
            try? await server.stop()
            throw ExitCode.failure
        }
        say("pynomaly-sandbox: stopping the API server")
        try await server.stop()
        if status != 0 { throw ExitCode(status) }
    }

    /// Everything after the server started; answers the exit status.
    func runEmbedded(server: KubeTestServer, events: AsyncStream<SandboxEvent>, eventSink: AsyncStream<SandboxEvent>.Continuation,
                     signals: SignalCatcher) async throws -> Int32 {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let kubeconfigPath = (stateDirectory as NSString).appendingPathComponent("kubeconfig")
        try server.writeKubeconfig(to: kubeconfigPath)
        say("pynomaly-sandbox: wrote \(kubeconfigPath)")

        // Everything below goes over HTTPS through the operator's own client, as a real cluster would.
        let client = try makeKubeClient(configuration: try ConfigurationResolver.resolve(kubeconfigPath: kubeconfigPath, context: nil))
        try await installCRDs(client)
        let namespace: JSONValue = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "pynomaly-system"]]
        _ = try await client.create(.namespaces, namespace: nil, object: namespace, options: WriteOptions())

        if serverOnly {
            say("""

                The sandbox is running (server only: no operator). Try:
                  kubectl --kubeconfig \(kubeconfigPath) get crds
                Ctrl-C stops it.
                """)
            if exitAfterSetup { return 0 }
            _ = await nextEvent(events) { if case .signal = $0 { return true } else { return false } }
            return 0
        }

        let preflightStatus = try await runOperatorToCompletion(["preflight", "--kubeconfig", kubeconfigPath])
        guard preflightStatus == 0 else {
            say("pynomaly-sandbox: preflight failed (exit status \(preflightStatus)); not starting the operator")
            return preflightStatus
        }

        let operatorProcess = try startOperator(kubeconfigPath: kubeconfigPath, eventSink: eventSink)
        say("pynomaly-sandbox: operator started (pid \(operatorProcess.processIdentifier))")

        let targets: [ObjectTarget]
        do {
            targets = try await applySample(client)
        } catch {
            say("pynomaly-sandbox: applying \(sample) failed: \(error)")
            await stopOperator(operatorProcess)
            return 1
        }

        // One watcher per applied PynomalyDeployment, and one for the Deployments it owns.
        var watchers: [Task<Void, Never>] = []
        for target in targets {
            watchers.append(Task {
                await follow(client, .pynomalyDeployments, namespace: target.namespace,
                             options: ListOptions(fieldSelector: "metadata.name=\(target.name)")) { object in
                    let line = RolloutLine.pynomalyDeployment(object)
                    if RolloutLine.isReady(object) { eventSink.yield(.ready(target, line)) }
                    return line
                }
            })
            watchers.append(Task {
                await follow(client, .deployments, namespace: target.namespace,
                             options: ListOptions(labelSelector: "app.kubernetes.io/instance=\(target.name),app.kubernetes.io/name=pynomaly"),
                             describe: RolloutLine.deployment)
            })
        }
        if exitAfterSetup {
            let timeout = readyTimeout
            watchers.append(Task {
                try? await Task.sleep(for: .seconds(timeout))
                if !Task.isCancelled { eventSink.yield(.timedOut) }
            })
        } else {
            printHints(kubeconfigPath: kubeconfigPath)
        }

        let status = await superviseUntilDone(events: events, signals: signals, operatorProcess: operatorProcess, targets: targets)
        watchers.forEach { $0.cancel() }
        for watcher in watchers { await watcher.value }
        return status
    }

    /// Waits for the event that ends the sandbox and stops the operator; answers the exit status.
    func superviseUntilDone(events: AsyncStream<SandboxEvent>, signals: SignalCatcher, operatorProcess: Process,
                            targets: [ObjectTarget]) async -> Int32 {
        var pendingReady = Set(targets)
        for await event in events {
            switch event {
            case .signal(let number):
                say("pynomaly-sandbox: received \(number == SIGINT ? "SIGINT" : "SIGTERM"), stopping the operator")
                await stopOperator(operatorProcess)
                return 0
            case .operatorExited(let status, let reason):
                // Ctrl-C in a terminal signals the whole process group, the operator too: its exit
                // then is part of the shutdown, not a failure. Give our own signal a moment to land.
                if !signals.received { try? await Task.sleep(for: .milliseconds(500)) }
                if signals.received {
                    say("pynomaly-sandbox: the operator stopped (\(describe(status: status, reason: reason)))")
                    return 0
                }
                say("pynomaly-sandbox: the operator exited on its own (\(describe(status: status, reason: reason)))")
                return status == 0 ? 1 : status
            case .ready(let target, let line):
                pendingReady.remove(target)
                guard exitAfterSetup, pendingReady.isEmpty else { continue }
                say("pynomaly-sandbox: Ready: \(line)")
                await stopOperator(operatorProcess)
                return 0
            case .timedOut:
                say("pynomaly-sandbox: the sample was not Ready within \(readyTimeout) s")
                await stopOperator(operatorProcess)
                return 1
            }
        }
        await stopOperator(operatorProcess)
        return 1
    }

    func printHints(kubeconfigPath: String) {
        let k = "kubectl --kubeconfig \(kubeconfigPath)"
        say("""

            The sandbox is running: the operator reconciles the sample from \(sample); its rollout is printed below. Try:
              \(k) get pyd
              \(k) describe pyd pynomaly
              PATH=.build/debug:$PATH kubectl pynomaly status pynomaly --kubeconfig \(kubeconfigPath)
              \(k) scale pyd pynomaly --replicas=5
              \(k) patch pyd pynomaly --type=merge -p '{"spec":{"image":"ghcr.io/elgerytme/pynomaly:v0.1.4"}}'
              \(k) edit pyd pynomaly        (change spec.image to start a rollout)
            Ctrl-C stops the operator and the server.

            """)
    }

    // MARK: - Setup

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

    /// Server-side applies the sample (as `kubectl apply --server-side -f` would): its
    /// PynomalyDeployments and the Secrets and ConfigMaps they reference (the operator waits for a
    /// missing referenced Secret, so the PynomalyDeployment alone never becomes Ready). Other kinds are
    /// skipped. Answers the PynomalyDeployments it applied.
    func applySample(_ client: KubeAPIClient) async throws -> [ObjectTarget] {
        let text = try String(contentsOfFile: sample, encoding: .utf8)
        let kinds: [String: ResourceType] = ["Secret": .secrets, "ConfigMap": .configMaps,
                                             "PynomalyDeployment": .pynomalyDeployments]
        var targets: [ObjectTarget] = []
        for document in try YAML.parseDocuments(text) {
            let kind = document["kind"]?.stringValue ?? "?"
            guard let name = document[path: ["metadata", "name"]]?.stringValue else {
                throw ValidationError("a \(kind) in \(sample) has no metadata.name")
            }
            guard let resource = kinds[kind] else {
                say("pynomaly-sandbox: skipped \(kind) \(name) of \(sample) (the sandbox applies \(kinds.keys.sorted().joined(separator: ", ")))")
                continue
            }
            let namespace = document[path: ["metadata", "namespace"]]?.stringValue ?? "default"
            _ = try await client.patch(resource, namespace: namespace, name: name, type: .apply, body: document.serialized(),
                                       options: WriteOptions(fieldManager: "kubectl", force: true))
            say("pynomaly-sandbox: applied \(kind) \(namespace)/\(name) from \(sample)")
            if resource == .pynomalyDeployments { targets.append(ObjectTarget(namespace: namespace, name: name)) }
        }
        guard !targets.isEmpty else { throw ValidationError("no PynomalyDeployment in \(sample)") }
        return targets
    }

    // MARK: - The operator process
}

/// A namespaced object the sandbox applied and follows.
struct ObjectTarget: Sendable, Hashable {
    var namespace: String
    var name: String
}

/// What can end the sandbox's wait.
enum SandboxEvent: Sendable {
    case signal(Int32)
    case operatorExited(Int32, Process.TerminationReason)
    /// A followed PynomalyDeployment is Ready=True (for its current generation), with its rollout line.
    case ready(ObjectTarget, String)
    case timedOut
}

/// The first event of `events` that `matches` (nil when the stream ends).
func nextEvent(_ events: AsyncStream<SandboxEvent>, where matches: (SandboxEvent) -> Bool) async -> SandboxEvent? {
    for await event in events where matches(event) { return event }
    return nil
}
