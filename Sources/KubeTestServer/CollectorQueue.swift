import Foundation
import KubeCore

/// The objects the garbage collector must look at, gathered as changes commit: a collector pass
/// then costs what changed, not the size of the store. A full scan still runs now and then
/// (`fullScanInterval`) as a safety net for anything the bookkeeping below does not foresee.
struct CollectorQueue: Sendable {
    /// Off when the server runs no kube-controller-manager: nobody would drain the queue.
    var enabled = false
    var candidates: Set<ObjectRef> = []
    /// Seconds between full scans; nil: none (tests that check the bookkeeping alone).
    var fullScanInterval: Double? = 5
    var nextFullScan = Date().addingTimeInterval(5)
    /// Objects the collector examined so far, and its full scans (for tests).
    var examined = 0
    var fullScans = 0

    /// Whether the pass starting at `now` scans every object; schedules the next full scan.
    mutating func startPass(now: Date) -> Bool {
        guard let interval = fullScanInterval, now >= nextFullScan else { return false }
        nextFullScan = now.addingTimeInterval(interval)
        fullScans += 1
        return true
    }
}

extension ObjectStore {
    /// Queues what a commit may leave for the collector (called after `index` took the change):
    /// the object itself when it is being deleted (finalizers, foreground, orphan, namespace) or
    /// has lost every owner; the dependents of an object that is gone; the owners being deleted
    /// that wait for it (foreground); its namespace when that is terminating and waits to be empty.
    mutating func noteForCollector(_ ref: ObjectRef, old: JSONValue?, new: JSONValue?) {
        guard collector.enabled else { return }
        if let new {
            if new[path: ["metadata", "deletionTimestamp"]] != nil { collector.candidates.insert(ref) }
            let owners = new[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
            var ownerAlive = false
            for owner in owners where owner["uid"]?.stringValue.map({ index.exists(uid: $0) }) == true { ownerAlive = true }
            if !owners.isEmpty, !ownerAlive { collector.candidates.insert(ref) }
        } else {
            if let uid = OwnerIndex.uid(old) { collector.candidates.formUnion(index.dependents(of: uid)) }
            if let ns = old?[path: ["metadata", "namespace"]]?.stringValue,
               let namespace = objects["/namespaces"]?[Self.key(namespace: nil, name: ns)],
               namespace[path: ["metadata", "deletionTimestamp"]] != nil {
                collector.candidates.insert(ObjectRef(storage: "/namespaces", key: Self.key(namespace: nil, name: ns)))
            }
        }
        for owner in Set(OwnerIndex.ownerUIDs(old) + OwnerIndex.ownerUIDs(new)) {
            guard let at = index.byUID[owner], let o = objects[at.storage]?[at.key],
                  o[path: ["metadata", "deletionTimestamp"]] != nil else { continue }
            collector.candidates.insert(at)
        }
    }

    /// Takes the queued objects (for a collector pass).
    mutating func takeCollectorCandidates() -> [ObjectRef] {
        defer { collector.candidates.removeAll() }
        return collector.candidates.sorted()
    }
}
