import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import Logging
import OperatorTestSupport
import Synchronization

@testable import PynomalyOperator

// The resilience suite's parts (ChaosTests.swift): the seeded plan, the operator that gets killed,
// and the invariant monitor.

/// The seed of a chaos run: `PYNOMALY_CHAOS_SEED` when set (to replay a failed run), else random.
enum ChaosSeed {
    static let variable = "PYNOMALY_CHAOS_SEED"

    static func current() -> UInt64 {
        if let text = ProcessInfo.processInfo.environment[variable], let seed = UInt64(text) { return seed }
        return UInt64.random(in: 1...UInt64(UInt32.max))
    }
}

/// Which sample a chaos CR comes from.
enum ChaosKind: String, Sendable, CaseIterable {
    /// manifests/samples/pynomaly.yaml
    case rolling
    /// manifests/samples/pynomaly-bluegreen.yaml
    case blueGreen
    /// manifests/samples/pynomaly-backup.yaml
    case backup

    var sampleFile: String {
        switch self {
        case .rolling: return "pynomaly.yaml"
        case .blueGreen: return "pynomaly-bluegreen.yaml"
        case .backup: return "pynomaly-backup.yaml"
        }
    }

    var prefix: String {
        switch self {
        case .rolling: return "roll"
        case .blueGreen: return "bg"
        case .backup: return "bak"
        }
    }
}

/// One PynomalyDeployment of the run and what happens to it.
struct ChaosCR: Sendable {
    var name: String
    var kind: ChaosKind
    /// Gets the new image mid-way.
    var changesImage = false
    /// On-demand backup tokens, in the order they are set.
    var backupTokens: [String] = []
}

/// Something the driver does at a time of the run.
enum ChaosAction: Sendable {
    /// Create CR number N.
    case create(Int)
    /// Patch CR number N to the new image.
    case changeImage(Int)
    /// Set the backup annotation of CR number N.
    case backupToken(Int, String)
    /// Stop the manager abruptly (`cancel`: cancel its task, else `shutDown()`; no drain either
    /// way), wait `gap` seconds, start a fresh one.
    case killOperator(gap: Double, cancel: Bool)
    /// The next N watches from a resourceVersion get 410 Expired.
    case expireWatches(Int)
    /// Half of the operator's requests get 429 + Retry-After: 1 for `seconds`.
    case tooManyRequests(seconds: Double)
    /// Restart the API server (every watch and connection breaks).
    case restartServer
}

/// A run derived from a seed: the CRs, the fault schedule and the injector's seed.
struct ChaosPlan: Sendable {
    static let newImage = "ghcr.io/elgerytme/pynomaly:v0.1.4"
    /// CRs in a run unless `PYNOMALY_CHAOS_COUNT` says otherwise.
    static let defaultCount = 200

    var crs: [ChaosCR]
    /// Seconds from the start of the run, in order.
    var actions: [(at: Double, action: ChaosAction)]
    /// Every watch ends after this many events while the faults are on.
    var dropWatchesAfter: Int
    var faultSeed: UInt64
    /// Seconds the faults last.
    var duration: Double

    static func make(seed: UInt64, count: Int = defaultCount, duration: Double = 40) -> ChaosPlan {
        var rng = SplitMix64(seed: seed)
        func uniform(_ range: ClosedRange<Double>) -> Double { Double.random(in: range, using: &rng) }
        var crs: [ChaosCR] = (0..<count).map { i in
            let kind = ChaosKind.allCases[i % ChaosKind.allCases.count]
            return ChaosCR(name: String(format: "%@-%03d", kind.prefix, i), kind: kind)
        }
        var actions: [(at: Double, action: ChaosAction)] = []
        // Creation over the first quarter of the run, while the other faults already happen.
        let createEnd = duration / 4
        for i in crs.indices { actions.append((0.2 + createEnd * Double(i) / Double(count), .create(i))) }
        // A spec change on about 30 % of them, spread over the middle of the run.
        for i in crs.indices where uniform(0...1) < 0.3 {
            crs[i].changesImage = true
            actions.append((uniform(duration * 0.3...duration * 0.75), .changeImage(i)))
        }
        // Backup tokens on a few backup CRs; some get a second token later.
        let backups = crs.indices.filter { crs[$0].kind == .backup }.shuffled(using: &rng).prefix(8)
        for (n, i) in backups.enumerated() {
            crs[i].backupTokens = ["chaos-a"]
            actions.append((uniform(createEnd + 1...duration * 0.5), .backupToken(i, "chaos-a")))
            if n < 3 {
                crs[i].backupTokens.append("chaos-b")
                actions.append((uniform(duration * 0.65...duration * 0.9), .backupToken(i, "chaos-b")))
            }
        }
        for _ in 0..<5 {
            actions.append((uniform(2...duration - 2), .killOperator(gap: uniform(0...0.5), cancel: uniform(0...1) < 0.5)))
        }
        for _ in 0..<5 { actions.append((uniform(1...duration - 1), .expireWatches(Int.random(in: 1...6, using: &rng)))) }
        for _ in 0..<2 { actions.append((uniform(3...duration - 5), .tooManyRequests(seconds: uniform(1...2)))) }
        actions.append((uniform(duration * 0.35...duration * 0.65), .restartServer))
        // Stable order for equal times keeps the plan a pure function of the seed.
        let ordered = actions.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
        return ChaosPlan(crs: crs, actions: ordered, dropWatchesAfter: Int.random(in: 10...40, using: &rng),
                         faultSeed: rng.next(), duration: duration)
    }

