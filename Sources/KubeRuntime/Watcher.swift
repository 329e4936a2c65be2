import KubeCore
import Synchronization

/// The async shell around `WatcherStateMachine`: makes the LIST and WATCH requests it asks for,
/// sleeps its backoffs on the injected clock, and hands cache operations to `sink` in order.
/// Every object goes through `transform` as it arrives (each LIST item as it is parsed, each watch
/// event's object), so what the machine collects across LIST pages is already the cache's
/// projection, never a page of full objects. Runs until its task is cancelled.
public final class Watcher: Sendable {
    public typealias Client = KubernetesReader & KubernetesWatcher

    public let resource: ResourceType
    /// nil watches all namespaces (or a cluster-scoped kind).
    public let namespace: String?
    private let client: any Client
    private let clock: any RuntimeClock
    private let random: @Sendable () -> Double
    private let transform: @Sendable (JSONValue) -> JSONValue
    private let machine: Mutex<WatcherStateMachine>

    public init(client: any Client, resource: ResourceType, namespace: String?, labelSelector: String? = nil,
                fieldSelector: String? = nil, configuration: WatcherConfiguration = WatcherConfiguration(),
                clock: any RuntimeClock = SystemClock(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                transform: @escaping @Sendable (JSONValue) -> JSONValue = { $0 }) {
        self.client = client
        self.transform = transform
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
                    let page = try await client.list(resource, namespace: namespace, options: options, transformingItems: transform)
                    pending += machine.withLock { $0.listPage(page) }
                } catch {
                    if Task.isCancelled { break }
                    let (now, r) = (clock.now, random())
                    pending += machine.withLock { $0.listFailed(error, now: now, random: r) }
                }
            case .watch(let options):
                pending += await watch(options: options, sink: sink)
            }
        }
        machine.withLock { $0.stop() }
    }

    /// Reads one watch stream to its end; returns what the machine wants next.
    private func watch(options: ListOptions, sink: @Sendable (CacheOperation) async -> Void) async -> [WatcherStateMachine.Action] {
        let stream: WatchStream
        do {
            stream = try await client.watch(resource, namespace: namespace, options: options)
        } catch {
            if Task.isCancelled { return [] }
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
            let (now, r) = (clock.now, random())
            return machine.withLock { $0.watchFailed(error, now: now, random: r) }
        }
        if Task.isCancelled { return [] }
        let (now, r) = (clock.now, random())
        return machine.withLock { $0.watchEnded(now: now, random: r) }
    }
}
