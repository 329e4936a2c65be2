import Prometheus
import Synchronization

/// The operator's Prometheus metrics, with controller-runtime's and client-go's names, so
/// dashboards and alerts written for controller-runtime operators work unchanged.
///
/// One instance per manager, on a registry of its own (never the global `MetricsSystem`), so
/// tests and several managers in one process do not share counters. Controllers, work queues,
/// leader electors and `MetricsTransport` report to it when they are given it (nil: no metrics).
public final class RuntimeMetrics: Sendable {
    /// Where every metric is registered; `exposition()` renders it.
    public let registry: PrometheusCollectorRegistry
    private let queues = Mutex<[WorkQueueMetricsReporter]>([])
    private let eventRecorders = Mutex<[EventRecorderMetricsReporter]>([])
    /// The request metrics by their labels: the registry validates and looks up a metric's labels
    /// under its lock on every `make…` call, and every API request records two.
    private let requestMetrics = Mutex<(counters: [RequestLabels: Counter], histograms: [RequestLabels: ValueHistogram])>(([:], [:]))

    private struct RequestLabels: Hashable {
        var code: String
        var method: String
        var host: String
    }

    /// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets.
    public static let reconcileTimeBuckets: [Double] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
        1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
    ]
    /// client-go's work queue latency buckets: `ExponentialBuckets(10e-9, 10, 12)` (10 ns … 1000 s).
    public static let workQueueBuckets: [Double] = (0..<12).map { i in
        (0..<i).reduce(1e-8) { value, _ in value * 10 }
    }
    /// client-go's `rest_client_request_duration_seconds` buckets.
    public static let requestDurationBuckets: [Double] = [0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0]

    /// Result labels of `controller_runtime_reconcile_total` (all are exported from the start, at 0).
    public static let reconcileResults = ["success", "error", "requeue", "requeue_after"]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric. Time-dependent work queue
    /// gauges (unfinished work, longest running processor) are brought up to date first.
    public func exposition() -> String {
        for queue in queues.withLock({ $0 }) { queue.refreshTimeGauges() }
        for recorder in eventRecorders.withLock({ $0 }) { recorder.refresh() }
        return registry.emitToString()
    }

    // MARK: Factories for the reporting pieces

    /// The reporter of a controller's `controller_runtime_*` metrics.
    public func controller(name: String, maxConcurrentReconciles: Int) -> ControllerMetricsReporter {
        ControllerMetricsReporter(registry: registry, name: name, maxConcurrentReconciles: maxConcurrentReconciles)
    }

    /// The reporter of a work queue's `workqueue_*` metrics (`name` is the queue's, i.e. the controller's, name).
    public func workQueue(name: String) -> WorkQueueMetricsReporter {
        let reporter = WorkQueueMetricsReporter(registry: registry, name: name)
        queues.withLock { $0.append(reporter) }
        return reporter
    }

    /// Exports `recorder`'s counters as `event_recorder_events_total{result}`: Events recorded,
    /// dropped because the recorder's queue was full, created, patched (repeats) and failed writes.
    public func eventRecorder(_ recorder: EventRecorder) {
        let reporter = EventRecorderMetricsReporter(registry: registry, recorder: recorder)
        eventRecorders.withLock { $0.append(reporter) }
    }

    /// Counts and times one API request (`rest_client_requests_total`, `rest_client_request_duration_seconds`).
    /// `code` is the HTTP status, or `<error>` when no answer arrived (as client-go).
    public func recordRequest(code: String, method: String, host: String, seconds: Double) {
        let counterLabels = RequestLabels(code: code, method: method, host: host)
        let histogramLabels = RequestLabels(code: "", method: method, host: host)
        let (counter, histogram) = requestMetrics.withLock { held in
            let counter = held.counters[counterLabels] ?? registry.makeCounter(
                descriptor: Self.name("rest_client_requests_total", "Number of HTTP requests, partitioned by status code, method, and host."),
                labels: [("code", code), ("method", method), ("host", host)])
            let histogram = held.histograms[histogramLabels] ?? registry.makeValueHistogram(
                descriptor: Self.name("rest_client_request_duration_seconds", "Request latency in seconds. Broken down by verb, and host."),
                labels: [("verb", method), ("host", host)], buckets: Self.requestDurationBuckets)
            held.counters[counterLabels] = counter
            held.histograms[histogramLabels] = histogram
            return (counter, histogram)
        }
        counter.increment()
        histogram.record(max(0, seconds))
    }

    /// The `leader_election_master_status{name}` gauge: 1 while this process leads, else 0.
    public func leaderElectionStatus(name: String) -> Gauge {
        registry.makeGauge(descriptor: Self.name("leader_election_master_status",
                                                 "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease."),
                           labels: [("name", name)])
    }

    /// A descriptor for a full metric name (the registry joins non-empty parts; the unit is part of `full`).
    static func name(_ full: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: full, unitName: "", helpText: help)
    }
}

