import KubeCore
import Logging
import Synchronization

/// Options of an informer.
public struct InformerOptions: Sendable {
    /// nil: all namespaces (or a cluster-scoped kind).
    public var namespace: String?
    /// Server-side filter, e.g. `app.kubernetes.io/managed-by=pynomaly-operator`, so memory follows
    /// what the operator owns rather than the cluster's size.
    public var labelSelector: String?
    public var fieldSelector: String?
    public var transform: ObjectTransform
    public var indexes: [CacheIndex]
    public var watcher: WatcherConfiguration
    /// The process works without this kind (only some controllers need it, and its CRD may not be
    /// installed): while the API server answers its LIST with 404, the informer counts as ready
    /// (`countsAsReady`), so `/readyz` does not fail for it. Any other failure still counts.
    public var kindMayBeAbsent: Bool
    /// A few fields of each object the store keeps beside its text (`CacheStore.view`).
    public var view: CacheView?

    public init(namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                transform: ObjectTransform = .stripManagedFields, indexes: [CacheIndex] = [.controllerOwnerUID],
                watcher: WatcherConfiguration = WatcherConfiguration(), kindMayBeAbsent: Bool = false, view: CacheView? = nil) {
        self.kindMayBeAbsent = kindMayBeAbsent
        self.view = view
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.transform = transform
        self.indexes = indexes
        self.watcher = watcher
    }

    /// The label selector for objects the operator created.
    public static let managedBySelector = "app.kubernetes.io/managed-by=pynomaly-operator"
}

/// A watcher feeding a `CacheStore`, and handlers told of every change the cache saw. Reads go to
/// `store`; `hasSynced` turns true after the first complete list.
public final class Informer: Sendable {
    public typealias Handler = @Sendable (ObjectChange) async -> Void

    public let resource: ResourceType
    public let options: InformerOptions
    public let store: CacheStore
    private let watcher: Watcher
    private let handlers = Mutex<[Handler]>([])
    private let streams = Mutex<[AsyncStream<ObjectChange>.Continuation]>([])
    private let syncState = Mutex<(synced: Bool, waiters: [UInt64: CheckedContinuation<Bool, Never>], nextID: UInt64)>((false, [:], 0))

