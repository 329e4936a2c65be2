import KubeCore

/// What a watcher tells its cache. A list ends in `replaceAll` (the cache drops what vanished);
/// watch events are `upsert` or `delete`.
public enum CacheOperation: Sendable, Equatable {
    case replaceAll([JSONValue], resourceVersion: String)
    case upsert(JSONValue)
    case delete(JSONValue)
}

/// Tunables of a watcher. Defaults follow kube-rs / client-go.
public struct WatcherConfiguration: Sendable, Hashable {
    /// Items per LIST page.
    public var pageSize: Int
    /// Reconnect backoff (after a failed list or watch, or a watch that ended early).
    public var backoff: ExponentialBackoff
    /// A watch that stayed up this long (or delivered any event) counts as healthy: the backoff
    /// starts over afterwards.
    public var healthyAfter: Double
    /// `timeoutSeconds` asked of the server for each watch (nil: the server's default).
    public var watchTimeoutSeconds: Int?
    /// List and watch as `PartialObjectMetadata` (metadata only): what is never sent cannot be
    /// held, e.g. a Secret's data.
    public var metadataOnly: Bool

    public init(pageSize: Int = 500, backoff: ExponentialBackoff = ExponentialBackoff(), healthyAfter: Double = 120,
                watchTimeoutSeconds: Int? = 290, metadataOnly: Bool = false) {
        self.pageSize = pageSize
        self.backoff = backoff
        self.healthyAfter = healthyAfter
        self.watchTimeoutSeconds = watchTimeoutSeconds
        self.metadataOnly = metadataOnly
    }
}

/// The list-then-watch protocol as a pure state machine (kube-rs `watcher.rs`, client-go
/// `reflector.go`): events in (answers of the API server, time), actions out (requests to make,
/// cache operations, delays). It performs no I/O; `Watcher` drives it.
///
/// ```
///  start ─► listing ──(last page)──► watching ──(stream ends / fails)──► backingOff ─► watching
///              ▲  │                     │                                    │
///              │  └─(fails)─► backingOff┘ (410 Gone, also mid-stream) ───────┴──► listing
/// ```
public struct WatcherStateMachine: Sendable {
    public enum State: Sendable, Equatable {
        case idle
        /// Collecting LIST pages; `continueToken` is nil for the first page.
        case listing(continueToken: String?)
        /// A watch request from `resourceVersion` is being made or its stream is being read.
        case watching(resourceVersion: String)
        /// Waiting before the next attempt; `relist` says whether it starts over with a LIST.
        case backingOff(relist: Bool, resourceVersion: String?)
        case stopped
    }

    /// What the driver must do next.
    public enum Action: Sendable, Equatable {
        case list(ListOptions)
        case watch(ListOptions)
        case apply(CacheOperation)
        /// Wait this many seconds, then send `backoffElapsed`.
        case sleep(Double)
    }

    public private(set) var state: State = .idle
    /// True once a complete LIST has been applied; stays true across re-lists (client-go's `HasSynced`).
    public private(set) var hasSynced = false
    /// The resourceVersion the cache is at (the last list's, or the last event's / bookmark's).
    public private(set) var resourceVersion: String?
    /// How many complete LISTs were applied (the first one and every re-list).
    public private(set) var listCount = 0

