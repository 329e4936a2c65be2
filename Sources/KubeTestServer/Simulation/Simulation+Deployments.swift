import Foundation
import KubeCore

/// The simulated deployment controller. Without ReplicaSets: a Deployment owns its Pods directly
/// (ownerReference to the Deployment, label `pod-template-hash`). A rollout creates the Pods of the
/// new template at once (up to `podCreatesPerPass` per pass, and none once the Deployment is gone),
/// removes the old ones when the new ones are ready, and writes status as kube-controller-manager
/// does (counts, Available and Progressing, the progress deadline of `progressDeadline(for:)`).
extension ControllerSimulator {
    func reconcileDeployments(_ w: SimulationWriter, now: Date) -> Date? {
        guard let info = w.info("apps", "v1", "deployments"), let podInfo = w.info("", "v1", "pods") else { return nil }
        let deployments = w.visit(.deployment, info)
        // Each Deployment's Pods through the store's owner index: neither filtering every Pod for
        // every Deployment nor grouping every Pod per pass, so a pass costs the Deployments it visits.
        let podsOfDeployment = deployments.map { d in
            w.dependents(of: d[path: ["metadata", "uid"]]?.stringValue ?? "", in: podInfo.storageKey,
                         namespace: d[path: ["metadata", "namespace"]]?.stringValue)
        }
        let settings = memory.withLock { $0.settings }
        let hashes = deployments.map { SimConditions.safeHash(($0[path: ["spec", "template"]] ?? [:]).serializedString()) }
        let missing = deployments.indices.map { index -> Int in
            let d = deployments[index]
            guard d[path: ["spec", "paused"]]?.boolValue != true else { return 0 }
            let current = podsOfDeployment[index].filter { Self.hash(of: $0) == hashes[index] }.count
            return max(0, Int(d[path: ["spec", "replicas"]]?.intValue ?? 1) - current)
        }
        let allotted = Self.allot(missing, budget: settings.podCreatesPerPass)
        let nowText = Time.format(now)
        var next: Date?
        var live: Set<String> = []
        for (index, d) in deployments.enumerated() {
            let uid = d[path: ["metadata", "uid"]]?.stringValue ?? ""
            let ns = d[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let name = d[path: ["metadata", "name"]]?.stringValue ?? ""
            let generation = d[path: ["metadata", "generation"]]?.intValue ?? 1
            let replicas = d[path: ["spec", "replicas"]]?.intValue ?? 1
            let paused = d[path: ["spec", "paused"]]?.boolValue == true
            let deadline = settings.progressDeadline(for: d)
            let hash = hashes[index]
            let rsName = "\(name)-\(hash)"
            let rollout = "\(hash)/\(generation)"
            let key = "\(ns)/\(name)"
            live.insert(uid)
            let started = memory.withLock { m -> Date in
                if let s = m.rolloutStarts[uid], s.rollout == rollout { return s.start }
                m.rolloutStarts[uid] = (rollout, now)
                return now
            }

            var owned = podsOfDeployment[index]
            var gone = false
            if !paused {
                let current = owned.filter { Self.hash(of: $0) == hash }.sorted(by: Self.byName)
                if current.count < replicas {
                    let count = allotted[index]
                    // The rest in the next pass, which starts at once.
                    if count < missing[index] {
                        next = now
                        queue.withLock { $0.schedule(.deployment, key, at: now) }
                    }
                    var fresh = newPods(for: d, hash: hash, count: count, existing: owned)[...]
                    while !fresh.isEmpty {
                        // The Deployment may be deleted meanwhile: no Pods for an owner that is gone.
                        guard Self.isLive(w.get(info, namespace: ns, name: name), uid: uid) else {
                            gone = true
                            break
                        }
                        for pod in fresh.prefix(Self.podCreateChunk) {
                            if let created = w.create(podInfo, pod) { owned.append(created) }
                        }
                        fresh = fresh.dropFirst(Self.podCreateChunk)
                    }
                } else if current.count > replicas {
                    // Scale down: the newest names go first (deterministic; the real one prefers unready Pods).
                    for pod in current.suffix(current.count - Int(replicas)) {
                        w.delete(podInfo, pod)
                        owned.removeAll { $0[path: ["metadata", "uid"]] == pod[path: ["metadata", "uid"]] }
                    }
                }
                if gone { continue }
                let readyNew = owned.filter { Self.hash(of: $0) == hash && Self.isReady($0) }.count
                if readyNew >= replicas {
                    for old in owned where Self.hash(of: old) != hash {
                        w.delete(podInfo, old)
                    }
                    owned.removeAll { Self.hash(of: $0) != hash }
                }
            }

            let total = Int64(owned.count)
            let updated = Int64(owned.filter { Self.hash(of: $0) == hash }.count)
            let ready = Int64(owned.filter(Self.isReady).count)
            let readyNew = Int64(owned.filter { Self.hash(of: $0) == hash && Self.isReady($0) }.count)
            let complete = updated == replicas && readyNew == replicas && total == replicas
            let previous = d[path: ["status", "conditions"]]?.arrayValue ?? []
            let minAvailable = replicas - Self.maxUnavailable(d, replicas: replicas)
            let available = ready >= minAvailable
            let availableCondition = SimConditions.make(
                "Available", available ? "True" : "False",
                reason: available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                message: available ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
                previous: previous, now: nowText, updateTime: true)
            let progressing: JSONValue
            if paused {
                progressing = SimConditions.make("Progressing", "Unknown", reason: "DeploymentPaused", message: "Deployment is paused",
                                                 previous: previous, now: nowText, updateTime: true)
            } else if complete {
                progressing = SimConditions.make("Progressing", "True", reason: "NewReplicaSetAvailable",
                                                 message: "ReplicaSet \"\(rsName)\" has successfully progressed.",
                                                 previous: previous, now: nowText, updateTime: true)
            } else if now >= started.addingTimeInterval(deadline) {
                progressing = SimConditions.make("Progressing", "False", reason: "ProgressDeadlineExceeded",
                                                 message: "ReplicaSet \"\(rsName)\" has timed out progressing.",
                                                 previous: previous, now: nowText, updateTime: true)
            } else {
                progressing = SimConditions.make("Progressing", "True", reason: "ReplicaSetUpdated",
                                                 message: "ReplicaSet \"\(rsName)\" is progressing.",
                                                 previous: previous, now: nowText, updateTime: true)
                let at = started.addingTimeInterval(deadline)
                next = next.map { min($0, at) } ?? at
                queue.withLock { $0.schedule(.deployment, key, at: at) }
            }
            var status: JSONObject = ["observedGeneration": .int(generation), "conditions": [availableCondition, progressing]]
            // kube-controller-manager leaves zero counts out (omitempty).
            for (key, value) in [("replicas", total), ("updatedReplicas", updated), ("readyReplicas", ready),
                                 ("availableReplicas", ready), ("unavailableReplicas", max(0, replicas - ready))] where value > 0 {
                status[key] = .int(value)
            }
            w.writeStatus(info, d, .object(status))
        }
        // Removed Deployments are forgotten as their removal commits (`forgetGone`); a full pass
        // also drops what it finds no Deployment for (one being deleted, or removed while off).
        if w.full { memory.withLock { m in m.rolloutStarts = m.rolloutStarts.filter { live.contains($0.key) } } }
        return next
    }

    /// Pods created between two checks that their Deployment still exists.
    static let podCreateChunk = 50

    /// How many of its `missing` Pods each Deployment creates in a pass of `budget`: first an equal
    /// share for every Deployment that needs Pods, then what is left in order, so one huge
    /// Deployment cannot keep the others waiting.
    static func allot(_ missing: [Int], budget: Int) -> [Int] {
        var left = max(1, budget)
        let needing = missing.filter { $0 > 0 }.count
        guard needing > 0 else { return missing.map { _ in 0 } }
        let share = max(1, left / needing)
        var allotted = missing.map { _ in 0 }
        for (i, m) in missing.enumerated() where left > 0 {
            allotted[i] = min(m, share, left)
            left -= allotted[i]
        }
        for (i, m) in missing.enumerated() where left > 0 {
            let more = min(m - allotted[i], left)
            allotted[i] += more
            left -= more
        }
        return allotted
    }

    /// Whether `object` (read just now) exists as the incarnation `uid` and is not being deleted.
    static func isLive(_ object: JSONValue?, uid: String) -> Bool {
        guard let object else { return false }
        return object[path: ["metadata", "uid"]]?.stringValue == uid && object[path: ["metadata", "deletionTimestamp"]] == nil
    }

    /// `count` new Pods of the Deployment's template, with names that are free and deterministic.
    func newPods(for d: JSONValue, hash: String, count: Int, existing: [JSONValue]) -> [JSONValue] {
        guard count > 0 else { return [] }
        let name = d[path: ["metadata", "name"]]?.stringValue ?? ""
        let uid = d[path: ["metadata", "uid"]]?.stringValue ?? ""
        var taken = Set(existing.compactMap { $0[path: ["metadata", "name"]]?.stringValue })
        var labels = d[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
        labels["pod-template-hash"] = .string(hash)
        var metadata: JSONObject = ["labels": .object(labels),
                                    "ownerReferences": [SimConditions.ownerReference(apiVersion: "apps/v1", kind: "Deployment", of: d)]]
        if let annotations = d[path: ["spec", "template", "metadata", "annotations"]] { metadata["annotations"] = annotations }
        if let ns = d[path: ["metadata", "namespace"]] { metadata["namespace"] = ns }
        var spec = d[path: ["spec", "template", "spec"]] ?? [:]
        spec["nodeName"] = "kube-test-node"
        var result: [JSONValue] = []
        var ordinal = 0
        while result.count < count {
            let podName = "\(name)-\(hash)-\(SimConditions.safeHash("\(uid)/\(hash)/\(ordinal)", length: 5))"
            ordinal += 1
            guard !taken.contains(podName) else { continue }
            taken.insert(podName)
            var m = metadata
            m["name"] = .string(podName)
            result.append(["apiVersion": "v1", "kind": "Pod", "metadata": .object(m), "spec": spec])
        }
        return result
    }

    static func hash(of pod: JSONValue) -> String? {
        pod[path: ["metadata", "labels", "pod-template-hash"]]?.stringValue
    }

    static func isReady(_ pod: JSONValue) -> Bool {
        (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains {
            $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True"
        }
    }

    static func byName(_ a: JSONValue, _ b: JSONValue) -> Bool {
        (a[path: ["metadata", "name"]]?.stringValue ?? "") < (b[path: ["metadata", "name"]]?.stringValue ?? "")
    }

    /// `spec.strategy.rollingUpdate.maxUnavailable` as a count (percentages round down; Recreate: 0).
    static func maxUnavailable(_ d: JSONValue, replicas: Int64) -> Int64 {
        guard d[path: ["spec", "strategy", "type"]]?.stringValue ?? "RollingUpdate" == "RollingUpdate" else { return 0 }
        let value = d[path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"]] ?? "25%"
        if let n = value.intValue { return min(n, replicas) }
        if let s = value.stringValue, s.hasSuffix("%"), let p = Int64(s.dropLast()) { return min(replicas * p / 100, replicas) }
        return 0
    }
}
