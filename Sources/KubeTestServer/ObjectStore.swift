import Foundation
import KubeCore

/// One committed change, kept in the bounded history for watch resumption and Exact lists.
struct StoreEvent: Sendable {
    var rv: Int64
    var storage: String
    var key: String
    var type: WatchEventType
    /// The object after the change (for DELETED: the last state, carrying the delete's resourceVersion).
    var object: JSONValue
    /// The object before the change (nil for ADDED).
    var old: JSONValue?
}

/// A registered watch: what it wants and where its lines go.
struct Watcher: Sendable {
    var storage: String
    var info: ResourceInfo
    var namespace: String?
    var labels: LabelSelector
    var fields: FieldSelector
    var channel: WatchChannel
    /// How each event's object is shown (a one-row Table for `kubectl get -w`, metadata only);
    /// nil = as stored. Returning nil means the event cannot be encoded: the watch ends.
    var render: (@Sendable (JSONValue) -> JSONValue?)? = nil
}

/// The store: objects per storage key, one cluster-wide resourceVersion counter, the event
/// history and the watchers. A plain value guarded by the server's lock, so every commit and the
/// fan-out to watchers happen atomically and in resourceVersion order.
struct ObjectStore: Sendable {
    var rv: Int64 = 1
    /// storage key → "namespace/name" → object
    var objects: [String: [String: JSONValue]] = [:]
    var history: [StoreEvent] = []
    /// Events at or below this resourceVersion are no longer in `history`.
    var compactedRV: Int64 = 0
    var window: Int
    var watchers: [Int: Watcher] = [:]
    var nextWatcherID = 1
    /// Told every committed change (the controller simulation records what it must look at).
    /// Runs under the server's lock, so it must neither block nor take that lock.
    var onCommit: (@Sendable (StoreEvent) -> Void)? = nil
    /// Tests' observers (`KubeTestServer.observeCommits`), told each change with the state right
    /// after it; under the server's lock too.
    var commitObservers: [@Sendable (CommittedChange) -> Void] = []
    /// Objects by uid and by owner uid.
    private(set) var index = OwnerIndex()
    /// What the garbage collector looks at in its next pass.
    var collector = CollectorQueue()

    init(window: Int) { self.window = max(1, window) }

    static func key(namespace: String?, name: String) -> String { "\(namespace ?? "")/\(name)" }

    func get(_ storage: String, namespace: String?, name: String) -> JSONValue? {
        objects[storage]?[Self.key(namespace: namespace, name: name)]
    }

    /// Objects of a storage, sorted by key (etcd order), optionally in one namespace.
    func list(_ storage: String, namespace: String?) -> [(key: String, object: JSONValue)] {
        let all = objects[storage] ?? [:]
        let prefix = namespace.map { "\($0)/" }
        return all.filter { prefix == nil || $0.key.hasPrefix(prefix!) }
            .sorted { $0.key < $1.key }
            .map { (key: $0.key, object: $0.value) }
    }

    /// The objects of a storage as they were at `rv` (rebuilt by undoing later events).
    /// nil when the history no longer reaches back that far.
    func list(_ storage: String, namespace: String?, at atRV: Int64) -> [(key: String, object: JSONValue)]? {
        if atRV >= rv { return list(storage, namespace: namespace) }
        guard atRV >= compactedRV else { return nil }
        var current = objects[storage] ?? [:]
        for e in history.reversed() where e.rv > atRV {
            guard e.storage == storage else { continue }
            switch e.type {
            case .added: current[e.key] = nil
            case .modified: current[e.key] = e.old
            case .deleted: current[e.key] = e.old ?? e.object
            default: break
            }
        }
        let prefix = namespace.map { "\($0)/" }
        return current.filter { prefix == nil || $0.key.hasPrefix(prefix!) }
            .sorted { $0.key < $1.key }
            .map { (key: $0.key, object: $0.value) }
    }

    /// Stores `object` (created or updated) at a new resourceVersion and tells the watchers.
    mutating func put(_ storage: String, info: ResourceInfo, object: JSONValue) -> JSONValue {
        rv += 1
        var obj = object
        obj[path: ["metadata", "resourceVersion"]] = .string(String(rv))
        let ns = obj[path: ["metadata", "namespace"]]?.stringValue
        let name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        let key = Self.key(namespace: ns, name: name)
        let old = objects[storage]?[key]
        objects[storage, default: [:]][key] = obj
        let ref = ObjectRef(storage: storage, key: key)
        index.update(ref, old: old, new: obj)
        noteForCollector(ref, old: old, new: obj)
        record(StoreEvent(rv: rv, storage: storage, key: key, type: old == nil ? .added : .modified, object: obj, old: old))
        return obj
    }

