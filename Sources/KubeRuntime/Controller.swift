import KubeCore
import Logging
import Synchronization

/// Options of a controller.
public struct ControllerOptions: Sendable {
    /// Workers reconciling in parallel (never two on one key).
    public var maxConcurrentReconciles: Int
    /// Every cached primary is queued again this often, as a safety net against missed events
    /// (nil: never).
    public var resyncPeriod: Double?
    public var queue: WorkQueueConfiguration
    /// Wait for every informer's first list before the first reconcile (controller-runtime does).
    public var waitForCacheSync: Bool

    public init(maxConcurrentReconciles: Int = 1, resyncPeriod: Double? = 600,
                queue: WorkQueueConfiguration = WorkQueueConfiguration(), waitForCacheSync: Bool = true) {
        self.maxConcurrentReconciles = max(1, maxConcurrentReconciles)
        self.resyncPeriod = resyncPeriod
        self.queue = queue
        self.waitForCacheSync = waitForCacheSync
    }
}

/// Counters a metrics layer exports (controller_runtime_* in controller-runtime).
public struct ControllerMetrics: Sendable, Hashable {
    /// Reconciles by result label: `success`, `requeue_after`, `error`.
    public var reconcileTotal: [String: Int] = [:]
    public var reconcileErrorsTotal = 0
    public var terminalErrorsTotal = 0
    public var reconcileTimeSum = 0.0
    public var activeWorkers = 0
}

/// Wires informers, a work queue and a reconciler: changes of the primary kind queue its key,
/// changes of owned kinds queue their controller owner, `watches` relations queue what a mapper
/// says; N workers reconcile keys from the queue and apply the result (done, requeue after,
/// error with backoff, terminal error). Informers are run by the caller (a manager), which can
/// share them between controllers.
public final class Controller: Sendable {
    public let name: String
    public let primary: Informer
    public let options: ControllerOptions
    public let queue: WorkQueue<ObjectKey>
    private let reconciler: any Reconciler
    private let clock: any RuntimeClock
    private let hooks: (any ReconcileHooks)?
    /// Informers other than the primary whose changes queue keys; `required`: `run` waits for it.
    private let sources = Mutex<[(informer: Informer, required: Bool)]>([])
    /// Set by `shutDown`; wakes a `run` still waiting for its caches.
    private let stopping = ShutdownSignal()
    private let counters = Mutex(ControllerMetrics())
    private let metricsReporter: ControllerMetricsReporter?
    private let logger: Logger

    /// `metrics`: the manager's Prometheus metrics, to export `controller_runtime_*` and this
    /// controller's `workqueue_*` (labelled with `name`); nil: none.
    public init(name: String, primary: Informer, reconciler: any Reconciler, options: ControllerOptions = ControllerOptions(),
                clock: any RuntimeClock = SystemClock(), hooks: (any ReconcileHooks)? = nil, metrics: RuntimeMetrics? = nil,
                logger: Logger = .disabled) {
        self.name = name
        self.logger = logger
        self.primary = primary
        self.reconciler = reconciler
        self.options = options
        self.clock = clock
        self.hooks = hooks
        self.metricsReporter = metrics?.controller(name: name, maxConcurrentReconciles: options.maxConcurrentReconciles)
        self.queue = WorkQueue(configuration: options.queue, clock: clock, metrics: metrics?.workQueue(name: name))
        let queue = queue
        primary.addHandler { change in
            for object in Self.objects(of: change) {
                if let key = ObjectKey(object: object) { await queue.add(key) }
            }
        }
    }

    /// Queues the controller owner of every changed `child` whose controller ownerReference points
    /// at the primary kind (same API group and kind; the owner lives in the child's namespace).
    public func owns(_ child: Informer) {
        let primaryType = primary.resource
        watches(child) { object in Self.controllerOwnerKeys(of: object, ownerType: primaryType) }
    }

