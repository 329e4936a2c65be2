#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// `kubectl pynomaly status NAME`: a readable summary of a PynomalyDeployment read as JSON.
public enum StatusView {
    /// Renders the summary; `now` dates the ages. A CR the operator has not reconciled yet (no
    /// status) still renders its spec side and says so.
    public static func render(_ cr: JSONValue, now: Date = Date()) -> String {
        let spec = cr["spec"] ?? .object([:])
        let status = cr["status"]?.objectValue ?? [:]
        let strategy = PluginChecks.strategy(cr)
        var lines: [(String, String)] = []
        func add(_ label: String, _ value: String?) { if let value, !value.isEmpty { lines.append((label, value)) } }
        func string(_ key: String) -> String? { status[key]?.stringValue }
        func int(_ key: String) -> Int64? { status[key]?.intValue }

        add("Name", cr[path: ["metadata", "name"]]?.stringValue)
        add("Namespace", cr[path: ["metadata", "namespace"]]?.stringValue)
        let reconciled = !status.isEmpty
        if reconciled {
            add("Phase", string("phase") ?? "Unknown")
            add("Message", string("message"))
            let generation = cr[path: ["metadata", "generation"]]?.intValue
            if let observed = int("observedGeneration"), let generation, observed < generation {
                add("Observed", "generation \(observed) of \(generation) (the operator has not caught up with the latest spec)")
            }
        } else {
            add("Phase", "not yet reconciled (the operator has written no status)")
        }

        let specImage = spec["image"]?.stringValue
        let runningImage = string("image")
        if let runningImage, let specImage, runningImage != specImage {
            add("Image", "\(runningImage) (running); \(specImage) (desired)")
        } else {
            add("Image", specImage ?? runningImage)
        }
        add("Strategy", strategy)
        if spec["paused"]?.boolValue == true { add("Paused", "yes (no workload changes until resumed)") }

        let autoscaled = spec[path: ["autoscaling", "enabled"]]?.boolValue == true
        let desired: String
        if autoscaled {
            let min = spec[path: ["autoscaling", "minReplicas"]]?.intValue.map(String.init) ?? "?"
            let max = spec[path: ["autoscaling", "maxReplicas"]]?.intValue.map(String.init) ?? "?"
            desired = "\(int("replicas").map(String.init) ?? "?") (autoscaled \(min)-\(max))"
        } else {
            desired = String(spec["replicas"]?.intValue ?? 3)
        }
        add("Ready", "\(int("readyReplicas") ?? 0)/\(desired)"
            + (reconciled ? ", \(int("updatedReplicas") ?? 0) updated, \(int("availableReplicas") ?? 0) available" : ""))

        if reconciled {
            let current = int("currentRevision").map(String.init) ?? "none"
            let stable = int("stableRevision").map(String.init) ?? "none"
            add("Revision", "current \(current), stable \(stable)")
        }
        if strategy == "BlueGreen", let bg = status["blueGreen"] {
            var parts: [String] = []
            if let active = bg["activeColor"]?.stringValue {
                parts.append(active + (bg["activeRevision"]?.intValue.map { " (revision \($0))" } ?? ""))
            }
            if let preview = bg["previewColor"]?.stringValue {
                parts.append("preview " + preview + (bg["previewRevision"]?.intValue.map { " (revision \($0))" } ?? ""))
            }
            if let step = bg["step"]?.stringValue { parts.append("step \(step)") }
            add("Active color", parts.isEmpty ? "none" : parts.joined(separator: ", "))
            add("Smoke test", bg["smokeTestJob"]?.stringValue)
            add("Promoted", bg["promotedAt"]?.stringValue.map { PluginText.timeWithAge($0, now: now) })
            add("Scale-down at", bg["scaleDownAt"]?.stringValue)
        }
        if let rb = status["lastRollback"], rb.objectValue?.isEmpty == false {
            var text = "\(rb["fromRevision"]?.intValue.map(String.init) ?? "?") -> \(rb["toRevision"]?.intValue.map(String.init) ?? "?")"
            if let reason = rb["reason"]?.stringValue { text += " (\(reason))" }
            if let at = rb["at"]?.stringValue.flatMap(PluginText.parseTime) { text += " \(PluginText.age(from: at, to: now)) ago" }
            if let message = rb["message"]?.stringValue, !message.isEmpty { text += ": \(message)" }
            add("Last rollback", text)
        }
        if let backup = status["backup"], backup.objectValue?.isEmpty == false {
            var parts: [String] = []
            func ago(_ key: String) -> String? {
                guard let text = backup[key]?.stringValue else { return nil }
                return PluginText.parseTime(text).map { "\(PluginText.age(from: $0, to: now)) ago" } ?? text
            }
            if let t = ago("lastSuccessfulTime") { parts.append("succeeded \(t)") }
            if let t = ago("lastFailedTime") { parts.append("failed \(t)") }
            if let t = ago("lastScheduleTime") { parts.append("scheduled \(t)") }
            if let job = backup["lastJob"]?.stringValue { parts.append("job \(job)") }
            if let reason = backup["lastFailureReason"]?.stringValue, backup["lastFailedTime"]?.stringValue ?? "" > backup["lastSuccessfulTime"]?.stringValue ?? "" {
                parts.append("last failure \(reason)" + (backup["lastFailureMessage"]?.stringValue.map { ": \($0)" } ?? ""))
            }
            add("Last backup", parts.joined(separator: ", "))
        }
        if let restore = status["restore"], let name = restore["name"]?.stringValue {
            let phase = restore["phase"]?.stringValue
            var text = phase == "Failed" ? "\(name) failed: the app is held at zero replicas until a new restore or `kubectl delete pyr \(name)`"
                : "\(name) in progress" + (phase.map { ", phase \($0)" } ?? "")
            if let started = restore["startedAt"]?.stringValue.flatMap(PluginText.parseTime) {
                text += ", started \(PluginText.age(from: started, to: now)) ago"
            }
            if let replicas = restore["originalReplicas"]?.intValue { text += " (scales back to \(replicas))" }
            add("Restore", text)
        }

        var measurementRows: [[String]] = []
        if let run = status["analysis"], run.objectValue?.isEmpty == false {
            var text = "\(run["stage"]?.stringValue ?? "?") of revision \(run["revision"]?.intValue.map(String.init) ?? "?")"
            if let color = run["color"]?.stringValue { text += " on \(color)" }
            text += ": \(run["phase"]?.stringValue ?? "?")"
            if let started = run["startedAt"]?.stringValue.flatMap(PluginText.parseTime) { text += ", started \(PluginText.age(from: started, to: now)) ago" }
            if let message = run["message"]?.stringValue, !message.isEmpty { text += "; \(message)" }
            add("Analysis", text)
            for metric in run["metrics"]?.arrayValue ?? [] {
                let name = metric["name"]?.stringValue ?? "?"
                for m in metric["measurements"]?.arrayValue ?? [] {
                    let age = m["at"]?.stringValue.flatMap(PluginText.parseTime).map { PluginText.age(from: $0, to: now) } ?? "-"
                    let value = m["value"].flatMap { v in v.doubleValue ?? v.intValue.map(Double.init) }.map(AnalysisFormat.number) ?? "-"
                    measurementRows.append([name, age, value, m["phase"]?.stringValue ?? "?", m["message"]?.stringValue ?? ""])
                }
            }
        }

        let width = (lines.map(\.0.count).max() ?? 0) + 2
        var out = lines.map { label, value in
            (label + ":").paddedRight(to: width) + value
        }
        if !measurementRows.isEmpty {
            out.append("Measurements:")
            out.append(PluginText.table(header: ["METRIC", "AGE", "VALUE", "RESULT", "NOTE"], rows: measurementRows, indent: "  "))
        }
        let conditions = status["conditions"]?.arrayValue ?? []
        if reconciled {
            if conditions.isEmpty {
                out.append("Conditions:".paddedRight(to: width) + "none")
            } else {
                out.append("Conditions:")
                let rows = conditions.map { c -> [String] in
                    let age = c["lastTransitionTime"]?.stringValue.flatMap(PluginText.parseTime)
                        .map { PluginText.age(from: $0, to: now) } ?? "-"
                    return [c["type"]?.stringValue ?? "?", c["status"]?.stringValue ?? "?",
                            c["reason"]?.stringValue ?? "", age, c["message"]?.stringValue ?? ""]
                }
                out.append(PluginText.table(header: ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows: rows, indent: "  "))
            }
        }
        return out.joined(separator: "\n")
    }
}
