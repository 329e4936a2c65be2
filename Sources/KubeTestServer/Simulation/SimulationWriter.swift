import Foundation
import KubeCore

/// Reads and writes of the simulated controllers, through the same create/update/delete pipeline
/// as client requests (validation, defaulting, managedFields, resourceVersion, watch events) but
/// without routing, so they are not counted as client requests. A write that fails (a conflict
/// with a client's write in between) is dropped and marks the pass for a retry.
final class SimulationWriter {
    let core: APIServerCore
    let simulator: ControllerSimulator
    /// Whether this pass visits every object, and when it started (for due timers).
    let full: Bool
    let now: Date
    private(set) var failed = false
    /// Objects to visit again because a write for them was refused.
    private(set) var retry: Set<SimulationQueue.Key> = []
    /// Objects this pass visited.
    private(set) var visited = 0
    /// A write may have left dependents without an owner: the pass wakes the garbage collector
    /// once at its end, not once per write (a rollout deletes many Pods in one pass).
    private(set) var collectGarbage = false
    private var infos: [String: ResourceInfo] = [:]

    static let user = UserInfo(name: "system:kube-controller-manager", groups: ["system:authenticated"])

    init(core: APIServerCore, simulator: ControllerSimulator, full: Bool = true, now: Date = Date()) {
        self.core = core
        self.simulator = simulator
        self.full = full
        self.now = now
    }

    var options: APIServerCore.WriteOptions {
        APIServerCore.WriteOptions(manager: ControllerSimulator.manager, dryRun: false, fieldValidation: "Ignore", force: false)
    }

    func info(_ group: String, _ version: String, _ resource: String) -> ResourceInfo? {
        let key = "\(group)/\(version)/\(resource)"
        if let i = infos[key] { return i }
        let i = core.state.withLock { $0.registry.lookup(group: group, version: version, resource: resource) }
        infos[key] = i
        return i
    }

    func info(apiVersion: String, kind: String) -> ResourceInfo? {
        core.state.withLock { $0.registry.lookup(apiVersion: apiVersion, kind: kind) }
    }

    /// Every object of a resource, sorted by namespace/name, without those being deleted.
    func list(_ info: ResourceInfo) -> [JSONValue] {
        core.state.withLock { $0.store.list(info.storageKey, namespace: nil) }.map(\.object)
            .filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
    }

    /// The objects of a kind this pass visits, sorted by namespace/name, without those being
    /// deleted: every one in a full pass, else those marked or due (`SimulationQueue`).
    func visit(_ kind: SimulationQueue.Kind, _ info: ResourceInfo) -> [JSONValue] {
        let objects: [JSONValue]
        if full {
            objects = list(info)
        } else {
            let names = simulator.queue.withLock { $0.take(kind, now: now) }
            guard !names.isEmpty else { return [] }
            objects = core.state.withLock { st in names.compactMap { st.store.objects[info.storageKey]?[$0] } }
                .filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
        }
        visited += objects.count
        return objects
    }

    /// The live objects of `storage` in the owner's namespace that name `owner` (a uid) as an owner,
    /// sorted by name.
    func dependents(of owner: String, in storage: String, namespace: String?) -> [JSONValue] {
        core.state.withLock { st in
            st.store.index.dependents(of: owner).filter { $0.storage == storage }.compactMap { st.store.objects[storage]?[$0.key] }
        }.filter { $0[path: ["metadata", "namespace"]]?.stringValue == namespace && $0[path: ["metadata", "deletionTimestamp"]] == nil }
    }

    func get(_ info: ResourceInfo, namespace: String?, name: String) -> JSONValue? {
        core.state.withLock { $0.store.get(info.storageKey, namespace: namespace, name: name) }
    }

    private func target(_ info: ResourceInfo, _ obj: JSONValue, subresource: String?, verb: String) -> APIServerCore.Target {
        APIServerCore.Target(info: info, namespace: obj[path: ["metadata", "namespace"]]?.stringValue,
                             name: obj[path: ["metadata", "name"]]?.stringValue, subresource: subresource, verb: verb, watchPath: false)
    }

    /// Writes `status` through the /status subresource when it differs from the stored one.
    func writeStatus(_ info: ResourceInfo, _ old: JSONValue, _ status: JSONValue) {
        guard old["status"] != status else { return }
        var new = old
        new["status"] = status
        perform(for: old, info) {
            let (_, _, changed) = try core.finishUpdate(old: old, new: new, t: target(info, old, subresource: "status", verb: "update"),
                                                        opts: options, applied: false, precondition: nil)
            return changed
        }
    }

    /// Sets the replicas of a scalable object through its /scale subresource (as the HPA does).
    func writeReplicas(_ info: ResourceInfo, _ old: JSONValue, _ replicas: Int64) {
        guard let scale = info.scale, old[path: scale.specReplicasPath]?.intValue != replicas else { return }
        var new = old
        new[path: scale.specReplicasPath] = .int(replicas)
        perform(for: old, info) {
            let (_, _, changed) = try core.finishUpdate(old: old, new: new, t: target(info, old, subresource: "scale", verb: "update"),
                                                        opts: options, applied: false, precondition: nil)
            return changed
        }
    }

