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
        /// "deployment uid/template hash/generation" → when that rollout started.
        var rolloutStarts: [String: Date] = [:]
        /// Job uid → when the job controller first saw it.
        var jobStarts: [String: Date] = [:]
        var loop: Task<Void, Never>?
        var writes = 0
        var passes = 0
    }

    /// Storages whose changes wake the simulation.
    static let watchedStorages: Set<String> = ["apps/deployments", "/pods", "batch/jobs", "batch/cronjobs",
                                               "autoscaling/horizontalpodautoscalers"]
    /// The field manager (and user) of every simulated write, as in a real cluster.
    static let manager = "kube-controller-manager"

    let memory: Mutex<Memory>
    let wakeup = Wakeup()
    private let coreRef = Mutex<WeakCore>(WeakCore())

    struct WeakCore: Sendable { weak var core: APIServerCore? }

    init(settings: SimulationSettings) {
        memory = Mutex(Memory(settings: settings))
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
        wakeup.signal()
    }

    /// Every image works again (waiting Pods start at once).
    public func stopFailingImages() {
        memory.withLock { $0.imageRules.removeAll() }
        wakeup.signal()
    }

    /// Matching Jobs fail (condition Failed with `reason` and `message`) instead of succeeding.
    public func failJobs(matching match: JobMatch, reason: String = "BackoffLimitExceeded",
                         message: String = "Job has reached the specified backoff limit") {
        memory.withLock { $0.jobRules.append(JobRule(match: match, reason: reason, message: message)) }
        wakeup.signal()
    }

    /// Jobs succeed again (Jobs already failed stay failed).
    public func stopFailingJobs() {
        memory.withLock { $0.jobRules.removeAll() }
        wakeup.signal()
    }

    /// Forces a Pod's state (nil = back to the simulated kubelet's choice). A Deployment's counts
    /// and conditions follow its Pods, so a test can make a rollout lose readiness.
    public func setPodState(namespace: String, name: String, _ state: SimulatedPodState?) {
        memory.withLock { $0.podOverrides["\(namespace)/\(name)"] = state }
        wakeup.signal()
    }

    /// What the metrics "recommend" for an HPA (nil = keep the target's current replicas); the
    /// simulated HPA clamps it to min/max and writes it to the target's scale.
    public func setHPARecommendation(namespace: String, name: String, replicas: Int?) {
        memory.withLock { $0.hpaRecommendations["\(namespace)/\(name)"] = replicas.map(Int64.init) }
        wakeup.signal()
    }

    /// Forgets failures, forced states and recommendations (settings are kept).
    public func reset() {
        memory.withLock { m in
            m.imageRules.removeAll()
            m.jobRules.removeAll()
            m.podOverrides.removeAll()
            m.hpaRecommendations.removeAll()
        }
        wakeup.signal()
    }

    /// Writes (creates, status and scale updates, deletes) the simulation made so far.
    public var writeCount: Int { memory.withLock { $0.writes } }

    // MARK: The loop

    /// Called by the store on every commit (under the server's lock: only signals).
    func noteCommit(storage: String) {
        if Self.watchedStorages.contains(storage) { wakeup.signal() }
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

    /// One level-triggered pass over every simulated kind; returns when it next has work to do
    /// without being woken by a change (a Pod to start, a deadline, a Job to finish).
    func pass(_ core: APIServerCore) -> Date? {
        let now = Date()
        var next: Date?
        func soonest(_ d: Date?) {
            guard let d else { return }
            next = next.map { min($0, d) } ?? d
        }
        memory.withLock { $0.passes += 1 }
        let writer = SimulationWriter(core: core, simulator: self)
        soonest(reconcilePods(writer, now: now))
        soonest(reconcileDeployments(writer, now: now))
        soonest(reconcileJobs(writer, now: now))
        reconcileCronJobs(writer)
        reconcileHPAs(writer, now: now)
        if writer.collectGarbage { core.scheduleGC() }
        if writer.failed { soonest(now.addingTimeInterval(0.01)) }
        return next
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