    /// Removes an object; the DELETED event carries `lastState` (default: the stored object) at a new resourceVersion.
    @discardableResult
    mutating func remove(_ storage: String, namespace: String?, name: String, lastState: JSONValue? = nil) -> JSONValue? {
        let key = Self.key(namespace: namespace, name: name)
        guard let old = objects[storage]?[key] else { return nil }
        rv += 1
        objects[storage]?[key] = nil
        let ref = ObjectRef(storage: storage, key: key)
        index.update(ref, old: old, new: nil)
        noteForCollector(ref, old: old, new: nil)
        var last = lastState ?? old
        last[path: ["metadata", "resourceVersion"]] = .string(String(rv))
        record(StoreEvent(rv: rv, storage: storage, key: key, type: .deleted, object: last, old: old))
        return last
    }

    /// Drops every object of a storage (CRD deletion) with DELETED events.
    mutating func removeAll(_ storage: String) {
        for (key, obj) in (objects[storage] ?? [:]).sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let ns = parts.first.map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            _ = remove(storage, namespace: ns, name: parts.count > 1 ? String(parts[1]) : "", lastState: obj)
        }
        objects[storage] = nil
    }

    mutating func compact() {
        compactedRV = rv
        history.removeAll()
    }

    private mutating func record(_ event: StoreEvent) {
        history.append(event)
        if history.count > window + window / 4 + 16 {
            let drop = history.count - window
            compactedRV = history[drop - 1].rv
            history.removeFirst(drop)
        }
        deliver(event)
        onCommit?(event)
        if !commitObservers.isEmpty {
            let change = CommittedChange(event: event, store: self)
            for observer in commitObservers { observer(change) }
        }
    }

    // MARK: Watchers

    /// What a watcher sees of an event, given its selectors: nil when nothing.
    static func translate(_ e: StoreEvent, for w: Watcher) -> (WatchEventType, JSONValue)? {
        guard e.storage == w.storage else { return nil }
        let matches: (JSONValue?) -> Bool = { obj in
            guard let obj else { return false }
            if let ns = w.namespace, obj[path: ["metadata", "namespace"]]?.stringValue != ns { return false }
            let labels = obj[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            return w.labels.matches(labels) && w.fields.matches(obj)
        }
        switch e.type {
        case .added: return matches(e.object) ? (.added, e.object) : nil
        case .deleted: return matches(e.old ?? e.object) ? (.deleted, e.object) : nil
        case .modified:
            let was = matches(e.old), isNow = matches(e.object)
            if was && isNow { return (.modified, e.object) }
            if was { return (.deleted, e.object) }
            if isNow { return (.added, e.object) }
            return nil
        default: return nil
        }
    }

    static func line(_ type: WatchEventType, _ object: JSONValue, for watcher: Watcher) -> Data? {
        var obj = EventConversion.view(object, watcher.info)
        obj["apiVersion"] = .string(watcher.info.apiVersion)
        obj["kind"] = .string(watcher.info.kind)
        if let render = watcher.render {
            guard let rendered = render(obj) else { return nil }
            obj = rendered
        }
        return JSONValue.object(["type": .string(type.rawValue), "object": obj]).serialized()
    }

    private mutating func deliver(_ event: StoreEvent) {
        var dead: [Int] = []
        for (id, w) in watchers where w.storage == event.storage {
            guard let (type, obj) = Self.translate(event, for: w) else { continue }
            guard let line = Self.line(type, obj, for: w) else {
                w.channel.finish()
                dead.append(id)
                continue
            }
            if !w.channel.push(line) { dead.append(id) }
        }
        for id in dead { watchers[id] = nil }
    }

    mutating func addWatcher(_ w: Watcher) -> Int {
        let id = nextWatcherID
        nextWatcherID += 1
        watchers[id] = w
        return id
    }

    mutating func removeWatcher(_ id: Int) { watchers[id] = nil }
}