    /// The sample's Secret and PynomalyDeployment for `cr`, renamed.
    static func documents(for cr: ChaosCR) throws -> (secret: JSONValue?, resource: JSONValue) {
        let documents = try OperatorRig.sample(cr.kind.sampleFile)
        guard var resource = documents.first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            throw KubeError.configuration("\(cr.kind.sampleFile) has no PynomalyDeployment")
        }
        resource[path: ["metadata", "name"]] = .string(cr.name)
        if cr.kind == .blueGreen {
            // The old colour is scaled down soon after the switch, so a run ends in seconds.
            resource[path: ["spec", "strategy", "blueGreen", "scaleDownDelaySeconds"]] = 1
        }
        return (documents.first { $0["kind"]?.stringValue == "Secret" }, resource)
    }
}

/// The operator under test: one in-process manager at a time (as `BlueGreenTests.startManager`),
/// killed abruptly and replaced by a fresh one (new client, caches and queue).
final class ChaosOperator: Sendable {
    /// The operator's User-Agent, so the faults hit it and not the test's own client.
    static let userAgent = "pynomaly-operator-chaos"

    private let kubeconfig: String
    private let current = Mutex<(manager: Manager, task: Task<ManagerOutcome, any Error>)?>(nil)
    private let problems = Mutex<[String]>([])
    private let started = Mutex(0)
    /// The managers' warnings and errors (the last ones, for a failure report).
    let log = ChaosLog(limit: 400)

    init(kubeconfig: String) {
        self.kubeconfig = kubeconfig
    }

    /// `PYNOMALY_CHAOS_LOG`: a file that gets every manager's full log.
    static let logFile: FileHandle? = {
        guard let path = ProcessInfo.processInfo.environment["PYNOMALY_CHAOS_LOG"],
              FileManager.default.createFile(atPath: path, contents: nil) else { return nil }
        return FileHandle(forWritingAtPath: path)
    }()

    /// Managers started so far.
    var managers: Int { started.withLock { $0 } }
    /// `run()` outcomes that were not a requested stop (errors, lost leadership).
    var unexpectedOutcomes: [String] { problems.withLock { $0 } }

    func start() throws {
        var configuration = try ConfigurationResolver.resolve(kubeconfigPath: kubeconfig, context: nil)
        configuration.qps = 0
        configuration.userAgent = Self.userAgent
        let client = try makeKubeClient(configuration: configuration)
        let log = log
        let number = started.withLock { $0 += 1; return $0 }
        let file = Self.logFile
        let logger = Logger(label: "pynomaly-operator") { label in
            // Everything to PYNOMALY_CHAOS_LOG when set (to study a failed seed), warnings to memory.
            StructuredLogHandler(label: label, format: .text, level: file == nil ? .warning : .debug) { line in
                let tagged = "[manager \(number)] \(line)"
                if let file { file.write(Data((tagged.hasSuffix("\n") ? tagged : tagged + "\n").utf8)) }
                if !line.contains(" DEBUG ") && !line.contains(" INFO ") { log.append(tagged) }
            }
        }
        // No drain: a kill leaves reconciles in flight, as a crash does.
        let manager = Manager(client: client, options: ManagerOptions(gracefulShutdownTimeout: 0), logger: logger)
        OperatorSetup.register(on: manager, configuration: OperatorConfiguration())
        let task = Task { try await manager.run() }
        current.withLock { $0 = (manager, task) }
    }

