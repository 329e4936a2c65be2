import Foundation
import KubeCore

/// Where an object lives in the store: its storage key and "namespace/name".
struct ObjectRef: Hashable, Comparable, Sendable {
    var storage: String
    var key: String

    static func < (a: ObjectRef, b: ObjectRef) -> Bool { (a.storage, a.key) < (b.storage, b.key) }
}

/// The store's objects by uid and by the uids of their owners, kept current on every commit, so
/// the garbage collector and the simulated controllers reach an object's owners and dependents
/// without scanning every object of the store.
struct OwnerIndex: Sendable {
    /// uid → where the object with that uid is stored.
    private(set) var byUID: [String: ObjectRef] = [:]
    /// Owner uid → the objects that name it in their ownerReferences (whether or not it exists).
    private(set) var dependentsByOwner: [String: Set<ObjectRef>] = [:]

    static func uid(_ object: JSONValue?) -> String? { object?[path: ["metadata", "uid"]]?.stringValue }

    static func ownerUIDs(_ object: JSONValue?) -> [String] {
        (object?[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).compactMap { $0["uid"]?.stringValue }
    }

    /// Records that the object at `ref` changed from `old` to `new` (nil: absent).
    mutating func update(_ ref: ObjectRef, old: JSONValue?, new: JSONValue?) {
        let oldUID = Self.uid(old), newUID = Self.uid(new)
        if let oldUID, oldUID != newUID, byUID[oldUID] == ref { byUID[oldUID] = nil }
        if let newUID { byUID[newUID] = ref }
        let oldOwners = Self.ownerUIDs(old), newOwners = Self.ownerUIDs(new)
        guard oldOwners != newOwners else { return }
        for owner in oldOwners where !newOwners.contains(owner) {
            dependentsByOwner[owner]?.remove(ref)
            if dependentsByOwner[owner]?.isEmpty == true { dependentsByOwner[owner] = nil }
        }
        for owner in newOwners { dependentsByOwner[owner, default: []].insert(ref) }
    }

    /// Whether an object with this uid is stored.
    func exists(uid: String) -> Bool { byUID[uid] != nil }

    /// The objects naming `owner` as an owner, in store order.
    func dependents(of owner: String) -> [ObjectRef] { (dependentsByOwner[owner] ?? []).sorted() }
}
