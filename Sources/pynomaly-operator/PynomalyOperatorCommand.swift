import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KubeClient
import KubeCore
import PynomalyOperator

/// The process's entry point: the command runs as a task on the global executor while the main
/// thread waits for signals in `sigsuspend` until the process exits. That is where `dispatch_main`
/// (an async `@main`) leaves the main thread on Linux too, but it gets there through `pthread_exit`,
/// whose forced unwind looks every frame of the main thread up in the binary's unwind tables and
/// so keeps ~0.5 MiB of them resident for the life of the process. Nothing in the operator runs on
/// the main actor or the main queue, so nothing else needs the main thread.
@main
enum OperatorProcess {
    static func main() {
        // As `dispatch_main`: threads started from here inherit a mask without the signals sent to
        // the process, which the signal sources on the dispatch queues take once installed; until
        // then the main thread, waiting with none blocked, takes them with their default action.
        var asynchronous = sigset_t()
        sigfillset(&asynchronous)
        for synchronous in [SIGILL, SIGTRAP, SIGFPE, SIGBUS, SIGSEGV, SIGSYS, SIGPIPE, SIGPROF] {
            sigdelset(&asynchronous, synchronous)
        }
        pthread_sigmask(SIG_BLOCK, &asynchronous, nil)
        Task.detached {
            await PynomalyOperatorCommand.main()
            exit(0)
        }
        var none = sigset_t()
        sigemptyset(&none)
        while true { sigsuspend(&none) }
    }
}

/// The operator executable: it only wires flags to configuration and runs the commands.
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
