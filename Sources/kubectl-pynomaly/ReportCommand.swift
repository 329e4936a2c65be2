import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeCore
import PynomalyOperator

/// `kubectl pynomaly report NAME`: the weekly check in one command (`PluginReport`).
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The weekly check: image and revision, pods, rollout, HPA, backup age, certificate, Warning Events, unhealthy conditions.",
        discussion: "Exit 0: every check OK or WARN; 1: a check FAILs; 2: error.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String
    @Option(help: "How many of the newest Warning Events to list.") var events = 5
    @Option(name: [.short, .customLong("output")], help: "Output format: text or json.") var output = "text"

    static let errorCode: Int32 = 2

    func run() async throws {
        guard ["text", "json"].contains(output) else { throw fail("--output must be text or json, not \(output)", code: Self.errorCode) }
        guard events >= 0 else { throw fail("--events must be 0 or more", code: Self.errorCode) }
        let conn = try connection.connect(failureCode: Self.errorCode)
        let cr = try await conn.deployment(name, failureCode: Self.errorCode)
        var reads = PluginReport.Reads()
        do {
            if let selector = cr[path: ["status", "selector"]]?.stringValue, !selector.isEmpty {
                reads.pods = try await conn.client.list(.pods, namespace: conn.namespace, options: ListOptions(labelSelector: selector)).items
            }
            if cr[path: ["spec", "autoscaling", "enabled"]]?.boolValue == true {
                reads.hpa = try await optional(conn, .horizontalPodAutoscalers, name)
            }
            if cr[path: ["spec", "backup"]] != nil {
                reads.backupCronJob = try await optional(conn, .cronJobs, BackupCronJobBuilder.cronJobName(name))
            }
            reads.events = try await conn.client.list(.events, namespace: conn.namespace, options: ListOptions()).items
        } catch {
            throw fail("\(error)", code: Self.errorCode)
        }
        let report = PluginReport.build(cr, reads: reads, eventLimit: events)
        print(output == "json" ? report.json().serializedString() : report.text())
        if report.failed { throw ExitCode(1) }
    }

    func optional(_ conn: Connection, _ resource: ResourceType, _ objectName: String) async throws -> JSONValue? {
        do {
            return try await conn.client.get(resource, namespace: conn.namespace, name: objectName, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            return nil
        }
    }
}
