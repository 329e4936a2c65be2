/// A rate-limited work queue shared by a controller's workers (the async shell around
/// `WorkQueueState`). Workers loop on `get()` / `done(_:)`; `get()` suspends until a key is
/// ready and returns nil once the queue shuts down. Delayed keys are promoted by a timer on the
/// injected clock.
public actor WorkQueue<Key: Hashable & Sendable> {
    private var state: WorkQueueState<Key>
    private let clock: any RuntimeClock
    private var getters: [(id: UInt64, continuation: CheckedContinuation<Key?, Never>)] = []
    private var nextGetterID: UInt64 = 0
    private var cancelledGetters: Set<UInt64> = []
    private var timer: Task<Void, Never>?
    private var timerDeadline: Double?
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    private let metricsReporter: WorkQueueMetricsReporter?

    /// `metrics`: where to export the `workqueue_*` metrics (nil: none).
    public init(configuration: WorkQueueConfiguration = WorkQueueConfiguration(), clock: any RuntimeClock = SystemClock(),
                metrics: WorkQueueMetricsReporter? = nil) {
        self.state = WorkQueueState(configuration: configuration)
        self.clock = clock
        self.metricsReporter = metrics
    }

    /// `lowPriority`: resync and initial-list adds, handed out after every normal key.
    public func add(_ key: Key, lowPriority: Bool = false) {
        state.add(key, now: clock.now, lowPriority: lowPriority)
        dispatch()
    }

    /// Adds `key` after `delay` seconds (requeue-after).
    public func addAfter(_ key: Key, delay: Double) {
        state.addAfter(key, delay: delay, now: clock.now)
        dispatch()
    }

    /// Adds `key` after its backoff: max(5 ms · 2^failures capped at 1000 s, token bucket delay,
    /// `atLeast`).
    @discardableResult
    public func addRateLimited(_ key: Key, atLeast: Double = 0) -> Double {
        let delay = state.addRateLimited(key, now: clock.now, atLeast: atLeast)
        dispatch()
        return delay
    }

    /// Clears the backoff of `key`.
    public func forget(_ key: Key) { state.forget(key) }

    public func numRequeues(_ key: Key) -> Int { state.numRequeues(key) }

    /// The next key to work on; suspends until one is ready. nil after `shutDown` (or when the
    /// calling task is cancelled): the worker should exit.
    public func get() async -> Key? {
        if let key = state.get(now: clock.now) {
            reportMetrics()
            armTimer()
            return key
        }
        if state.isShuttingDown || Task.isCancelled { return nil }
        nextGetterID += 1
        let id = nextGetterID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if cancelledGetters.remove(id) != nil || state.isShuttingDown {
                    continuation.resume(returning: nil)
                } else {
                    getters.append((id, continuation))
                    dispatch()
                }
            }
        } onCancel: {
            Task { await self.cancelGetter(id) }
        }
    }

    /// Marks `key` finished. If it was added while in flight it is queued again now.
    public func done(_ key: Key) {
        state.done(key, now: clock.now)
        dispatch()
        if state.isShuttingDown, state.inFlight.isEmpty {
            let waiters = drainWaiters
            drainWaiters = []
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Stops handing out work: waiting `get()` calls return nil, queued and delayed keys are
    /// dropped. With `drain`, returns once every key in flight is `done`.
    public func shutDown(drain: Bool) async {
        state.shutDown()
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        reportMetrics()
        let waiting = getters
        getters = []
        for getter in waiting { getter.continuation.resume(returning: nil) }
        guard drain, !state.inFlight.isEmpty else { return }
        await withCheckedContinuation { drainWaiters.append($0) }
    }

    public var isShuttingDown: Bool { state.isShuttingDown }
    public var depth: Int { state.depth }
    public var inFlight: Set<Key> { state.inFlight }

    /// Counters and timings for metrics.
    public func metrics() -> WorkQueueMetrics { state.metrics(now: clock.now) }

    // MARK: Internals

    private func cancelGetter(_ id: UInt64) {
        if let index = getters.firstIndex(where: { $0.id == id }) {
            getters.remove(at: index).continuation.resume(returning: nil)
        } else {
            cancelledGetters.insert(id)
        }
    }

    /// Hands ready keys to waiting workers, then (re)arms the timer for the next delayed key.
    private func dispatch() {
        let now = clock.now
        while !getters.isEmpty, let key = state.get(now: now) {
            // One item at a time, so the metrics see each item's queue latency exactly.
            reportMetrics()
            getters.removeFirst().continuation.resume(returning: key)
        }
        reportMetrics()
        armTimer()
    }

    /// Hands the counters to the metrics reporter (after every change of the state).
    private func reportMetrics() {
        guard let metricsReporter else { return }
        let now = clock.now
        metricsReporter.update(state.metrics(now: now), now: now, clock: clock)
    }

    private func armTimer() {
        guard let due = state.nextDueTime, !state.isShuttingDown else {
            timer?.cancel()
            timer = nil
            timerDeadline = nil
            return
        }
        if let current = timerDeadline, current <= due { return }
        timer?.cancel()
        timerDeadline = due
        let clock = clock
        timer = Task {
            do { try await clock.sleep(until: due) } catch { return }
            self.timerFired(due)
        }
    }

    private func timerFired(_ due: Double) {
        guard timerDeadline == due else { return }
        timer = nil
        timerDeadline = nil
        state.promoteDue(now: clock.now)
        dispatch()
    }
}