    /// `logger` reports failed LISTs (see `Watcher`); `crdHint` is named when the kind is not served.
    public init(client: any Watcher.Client, resource: ResourceType, options: InformerOptions = InformerOptions(),
                clock: any RuntimeClock = SystemClock(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                logger: Logger = .disabled, crdHint: String? = nil) {
        self.resource = resource
        self.options = options
        self.store = CacheStore(indexes: options.indexes, view: options.view)
        let transform = options.transform
        let project: @Sendable (JSONValue) -> JSONValue = { transform.apply($0) }
        self.watcher = Watcher(client: client, resource: resource, namespace: options.namespace,
                               labelSelector: options.labelSelector, fieldSelector: options.fieldSelector,
                               configuration: options.watcher, clock: clock, random: random, transform: project,
                               transformDropsManagedFields: transform.dropsManagedFields, logger: logger, crdHint: crdHint)
    }

    public var hasSynced: Bool { syncState.withLock { $0.synced } }
    /// Why the last LIST failed; nil once one succeeded (and before the first failure).
    public var lastListError: ListFailure? { watcher.lastListError }
    /// Synced, or — for a kind the process can do without (`kindMayBeAbsent`) — known not to be
    /// served (the last LIST answered 404). What the `/readyz` check of this informer reports.
    public var countsAsReady: Bool {
        hasSynced || (options.kindMayBeAbsent && lastListError?.isNotServed == true)
    }
    /// Complete LISTs so far (re-lists after 410 included).
    public var listCount: Int { watcher.listCount }
    public var watcherState: WatcherStateMachine.State { watcher.state }

    /// Registers a handler, called in order for every change (register before `run`; a later
    /// handler does not see what came before).
    public func addHandler(_ handler: @escaping Handler) {
        handlers.withLock { $0.append(handler) }
    }

    /// Changes as an async sequence (one consumer per call). Unbounded: a consumer must keep up.
    public func changes() -> AsyncStream<ObjectChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: ObjectChange.self)
        streams.withLock { $0.append(continuation) }
        return stream
    }

    /// Waits until the first list has been applied and handed to the handlers; false when cancelled first.
    public func waitForSync() async -> Bool {
        let id = syncState.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow: Bool? = syncState.withLock { s in
                    if s.synced { return true }
                    if Task.isCancelled { return false }
                    s.waiters[id] = continuation
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = syncState.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }

    /// Lists and watches until cancelled.
    public func run() async {
        let resource = resource
        // The watcher already applied the transform to every object, as it arrived.
        await watcher.run { [self] operation in
            let normalized = operation.withTypeMeta(of: resource)
            let changes = store.apply(normalized)
            let (hs, ss) = (handlers.withLock { $0 }, streams.withLock { $0 })
            for change in changes {
                for handler in hs { await handler(change) }
                for continuation in ss { continuation.yield(change) }
            }
            // Synced only once the handlers were told of the first list (client-go's HasSynced).
            if case .replaceAll = operation { markSynced() }
        }
        for continuation in streams.withLock({ $0 }) { continuation.finish() }
    }

    /// Read-your-writes: the answer of this process's own write goes into the cache at once, so a
    /// pass that starts before the watch event arrives reads what was written instead of the object
    /// one write behind (which cost a 409 or a second GET). Stored only when it belongs in this
    /// informer (namespace, label selector; never with a field selector) and the watch cannot be
    /// past it (`CacheStoreState.storeWritten`: the cache still holds what the write was based on,
    /// and the watch has not reported this uid deleted). Handlers are not told; the watch event that
    /// follows tells them as usual.
    ///
    /// `basis` comes from `writeBasis(namespace:name:)`, read just before the request; it also
    /// refuses answers that a re-list during the request may have made stale.
    @discardableResult
    public func storeWritten(_ answer: JSONValue, basis: WriteBasis) -> Bool {
        guard options.fieldSelector == nil, belongs(answer) else { return false }
        guard case .upsert(let object) = CacheOperation.upsert(answer).transformed(options.transform).withTypeMeta(of: resource) else { return false }
        return store.storeWritten(object, basis: basis)
    }

    /// False when `storeWritten` would refuse any answer of a write of `namespace/name` on `basis`
    /// (the watch moved past it, or the answer cannot belong here): that answer need not be parsed.
    public func mayStoreWritten(namespace: String?, name: String, basis: WriteBasis) -> Bool {
        guard options.fieldSelector == nil else { return false }
        return store.mayStoreWritten(ObjectKey(namespace: namespace, name: name), basis: basis)
    }

    /// `storeWritten(_:basis:)` knowing only the resourceVersion read before the write (nil = the
    /// object was absent). Prefer a `WriteBasis`: without it a re-list during the request goes unseen.
    @discardableResult
    public func storeWritten(_ answer: JSONValue, basedOn resourceVersion: String?) -> Bool {
        storeWritten(answer, basis: WriteBasis(resourceVersion: resourceVersion))
    }

    /// What a write of `namespace/name` is based on (the cached object); read it just before
    /// sending the request.
    public func writeBasis(namespace: String?, name: String) -> WriteBasis {
        store.writeBasis(ObjectKey(namespace: namespace, name: name))
    }

    /// A basis for a write of an object read earlier (e.g. the primary object at the start of a
    /// pass): its `resourceVersion`, at the cache's current point. Read it just before the request.
    public func writeBasis(basedOn resourceVersion: String?) -> WriteBasis {
        store.writeBasis(basedOn: resourceVersion)
    }

    private func belongs(_ object: JSONValue) -> Bool {
        if let namespace = options.namespace, object[path: ["metadata", "namespace"]]?.stringValue != namespace { return false }
        guard let text = options.labelSelector, !text.isEmpty else { return true }
        guard let selector = try? LabelSelector(parsing: text) else { return false }
        let labels = (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        return selector.matches(labels)
    }

    private func markSynced() {
        let waiters = syncState.withLock { s -> [CheckedContinuation<Bool, Never>] in
            guard !s.synced else { return [] }
            s.synced = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }
}

extension CacheOperation {
    /// LIST items come without `apiVersion`/`kind`; watch events carry them. Filling them in keeps
    /// a re-list from looking like a change of every object, and lets Events name the kind.
    func withTypeMeta(of resource: ResourceType) -> CacheOperation {
        func fill(_ object: JSONValue) -> JSONValue {
            guard case .object(var fields) = object else { return object }
            if fields["apiVersion"] == nil { fields["apiVersion"] = .string(resource.apiVersion) }
            if fields["kind"] == nil { fields["kind"] = .string(resource.kind) }
            return .object(fields)
        }
        switch self {
        case .upsert(let o): return .upsert(fill(o))
        case .delete(let o): return .delete(fill(o))
        case .replaceAll(let items, let rv): return .replaceAll(items.map(fill), resourceVersion: rv)
        }
    }
}