    /// Queues whatever keys of the primary kind `mapper` returns for a changed object.
    ///
    /// `requiredForSync: false`: `run` does not wait for this informer's first list (the controller
    /// can work without it, e.g. a kind whose CRD may not be installed). Until it syncs, the
    /// reconciler must not take its empty cache for "no objects" (`Informer.hasSynced`,
    /// `Informer.lastListError` tell); once it syncs, every cached primary is queued again, since
    /// passes before that ran without it.
    public func watches(_ informer: Informer, requiredForSync: Bool = true, mapper: @escaping @Sendable (JSONValue) -> [ObjectKey]) {
        sources.withLock { $0.append((informer, requiredForSync)) }
        let queue = queue
        informer.addHandler { change in
            var keys = Set<ObjectKey>()
            for object in Self.objects(of: change) { keys.formUnion(mapper(object)) }
            for key in keys.sorted() { await queue.add(key) }
        }
    }

    /// Queues `mapper`'s keys for objects the informer reports gone (deleted, or missing from a
    /// re-list), and for nothing else: for objects the primary does not own but waits to see go,
    /// such as someone else's object under a name the primary needs. The informer must be a
    /// source of this controller already (`owns` or `watches`).
    public func watchesDeletions(of informer: Informer, mapper: @escaping @Sendable (JSONValue) -> [ObjectKey]) {
        let queue = queue
        informer.addHandler { change in
            guard case .deleted(let object) = change else { return }
            for key in Set(mapper(object)).sorted() { await queue.add(key) }
        }
    }

    /// The owner keys of `object` through its controller ownerReference, when that reference
    /// names `ownerType` (group and kind compared; versions of one group are the same objects).
    public static func controllerOwnerKeys(of object: JSONValue, ownerType: ResourceType) -> [ObjectKey] {
        guard let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue else { return [] }
        for ref in refs where ref["controller"]?.boolValue == true {
            guard let kind = ref["kind"]?.stringValue, let apiVersion = ref["apiVersion"]?.stringValue,
                  let name = ref["name"]?.stringValue, !name.isEmpty else { return [] }
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            guard kind == ownerType.kind, group == ownerType.group else { return [] }
            let namespace = ownerType.namespaced ? object[path: ["metadata", "namespace"]]?.stringValue : nil
            return [ObjectKey(namespace: namespace, name: name)]
        }
        return []
    }

    private static func objects(of change: ObjectChange) -> [JSONValue] {
        switch change {
        case .added(let o), .deleted(let o): return [o]
        case .updated(let old, let new): return [old, new]
        }
    }

    public var metrics: ControllerMetrics { counters.withLock { $0 } }

