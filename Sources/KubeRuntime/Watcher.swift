import KubeCore
import Logging
import Synchronization

/// The async shell around `WatcherStateMachine`: makes the LIST and WATCH requests it asks for,
/// sleeps its backoffs on the injected clock, and hands cache operations to `sink` in order.
/// Every object goes through `transform` as it arrives (each LIST item as it is parsed, each watch
/// event's object), so what the machine collects across LIST pages is already the cache's
/// projection, never a page of full objects. Runs until its task is cancelled.
///
/// A failed LIST is logged on every attempt (the state machine's backoff spaces them: at most one
/// line per 30 s once it is capped) and kept as `lastListError` until a LIST succeeds, so a kind that
/// is not served or not permitted is named in the log instead of leaving the informer silently
/// unsynced.
public final class Watcher: Sendable {
    public typealias Client = KubernetesReader & KubernetesWatcher

    public let resource: ResourceType
    /// nil watches all namespaces (or a cluster-scoped kind).
    public let namespace: String?
    private let client: any Client
    private let clock: any RuntimeClock
    private let random: @Sendable () -> Double
    private let transform: @Sendable (JSONValue) -> JSONValue
    /// `transform` removes `metadata.managedFields`: LIST pages and watch lines skip it unbuilt.
    private let transformDropsManagedFields: Bool
    private let machine: Mutex<WatcherStateMachine>
    private let logger: Logger
    private let crdHint: String?
    private let listError = Mutex<ListFailure?>(nil)

    /// `logger`: where failed LISTs and watches are reported. `crdHint`: the command that installs
    /// the process's CRDs, named when the API server does not serve the resource (404).
    public init(client: any Client, resource: ResourceType, namespace: String?, labelSelector: String? = nil,
                fieldSelector: String? = nil, configuration: WatcherConfiguration = WatcherConfiguration(),
                clock: any RuntimeClock = SystemClock(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                transform: @escaping @Sendable (JSONValue) -> JSONValue = { $0 }, transformDropsManagedFields: Bool = false,
                logger: Logger = .disabled, crdHint: String? = nil) {
        self.client = client
        self.logger = logger
        self.crdHint = crdHint
        self.transform = transform
        self.transformDropsManagedFields = transformDropsManagedFields
        self.resource = resource
        self.namespace = namespace
        self.clock = clock
        self.random = random
        self.machine = Mutex(WatcherStateMachine(labelSelector: labelSelector, fieldSelector: fieldSelector, configuration: configuration))
    }

    /// True once the first complete LIST reached the sink.
    public var hasSynced: Bool { machine.withLock { $0.hasSynced } }
    /// The state machine's current state (for logs and tests).
    public var state: WatcherStateMachine.State { machine.withLock { $0.state } }
    /// Complete LISTs so far (1 after the initial sync; each 410 adds one).
    public var listCount: Int { machine.withLock { $0.listCount } }
    /// Why the last LIST failed; nil once a LIST page was answered (and before the first failure).
    public var lastListError: ListFailure? { listError.withLock { $0 } }

    /// Lists and watches until cancelled, feeding `sink`. Called once.
    public func run(sink: @Sendable (CacheOperation) async -> Void) async {
        var pending = machine.withLock { $0.start() }
        while !Task.isCancelled, !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .apply(let op):
                await sink(op)
            case .sleep(let seconds):
                do { try await clock.sleep(for: seconds) } catch { break }
                pending += machine.withLock { $0.backoffElapsed() }
            case .list(let options):
                do {
                    let page = try await client.list(resource, namespace: namespace, options: options, transformingItems: transform,
                                                     droppingManagedFields: transformDropsManagedFields)
                    listSucceeded()
                    pending += machine.withLock { $0.listPage(page) }
                } catch {
                    if Task.isCancelled { break }
                    let (now, r) = (clock.now, random())
                    let next = machine.withLock { $0.listFailed(error, now: now, random: r) }
                    listFailed(error, retry: next)
                    pending += next
                }
            case .watch(let options):
                pending += await watch(options: options, sink: sink)
            }
        }
        machine.withLock { $0.stop() }
    }

    private var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["resource": .string(resource.groupResource)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        return metadata
    }

    private func listFailed(_ error: any Error, retry next: [WatcherStateMachine.Action]) {
        // An expired continue token restarts the list at once: routine, not a failure to report.
        guard next.contains(where: { if case .sleep = $0 { return true } else { return false } }) else {
            logger.debug("list continue token expired; listing again from the start", metadata: logMetadata)
            return
        }
        let failure = listError.withLock { last -> ListFailure in
            let failure = ListFailure(error, resource: resource, namespace: namespace, attempts: (last?.attempts ?? 0) + 1, crdHint: crdHint)
            last = failure
            return failure
        }
        var metadata = logMetadata
        metadata["error"] = .string(failure.error)
        metadata["attempt"] = .string("\(failure.attempts)")
        if let code = failure.httpCode { metadata["code"] = .string("\(code)") }
        for case .sleep(let seconds) in next { metadata["retryIn"] = .string("\(fixedPoint(seconds, digits: 1))s") }
        logger.log(level: failure.logLevel, "cannot list \(failure.resource): \(failure.fix)", metadata: metadata)
    }

    private func listSucceeded() {
        guard let previous = listError.withLock({ last -> ListFailure? in defer { last = nil }; return last }) else { return }
        var metadata = logMetadata
        metadata["failedAttempts"] = .string("\(previous.attempts)")
        logger.info("listing \(resource.groupResource) works again", metadata: metadata)
    }

    private func watchFailed(_ error: any Error) {
        var metadata = logMetadata
        metadata["error"] = .string("\(error)")
        // A watch ends for ordinary reasons (410 after compaction, a connection reset); the re-watch or
        // re-list that follows reports a lasting problem through the LIST.
        logger.debug("watch failed; the watcher tries again", metadata: metadata)
    }

    /// Reads one watch stream to its end; returns what the machine wants next.
    private func watch(options: ListOptions, sink: @Sendable (CacheOperation) async -> Void) async -> [WatcherStateMachine.Action] {
        let stream: WatchStream
        do {
            var opened = try await client.watch(resource, namespace: namespace, options: options)
            opened.droppingManagedFields = transformDropsManagedFields
            stream = opened
        } catch {
            if Task.isCancelled { return [] }
            watchFailed(error)
            let (now, r) = (clock.now, random())
            return machine.withLock { $0.watchFailed(error, now: now, random: r) }
        }
        let opened = clock.now
        machine.withLock { $0.watchOpened(now: opened) }
        do {
            try await withTaskCancellationHandler {
                for try await received in stream {
                    var event = received
                    if event.type == .added || event.type == .modified || event.type == .deleted { event.object = transform(event.object) }
                    let now = clock.now
                    let actions = machine.withLock { $0.watchEvent(event, now: now) }
                    for case .apply(let op) in actions { await sink(op) }
                }
            } onCancel: {
                stream.cancel()
            }
        } catch {
            stream.cancel()
            if Task.isCancelled { return [] }
            watchFailed(error)
            let (now, r) = (clock.now, random())
            return machine.withLock { $0.watchFailed(error, now: now, random: r) }
        }
        if Task.isCancelled { return [] }
        let (now, r) = (clock.now, random())
        return machine.withLock { $0.watchEnded(now: now, random: r) }
    }
}
