import Foundation
import KubeCore
import Synchronization

/// How the simulated controllers behave (`KubeTestServerOptions.simulation`,
/// `KubeTestServer.simulation.settings`). Times are in seconds and deliberately short.
public struct SimulationSettings: Sendable, Hashable {
    /// Run the simulated kube-controller-manager and kubelet (off by default).
    public var enabled = false
    /// From a Pod's creation to Running and Ready (0 = at once).
    public var podStartDelay: Double = 0.05
    /// How long a rollout may take before its Deployment reports `Progressing=False` /
    /// `ProgressDeadlineExceeded`, the same for every Deployment. nil (the default): derived from
    /// each Deployment's `spec.progressDeadlineSeconds` (`progressDeadline(for:)`).
    public var progressDeadline: Double?
    /// Simulated seconds per second of `spec.progressDeadlineSeconds`: its default, 600 s, becomes 0.3 s.
    public var progressDeadlineScale: Double = 0.0005
    /// From a Job's creation to its completion (or simulated failure).
    public var jobDuration: Double = 0.05
    /// Pods the simulated controllers create in one pass, all Deployments together; the rest follow
    /// in the next passes, so one huge Deployment cannot hold a pass (nor outlive its deletion in it).
    public var podCreatesPerPass = 500

    public init(enabled: Bool = false) { self.enabled = enabled }

    /// The simulated progress deadline of a Deployment: `progressDeadline` when set, else its
    /// `spec.progressDeadlineSeconds` (600 when unset) × `progressDeadlineScale`, but never shorter
    /// than a rollout of Pods that start normally takes (`minimumRolloutSeconds`), so a longer
    /// `podStartDelay` does not fail every rollout.
    public func progressDeadline(for deployment: JSONValue) -> Double {
        if let progressDeadline { return progressDeadline }
        let seconds = Double(deployment[path: ["spec", "progressDeadlineSeconds"]]?.intValue ?? 600)
        return max(seconds * progressDeadlineScale, minimumRolloutSeconds)
    }

    /// Room for a rollout of healthy Pods: their start, three times over, plus a few passes.
    public var minimumRolloutSeconds: Double { 3 * podStartDelay + 0.2 }

    /// Simulation on, default timings.
    public static var on: SimulationSettings { SimulationSettings(enabled: true) }
}

/// A state a test forces on one Pod (`ControllerSimulator.setPodState`), instead of the simulated kubelet's.
public enum SimulatedPodState: Sendable, Hashable {
    /// Running, every container ready.
    case ready
    /// Running, no container ready (a failing readiness probe).
    case notReady
    /// Containers waiting with this reason (`ImagePullBackOff`, `CrashLoopBackOff`, `ErrImagePull`, ...).
    case waiting(reason: String, message: String)
    /// Phase Succeeded, containers terminated with exit code 0.
    case succeeded
    /// Phase Failed, containers terminated with exit code 1 and this reason.
    case failed(reason: String)
}

/// Which Jobs `ControllerSimulator.failJobs` fails.
public enum JobMatch: Sendable {
    /// Jobs whose name starts with this prefix (any namespace).
    case namePrefix(String)
    /// Jobs for which the predicate (namespace, name) holds.
    case predicate(@Sendable (_ namespace: String, _ name: String) -> Bool)

    func matches(namespace: String, name: String) -> Bool {
        switch self {
        case .namePrefix(let p): return name.hasPrefix(p)
        case .predicate(let f): return f(namespace, name)
        }
    }
}

/// Errors of the explicit simulation actions.
public enum SimulationError: Error, Sendable, Equatable {
    /// The CronJob to fire does not exist.
    case cronJobNotFound(namespace: String, name: String)
    /// The API server refused the simulator's write (message of its Status).
    case rejected(String)
    /// The server was stopped.
    case serverGone
}

/// Simulated kube-controller-manager and kubelet for tests: Deployments roll out (Pods, status,
/// conditions, progress deadline), Pods start, Jobs complete or fail, CronJobs fire on demand and
/// HorizontalPodAutoscalers own their target's replicas. Every write goes through the server's
/// normal commit path (new resourceVersion, watch events, managedFields of
/// `kube-controller-manager`) and is not a client request (`requestCount` does not see it).
/// Reached through `KubeTestServer.simulation`. See docs/test-server.md, "Simulated controllers".
public final class ControllerSimulator: Sendable {
    struct ImageRule: Sendable {
        var matches: @Sendable (String) -> Bool
        var reason: String
    }

    struct JobRule: Sendable {
        var match: JobMatch
        var reason: String
        var message: String
    }

