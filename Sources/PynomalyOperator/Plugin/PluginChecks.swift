import Foundation
import KubeCore

/// Checks the plugin makes on the PynomalyDeployment it read before writing a request.
/// They read the object as JSON (paths from the CRD), so the plugin stays tolerant of fields it does
/// not know.
public enum PluginChecks {
    /// The revisions in `status.history`, in the order listed.
    public static func historyRevisions(_ cr: JSONValue) -> [Int64] {
        (cr[path: ["status", "history"]]?.arrayValue ?? []).compactMap { $0["revision"]?.intValue }
    }

    /// Checks a rollback target against `status.history` and answers the value to send:
    /// `revision` unchanged when it is listed, 0 (the previous revision, which the operator resolves)
    /// when history holds a revision other than the current one.
    public static func rollbackTarget(_ revision: Int64, in cr: JSONValue) throws(PluginError) -> Int64 {
        guard revision >= 0 else { throw .invalidRevision(revision) }
        let revisions = historyRevisions(cr)
        if revisions.isEmpty { throw .noHistory(name: cr[path: ["metadata", "name"]]?.stringValue ?? "") }
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

    /// `spec.strategy.type`, RollingUpdate when unset (the CRD default).
    public static func strategy(_ cr: JSONValue) -> String {
        cr[path: ["spec", "strategy", "type"]]?.stringValue ?? "RollingUpdate"
    }

    /// Refuses `command` (promote, abort) unless the strategy is BlueGreen.
    public static func requireBlueGreen(_ cr: JSONValue, command: String) throws(PluginError) {
        let strategy = strategy(cr)
        guard strategy == "BlueGreen" else {
            throw .notBlueGreen(name: cr[path: ["metadata", "name"]]?.stringValue ?? "", strategy: strategy, command: command)
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
