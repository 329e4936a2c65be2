import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

/// The controller's pure decisions: revision planning, rollout observation, pod problem
/// summaries, status and conditions, the "compare, then write" test and referenced content.
/// No I/O: every input is a value built here.
enum LogicFixture {
    typealias Status = PynomalyDeploymentStatus
    typealias Entry = Status.HistoryEntry

    static let now = "2030-01-01T00:00:00Z"
    static let later = "2030-01-01T00:05:00Z"

    /// A spec candidate for `RevisionPlan.plan` (revision number ignored there).
    static func spec(_ templateHash: String, image: String? = nil) -> Entry {
        Entry(revision: 0, image: image ?? "registry/app:\(templateHash)", configHash: "config", templateHash: templateHash)
    }

    /// A history entry as an earlier pass left it.
    static func entry(_ revision: Int64, _ templateHash: String, _ outcome: Status.Outcome, generation: Int64 = 1) -> Entry {
        Entry(revision: revision, image: "registry/app:\(templateHash)", configHash: "config", templateHash: templateHash,
              generation: generation, createdAt: now, outcome: outcome)
    }

    static func status(_ history: [Entry], current: Int64? = nil, stable: Int64? = nil) -> Status {
        Status(currentRevision: current, stableRevision: stable, history: history)
    }

    static func failed(_ message: String = "ReplicaSet \"app-1\" has timed out progressing.") -> RolloutObservation {
        .failed(reason: "ProgressDeadlineExceeded", message: message)
    }

    /// A Deployment as the API server answers it, decoded from JSON the way the reconciler reads it.
    static func deployment(generation: Int64 = 2, replicas: Int32? = 3, observedGeneration: Int64? = 2, statusReplicas: Int64? = 3,
                           updated: Int64? = 3, ready: Int64? = 3, available: Int64? = 3,
                           conditions: [JSONValue] = [], hasStatus: Bool = true) throws -> Deployment {
        var spec: JSONValue = ["selector": ["matchLabels": ["app": "a"]], "template": ["metadata": ["labels": ["app": "a"]]]]
        if let replicas { spec["replicas"] = .int(Int64(replicas)) }
        var object: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment",
                                 "metadata": ["name": "app", "namespace": "default", "generation": .int(generation)], "spec": spec]
        if hasStatus {
            var status: JSONValue = ["conditions": .array(conditions)]
            for (key, value) in [("observedGeneration", observedGeneration), ("replicas", statusReplicas), ("updatedReplicas", updated),
                                 ("readyReplicas", ready), ("availableReplicas", available)] {
                if let value { status[key] = .int(value) }
            }
            object["status"] = status
        }
        return try object.decode(Deployment.self)
    }

    static func condition(_ type: String, _ status: String, reason: String, message: String = "") -> JSONValue {
        ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message)]
    }

    /// A pod whose containers wait with `waiting` reasons (nil: running and ready).
    static func pod(_ name: String, waiting: [String?] = [nil], initWaiting: String? = nil, phase: String = "Pending",
                    conditions: [JSONValue] = []) throws -> Pod {
        func containerStatus(_ index: Int, _ reason: String?) -> JSONValue {
            let state: JSONValue = reason.map { ["waiting": ["reason": .string($0), "message": "back-off"]] }
                ?? ["running": ["startedAt": .string(now)]]
            return ["name": .string("c\(index)"), "ready": .bool(reason == nil), "restartCount": 0, "state": state]
        }
        var status: JSONValue = ["phase": .string(phase), "conditions": .array(conditions),
                                 "containerStatuses": .array(waiting.enumerated().map { containerStatus($0.offset, $0.element) })]
        if let initWaiting { status["initContainerStatuses"] = [containerStatus(9, initWaiting)] }
        let object: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
                                 "status": status]
        return try object.decode(Pod.self)
    }

    static func runningPod(_ name: String) throws -> Pod { try pod(name, phase: "Running") }
}
