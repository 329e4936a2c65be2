import Foundation
import KubeClient
import KubeCore

/// Follows the objects a watch selects and prints one "rollout | " line whenever `describe` of one of
/// them changes; re-watches when the server ends the stream, until the task is cancelled.
func follow(_ client: KubeAPIClient, _ resource: ResourceType, namespace: String, options: ListOptions,
            describe: @escaping @Sendable (JSONValue) -> String) async {
    var lastLines: [String: String] = [:]
    var resourceVersion: String?
    while !Task.isCancelled {
        var opts = options
        opts.resourceVersion = resourceVersion
        do {
            let stream = try await client.watch(resource, namespace: namespace, options: opts)
            try await withTaskCancellationHandler {
                for try await event in stream {
                    if let rv = event.object[path: ["metadata", "resourceVersion"]]?.stringValue { resourceVersion = rv }
                    guard event.type != .bookmark else { continue }
                    let name = event.object[path: ["metadata", "name"]]?.stringValue ?? "?"
                    if event.type == .deleted {
                        lastLines[name] = nil
                        say("rollout | \(resource.kind) \(name) deleted")
                        continue
                    }
                    let line = describe(event.object)
                    if lastLines[name] != line {
                        lastLines[name] = line
                        say("rollout | \(line)")
                    }
                }
            } onCancel: {
                stream.cancel()
            }
        } catch let error as KubeError where error.isGone {
            resourceVersion = nil  // too old: start over (the summaries deduplicate the replay)
        } catch {
            if Task.isCancelled { return }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

/// The one-line summaries the sandbox prints of the objects it follows.
enum RolloutLine {
    /// `pynomaly PynomalyDeployment phase=Progressing ready=1/3 revision=1 Ready=False "message"`.
    static func pynomalyDeployment(_ object: JSONValue) -> String {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? "?"
        let status = object["status"]
        let desired = object[path: ["spec", "replicas"]]?.intValue.map(String.init) ?? "?"
        let ready = status?["readyReplicas"]?.intValue ?? 0
        var parts = ["\(name) PynomalyDeployment",
                     "phase=\(status?["phase"]?.stringValue ?? "-")",
                     "ready=\(ready)/\(desired)",
                     "revision=\(status?["currentRevision"]?.intValue.map(String.init) ?? "-")"]
        if let readyCondition = condition("Ready", of: object) {
            parts.append("Ready=\(readyCondition["status"]?.stringValue ?? "?")")
        }
        if let message = status?["message"]?.stringValue, !message.isEmpty { parts.append("\"\(message)\"") }
        return parts.joined(separator: " ")
    }

    /// `pynomaly Deployment replicas=3 ready=1 updated=3 available=1 image=...:v0.1.3`.
    static func deployment(_ object: JSONValue) -> String {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? "?"
        func count(_ key: String) -> Int64 { object[path: ["status", key]]?.intValue ?? 0 }
        let desired = object[path: ["spec", "replicas"]]?.intValue.map(String.init) ?? "?"
        let image = object[path: ["spec", "template", "spec", "containers"]]?[0]?["image"]?.stringValue ?? "?"
        return "\(name) Deployment replicas=\(count("replicas"))/\(desired) ready=\(count("readyReplicas")) "
            + "updated=\(count("updatedReplicas")) available=\(count("availableReplicas")) image=\(image)"
    }

    /// Whether the object's Ready condition is True for its current generation.
    static func isReady(_ object: JSONValue) -> Bool {
        guard let ready = condition("Ready", of: object), ready["status"]?.stringValue == "True" else { return false }
        let generation = object[path: ["metadata", "generation"]]?.intValue
        let observed = object[path: ["status", "observedGeneration"]]?.intValue
        return generation == nil || observed == nil || generation == observed
    }

    static func condition(_ type: String, of object: JSONValue) -> JSONValue? {
        object[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }
}

/// Writes a line straight to standard output (unbuffered), so the sandbox's lines and those of the
/// operator subprocess stay in order when piped.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