    public let labelSelector: String?
    public let fieldSelector: String?
    public private(set) var configuration: WatcherConfiguration
    private var pages: [JSONValue] = []
    private var watchOpenedAt: Double?
    private var eventsSinceOpen = 0

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, configuration: WatcherConfiguration = WatcherConfiguration()) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.configuration = configuration
    }

    /// Attempts since the backoff was last reset (for tests and logs).
    public var backoffAttempts: Int { configuration.backoff.attempts }

    // MARK: Events

    public mutating func start() -> [Action] {
        guard state == .idle else { return [] }
        return beginList()
    }

    /// A LIST page arrived.
    public mutating func listPage(_ page: ObjectList<JSONValue>) -> [Action] {
        guard case .listing = state else { return [] }
        pages.append(contentsOf: page.items)
        if let token = page.metadata.continue, !token.isEmpty {
            state = .listing(continueToken: token)
            return [.list(listOptions(continue: token))]
        }
        // The list is complete: the cache takes it whole, then watches from its resourceVersion.
        let rv = page.metadata.resourceVersion ?? ""
        let items = pages
        pages = []
        hasSynced = true
        listCount += 1
        resourceVersion = rv
        state = .watching(resourceVersion: rv)
        watchOpenedAt = nil
        return [.apply(.replaceAll(items, resourceVersion: rv)), .watch(watchOptions(from: rv))]
    }

    /// A LIST request failed. An expired continue token (410) restarts the list at once; anything
    /// else backs off and then lists again from the start.
    public mutating func listFailed(_ error: any Error, now: Double, random: Double) -> [Action] {
        guard case .listing(let token) = state else { return [] }
        pages = []
        if token != nil, (error as? KubeError)?.isGone == true {
            return beginList()
        }
        let delay = configuration.backoff.next(random: random)
        state = .backingOff(relist: true, resourceVersion: resourceVersion)
        return [.sleep(delay)]
    }

    /// The watch request was answered and its stream is open.
    public mutating func watchOpened(now: Double) {
        guard case .watching = state else { return }
        watchOpenedAt = now
        eventsSinceOpen = 0
    }

    /// One event of the open watch stream.
    public mutating func watchEvent(_ event: WatchEvent<JSONValue>, now: Double) -> [Action] {
        guard case .watching = state else { return [] }
        eventsSinceOpen += 1
        if let rv = event.object[path: ["metadata", "resourceVersion"]]?.stringValue, !rv.isEmpty {
            resourceVersion = rv
            state = .watching(resourceVersion: rv)
        }
        switch event.type {
        case .added, .modified: return [.apply(.upsert(event.object))]
        case .deleted: return [.apply(.delete(event.object))]
        case .bookmark, .error: return []
        }
    }

    /// The stream ended without an error (server timeout, connection closed cleanly). A healthy
    /// watch reconnects at once; one that ended early backs off, so a server that keeps closing
    /// streams is not hammered.
    public mutating func watchEnded(now: Double, random: Double) -> [Action] {
        guard case .watching(let rv) = state else { return [] }
        if wasHealthy(now: now) {
            configuration.backoff.reset()
            watchOpenedAt = nil
            return [.watch(watchOptions(from: rv))]
        }
        return backOff(relist: false, now: now, random: random)
    }

    /// The watch request or its stream failed. 410 Gone (the resourceVersion was compacted,
    /// answered directly or as an ERROR line) re-lists at once; other failures back off.
    public mutating func watchFailed(_ error: any Error, now: Double, random: Double) -> [Action] {
        guard case .watching = state else { return [] }
        if (error as? KubeError)?.isGone == true {
            if wasHealthy(now: now) { configuration.backoff.reset() }
            watchOpenedAt = nil
            return beginList()
        }
        return backOff(relist: false, now: now, random: random)
    }

    /// The delay asked for by `.sleep` is over.
    public mutating func backoffElapsed() -> [Action] {
        guard case .backingOff(let relist, let rv) = state else { return [] }
        if relist || rv == nil { return beginList() }
        let from = rv ?? ""
        state = .watching(resourceVersion: from)
        watchOpenedAt = nil
        return [.watch(watchOptions(from: from))]
    }

    public mutating func stop() {
        state = .stopped
        pages = []
    }

    // MARK: Helpers

    /// A stream that delivered something made progress, and one that stayed up long enough was
    /// healthy; either way the next failure starts the backoff over (kube-rs resets on progress).
    private func wasHealthy(now: Double) -> Bool {
        guard let opened = watchOpenedAt else { return false }
        return eventsSinceOpen > 0 || now - opened >= configuration.healthyAfter
    }

    private mutating func backOff(relist: Bool, now: Double, random: Double) -> [Action] {
        if wasHealthy(now: now) { configuration.backoff.reset() }
        watchOpenedAt = nil
        let delay = configuration.backoff.next(random: random)
        state = .backingOff(relist: relist, resourceVersion: resourceVersion)
        return [.sleep(delay)]
    }

    private mutating func beginList() -> [Action] {
        pages = []
        state = .listing(continueToken: nil)
        return [.list(listOptions(continue: nil))]
    }

    private func listOptions(continue token: String?) -> ListOptions {
        var options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, limit: configuration.pageSize, continue: token)
        options.metadataOnly = configuration.metadataOnly
        return options
    }

    private func watchOptions(from rv: String) -> ListOptions {
        var options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: rv,
                                  timeoutSeconds: configuration.watchTimeoutSeconds, allowWatchBookmarks: true)
        options.metadataOnly = configuration.metadataOnly
        return options
    }
}