    /// Waits for the caches, then reconciles until the task is cancelled or `shutDown` is called.
    /// Either way it stops taking work, lets reconciles in flight finish, and returns.
    public func run() async {
        await withTaskCancellationHandler {
            let all = sources.withLock { $0 }
            let required = [primary] + all.filter { $0.required }.map { $0.informer }
            let optional = all.filter { !$0.required }.map { $0.informer }
            if options.waitForCacheSync {
                let pending = required.filter { !$0.hasSynced }
                if !pending.isEmpty {
                    logger.info("controller waiting for informers to sync", metadata: [
                        "controller": .string(name), "informers": .string(pending.map(\.resource.groupResource).joined(separator: ", ")),
                    ])
                }
                guard await waitForSync(required) else {
                    logger.info("controller stopped before its informers synced", metadata: ["controller": .string(name)])
                    await queue.shutDown(drain: true)
                    return
                }
            }
            logger.info("controller started", metadata: ["controller": .string(name), "workers": .string("\(options.maxConcurrentReconciles)")])
            // Handlers added after an informer started missed its first events: queue every
            // cached primary once, as a resync would.
            for key in primary.store.keys { await queue.add(key, lowPriority: true) }
            let workers = options.maxConcurrentReconciles
            await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<workers {
                    group.addTask { await self.worker(); return true }
                }
                if let period = options.resyncPeriod, period > 0 {
                    group.addTask { await self.resyncLoop(period: period); return false }
                }
                // Passes before an optional informer synced ran without it: look at everything again.
                for informer in optional where !informer.hasSynced {
                    group.addTask {
                        if await informer.waitForSync(), !(await self.queue.isShuttingDown) { await self.resyncNow() }
                        return false
                    }
                }
                // Workers end only on shutdown; then stop the resync loop and the sync waiters too.
                var finished = 0
                for await wasWorker in group where wasWorker {
                    finished += 1
                    if finished == workers { group.cancelAll() }
                }
            }
        } onCancel: {
            let queue = queue
            Task { await queue.shutDown(drain: false) }
        }
        await queue.shutDown(drain: true)
    }

    private static func log(_ result: ReconcileResult, seconds: Double, to logger: Logger) {
        let duration: Logger.MetadataValue = .string(fixedPoint(seconds, digits: 3))
        switch result {
        case .done:
            logger.debug("reconcile finished", metadata: ["duration": duration])
        case .requeue(let after):
            logger.debug("reconcile finished, requeued", metadata: ["duration": duration, "requeueAfter": .string(fixedPoint(after, digits: 3))])
        case .retry(let message, let atLeast):
            logger.info("reconcile will be retried with backoff", metadata: ["duration": duration, "reason": .string(message),
                                                                            "notBefore": .string(fixedPoint(atLeast, digits: 3))])
        case .error(let message):
            logger.error("reconcile failed, will retry with backoff", metadata: ["duration": duration, "error": .string(message)])
        case .terminalError(let message):
            logger.error("reconcile failed, not retried until the object changes", metadata: ["duration": duration, "error": .string(message)])
        }
    }

    /// Stops taking work; returns once reconciles in flight have finished. A `run` still waiting for
    /// its informers to sync returns at once (nothing was in flight).
    public func shutDown() async {
        stopping.fire()
        await queue.shutDown(drain: true)
    }

    /// Waits until every informer synced; false when `shutDown` or cancellation came first.
    private func waitForSync(_ informers: [Informer]) async -> Bool {
        if informers.allSatisfy(\.hasSynced) { return true }
        let stopping = stopping
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for informer in informers {
                    guard await informer.waitForSync() else { return false }
                }
                return true
            }
            group.addTask {
                await stopping.wait()
                return false
            }
            let synced = await group.next() ?? false
            group.cancelAll()
            return synced && !stopping.hasFired
        }
    }

    /// Queues every cached primary (what the periodic resync does), behind any change waiting.
    public func resyncNow() async {
        for key in primary.store.keys { await queue.add(key, lowPriority: true) }
    }

    private func resyncLoop(period: Double) async {
        while !Task.isCancelled {
            do { try await clock.sleep(for: period) } catch { return }
            if await queue.isShuttingDown { return }
            await resyncNow()
        }
    }

    private func worker() async {
        while let key = await queue.get() {
            counters.withLock { $0.activeWorkers += 1 }
            hooks?.willReconcile(key, controller: name)
            metricsReporter?.started()
            let started = clock.now
            // Unstructured on purpose: cancelling `run` must not cancel a reconcile half-way
            // (graceful shutdown lets in-flight work finish).
            let reconciler = reconciler
            let context = ReconcileContext(controller: name, key: key, baseLogger: logger)
            context.logger.debug("reconcile started")
            let result = await Task {
                await ReconcileContext.$current.withValue(context) { await reconciler.reconcile(key) }
            }.value
            let seconds = max(0, clock.now - started)
            hooks?.didReconcile(key, controller: name, result: result, seconds: seconds)
            Self.log(result, seconds: seconds, to: context.logger)
            metricsReporter?.finished(result, seconds: seconds)
            counters.withLock { c in
                c.activeWorkers -= 1
                c.reconcileTotal[result.label, default: 0] += 1
                c.reconcileTimeSum += seconds
                if case .error = result { c.reconcileErrorsTotal += 1 }
                if case .terminalError = result { c.reconcileErrorsTotal += 1; c.terminalErrorsTotal += 1 }
            }
            switch result {
            case .done, .terminalError:
                await queue.forget(key)
            case .requeue(let after):
                await queue.forget(key)
                await queue.addAfter(key, delay: after)
            case .error:
                await queue.addRateLimited(key)
            case .retry(_, let atLeast):
                await queue.addRateLimited(key, atLeast: atLeast)
            }
            await queue.done(key)
        }
    }
}

/// A one-way flag that async code can wait for: `fire` wakes every waiter, and later waiters return
/// at once. A waiter whose task is cancelled returns too.
final class ShutdownSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [UInt64: CheckedContinuation<Void, Never>], nextID: UInt64)>((false, [:], 0))

    var hasFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.fired = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.fired || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