/// A controller's `controller_runtime_*` metrics; the controller calls `started` and `finished`
/// around each reconcile.
public final class ControllerMetricsReporter: Sendable {
    private let total: [String: Counter]
    private let errors: Counter
    private let terminalErrors: Counter
    private let time: ValueHistogram
    private let active: Gauge

    init(registry: PrometheusCollectorRegistry, name: String, maxConcurrentReconciles: Int) {
        let label = [("controller", name)]
        var total: [String: Counter] = [:]
        for result in RuntimeMetrics.reconcileResults {
            total[result] = registry.makeCounter(
                descriptor: RuntimeMetrics.name("controller_runtime_reconcile_total", "Total number of reconciliations per controller"),
                labels: [("controller", name), ("result", result)])
        }
        self.total = total
        errors = registry.makeCounter(descriptor: RuntimeMetrics.name("controller_runtime_reconcile_errors_total",
                                                                      "Total number of reconciliation errors per controller"), labels: label)
        terminalErrors = registry.makeCounter(descriptor: RuntimeMetrics.name("controller_runtime_terminal_reconcile_errors_total",
                                                                              "Total number of terminal reconciliation errors per controller"), labels: label)
        time = registry.makeValueHistogram(descriptor: RuntimeMetrics.name("controller_runtime_reconcile_time_seconds",
                                                                           "Length of time per reconciliation per controller"),
                                           labels: label, buckets: RuntimeMetrics.reconcileTimeBuckets)
        active = registry.makeGauge(descriptor: RuntimeMetrics.name("controller_runtime_active_workers",
                                                                    "Number of currently used workers per controller"), labels: label)
        registry.makeGauge(descriptor: RuntimeMetrics.name("controller_runtime_max_concurrent_reconciles",
                                                           "Maximum number of concurrent reconciles per controller"), labels: label)
            .set(Double(maxConcurrentReconciles))
        active.set(0.0)
    }

    /// The `result` label controller-runtime gives a reconcile's outcome.
    public static func resultLabel(_ result: ReconcileResult) -> String {
        switch result {
        case .done: return "success"
        case .requeue(let after): return after > 0 ? "requeue_after" : "requeue"
        case .retry: return "requeue"
        case .error, .terminalError: return "error"
        }
    }

    public func started() { active.increment() }

    public func finished(_ result: ReconcileResult, seconds: Double) {
        active.decrement()
        total[Self.resultLabel(result)]?.increment()
        switch result {
        case .error: errors.increment()
        case .terminalError:
            errors.increment()
            terminalErrors.increment()
        case .done, .requeue, .retry: break
        }
        time.record(max(0, seconds))
    }
}

/// A work queue's `workqueue_*` metrics. The queue hands it a snapshot of its counters after
/// every change; the reporter turns the differences into counter increments and histogram
/// observations (one item at a time, so each observation is exact).
public final class WorkQueueMetricsReporter: Sendable {
    private struct Last {
        var metrics: WorkQueueMetrics?
        var at = 0.0
        var clock: (any RuntimeClock)?
    }
    private let depth: Gauge
    private let adds: Counter
    private let retries: Counter
    private let queueDuration: ValueHistogram
    private let workDuration: ValueHistogram
    private let unfinished: Gauge
    private let longest: Gauge
    private let last = Mutex(Last())

    init(registry: PrometheusCollectorRegistry, name: String) {
        let label = [("name", name)]
        func gauge(_ n: String, _ help: String) -> Gauge { registry.makeGauge(descriptor: RuntimeMetrics.name(n, help), labels: label) }
        func histogram(_ n: String, _ help: String) -> ValueHistogram {
            registry.makeValueHistogram(descriptor: RuntimeMetrics.name(n, help), labels: label, buckets: RuntimeMetrics.workQueueBuckets)
        }
        depth = gauge("workqueue_depth", "Current depth of workqueue")
        adds = registry.makeCounter(descriptor: RuntimeMetrics.name("workqueue_adds_total", "Total number of adds handled by workqueue"), labels: label)
        retries = registry.makeCounter(descriptor: RuntimeMetrics.name("workqueue_retries_total", "Total number of retries handled by workqueue"),
                                       labels: label)
        queueDuration = histogram("workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being requested")
        workDuration = histogram("workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes.")
        unfinished = gauge("workqueue_unfinished_work_seconds",
                           "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.")
        longest = gauge("workqueue_longest_running_processor_seconds",
                        "How many seconds has the longest running processor for workqueue been running.")
        for g in [depth, unfinished, longest] { g.set(0.0) }
    }

