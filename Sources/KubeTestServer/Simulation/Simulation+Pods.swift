import Foundation
import KubeCore

/// The simulated kubelet: every Pod starts `podStartDelay` after it was first seen (Running,
/// Ready), unless one of its images is marked failing or a test forced its state.
extension ControllerSimulator {
    /// What the kubelet reports for one container.
    enum ContainerState {
        case creating, running(ready: Bool), waiting(reason: String, message: String), terminated(exitCode: Int64, reason: String)
    }

    func reconcilePods(_ w: SimulationWriter, now: Date) -> Date? {
        guard let info = w.info("", "v1", "pods") else { return nil }
        let pods = w.visit(.pod, info)
        let (delay, overrides) = memory.withLock { ($0.settings.podStartDelay, $0.podOverrides) }
        var next: Date?
        var live: Set<String> = []
        for pod in pods {
            let uid = pod[path: ["metadata", "uid"]]?.stringValue ?? ""
            let ns = pod[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let name = pod[path: ["metadata", "name"]]?.stringValue ?? ""
            live.insert(uid)
            let (seen, ip) = memory.withLock { m -> (Date, String) in
                let seen = m.podSeen[uid] ?? now
                m.podSeen[uid] = seen
                if let ip = m.podIPs[uid] { return (seen, ip) }
                let n = m.nextIP
                m.nextIP = n % 65_000 + 1
                let ip = "10.244.\(n >> 8).\(n & 0xFF)"
                m.podIPs[uid] = ip
                return (seen, ip)
            }
            let containers = pod[path: ["spec", "containers"]]?.arrayValue ?? []
            let startAt = seen.addingTimeInterval(delay)
            var states: [ContainerState]
            if let forced = overrides["\(ns)/\(name)"] {
                states = containers.map { _ in Self.containerState(forced) }
            } else {
                states = containers.map { c in
                    let image = c["image"]?.stringValue ?? ""
                    if let reason = failureReason(image: image) {
                        return .waiting(reason: reason, message: Self.waitingMessage(reason: reason, image: image, container: c["name"]?.stringValue ?? ""))
                    }
                    return now >= startAt ? .running(ready: true) : .creating
                }
                if now < startAt {
                    next = next.map { min($0, startAt) } ?? startAt
                    queue.withLock { $0.schedule(.pod, "\(ns)/\(name)", at: startAt) }
                }
            }
            if containers.isEmpty { states = [] }
            let status = Self.podStatus(pod, containers: containers, states: states, forced: overrides["\(ns)/\(name)"],
                                        ip: ip, started: startAt, now: Time.format(now))
            w.writeStatus(info, pod, status)
        }
        // Removed Pods are forgotten as their removal commits (`forgetGone`); a full pass also
        // drops what it finds no Pod for (one being deleted, or removed while off).
        if w.full {
            memory.withLock { m in
                m.podSeen = m.podSeen.filter { live.contains($0.key) }
                m.podIPs = m.podIPs.filter { live.contains($0.key) }
            }
        }
        return next
    }

    static func containerState(_ forced: SimulatedPodState) -> ContainerState {
        switch forced {
        case .ready: return .running(ready: true)
        case .notReady: return .running(ready: false)
        case .waiting(let reason, let message): return .waiting(reason: reason, message: message)
        case .succeeded: return .terminated(exitCode: 0, reason: "Completed")
        case .failed(let reason): return .terminated(exitCode: 1, reason: reason)
        }
    }

    static func waitingMessage(reason: String, image: String, container: String) -> String {
        switch reason {
        case "ImagePullBackOff": return "Back-off pulling image \"\(image)\""
        case "ErrImagePull": return "failed to pull and unpack image \"\(image)\": not found"
        case "CrashLoopBackOff": return "back-off 10s restarting failed container=\(container)"
        default: return reason
        }
    }

    /// The status the kubelet writes for these container states.
    static func podStatus(_ pod: JSONValue, containers: [JSONValue], states: [ContainerState], forced: SimulatedPodState?,
                          ip: String, started: Date, now: String) -> JSONValue {
        let previous = pod[path: ["status", "conditions"]]?.arrayValue ?? []
        let startedAt = Time.format(started)
        var phase = "Running"
        var allReady = !states.isEmpty
        var anyStarted = false
        var statuses: [JSONValue] = []
        for (c, state) in zip(containers, states) {
            let name = c["name"]?.stringValue ?? ""
            let image = c["image"]?.stringValue ?? ""
            var s: JSONObject = ["name": .string(name), "image": .string(image), "imageID": "", "restartCount": 0, "ready": false, "started": false]
            let containerID = "containerd://" + SimConditions.safeHash("\(pod[path: ["metadata", "uid"]]?.stringValue ?? "")/\(name)", length: 32)
            switch state {
            case .creating:
                s["state"] = ["waiting": ["reason": "ContainerCreating"]]
                phase = "Pending"
                allReady = false
            case .running(let ready):
                s["state"] = ["running": ["startedAt": .string(startedAt)]]
                s["ready"] = .bool(ready)
                s["started"] = true
                s["containerID"] = .string(containerID)
                s["imageID"] = .string(Self.imageID(image))
                anyStarted = true
                if !ready { allReady = false }
            case .waiting(let reason, let message):
                s["state"] = ["waiting": ["reason": .string(reason), "message": .string(message)]]
                allReady = false
                if reason == "CrashLoopBackOff" {
                    // A crashing container was pulled and started before: the Pod stays Running.
                    s["restartCount"] = 1
                    s["imageID"] = .string(Self.imageID(image))
                    s["containerID"] = .string(containerID)
                    s["lastState"] = ["terminated": ["exitCode": 1, "reason": "Error", "startedAt": .string(startedAt), "finishedAt": .string(startedAt),
                                                     "containerID": .string(containerID)]]
                    anyStarted = true
                } else if phase != "Running" || !anyStarted {
                    phase = "Pending"
                }
            case .terminated(let code, let reason):
                s["state"] = ["terminated": ["exitCode": .int(code), "reason": .string(reason), "startedAt": .string(startedAt),
                                             "finishedAt": .string(startedAt), "containerID": .string(containerID)]]
                s["imageID"] = .string(Self.imageID(image))
                s["containerID"] = .string(containerID)
                allReady = false
                anyStarted = true
            }
            statuses.append(.object(s))
        }
        switch forced {
        case .succeeded: phase = "Succeeded"
        case .failed: phase = "Failed"
        default: break
        }
        let unready = zip(containers, states).filter {
            if case .running(true) = $0.1 { return false }
            return true
        }.compactMap { $0.0["name"]?.stringValue }
        let notReadyMessage = "containers with unready status: [\(unready.joined(separator: " "))]"
        let terminal = phase == "Succeeded" || phase == "Failed"
        let readyReason = terminal ? "PodCompleted" : "ContainersNotReady"
        let sandbox = anyStarted || statuses.contains { $0[path: ["state", "waiting", "reason"]]?.stringValue != "ContainerCreating" }
        var conditions: [JSONValue] = [
            SimConditions.make("PodReadyToStartContainers", sandbox && !terminal ? "True" : "False", reason: "", message: "", previous: previous, now: now),
            SimConditions.make("Initialized", "True", reason: "", message: "", previous: previous, now: now),
            SimConditions.make("Ready", allReady ? "True" : "False", reason: allReady ? "" : readyReason, message: allReady ? "" : notReadyMessage,
                               previous: previous, now: now),
            SimConditions.make("ContainersReady", allReady ? "True" : "False", reason: allReady ? "" : readyReason,
                               message: allReady ? "" : notReadyMessage, previous: previous, now: now),
            SimConditions.make("PodScheduled", "True", reason: "", message: "", previous: previous, now: now),
        ]
        // The kubelet leaves out empty reasons and messages (and its null lastProbeTime is not stored).
        conditions = conditions.map { c in
            var o = c.objectValue ?? [:]
            if o["reason"]?.stringValue == "" { o["reason"] = nil }
            if o["message"]?.stringValue == "" { o["message"] = nil }
            return .object(o)
        }
        var status: JSONObject = ["phase": .string(phase), "conditions": .array(conditions), "hostIP": "10.0.0.10",
                                  "hostIPs": [["ip": "10.0.0.10"]], "qosClass": .string(Self.qosClass(containers))]
        status["startTime"] = pod[path: ["metadata", "creationTimestamp"]] ?? .string(now)
        if !statuses.isEmpty { status["containerStatuses"] = .array(statuses) }
        if anyStarted {
            status["podIP"] = .string(ip)
            status["podIPs"] = [["ip": .string(ip)]]
        }
        return .object(status)
    }

    static func imageID(_ image: String) -> String {
        let repo = image.split(separator: ":").first.map(String.init) ?? image
        return "\(repo)@sha256:" + SimConditions.safeHash(image, length: 64)
    }

    static func qosClass(_ containers: [JSONValue]) -> String {
        let any = containers.contains { c in
            !(c[path: ["resources", "requests"]]?.objectValue ?? [:]).isEmpty || !(c[path: ["resources", "limits"]]?.objectValue ?? [:]).isEmpty
        }
        return any ? "Burstable" : "BestEffort"
    }
}