    /// Creates an object; returns it as stored.
    @discardableResult
    func create(_ info: ResourceInfo, _ object: JSONValue) -> JSONValue? {
        do {
            return try createOrThrow(info, object)
        } catch {
            failed = true
            retry.formUnion(retryKeys(object, info))
            return nil
        }
    }

    func createOrThrow(_ info: ResourceInfo, _ object: JSONValue) throws -> JSONValue {
        var obj = object
        let (result, _) = try core.createObject(obj: &obj, t: target(info, object, subresource: nil, verb: "create"), opts: options, user: Self.user)
        simulator.noteWrite()
        // Only a create whose owner is already gone leaves work for the collector.
        if result[path: ["metadata", "ownerReferences"]] != nil, core.hasMissingOwner(result) { collectGarbage = true }
        return result
    }

    /// Deletes an object (only the one with this uid).
    func delete(_ info: ResourceInfo, _ obj: JSONValue) {
        let d = APIServerCore.DeleteRequest(propagation: nil, preconditionUID: obj[path: ["metadata", "uid"]]?.stringValue,
                                            preconditionRV: nil, dryRun: false)
        perform(for: obj, info) {
            _ = try core.deleteOne(info: info, namespace: obj[path: ["metadata", "namespace"]]?.stringValue,
                                   name: obj[path: ["metadata", "name"]]?.stringValue ?? "", d: d)
            return true
        }
        collectGarbage = true
    }

    private func perform(for object: JSONValue, _ info: ResourceInfo, _ write: () throws -> Bool) {
        do {
            if try write() { simulator.noteWrite() }
        } catch {
            failed = true
            retry.formUnion(retryKeys(object, info))
        }
    }

    /// What visits `object` again: itself (when simulated), its simulated owners and the HPAs
    /// scaling it.
    private func retryKeys(_ object: JSONValue, _ info: ResourceInfo) -> [SimulationQueue.Key] {
        let ns = object[path: ["metadata", "namespace"]]?.stringValue
        let key = ObjectStore.key(namespace: ns, name: object[path: ["metadata", "name"]]?.stringValue ?? "")
        var keys: [SimulationQueue.Key] = []
        if let kind = SimulationQueue.Kind(storage: info.storageKey) { keys.append(SimulationQueue.Key(kind: kind, name: key)) }
        for ref in object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] {
            guard let name = ref["name"]?.stringValue else { continue }
            switch ref["kind"]?.stringValue {
            case "Deployment": keys.append(SimulationQueue.Key(kind: .deployment, name: ObjectStore.key(namespace: ns, name: name)))
            case "CronJob": keys.append(SimulationQueue.Key(kind: .cronJob, name: ObjectStore.key(namespace: ns, name: name)))
            default: break
            }
        }
        for hpa in simulator.queue.withLock({ $0.hpas(targeting: key) }) { keys.append(SimulationQueue.Key(kind: .hpa, name: hpa)) }
        return keys
    }
}

/// Conditions as the controllers write them: a transition time that only moves when the status does.
enum SimConditions {
    static func make(_ type: String, _ status: String, reason: String, message: String, previous: [JSONValue], now: String,
                     updateTime: Bool = false, probeTime: Bool = false) -> JSONValue {
        let prev = previous.first { $0["type"]?.stringValue == type }
        let sameStatus = prev?["status"]?.stringValue == status
        var c: JSONObject = ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message)]
        c["lastTransitionTime"] = sameStatus ? (prev?["lastTransitionTime"] ?? .string(now)) : .string(now)
        if updateTime {
            let unchanged = sameStatus && prev?["reason"]?.stringValue == reason && prev?["message"]?.stringValue == message
            c["lastUpdateTime"] = unchanged ? (prev?["lastUpdateTime"] ?? .string(now)) : .string(now)
        }
        if probeTime { c["lastProbeTime"] = sameStatus ? (prev?["lastProbeTime"] ?? .string(now)) : .string(now) }
        return .object(c)
    }

    /// FNV-1a, 32 bits, rendered in the alphabet kube-controller-manager uses for generated names.
    static func safeHash(_ text: String, length: Int = 10) -> String {
        var h: UInt32 = 0x811c9dc5
        for b in text.utf8 { h = (h ^ UInt32(b)) &* 0x01000193 }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var out = ""
        var v = UInt64(h) | (UInt64(h.byteSwapped) << 32)
        while out.count < length {
            out.append(alphabet[Int(v % UInt64(alphabet.count))])
            v /= UInt64(alphabet.count)
            if v == 0 { v = UInt64(h) &+ UInt64(out.count) &* 7919 }
        }
        return out
    }

    static func owned(_ obj: JSONValue, by uid: String) -> Bool {
        (obj[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { $0["uid"]?.stringValue == uid }
    }

    static func ownerReference(apiVersion: String, kind: String, of owner: JSONValue) -> JSONValue {
        ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": owner[path: ["metadata", "name"]] ?? "",
         "uid": owner[path: ["metadata", "uid"]] ?? "", "controller": true, "blockOwnerDeletion": true]
    }
}