    /// What the simulation remembers between passes (times are when it first saw something).
    struct Memory: Sendable {
        var settings: SimulationSettings
        var imageRules: [ImageRule] = []
        var jobRules: [JobRule] = []
        var podOverrides: [String: SimulatedPodState] = [:]
        var hpaRecommendations: [String: Int64] = [:]
        /// Pod uid → when the kubelet first saw it.
        var podSeen: [String: Date] = [:]
        /// Pod uid → its IP.
        var podIPs: [String: String] = [:]
        var nextIP: UInt32 = 2
        /// Deployment uid → its current rollout ("template hash/generation") and when that started.
        var rolloutStarts: [String: (rollout: String, start: Date)] = [:]
        /// Job uid → when the job controller first saw it.
        var jobStarts: [String: Date] = [:]
        var loop: Task<Void, Never>?
        var writes = 0
        var passes = 0
        /// Passes that visited every object (start, settings and rule changes, passes while off).
        var fullPasses = 0
        /// Objects visited by all passes, and by the last one: what the incremental bookkeeping
        /// saves shows here (tests).
        var visits = 0
        var lastPassVisits = 0
    }

    /// The field manager (and user) of every simulated write, as in a real cluster.
    static let manager = "kube-controller-manager"

    let memory: Mutex<Memory>
    /// What the next pass visits. A lock of its own: commits fill it under the server's lock.
    let queue = Mutex(SimulationQueue())
    let wakeup = Wakeup()
    private let coreRef = Mutex<WeakCore>(WeakCore())

    struct WeakCore: Sendable { weak var core: APIServerCore? }

    init(settings: SimulationSettings) {
        memory = Mutex(Memory(settings: settings))
        queue.withLock { $0.recording = settings.enabled }
    }

    /// Connects the simulation to its server and starts it when the options say so.
    func attach(_ core: APIServerCore) {
        coreRef.withLock { $0.core = core }
        if settings.enabled { startLoop() }
    }

    var core: APIServerCore? { coreRef.withLock { $0.core } }

    // MARK: Switches

    /// Whether the simulation runs. Switching it on makes it catch up with every object at once.
    public var isEnabled: Bool {
        get { settings.enabled }
        set { settings.enabled = newValue }
    }

    /// Timings and the on/off switch; changes apply from the next pass (which starts at once).
    public var settings: SimulationSettings {
        get { memory.withLock { $0.settings } }
        set {
            memory.withLock { $0.settings = newValue }
            queue.withLock { q in
                q.recording = newValue.enabled
                q.full = true
            }
            if newValue.enabled { startLoop() } else { stopLoop() }
            wakeup.signal()
        }
    }

    /// Pods with a container running exactly this image never become ready: their containers wait
    /// with `reason` (Pending; `CrashLoopBackOff` keeps the Pod Running with restarts). Jobs whose
    /// template uses it fail with BackoffLimitExceeded.
    public func failImage(_ image: String, reason: String = "ImagePullBackOff") {
        failImages(where: { $0 == image }, reason: reason)
    }

    /// As `failImage`, for every image the predicate accepts.
    public func failImages(where predicate: @escaping @Sendable (String) -> Bool, reason: String = "ImagePullBackOff") {
        memory.withLock { $0.imageRules.append(ImageRule(matches: predicate, reason: reason)) }
        requestFullPass()
    }

    /// Every image works again (waiting Pods start at once).
    public func stopFailingImages() {
        memory.withLock { $0.imageRules.removeAll() }
        requestFullPass()
    }

    /// Matching Jobs fail (condition Failed with `reason` and `message`) instead of succeeding.
    public func failJobs(matching match: JobMatch, reason: String = "BackoffLimitExceeded",
                         message: String = "Job has reached the specified backoff limit") {
        memory.withLock { $0.jobRules.append(JobRule(match: match, reason: reason, message: message)) }
        requestFullPass()
    }

    /// Jobs succeed again (Jobs already failed stay failed).
    public func stopFailingJobs() {
        memory.withLock { $0.jobRules.removeAll() }
        requestFullPass()
    }

    /// Forces a Pod's state (nil = back to the simulated kubelet's choice). A Deployment's counts
    /// and conditions follow its Pods, so a test can make a rollout lose readiness.
    public func setPodState(namespace: String, name: String, _ state: SimulatedPodState?) {
        memory.withLock { $0.podOverrides["\(namespace)/\(name)"] = state }
        mark(.pod, "\(namespace)/\(name)")
    }

    /// What the metrics "recommend" for an HPA (nil = keep the target's current replicas); the
    /// simulated HPA clamps it to min/max and writes it to the target's scale.
    public func setHPARecommendation(namespace: String, name: String, replicas: Int?) {
        memory.withLock { $0.hpaRecommendations["\(namespace)/\(name)"] = replicas.map(Int64.init) }
        mark(.hpa, "\(namespace)/\(name)")
    }

    /// Forgets failures, forced states and recommendations (settings are kept).
    public func reset() {
        memory.withLock { m in
            m.imageRules.removeAll()
            m.jobRules.removeAll()
            m.podOverrides.removeAll()
            m.hpaRecommendations.removeAll()
        }
        requestFullPass()
    }

    /// Writes (creates, status and scale updates, deletes) the simulation made so far.
    public var writeCount: Int { memory.withLock { $0.writes } }

    // MARK: The loop

    /// Called by the store on every commit (under the server's lock: only records and signals).
    func noteCommit(_ event: StoreEvent) {
        if queue.withLock({ $0.note(event) }) { wakeup.signal() }
    }

