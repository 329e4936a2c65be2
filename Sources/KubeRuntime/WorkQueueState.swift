/// Tunables of a work queue's rate limiting (client-go `DefaultControllerRateLimiter`).
public struct WorkQueueConfiguration: Sendable, Hashable {
    /// Per-item backoff: `baseDelay * 2^failures`, at most `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double
    /// Overall token bucket for rate-limited adds.
    public var qps: Double
    public var burst: Int

    public init(baseDelay: Double = 0.005, maxDelay: Double = 1000, qps: Double = 10, burst: Int = 100) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.qps = qps
        self.burst = burst
    }
}

/// Numbers a metrics layer exports (workqueue_* in controller-runtime).
public struct WorkQueueMetrics: Sendable, Hashable {
    /// Items waiting to be handed out (not those delayed by `addAfter`).
    public var depth: Int
    /// Items delayed by `addAfter` / `addRateLimited`.
    public var waiting: Int
    public var inFlight: Int
    /// Adds that were not de-duplicated (a delayed add counts when it becomes due).
    public var addsTotal: Int
    public var retriesTotal: Int
    /// Sum and count of the time items waited between being queued and handed to a worker.
    public var queueLatencySum: Double
    public var queueLatencyCount: Int
    /// Sum and count of the time between `get` and `done`.
    public var workDurationSum: Double
    public var workDurationCount: Int
    /// Seconds of work in flight not yet done, summed over items (workqueue_unfinished_work_seconds).
    public var unfinishedWorkSeconds: Double
    /// The longest time any in-flight item has been processed (workqueue_longest_running_processor_seconds).
    public var longestRunningProcessorSeconds: Double
}

/// The work queue's rules as a pure value (client-go `workqueue.Typed` + rate limiters):
/// - de-duplication: a key queued twice is handed out once;
/// - a key handed to a worker is not handed out again until `done`; one added meanwhile is marked
///   dirty and queued again on `done`;
/// - delayed adds wait in `waiting` until `promoteDue(now:)`;
/// - `rateLimitedDelay` is max(per-item exponential backoff, overall token bucket);
/// - low-priority adds (periodic resync, the initial list) wait behind every normal one, and a
///   normal add of a key waiting at low priority moves it forward (controller-runtime's priority
///   queue): a spec change is not stuck behind a thousand resync keys.
/// Time is always passed in, so every rule is testable without a clock.
public struct WorkQueueState<Key: Hashable & Sendable>: Sendable {
    public let configuration: WorkQueueConfiguration
    private var queue: [Key] = []
    private var head = 0
    /// Low-priority keys in order; an entry counts only while its key is in `lowQueued` (a key
    /// moved forward leaves a stale entry behind, skipped by `get`).
    private var lowQueue: [Key] = []
    private var lowHead = 0
    private var lowQueued: Set<Key> = []
    /// Dirty keys in flight whose every add was low priority: `done` queues them low again.
    private var pendingLow: Set<Key> = []
    private var dirty: Set<Key> = []
    private var processing: [Key: Double] = [:]
    private var waiting: [Key: Double] = [:]
    private var failures: [Key: Int] = [:]
    private var bucket: TokenBucket
    private var queuedAt: [Key: Double] = [:]
    public private(set) var isShuttingDown = false
    private var counters = (adds: 0, retries: 0, latencySum: 0.0, latencyCount: 0, workSum: 0.0, workCount: 0)

    public init(configuration: WorkQueueConfiguration = WorkQueueConfiguration()) {
        self.configuration = configuration
        self.bucket = TokenBucket(rate: configuration.qps, burst: configuration.burst)
    }

    /// Items ready to be handed out.
    public var depth: Int { queue.count - head + lowQueued.count }
    public var inFlight: Set<Key> { Set(processing.keys) }
    public var waitingCount: Int { waiting.count }
    /// The earliest time a delayed item becomes due.
    public var nextDueTime: Double? { waiting.values.min() }
    public func isDirty(_ key: Key) -> Bool { dirty.contains(key) }
    public func isProcessing(_ key: Key) -> Bool { processing[key] != nil }
    /// Failures recorded for `key` since its last `forget`.
    public func numRequeues(_ key: Key) -> Int { failures[key] ?? 0 }

    /// Queues `key` unless it is already queued. Returns true when it became ready to hand out.
    /// `lowPriority`: handed out only when no normal key is ready.
    @discardableResult
    public mutating func add(_ key: Key, now: Double, lowPriority: Bool = false) -> Bool {
        guard !isShuttingDown else { return false }
        if dirty.contains(key) {
            guard !lowPriority else { return false }
            // Already queued: a normal add moves a low-priority key forward.
            if lowQueued.remove(key) != nil {
                queue.append(key)
                return true
            }
            pendingLow.remove(key)
            return false
        }
        counters.adds += 1
        dirty.insert(key)
        // In flight: `done` queues it again, so the key is never handed to two workers.
        guard processing[key] == nil else {
            if lowPriority { pendingLow.insert(key) }
            return false
        }
        enqueue(key, lowPriority: lowPriority)
        queuedAt[key] = now
        return true
    }

