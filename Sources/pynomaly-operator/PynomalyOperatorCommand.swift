import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeCore
import PynomalyOperator

/// The operator executable: it only wires flags to configuration and runs the commands.
@main
struct PynomalyOperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pynomaly-operator",
        abstract: "Runs Pynomaly on Kubernetes from PynomalyDeployment resources.",
        subcommands: [RunCommand.self, PreflightCommand.self])
}

/// How to reach the API server: kubectl's precedence (flag, $KUBECONFIG, in-cluster, ~/.kube/config).
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Path to a kubeconfig file (default: $KUBECONFIG, the in-cluster service account, then ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use (default: its current-context).")
    var context: String?

    func resolve() throws -> ClientConfiguration {
        try ConfigurationResolver.resolve(kubeconfigPath: kubeconfig, context: context)
    }
}

struct PreflightCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Checks that the cluster is reachable, the CRD is served and every permission the operator needs is granted.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The namespace the operator runs in (its leader-election Lease lives there).")
    var operatorNamespace = "pynomaly-system"

    @Option(help: "The namespace the operator will watch (default: all namespaces).")
    var namespace: String?

    func run() async throws {
        let configuration: ClientConfiguration
        do {
            configuration = try connection.resolve()
        } catch {
            printError("preflight: \(error)")
            throw ExitCode(2)
        }
        print("Connecting to \(configuration.server) (\(configuration.source))")
        let report: PreflightReport
        do {
            let client = try makeKubeClient(configuration: configuration)
            report = try await Preflight(client: client, operatorNamespace: operatorNamespace, watchNamespace: namespace).run()
        } catch {
            printError("preflight: \(describeConnectionFailure(error, server: configuration.server))")
            throw ExitCode(1)
        }
        print(report.rendered())
        if !report.passed { throw ExitCode(1) }
    }
}

func printError(_ message: String) {
    writeToStandardError(message + "\n")
}