    /// The next pass visits every object (a rule that may change any object's status changed).
    func requestFullPass() {
        queue.withLock { $0.full = true }
        wakeup.signal()
    }

    /// The next pass visits this object ("namespace/name"); a full pass when the simulation is off.
    func mark(_ kind: SimulationQueue.Kind, _ name: String) {
        queue.withLock { q in
            if q.recording { q.dirty.insert(SimulationQueue.Key(kind: kind, name: name)) } else { q.full = true }
        }
        wakeup.signal()
    }

    /// Seconds in which the safety-net resync visits every object (nil: none). Tests switch it
    /// off to check that the bookkeeping alone misses nothing.
    var resyncInterval: Double? {
        get { queue.withLock { $0.resyncInterval } }
        set {
            queue.withLock { q in
                q.resyncInterval = newValue
                q.nextResync = newValue.map { Date().addingTimeInterval($0 / Double(SimulationQueue.resyncSlices)) } ?? .distantFuture
            }
            wakeup.signal()
        }
    }

    func startLoop() {
        memory.withLock { m in
            guard m.loop == nil else { return }
            m.loop = Task { [self] in await self.run() }
        }
    }

    func stopLoop() {
        let task = memory.withLock { m -> Task<Void, Never>? in
            defer { m.loop = nil }
            return m.loop
        }
        task?.cancel()
        wakeup.signal()
    }

    /// Stops the loop for good (server stopped).
    func shutdown() {
        memory.withLock { $0.settings.enabled = false }
        queue.withLock { $0.recording = false }
        stopLoop()
    }

    private func run() async {
        while !Task.isCancelled {
            // The core is looked up per pass, so a server dropped without stop() can go away.
            guard let core else { return }
            let next = pass(core)
            let timeout = next.map { max(0.001, $0.timeIntervalSinceNow) }
            await wakeup.wait(timeout: timeout)
        }
    }

    /// One pass over every simulated kind, visiting what `queue` says (what changed, what is due,
    /// or everything); returns when it next has work to do without being woken by a change (a Pod
    /// to start, a deadline, a Job to finish, the resync).
    func pass(_ core: APIServerCore) -> Date? {
        let now = Date()
        var next: Date?
        func soonest(_ d: Date?) {
            guard let d else { return }
            next = next.map { min($0, d) } ?? d
        }
        let (full, slice) = queue.withLock { $0.startPass(now: now) }
        if let slice { markResyncSlice(slice, core: core) }
        forgetGone()
        let writer = SimulationWriter(core: core, simulator: self, full: full, now: now)
        soonest(reconcilePods(writer, now: now))
        soonest(reconcileDeployments(writer, now: now))
        soonest(reconcileJobs(writer, now: now))
        reconcileCronJobs(writer)
        reconcileHPAs(writer, now: now)
        if writer.collectGarbage { core.scheduleGC() }
        if writer.failed {
            // Visit again what a write was refused for (a conflict with a client's write, which
            // marked it too, or a refusal that may pass later).
            let retryAt = now.addingTimeInterval(0.01)
            queue.withLock { q in
                for key in writer.retry { q.schedule(key.kind, key.name, at: retryAt) }
                if writer.retry.isEmpty { q.full = true }
            }
            soonest(retryAt)
        }
        soonest(queue.withLock { $0.nextWake })
        memory.withLock { m in
            m.passes += 1
            if full { m.fullPasses += 1 }
            m.visits += writer.visited
            m.lastPassVisits = writer.visited
        }
        return next
    }

    /// Marks a slice of every simulated object for the resync.
    private func markResyncSlice(_ slice: Int, core: APIServerCore) {
        let keys = core.state.withLock { st in
            Dictionary(uniqueKeysWithValues: SimulationQueue.Kind.allCases.map { kind in
                (kind, (st.store.objects[kind.storage] ?? [:]).keys.sorted())
            })
        }
        queue.withLock { $0.markSlice(slice, keys: keys) }
    }

    /// Drops what the simulation remembers about removed objects (a full pass also drops what
    /// it finds no object for).
    private func forgetGone() {
        let gone = queue.withLock { $0.takeGone() }
        guard !gone.isEmpty else { return }
        memory.withLock { m in
            for uid in gone {
                m.podSeen[uid] = nil
                m.podIPs[uid] = nil
                m.rolloutStarts[uid] = nil
                m.jobStarts[uid] = nil
            }
        }
    }

    func noteWrite() { memory.withLock { $0.writes += 1 } }

    /// The reason an image fails with, if a rule says it does.
    func failureReason(image: String) -> String? {
        memory.withLock { m in m.imageRules.first { $0.matches(image) }?.reason }
    }
}

/// A one-slot signal: `wait` returns after a `signal` (also one sent before it waited) or the timeout.
final class Wakeup: Sendable {
    private struct State: Sendable {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    func wait(timeout: Double?) async {
        let timer = timeout.map { seconds in
            Task { [self] in
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled { signal() }
            }
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            signal()
        }
        timer?.cancel()
    }
}
