#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// `kubectl pynomaly history NAME`: the revisions in `status.history`, oldest first.
public enum HistoryView {
    /// A table `REVISION IMAGE CONFIG-HASH CREATED OUTCOME`; the current revision is marked
    /// `(current)` and the stable one, when different, `(stable)`.
    public static func render(_ cr: JSONValue, now: Date = Date()) -> String {
        let entries = cr[path: ["status", "history"]]?.arrayValue ?? []
        guard !entries.isEmpty else {
            let name = cr[path: ["metadata", "name"]]?.stringValue ?? ""
            return "No revisions recorded for pynomalydeployment \(name) yet."
        }
        let current = cr[path: ["status", "currentRevision"]]?.intValue
        let stable = cr[path: ["status", "stableRevision"]]?.intValue
        let sorted = entries.sorted { ($0["revision"]?.intValue ?? 0) < ($1["revision"]?.intValue ?? 0) }
        let rows = sorted.map { entry -> [String] in
            let revision = entry["revision"]?.intValue
            var marks: [String] = []
            if let revision, revision == current { marks.append("current") }
            if let revision, revision == stable, stable != current { marks.append("stable") }
            let label = (revision.map(String.init) ?? "?") + (marks.isEmpty ? "" : " (\(marks.joined(separator: ", ")))")
            let created = entry["createdAt"]?.stringValue.map { text in
                PluginText.parseTime(text).map { "\(text) (\(PluginText.age(from: $0, to: now)))" } ?? text
            } ?? "-"
            return [label, entry["image"]?.stringValue ?? "-", entry["configHash"]?.stringValue ?? "-",
                    created, entry["outcome"]?.stringValue ?? "-"]
        }
        return PluginText.table(header: ["REVISION", "IMAGE", "CONFIG-HASH", "CREATED", "OUTCOME"], rows: rows)
    }
}
