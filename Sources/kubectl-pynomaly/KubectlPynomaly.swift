import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeCore
import PynomalyOperator

/// `kubectl pynomaly …`: files one-shot requests (annotations) on a PynomalyDeployment and shows its
/// status and revision history. kubectl runs it as a plugin when `kubectl-pynomaly` is on PATH.
@main
struct KubectlPynomaly: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubectl-pynomaly",
        abstract: "Operates PynomalyDeployments: status, report, diff, history, rollback, restart, promote, abort, backup, pause, resume, restore.",
        discussion: "Runs as `kubectl pynomaly COMMAND NAME` when this binary is on PATH.",
        subcommands: [
            StatusCommand.self, ReportCommand.self, DiffCommand.self, HistoryCommand.self, RollbackCommand.self, RestartCommand.self,
            PromoteCommand.self, AbortCommand.self, BackupCommand.self, PauseCommand.self,
            ResumeCommand.self, RestoreCommand.self,
        ])
}

/// Where and how to reach the API server, resolved as kubectl does.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Namespace of the PynomalyDeployment (default: the kubeconfig context's namespace, else \"default\").")
    var namespace: String?

    @Option(help: "Path to a kubeconfig file (default: $KUBECONFIG, the in-cluster service account, then ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use (default: its current-context).")
    var context: String?

    /// A client and the namespace to act in; a configuration problem exits `failureCode` (1, or 2
    /// for the commands that answer 1 for a finding) with its message.
    func connect(failureCode: Int32 = 1) throws -> Connection {
        do {
            let configuration = Self.interactive(try ConfigurationResolver.resolve(kubeconfigPath: kubeconfig, context: context))
            let client = try makeKubeClient(configuration: configuration, retryPolicy: Self.retryPolicy)
            return Connection(client: client, namespace: namespace ?? configuration.namespace)
        } catch {
            throw fail("\(error)", code: failureCode)
        }
    }

    /// A person is waiting: a server that cannot be reached fails within seconds, as with kubectl,
    /// instead of after the operator's minute of retries (it outlives API server restarts; this
    /// command can simply be run again).
    static func interactive(_ configuration: ClientConfiguration) -> ClientConfiguration {
        var c = configuration
        c.connectTimeout = min(c.connectTimeout, connectTimeoutSeconds)
        c.timeout = c.timeout > 0 ? min(c.timeout, requestTimeoutSeconds) : requestTimeoutSeconds
        return c
    }

    static let connectTimeoutSeconds = 5.0
    static let requestTimeoutSeconds = 30.0
    /// One quick retry for a blip; at a closed port this fails in well under a second, at an
    /// unreachable address after two connect timeouts.
    static let retryPolicy = RetryPolicy(maxAttempts: 2, maxTotalDelay: 1, initialBackoff: 0.2, maxBackoff: 1)
}

/// An API client and the namespace the command acts in.
struct Connection: Sendable {
    let client: KubeAPIClient
    let namespace: String

    /// GETs the PynomalyDeployment; a missing one is `PluginError.notFound`. Failures exit `failureCode`.
    func deployment(_ name: String, failureCode: Int32 = 1) async throws -> JSONValue {
        do {
            return try await client.get(.pynomalyDeployments, namespace: namespace, name: name, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            throw fail(PluginError.notFound(name: name, namespace: namespace).description, code: failureCode)
        } catch {
            throw fail("\(error)", code: failureCode)
        }
    }

    /// Sends a JSON merge patch to the PynomalyDeployment.
    func mergePatch(_ name: String, _ body: JSONValue) async throws {
        do {
            _ = try await client.patch(.pynomalyDeployments, namespace: namespace, name: name, type: .merge,
                                       body: body.serialized(), subresource: nil, options: WriteOptions(fieldManager: "kubectl-pynomaly"))
        } catch let error as KubeError where error.isNotFound {
            throw fail(PluginError.notFound(name: name, namespace: namespace).description)
        } catch {
            throw fail("\(error)")
        }
    }

    /// Reads the deployment (so a missing one is named), checks that the operator will act on a
    /// request now (a valid spec, and what `check` asks), then files `request` with a fresh token.
    func file(_ request: PluginRequest, on name: String, check: (JSONValue) throws(PluginError) -> Void = { _ in }) async throws {
        let cr = try await deployment(name)
        do {
            try PluginChecks.requireValidSpec(cr)
            try check(cr)
        } catch { throw fail(error.description) }
        let token = PluginToken.now()
        try await mergePatch(name, PluginPatch.request(request, token: token))
        print("pynomalydeployment/\(name) \(request.rawValue) requested (\(request.annotationKey)=\(token))")
    }
}

/// Prints `error: MESSAGE` to stderr and answers the exit code to throw (1 unless given: `diff` and
/// `report` answer 1 for a finding, so their errors are 2, as with `kubectl diff`).
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    writeToStandardError("error: \(message)\n")
    return ExitCode(code)
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Shows phase, replicas, revisions, conditions, rollback, backup and restore state.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws {
        let cr = try await connection.connect().deployment(name)
        print(StatusView.render(cr))
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Lists the revisions in the status history; the current one is marked.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws {
        let cr = try await connection.connect().deployment(name)
        print(HistoryView.render(cr))
    }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Requests a rollback to a revision from the history (default: the previous one).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String
    // Unconditional: "-1" is the value (refused with the rule), not an unknown flag.
    @Option(parsing: .unconditional, help: "Revision to roll back to, as listed by `history`; 0 is the previous revision.")
    var toRevision = "0"

    func run() async throws {
        let revision: Int64
        do { revision = try PluginChecks.revision(parsing: toRevision) } catch { throw fail(error.description) }
        let conn = try connection.connect()
        let cr = try await conn.deployment(name)
        let target: Int64
        do { target = try PluginChecks.rollbackTarget(revision, in: cr) } catch { throw fail(error.description) }
        let token = PluginToken.now()
        try await conn.mergePatch(name, PluginPatch.rollback(toRevision: target, token: token))
        let what = target == 0 ? "the previous revision" : "revision \(target)"
        print("pynomalydeployment/\(name) rollback to \(what) requested (\(PluginRequest.rollback.annotationKey)=\(target)@\(token))")
    }
}

struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Requests a rolling restart of the pods.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws { try await connection.connect().file(.restart, on: name) }
}

struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Promotes the blue-green preview colour (strategy BlueGreen only); --skip-analysis also ends a running analysis.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String
    @Flag(name: .customLong("skip-analysis"),
          help: "End the running metric analysis as Skipped (it counts as passed): BlueGreen promotes the preview, RollingUpdate ends the bake.")
    var skipAnalysis = false

    func run() async throws {
        let session = try await connection.connect()
        guard skipAnalysis else {
            try await session.file(.promote, on: name) { cr throws(PluginError) in
                try PluginChecks.requireBlueGreen(cr, command: "promote")
            }
            return
        }
        let cr = try await session.deployment(name)
        do {
            try PluginChecks.requireValidSpec(cr)
            try PluginChecks.requireAnalysis(cr)
        } catch { throw fail(error.description) }
        let token = PluginToken.now()
        let blueGreen = PluginChecks.strategy(cr) == "BlueGreen"
        try await session.mergePatch(name, PluginPatch.skipAnalysis(token: token, blueGreen: blueGreen))
        print("pynomalydeployment/\(name) analysis skip requested (\(PluginRequest.skipAnalysis.annotationKey)=\(token))"
              + (blueGreen ? " with promote" : ""))
    }
}

struct AbortCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abort", abstract: "Aborts a blue-green rollout and keeps or switches back to the old colour (strategy BlueGreen only).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws {
        try await connection.connect().file(.abort, on: name) { cr throws(PluginError) in
            try PluginChecks.requireBlueGreen(cr, command: "abort")
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backup", abstract: "Requests an on-demand database backup.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws {
        try await connection.connect().file(.backup, on: name) { cr throws(PluginError) in
            try PluginChecks.requireBackups(cr, command: "backup")
        }
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Sets spec.paused: the operator makes no workload changes but keeps reporting status.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws {
        let conn = try connection.connect()
        _ = try await conn.deployment(name)
        try await conn.mergePatch(name, PluginPatch.paused(true))
        print("pynomalydeployment/\(name) paused")
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Clears spec.paused so the operator manages the workload again.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String

    func run() async throws {
        let conn = try connection.connect()
        _ = try await conn.deployment(name)
        try await conn.mergePatch(name, PluginPatch.paused(false))
        print("pynomalydeployment/\(name) resumed")
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Creates a PynomalyRestore: stops the app, takes an emergency backup, restores the database, scales back.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment whose database is restored.") var name: String
    @Option(name: .customLong("from"), parsing: .unconditional,
            help: ArgumentHelp("Backup file to restore (a file name in the backup volume).", valueName: "file"))
    var from: String?
    @Flag(help: "Restore the newest backup file.") var latest = false
    @Flag(help: "Skip the emergency backup taken before restoring.") var noEmergencyBackup = false
    @Option(name: .customLong("name"), help: ArgumentHelp("Name of the PynomalyRestore (default: generated from NAME-restore-).", valueName: "restore-name"))
    var restoreName: String?

    func run() async throws {
        let request: PluginRestoreRequest
        let conn = try connection.connect()
        do {
            request = try PluginRestoreRequest(deploymentName: name, namespace: conn.namespace, from: from, latest: latest,
                                               emergencyBackup: !noEmergencyBackup, name: restoreName)
        } catch { throw fail(error.description) }
        let cr = try await conn.deployment(name)
        do {
            try PluginChecks.requireValidSpec(cr)
            try PluginChecks.requireBackups(cr, command: "restore")
        } catch { throw fail(error.description) }
        let created: JSONValue
        do {
            created = try await conn.client.create(.pynomalyRestores, namespace: conn.namespace, object: request.object,
                                                   options: WriteOptions(fieldManager: "kubectl-pynomaly"))
        } catch {
            throw fail("\(error)")
        }
        let createdName = created[path: ["metadata", "name"]]?.stringValue ?? request.name ?? "?"
        let source = request.backupFile ?? "the latest backup"
        print("pynomalyrestore/\(createdName) created: restoring \(name) from \(source)"
              + (request.emergencyBackup ? " after an emergency backup" : " without an emergency backup"))
    }
}
