import Foundation
import KubeCore
import PynomalyOperator

/// The operator with no PynomalyDeployment at all.
struct IdleResult: Codable, Sendable {
    var rssMiB: Double
    var peakRSSMiB: Double
    /// RssAnon (see `ProcessSample`).
    var anonymousRSSMiB: Double = 0
    /// Spawn → /readyz 200 (every informer listed and watching).
    var secondsToReady: Double
    /// Size of the operator binary that ran (what ships in the image).
    var binaryMiB: Double = 0
}

/// Spawn → first write for one PynomalyDeployment that exists before the operator starts.
struct StartResult: Codable, Sendable {
    /// Each launch, as seen by watches: spawn → first object created (the ConfigMap), → the
    /// Deployment, → the first status.
    var firstChildSeconds: [Double]
    var firstDeploymentSeconds: [Double]
    var firstStatusSeconds: [Double]
    /// The median over launches of the earlier of the two.
    var medianFirstReconcileSeconds: Double
}

/// N new PynomalyDeployments against a fresh server and operator.
struct ConvergeResult: Codable, Sendable {
    var count: Int
    /// First create → last Ready.
    var convergeSeconds: Double
    var rssMiB: Double
    var peakRSSMiB: Double
    var reconciles: Int
    var requests: Int
    var writes: Int
    var requestsPerReconcile: Double
    var writesPerCR: Double
    /// Requests answered 409 Conflict while converging.
    var conflicts: Int
    /// Objects the operator owns per CR (listed by its managed-by label), all kinds.
    var ownedObjectsPerCR: Double
    var cpuSecondsPerThousandReconciles: Double
    /// A resync with everything converged: reconciles it made, writes it made (target 0), CPU per 1,000.
    var resyncReconciles: Int
    var resyncWrites: Int
    var resyncCPUSecondsPerThousandReconciles: Double
    /// The raw baseline: `rawWrites` creates from a trivial client at the operator's QPS limits.
    var rawWrites: Int
    var rawSeconds: Double
    var ratioToRaw: Double
    /// Spec change (image) → the Deployment's template showing it, seen by a watch; milliseconds.
    /// One change at a time, each on another CR, the next only once the previous CR is Ready again.
    var latencySamplesMs: [Double]
    var latencyP50Ms: Double?
    var latencyP99Ms: Double?
    /// Per image change of the latency samples, counted once the operator is quiet: every write,
    /// and the Events among them (counted on the server).
    var writesPerImageChange: Double
    var eventsPerImageChange: Double
    /// The operator restarted with the N CRs converged: spawn → /readyz 200 (nil: not within the timeout).
    var restartToReadySeconds: Double?
}

func mebibytes(_ kib: Int) -> Double { Double(kib) / 1024 }

func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    // Nearest rank.
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count - 1, max(0, rank - 1))]
}

struct Scenarios: Sendable {
    var settings: BenchSettings
    var sample: Cluster.Sample
    var settleSeconds: Double
    var restartTimeout: Double

    func idle() async throws -> IdleResult {
        let cluster = try await Cluster.start(settings, name: "idle")
        do {
            let op = try cluster.startOperator(tag: "idle")
            do {
                try await op.waitUntilReady()
                let ready = monotonicSeconds() - op.child.spawnedAt
                try await Task.sleep(for: .seconds(settleSeconds))
                let sample = try op.sample()
                await op.child.stop()
                await cluster.stop()
                let binary = (settings.binaries as NSString).appendingPathComponent("pynomaly-operator")
                let size = (try? FileManager.default.attributesOfItem(atPath: binary)[.size] as? NSNumber)?.doubleValue ?? 0
                return IdleResult(rssMiB: mebibytes(sample.rssKiB), peakRSSMiB: mebibytes(sample.peakRSSKiB),
                                  anonymousRSSMiB: mebibytes(sample.anonymousRSSKiB), secondsToReady: ready, binaryMiB: size / 1_048_576)
            } catch {
                await op.child.stop()
                throw error
            }
        } catch {
            await cluster.stop()
            throw error
        }
    }