    private mutating func enqueue(_ key: Key, lowPriority: Bool) {
        if lowPriority {
            lowQueue.append(key)
            lowQueued.insert(key)
        } else {
            queue.append(key)
        }
    }

    /// The next key to hand out: normal ones first, then low priority (skipping stale entries).
    private mutating func nextReady() -> Key? {
        if let key = Self.popFirst(&queue, head: &head) { return key }
        while let key = Self.popFirst(&lowQueue, head: &lowHead) {
            if lowQueued.remove(key) != nil { return key }
        }
        return nil
    }

    /// The element at `head` of a FIFO kept as an array and a read index; the consumed prefix is
    /// dropped once it is more than half the array.
    private static func popFirst(_ keys: inout [Key], head: inout Int) -> Key? {
        guard head < keys.count else { return nil }
        let key = keys[head]
        head += 1
        if head > 64, head * 2 > keys.count {
            keys.removeFirst(head)
            head = 0
        }
        return key
    }

    /// Queues `key` once `delay` seconds have passed (at once for a delay ≤ 0). Of two pending
    /// delays for one key the earlier wins.
    @discardableResult
    public mutating func addAfter(_ key: Key, delay: Double, now: Double) -> Bool {
        guard !isShuttingDown else { return false }
        guard delay > 0 else { return add(key, now: now) }
        let due = now + delay
        if let existing = waiting[key], existing <= due { return false }
        waiting[key] = due
        return false
    }

    /// The delay a rate-limited add of `key` gets now: max(item backoff, token bucket). Records
    /// the failure and the reservation.
    public mutating func rateLimitedDelay(_ key: Key, now: Double) -> Double {
        let n = failures[key] ?? 0
        failures[key] = n + 1
        var itemDelay = configuration.baseDelay
        for _ in 0..<n where itemDelay < configuration.maxDelay { itemDelay *= 2 }
        itemDelay = min(itemDelay, configuration.maxDelay)
        let bucketDelay = bucket.reserve(now: now)
        return max(itemDelay, bucketDelay)
    }

    /// Re-queues `key` after its rate-limited delay, and not before `atLeast` seconds (a server's
    /// Retry-After); returns that delay. The backoff grows either way.
    @discardableResult
    public mutating func addRateLimited(_ key: Key, now: Double, atLeast: Double = 0) -> Double {
        guard !isShuttingDown else { return 0 }
        counters.retries += 1
        let delay = max(rateLimitedDelay(key, now: now), atLeast)
        addAfter(key, delay: delay, now: now)
        return delay
    }

    /// Clears the failure count of `key` (it succeeded, or will never be retried).
    public mutating func forget(_ key: Key) { failures[key] = nil }

    /// Moves delayed items whose time has come into the queue; returns how many became ready.
    @discardableResult
    public mutating func promoteDue(now: Double) -> Int {
        let due = waiting.filter { $0.value <= now }.sorted { $0.value < $1.value }
        var ready = 0
        for (key, _) in due {
            waiting[key] = nil
            if add(key, now: now) { ready += 1 }
        }
        return ready
    }

    /// Hands out the next ready key and marks it in flight; nil when none is ready or shutting down.
    public mutating func get(now: Double) -> Key? {
        guard !isShuttingDown else { return nil }
        promoteDue(now: now)
        guard let key = nextReady() else { return nil }
        dirty.remove(key)
        processing[key] = now
        if let t = queuedAt.removeValue(forKey: key) {
            counters.latencySum += max(0, now - t)
            counters.latencyCount += 1
        }
        return key
    }

    /// Marks `key` finished; re-queues it when it was added while in flight. Returns true then.
    @discardableResult
    public mutating func done(_ key: Key, now: Double) -> Bool {
        guard let started = processing.removeValue(forKey: key) else { return false }
        counters.workSum += max(0, now - started)
        counters.workCount += 1
        let low = pendingLow.remove(key) != nil
        guard dirty.contains(key), !isShuttingDown else { return false }
        enqueue(key, lowPriority: low)
        queuedAt[key] = now
        return true
    }

    /// Stops handing out work; queued and delayed items are dropped (a level-based controller
    /// finds them again after a restart). Items in flight may still call `done`.
    public mutating func shutDown() {
        isShuttingDown = true
        queue = []
        head = 0
        lowQueue = []
        lowHead = 0
        lowQueued = []
        pendingLow = []
        dirty = []
        waiting = [:]
        queuedAt = [:]
    }

    public func metrics(now: Double) -> WorkQueueMetrics {
        let running = processing.values.map { max(0, now - $0) }
        return WorkQueueMetrics(
            depth: depth, waiting: waiting.count, inFlight: processing.count,
            addsTotal: counters.adds, retriesTotal: counters.retries,
            queueLatencySum: counters.latencySum, queueLatencyCount: counters.latencyCount,
            workDurationSum: counters.workSum, workDurationCount: counters.workCount,
            unfinishedWorkSeconds: running.reduce(0, +), longestRunningProcessorSeconds: running.max() ?? 0)
    }
}