    /// Called by the queue after each change with its counters at `now` on `clock`.
    public func update(_ metrics: WorkQueueMetrics, now: Double, clock: any RuntimeClock) {
        let previous = last.withLock { state -> WorkQueueMetrics? in
            let previous = state.metrics
            state = Last(metrics: metrics, at: now, clock: clock)
            return previous
        }
        let before = previous ?? WorkQueueMetrics(depth: 0, waiting: 0, inFlight: 0, addsTotal: 0, retriesTotal: 0, queueLatencySum: 0,
                                                  queueLatencyCount: 0, workDurationSum: 0, workDurationCount: 0,
                                                  unfinishedWorkSeconds: 0, longestRunningProcessorSeconds: 0)
        depth.set(Double(metrics.depth))
        if metrics.addsTotal > before.addsTotal { adds.increment(by: Int64(metrics.addsTotal - before.addsTotal)) }
        if metrics.retriesTotal > before.retriesTotal { retries.increment(by: Int64(metrics.retriesTotal - before.retriesTotal)) }
        Self.observe(queueDuration, count: metrics.queueLatencyCount - before.queueLatencyCount,
                     sum: metrics.queueLatencySum - before.queueLatencySum)
        Self.observe(workDuration, count: metrics.workDurationCount - before.workDurationCount,
                     sum: metrics.workDurationSum - before.workDurationSum)
        unfinished.set(metrics.unfinishedWorkSeconds)
        longest.set(metrics.longestRunningProcessorSeconds)
    }

    /// New observations since the last snapshot; the queue reports after every item, so `count`
    /// is normally 1 and the value exact (several at once get their mean).
    private static func observe(_ histogram: ValueHistogram, count: Int, sum: Double) {
        guard count > 0 else { return }
        let each = max(0, sum / Double(count))
        for _ in 0..<count { histogram.record(each) }
    }

    /// Ages the in-flight gauges to the clock's present: every item in flight has been running
    /// for the time since the last snapshot too.
    func refreshTimeGauges() {
        let snapshot = last.withLock { $0 }
        guard let metrics = snapshot.metrics, let clock = snapshot.clock, metrics.inFlight > 0 else { return }
        let elapsed = max(0, clock.now - snapshot.at)
        unfinished.set(metrics.unfinishedWorkSeconds + Double(metrics.inFlight) * elapsed)
        longest.set(metrics.longestRunningProcessorSeconds + elapsed)
    }
}

/// Turns an `EventRecorder`'s running counters into counter increments when metrics are read: the
/// recorder stays free of metrics, and a scrape costs one read of its counters.
final class EventRecorderMetricsReporter: Sendable {
    static let results = ["recorded", "dropped", "created", "patched", "failed"]

    static func count(_ result: String, in stats: EventRecorderStats) -> Int {
        switch result {
        case "recorded": stats.recorded
        case "dropped": stats.dropped
        case "created": stats.created
        case "patched": stats.patched
        default: stats.failed
        }
    }
    private let recorder: EventRecorder
    private let counters: [Counter]
    private let last = Mutex(EventRecorderStats())

    init(registry: PrometheusCollectorRegistry, recorder: EventRecorder) {
        self.recorder = recorder
        let descriptor = RuntimeMetrics.name("event_recorder_events_total",
                                             "Events by what became of them: recorded, dropped (the recorder's queue was full), created, patched (a repeat), failed")
        counters = Self.results.map { registry.makeCounter(descriptor: descriptor, labels: [("result", $0)]) }
    }

    func refresh() {
        let now = recorder.stats
        let before = last.withLock { previous in
            defer { previous = now }
            return previous
        }
        for (counter, result) in zip(counters, Self.results) {
            let added = Self.count(result, in: now) - Self.count(result, in: before)
            if added > 0 { counter.increment(by: Int64(added)) }
        }
    }
}