    /// Stops the current manager without draining and records how its `run()` ended.
    func kill(cancel: Bool = false) async {
        guard let running = current.withLock({ value in defer { value = nil }; return value }) else { return }
        if cancel { running.task.cancel() } else { running.manager.shutDown() }
        do {
            let outcome = try await running.task.value
            if case .stopped = outcome { return }
            problems.withLock { $0.append("run() ended with \(outcome)") }
        } catch {
            problems.withLock { $0.append("run() threw \(error)") }
        }
    }
}

/// A bounded log buffer (the newest `limit` lines).
final class ChaosLog: Sendable {
    private let lines = Mutex<[String]>([])
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func append(_ line: String) {
        lines.withLock { l in
            l.append(line)
            if l.count > limit { l.removeFirst(l.count - limit) }
        }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// Checks every change the API server commits while the run goes on, with the whole state right
/// after it, and records every broken invariant:
/// - routing: whenever an Ingress's route (backend Service and that Service's colour) changes,
///   the Deployment it now reaches is fully ready; a routed Deployment never has 0 replicas;
/// - Jobs: a smoke or on-demand backup Job, once seen, is never replaced by another of the same
///   name (one per revision / token);
/// - history: `status.history` is contiguous, holds the current, stable and active revisions, and
///   never loses a revision it showed once nor changes what a revision is.
final class ChaosInvariants: Sendable {
    struct State: Sendable {
        /// Ingress name → "service/colour" last seen.
        var routes: [String: String] = [:]
        var routeChanges = 0
        /// Job name → uid first seen.
        var jobUIDs: [String: String] = [:]
        /// CR name → revision → template hash ("" until known).
        var revisions: [String: [Int64: String]] = [:]
        var violations: [String] = []
        /// Committed changes checked, and those of a PynomalyDeployment among them.
        var checkedChanges = 0
        var historyChecks = 0
    }

    private let namespace: String
    private let state = Mutex(State())
    private let checking = Mutex(false)

    init(server: KubeTestServer, namespace: String) {
        self.namespace = namespace
        // The observer runs under the server's lock: it reads only the state it is handed.
        server.observeCommits { [weak self] change in
            guard let self, self.checking.withLock({ $0 }),
                  change.object[path: ["metadata", "namespace"]]?.stringValue == namespace else { return }
            self.check(change)
        }
    }

    var snapshot: State { state.withLock { $0 } }

    func start() { checking.withLock { $0 = true } }

    /// Stops checking and answers what was recorded.
    func finish() async -> State {
        checking.withLock { $0 = false }
        return snapshot
    }

    private func violation(_ text: String) {
        state.withLock { s in if !s.violations.contains(text) { s.violations.append(text) } }
    }

    private func check(_ change: CommittedChange) {
        if change.isOf(.ingresses) || change.isOf(.services) || change.isOf(.deployments) { checkRoutes(change) }
        if change.isOf(.jobs), change.type != "DELETED" { checkJob(change.object) }
        if change.isOf(.pynomalyDeployments), change.type != "DELETED", let name = change.object[path: ["metadata", "name"]]?.stringValue {
            for problem in recordHistory(name: name, status: change.object["status"] ?? .null) { violation(problem) }
            state.withLock { $0.historyChecks += 1 }
        }
        state.withLock { $0.checkedChanges += 1 }
    }

    // MARK: Routing

    static func backend(of ingress: JSONValue) -> String? { IngressWatcher.backend(of: ingress) }

    func checkRoutes(_ change: CommittedChange) {
        let rv = change.object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "?"
        for ingress in change.list(.ingresses, namespace: namespace) {
            guard let name = ingress[path: ["metadata", "name"]]?.stringValue else { continue }
            guard let service = Self.backend(of: ingress) else {
                violation("rv \(rv): Ingress \(name) has no backend")
                continue
            }
            guard let selector = change.get(.services, namespace: namespace, name: service)?[path: ["spec", "selector"]] else {
                violation("rv \(rv): Ingress \(name) → Service \(service), which does not exist")
                continue
            }
            // A colourless selector is the RollingUpdate layout: Deployment NAME serves.
            let color = selector[PynomalyLabels.colorKey]?.stringValue
            let deploymentName = color.map { "\(name)-\($0)" } ?? service
            let route = "\(service)/\(color ?? "-")"
            let changed = state.withLock { s -> Bool in
                guard s.routes[name] != route else { return false }
                s.routes[name] = route
                s.routeChanges += 1
                return true
            }
            guard let deployment = change.get(.deployments, namespace: namespace, name: deploymentName) else {
                violation("rv \(rv): Ingress \(name) → \(route) → Deployment \(deploymentName), which does not exist")
                continue
            }
            let want = deployment[path: ["spec", "replicas"]]?.intValue ?? 1
            let ready = deployment[path: ["status", "readyReplicas"]]?.intValue ?? 0
            let updated = deployment[path: ["status", "updatedReplicas"]]?.intValue ?? 0
            let generation = deployment[path: ["metadata", "generation"]]?.intValue ?? 0
            let observed = deployment[path: ["status", "observedGeneration"]]?.intValue ?? 0
            if want == 0 {
                violation("rv \(rv): Ingress \(name) → \(route) → \(deploymentName), scaled to 0")
            } else if changed, ready < want || updated < want || observed < generation {
                violation("rv \(rv): Ingress \(name) switched to \(route) → \(deploymentName) with \(ready)/\(want) ready, \(updated) updated, observed generation \(observed)/\(generation)")
            }
        }
    }

    // MARK: Jobs

    static func isWatchedJob(_ job: JSONValue) -> Bool {
        let component = job[path: ["metadata", "labels", PynomalyLabels.componentKey]]?.stringValue
        if component == SmokeTestJobBuilder.component { return true }
        // On-demand backups are owned by the PynomalyDeployment (scheduled ones by their CronJob).
        return component == BackupCronJobBuilder.component && job[path: ["metadata", "ownerReferences"]]?.arrayValue?.first?["kind"]?.stringValue == "PynomalyDeployment"
    }

    func checkJob(_ job: JSONValue) {
        guard Self.isWatchedJob(job), let name = job[path: ["metadata", "name"]]?.stringValue,
              let uid = job[path: ["metadata", "uid"]]?.stringValue else { return }
        let previous = state.withLock { s -> String? in
            if let known = s.jobUIDs[name] { return known }
            s.jobUIDs[name] = uid
            return nil
        }
        if let previous, previous != uid { violation("Job \(name) was created again (uid \(previous) → \(uid))") }
    }

    // MARK: History

    /// What is wrong with this status's history, alone and compared with what was seen before.
    func recordHistory(name: String, status: JSONValue) -> [String] {
        state.withLock { s in
            var known = s.revisions[name] ?? [:]
            let problems = Self.historyProblems(name: name, status: status, known: &known)
            s.revisions[name] = known
            return problems
        }
    }

    /// The history checks, pure: `known` (revision → template hash, "" until known) is what earlier
    /// statuses showed and is updated with this one.
    static func historyProblems(name: String, status: JSONValue, known: inout [Int64: String]) -> [String] {
        var problems: [String] = []
        let entries = status["history"]?.arrayValue ?? []
        let revisions = entries.compactMap { $0["revision"]?.intValue }
        if revisions.count != entries.count { problems.append("\(name): a history entry without a revision: \(entries)") }
        if zip(revisions, revisions.dropFirst()).contains(where: { $1 != $0 + 1 }) {
            problems.append("\(name): history is not contiguous: \(revisions)")
        }
        for key in ["currentRevision", "stableRevision"] {
            if let revision = status[key]?.intValue, !revisions.contains(revision) {
                problems.append("\(name): \(key) \(revision) is not in history \(revisions)")
            }
        }
        if let active = status[path: ["blueGreen", "activeRevision"]]?.intValue, !revisions.contains(active) {
            problems.append("\(name): blueGreen.activeRevision \(active) is not in history \(revisions)")
        }
        let hashes = Dictionary(entries.compactMap { entry in entry["revision"]?.intValue.map { ($0, entry["templateHash"]?.stringValue ?? "") } },
                                uniquingKeysWith: { a, _ in a })
        // A run makes fewer revisions per CR than the history limit, so none may be pruned.
        for (revision, hash) in known.sorted(by: { $0.key < $1.key }) {
            guard let now = hashes[revision] else {
                problems.append("\(name): revision \(revision) was lost from history (now \(revisions))")
                continue
            }
            if !hash.isEmpty, !now.isEmpty, hash != now {
                problems.append("\(name): revision \(revision) changed its template hash \(hash) → \(now)")
            }
        }
        for (revision, hash) in hashes where known[revision].map({ $0.isEmpty }) ?? true { known[revision] = hash }
        return problems
    }
}
