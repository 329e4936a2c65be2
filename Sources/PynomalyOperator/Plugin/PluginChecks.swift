#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Checks the plugin makes on the PynomalyDeployment it read before writing a request.
/// They read the object as JSON (paths from the CRD), so the plugin stays tolerant of fields it does
/// not know.
public enum PluginChecks {
    /// The revisions in `status.history`, in the order listed.
    public static func historyRevisions(_ cr: JSONValue) -> [Int64] {
        (cr[path: ["status", "history"]]?.arrayValue ?? []).compactMap { $0["revision"]?.intValue }
    }

    /// `--to-revision` as typed: a non-negative integer (0: the previous revision).
    public static func revision(parsing text: String) throws(PluginError) -> Int64 {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(trimmed) else {
            throw .invalidRevision(text)
        }
        return value
    }

    /// Checks a rollback target against `status.history` and answers the value to send:
    /// `revision` unchanged when it is listed, 0 (the previous revision, which the operator resolves)
    /// when history holds a revision other than the current one.
    public static func rollbackTarget(_ revision: Int64, in cr: JSONValue) throws(PluginError) -> Int64 {
        guard revision >= 0 else { throw .invalidRevision(String(revision)) }
        try requireValidSpec(cr)
        let revisions = historyRevisions(cr)
        if revisions.isEmpty { throw .noHistory(name: name(cr), state: statusSummary(cr)) }
        if revision == 0 {
            // The operator resolves 0 to the latest *successful* revision other than the current one.
            let current = cr[path: ["status", "currentRevision"]]?.intValue
            let succeeded = (cr[path: ["status", "history"]]?.arrayValue ?? []).filter {
                $0["outcome"]?.stringValue == "Succeeded" && $0["revision"]?.intValue != current
            }
            guard !succeeded.isEmpty else { throw .noPreviousRevision(current: current) }
            return 0
        }
        guard revisions.contains(revision) else {
            throw .revisionNotInHistory(revision: revision, available: revisions.sorted())
        }
        return revision
    }

    static func name(_ cr: JSONValue) -> String { cr[path: ["metadata", "name"]]?.stringValue ?? "" }

    /// "phase P: message" from the status, nil when the operator has not written one.
    static func statusSummary(_ cr: JSONValue) -> String? {
        guard let phase = cr[path: ["status", "phase"]]?.stringValue else { return nil }
        let message = cr[path: ["status", "message"]]?.stringValue ?? ""
        return message.isEmpty ? "phase \(phase)" : "phase \(phase): \(message)"
    }

    /// Refuses a request while the operator refuses the spec it has seen: it handles no request
    /// then, so one filed now would wait silently. A spec changed since (a newer generation than
    /// the condition's) is not judged here: the operator has not looked at it yet.
    public static func requireValidSpec(_ cr: JSONValue) throws(PluginError) {
        let stalled = (cr[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Stalled" }
        guard let stalled, stalled["status"]?.stringValue == "True", stalled["reason"]?.stringValue == "InvalidSpec" else { return }
        if let observed = stalled["observedGeneration"]?.intValue ?? cr[path: ["status", "observedGeneration"]]?.intValue,
           let generation = cr[path: ["metadata", "generation"]]?.intValue, observed < generation { return }
        // The condition names the fields; status.message says the same behind "invalid spec: ".
        let message = stalled["message"]?.stringValue ?? cr[path: ["status", "message"]]?.stringValue ?? ""
        throw .invalidSpec(name: name(cr), message: message)
    }

    /// Refuses `command` (backup, restore) unless backups are configured: `spec.backup` present and
    /// not disabled, and `spec.database` set. The operator would otherwise ignore the request.
    public static func requireBackups(_ cr: JSONValue, command: String) throws(PluginError) {
        let backup = cr[path: ["spec", "backup"]]
        let reason: String?
        if backup == nil || backup == .null {
            reason = "has no spec.backup"
        } else if backup?["enabled"]?.boolValue == false {
            reason = "has spec.backup.enabled: false"
        } else if cr[path: ["spec", "database"]] == nil || cr[path: ["spec", "database"]] == .null {
            reason = "has no spec.database to back up"
        } else {
            reason = nil
        }
        if let reason { throw .backupsNotEnabled(name: name(cr), command: command, reason: reason) }
    }

    /// `spec.strategy.type`, RollingUpdate when unset (the CRD default).
    public static func strategy(_ cr: JSONValue) -> String {
        cr[path: ["spec", "strategy", "type"]]?.stringValue ?? "RollingUpdate"
    }

    /// Refuses `promote --skip-analysis` unless `spec.analysis` is on.
    public static func requireAnalysis(_ cr: JSONValue) throws(PluginError) {
        guard let analysis = cr[path: ["spec", "analysis"]], analysis.objectValue != nil, analysis["enabled"]?.boolValue != false else {
            throw .analysisNotEnabled(name: name(cr))
        }
    }

    /// Refuses `command` (promote, abort) unless the strategy is BlueGreen.
    public static func requireBlueGreen(_ cr: JSONValue, command: String) throws(PluginError) {
        let strategy = strategy(cr)
        guard strategy == "BlueGreen" else {
            throw .notBlueGreen(name: name(cr), strategy: strategy, command: command)
        }
    }
}

/// A `PynomalyRestore` request as the plugin creates it (`kubectl pynomaly restore`).
public struct PluginRestoreRequest: Sendable, Hashable {
    public var deploymentName: String
    public var namespace: String
    /// The backup file to restore; nil when restoring the newest one.
    public var backupFile: String?
    public var emergencyBackup: Bool
    /// The object's name; nil lets the server generate one from `DEPLOYMENT-restore-`.
    public var name: String?

    /// Validates the source options: exactly one of `from` (a file) and `latest`.
    public init(deploymentName: String, namespace: String, from: String?, latest: Bool,
                emergencyBackup: Bool = true, name: String? = nil) throws(PluginError) {
        switch (from, latest) {
        case (.some, true):
            throw .restoreSource("use either --from FILE or --latest, not both")
        case (nil, false):
            throw .restoreSource("say what to restore: --from FILE (a backup file name) or --latest (the newest backup)")
        case (.some(let file), false) where file.isEmpty:
            throw .restoreSource("--from needs a backup file name")
        default:
            break
        }
        self.deploymentName = deploymentName
        self.namespace = namespace
        self.backupFile = from
        self.emergencyBackup = emergencyBackup
        self.name = name
    }

    /// The object to POST to `pynomalyrestores` (pynomaly.ai/v1alpha1).
    public var object: JSONValue {
        var metadata: JSONObject = ["namespace": .string(namespace)]
        if let name { metadata["name"] = .string(name) } else { metadata["generateName"] = .string("\(deploymentName)-restore-") }
        var spec: JSONObject = ["deploymentName": .string(deploymentName), "emergencyBackup": .bool(emergencyBackup)]
        if let backupFile { spec["backupFile"] = .string(backupFile) } else { spec["latest"] = true }
        return ["apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyRestore", "metadata": .object(metadata), "spec": .object(spec)]
    }
}