    func start(launches: Int) async throws -> StartResult {
        let cluster = try await Cluster.start(settings, name: "start")
        var children: [Double] = []
        var deployments: [Double] = []
        var statuses: [Double] = []
        do {
            for i in 0..<launches {
                let namespace = "start-\(i)"
                try await cluster.prepareNamespace(namespace, sample: sample)
                try await cluster.createDeployments(["pynomaly"], namespace: namespace, sample: sample)
                let observer = try await Observer.start(cluster.admin, namespace: namespace)
                let op = try cluster.startOperator(tag: "start-\(i)")
                do {
                    let state = try await observer.wait(timeout: 60, what: "the first reconcile") {
                        $0.firstDeploymentAt != nil && $0.firstStatusAt != nil && $0.firstChildAt != nil
                    }
                    children.append((state.firstChildAt ?? 0) - op.child.spawnedAt)
                    deployments.append((state.firstDeploymentAt ?? 0) - op.child.spawnedAt)
                    statuses.append((state.firstStatusAt ?? 0) - op.child.spawnedAt)
                } catch {
                    observer.stop()
                    await op.child.stop()
                    throw error
                }
                observer.stop()
                await op.child.stop()
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
        let firsts = zip(children, statuses).map { min($0, $1) }  // the first write of the first reconcile
        return StartResult(firstChildSeconds: children, firstDeploymentSeconds: deployments, firstStatusSeconds: statuses,
                           medianFirstReconcileSeconds: percentile(firsts, 50) ?? 0)
    }

    func converge(count: Int, latencySamples: Int) async throws -> ConvergeResult {
        let cluster = try await Cluster.start(settings, name: "converge-\(count)")
        do {
            let result = try await converge(cluster, count: count, latencySamples: latencySamples)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }

    private func converge(_ cluster: Cluster, count: Int, latencySamples: Int) async throws -> ConvergeResult {
        let namespace = "bench"
        try await cluster.prepareNamespace(namespace, sample: sample)
        let op = try cluster.startOperator(tag: "converge-\(count)")
        let observer: Observer
        do {
            try await op.waitUntilReady()
            observer = try await Observer.start(cluster.admin, namespace: namespace)
        } catch {
            await op.child.stop()
            throw error
        }
        defer { observer.stop() }
        do {
            var result = try await measureConverge(cluster, op, observer, namespace: namespace, count: count, latencySamples: latencySamples)
            await op.child.stop()
            result.restartToReadySeconds = try await restart(cluster, count: count)
            // The raw baseline, with the operator stopped: the same number of object writes (the
            // objects the operator owns per CR plus one status write per CR) from a trivial client
            // with the operator's rate limit, 16 at a time.
            let raw = Int((Double(count) * (result.ownedObjectsPerCR + 1)).rounded())
            say("  raw baseline: \(raw) creates at qps \(settings.qps) / burst \(settings.burst)")
            let client = try cluster.rateLimitedClient()
            try await cluster.createNamespace("bench-raw")
            let rawStart = monotonicSeconds()
            try await forEachConcurrently(Array(0..<raw), concurrency: 16) { i in
                let object: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": ["name": .string("raw-\(i)"), "namespace": "bench-raw"],
                                         "data": ["key": .string(String(repeating: "x", count: 256))]]
                _ = try await client.create(.configMaps, namespace: "bench-raw", object: object)
            }
            result.rawWrites = raw
            result.rawSeconds = monotonicSeconds() - rawStart
            result.ratioToRaw = result.convergeSeconds / result.rawSeconds
            return result
        } catch {
            await op.child.stop()
            throw error
        }
    }

    private func measureConverge(_ cluster: Cluster, _ op: OperatorProcess, _ observer: Observer, namespace: String,
                                 count: Int, latencySamples: Int) async throws -> ConvergeResult {
        let names = (0..<count).map { String(format: "pyd-%04d", $0) }
        let m0 = try op.metrics()
        let p0 = try op.sample()
        say("  creating \(count) PynomalyDeployments")
        let start = monotonicSeconds()
        try await cluster.createDeployments(names, namespace: namespace, sample: sample)
        let converged = try await observer.wait(timeout: 900, what: "\(count) Ready PynomalyDeployments") { $0.readyAt.count >= count }
        let end = converged.readyAt.values.max() ?? monotonicSeconds()
        let m1 = try op.metrics()
        let p1 = try op.sample()
        say(String(format: "  converged in %.2f s", end - start))

        // Owned objects per CR, from the server.
        var owned = 0
        for kind in OwnedKinds.all {
            owned += try await cluster.admin.listAll(kind, namespace: namespace,
                                                     options: ListOptions(labelSelector: "app.kubernetes.io/managed-by=pynomaly-operator")).items.count
        }

        // Quiet (no write for a while), then RSS, then one full resync.
        _ = try await waitForQuiet(op)
        try await Task.sleep(for: .seconds(settleSeconds))
        let memory = try op.sample()
        let m2 = try op.metrics()
        let p2 = try op.sample()
        say("  waiting for a resync (period \(settings.resyncPeriod) s)")
        let deadline = monotonicSeconds() + settings.resyncPeriod * 2 + 120
        var m3 = m2
        while m3.reconciles < m2.reconciles + Double(count) {
            guard monotonicSeconds() < deadline else { throw BenchError("no full resync within \(Int(settings.resyncPeriod * 2 + 120)) s") }
            try await Task.sleep(for: .milliseconds(200))
            m3 = try op.metrics()
        }
        // Let the resync's reconciles finish (the counter counts finished ones) and anything they wrote land.
        try await Task.sleep(for: .seconds(1))
        m3 = try op.metrics()
        let p3 = try op.sample()

        // Latency: one spec change at a time, each on another CR.
        let eventsBeforeChanges = try await cluster.admin.listAll(.events, namespace: namespace).items.count
        let m4 = try op.metrics()
        var latencies: [Double] = []
        for (i, name) in names.prefix(latencySamples).enumerated() {
            let image = "ghcr.io/elgerytme/pynomaly:v0.1.3-bench\(i)"
            let patch = JSONValue.object(["spec": ["image": .string(image)]]).serialized()
            let sent = monotonicSeconds()
            _ = try await cluster.admin.patch(.pynomalyDeployments, namespace: namespace, name: name, type: .merge, body: patch)
            let state = try await observer.wait(timeout: 30, what: "the Deployment of \(name) to show \(image)") {
                $0.images[name]?.last?.image == image
            }
            if let seen = state.images[name]?.last(where: { $0.image == image })?.at {
                latencies.append((seen - sent) * 1000)
            }
            // Each change is timed on a quiet operator: the rollout it started finishes first.
            _ = try await observer.wait(timeout: 60, what: "\(name) Ready again after the change") { $0.readyAt[name] != nil }
        }

        _ = try await waitForQuiet(op)
        let m5 = try op.metrics()
        let changes = Double(max(names.prefix(latencySamples).count, 1))
        let eventsOfChanges = try await cluster.admin.listAll(.events, namespace: namespace).items.count - eventsBeforeChanges

        let reconciles = m1.reconciles - m0.reconciles
        let resyncReconciles = m3.reconciles - m2.reconciles
        return ConvergeResult(
            count: count, convergeSeconds: end - start,
            rssMiB: mebibytes(memory.rssKiB), peakRSSMiB: mebibytes(memory.peakRSSKiB),
            reconciles: Int(reconciles), requests: Int(m1.requests - m0.requests), writes: Int(m1.writes - m0.writes),
            requestsPerReconcile: reconciles > 0 ? (m1.requests - m0.requests) / reconciles : 0,
            // Counted once the operator is quiet: its Events are written in batches after the
            // status that made the CR Ready, so a count taken at convergence leaves some out.
            writesPerCR: (m2.writes - m0.writes) / Double(count),
            conflicts: Int(m1.conflicts - m0.conflicts),
            ownedObjectsPerCR: Double(owned) / Double(count),
            cpuSecondsPerThousandReconciles: reconciles > 0 ? (p1.cpuSeconds - p0.cpuSeconds) / reconciles * 1000 : 0,
            resyncReconciles: Int(resyncReconciles), resyncWrites: Int(m3.writes - m2.writes),
            resyncCPUSecondsPerThousandReconciles: resyncReconciles > 0 ? (p3.cpuSeconds - p2.cpuSeconds) / resyncReconciles * 1000 : 0,
            rawWrites: 0, rawSeconds: 0, ratioToRaw: 0,
            latencySamplesMs: latencies, latencyP50Ms: percentile(latencies, 50), latencyP99Ms: percentile(latencies, 99),
            writesPerImageChange: (m5.writes - m4.writes) / changes, eventsPerImageChange: Double(eventsOfChanges) / changes)
    }

    /// Starts the operator again over the converged CRs: spawn → /readyz, at most `restartTimeout` seconds.
    private func restart(_ cluster: Cluster, count: Int) async throws -> Double? {
        let op = try cluster.startOperator(tag: "restart-\(count)")
        var ready: Double?
        do {
            try await op.waitUntilReady(timeout: restartTimeout)
            ready = monotonicSeconds() - op.child.spawnedAt
        } catch {
            ready = nil
        }
        await op.child.stop()
        say("  restart with \(count) CRs converged: "
            + (ready.map { String(format: "/readyz after %.2f s", $0) } ?? "not ready within \(Int(restartTimeout)) s"))
        return ready
    }

    /// Waits until the operator's write counter stayed unchanged for two seconds (at most 120 s).
    private func waitForQuiet(_ op: OperatorProcess) async throws -> Bool {
        var last = try op.metrics().writes
        var stableSince = monotonicSeconds()
        let deadline = monotonicSeconds() + 120
        while monotonicSeconds() < deadline {
            try await Task.sleep(for: .milliseconds(250))
            let now = try op.metrics().writes
            if now != last {
                last = now
                stableSince = monotonicSeconds()
            } else if monotonicSeconds() - stableSince >= 2 {
                return true
            }
        }
        return false
    }
}
