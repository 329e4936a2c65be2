import KubeCore

/// A write the server committed, as `KubeTestServer.observeCommits` hands it to a test: the
/// change and the whole state right after it. A test checks an invariant on every change this
/// way, where a poll or a watch of one kind could miss a short violation or read two kinds at
/// different moments.
public struct CommittedChange: Sendable {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    public let type: String
    /// The object after the change (for a deletion, its last state).
    public let object: JSONValue
    /// The object before the change; nil when it was added.
    public let previous: JSONValue?
    let storage: String
    let store: ObjectStore

    init(event: StoreEvent, store: ObjectStore) {
        type = event.type.rawValue
        object = event.object
        previous = event.old
        storage = event.storage
        self.store = store
    }

    /// Whether the change is to an object of `resource`.
    public func isOf(_ resource: ResourceType) -> Bool { storage == Self.storage(of: resource) }

    /// An object of `resource` as the state holds it right after this change.
    public func get(_ resource: ResourceType, namespace: String?, name: String) -> JSONValue? {
        store.get(Self.storage(of: resource), namespace: namespace, name: name)
    }

    /// The objects of `resource` in `namespace` (every namespace: nil) right after this change.
    public func list(_ resource: ResourceType, namespace: String?) -> [JSONValue] {
        store.list(Self.storage(of: resource), namespace: namespace).map(\.object)
    }

    static func storage(of resource: ResourceType) -> String { "\(resource.group)/\(resource.resource)" }
}

extension KubeTestServer {
    /// Calls `observer` with every change the server commits from now on, synchronously and under
    /// the server's lock, with the state right after the change: it must be quick, and must not
    /// call the server.
    public func observeCommits(_ observer: @escaping @Sendable (CommittedChange) -> Void) {
        core.state.withLock { $0.store.commitObservers.append(observer) }
    }
}
