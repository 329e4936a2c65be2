import KubeCore
import KubeRuntime
import Synchronization

/// The content hash of each referenced Secret/ConfigMap, by the version it was computed from. The
/// informers watch those kinds as metadata only, so no Secret data is ever cached: when a
/// referenced object's resourceVersion changes, a pass GETs that one object, hashes it and drops
/// it; every other pass reads the hash from here. Holds one small entry per referenced object.
public final class ReferencedContentHashes: Sendable {
    struct Entry: Sendable {
        var uid: String
        var resourceVersion: String
        var hash: String
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    static func key(kind: String, namespace: String, name: String) -> String { "\(kind)/\(namespace)/\(name)" }

    /// The hash computed from exactly this version of the object, if any.
    func hash(kind: String, namespace: String, name: String, uid: String, resourceVersion: String) -> String? {
        entries.withLock { entries in
            guard let entry = entries[Self.key(kind: kind, namespace: namespace, name: name)], entry.uid == uid,
                  entry.resourceVersion == resourceVersion else { return nil }
            return entry.hash
        }
    }

    func store(kind: String, namespace: String, name: String, uid: String, resourceVersion: String, hash: String) {
        entries.withLock { $0[Self.key(kind: kind, namespace: namespace, name: name)] = Entry(uid: uid, resourceVersion: resourceVersion, hash: hash) }
    }

    func forget(kind: String, namespace: String, name: String) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(kind: kind, namespace: namespace, name: name)) }
    }

    /// Entries held (for tests and the memory figures).
    public var count: Int { entries.withLock { $0.count } }

    /// The hash of an object's content: everything but `apiVersion`, `kind` and `metadata`. The same
    /// function the caches used when they held whole objects, so the pod annotation it feeds does
    /// not change (and no pod rolls) when the operator is upgraded.
    public static func contentHash(of object: JSONValue) -> String {
        guard case .object(var fields) = object else { return ObjectTransform.contentHash(of: object) }
        for key in ["apiVersion", "kind", "metadata"] { fields[key] = nil }
        return ObjectTransform.contentHash(of: .object(fields))
    }
}
