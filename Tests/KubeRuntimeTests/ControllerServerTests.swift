import Foundation
import OperatorTestSupport
import Synchronization
import KubeCore
import KubeTestServer
import XCTest

@testable import KubeRuntime

/// The test reconciler: every ConfigMap labelled `mirror=true` gets `<name>-mirror` with the same
/// data, owned by it through a controller ownerReference. Reads come from the caches; it writes
/// only when the mirror differs (a converged pair gets no write).
struct MirrorReconciler: Reconciler {
    let client: KubeAPIClient
    let sources: CacheStore
    let mirrors: CacheStore

    static let managedBy = ["app.kubernetes.io/managed-by": "pynomaly-operator"]

    func reconcile(_ key: ObjectKey) async -> ReconcileResult {
        // Level-based: a missing primary is done (the garbage collector removes its mirror).
        guard let source = sources.get(key), source[path: ["metadata", "deletionTimestamp"]] == nil,
              let uid = source[path: ["metadata", "uid"]]?.stringValue else { return .done }
        await Task.yield()  // widen the window in which a second worker could pick the same key
        let name = "\(key.name)-mirror"
        let data = source["data"] ?? .object([:])
        do {
            if var existing = mirrors.get(namespace: key.namespace, name: name) {
                if existing["data"] == data { return .done }
                existing["data"] = data
                _ = try await client.update(.configMaps, namespace: key.namespace, name: name, object: existing)
            } else {
                let mirror: JSONValue = [
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": [
                        "name": .string(name), "namespace": .string(key.namespace ?? "default"),
                        "labels": .object(Self.managedBy.mapValues(JSONValue.string)),
                        "ownerReferences": [["apiVersion": "v1", "kind": "ConfigMap", "name": .string(key.name), "uid": .string(uid),
                                             "controller": true, "blockOwnerDeletion": true]],
                    ],
                    "data": data,
                ]
                _ = try await client.create(.configMaps, namespace: key.namespace, object: mirror)
            }
            return .done
        } catch {
            // 409 (stale cache) and AlreadyExists come back with backoff, once the cache caught up.
            return .failed(error)
        }
    }
}

final class ControllerServerTests: XCTestCase {
    func testMirrorControllerConvergesWithoutReconcilingAKeyTwiceAtOnce() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let sources = Informer(client: client, resource: .configMaps,
                               options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        let mirrors = Informer(client: client, resource: .configMaps,
                               options: InformerOptions(namespace: "default", labelSelector: InformerOptions.managedBySelector, watcher: fastWatcher))
        let probe = ConcurrencyProbe()
        let controller = Controller(
            name: "mirror", primary: sources,
            reconciler: MirrorReconciler(client: client, sources: sources.store, mirrors: mirrors.store),
            options: ControllerOptions(maxConcurrentReconciles: 4, resyncPeriod: nil), hooks: probe)
        controller.owns(mirrors)

        func source(_ i: Int, _ version: Int) -> JSONValue {
            configMap("src-\(i)", namespace: "default", labels: ["mirror": "true"], data: ["v": String(version), "i": String(i)]).removingServerFields()
        }
        for i in 0..<40 { _ = try await client.create(.configMaps, namespace: "default", object: source(i, 0)) }

        let informers = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await sources.run() }
                group.addTask { await mirrors.run() }
            }
        }
        let running = Task { await controller.run() }

        // More primaries while it runs, and bursts of updates to the same keys, so keys are
        // re-added while their reconcile is in flight.
        for i in 40..<80 { _ = try await client.create(.configMaps, namespace: "default", object: source(i, 0)) }
        for version in 1...5 {
            for i in stride(from: 0, to: 80, by: 3) {
                let patch: JSONValue = ["data": ["v": .string(String(version))]]
                _ = try await client.patch(.configMaps, namespace: "default", name: "src-\(i)", type: .merge, body: patch.serialized())
            }
        }
        // Someone edits a mirror: the owner's reconcile puts it back.
        try await waitUntil("src-1's mirror exists") { mirrors.store.get(namespace: "default", name: "src-1-mirror") != nil }
        let tamper: JSONValue = ["data": ["v": "tampered"]]
        _ = try await client.patch(.configMaps, namespace: "default", name: "src-1-mirror", type: .merge, body: tamper.serialized())
        // Deleted primaries lose their mirrors (garbage collection through the ownerReference).
        for i in 70..<80 { _ = try await client.delete(.configMaps, namespace: "default", name: "src-\(i)") }

        try await waitUntil("every source has an identical mirror and no mirror is orphaned", timeout: 60) {
            let sourcesNow = try await serverObjects(client, .configMaps, namespace: "default", selector: "mirror=true")
            let mirrorsNow = try await serverObjects(client, .configMaps, namespace: "default", selector: InformerOptions.managedBySelector)
            guard sourcesNow.count == 70, mirrorsNow.count == 70 else { return false }
            for (key, src) in sourcesNow {
                guard let m = mirrorsNow[ObjectKey(namespace: key.namespace, name: key.name + "-mirror")],
                      m["data"] == src["data"],
                      m[path: ["metadata", "ownerReferences"]]?[0]?["uid"] == src[path: ["metadata", "uid"]] else { return false }
            }
            return true
        }
        XCTAssertEqual(probe.maxConcurrentPerKey, 1, "a key was reconciled by two workers at once: \(probe.overlappingKeys)")
        XCTAssertTrue(probe.overlappingKeys.isEmpty)
        XCTAssertGreaterThan(probe.maxConcurrentTotal, 1, "the workers did run in parallel")
        XCTAssertGreaterThanOrEqual(probe.reconcileCounts.count, 80)

        // Converged: a resync reconciles every primary and writes nothing.
        try await waitUntil("the queue is idle") {
            let (depth, inFlight) = (await controller.queue.depth, await controller.queue.inFlight)
            return depth == 0 && inFlight.isEmpty && probe.activeNow == 0
        }
        server.resetRequestCounts()
        let before = probe.totalReconciles
        await controller.resyncNow()
        try await waitUntil("the resync reconciled every primary") { probe.totalReconciles >= before + 70 }
        XCTAssertEqual(server.requestCount(verb: "create", resource: "configmaps"), 0)
        XCTAssertEqual(server.requestCount(verb: "update", resource: "configmaps"), 0)

        running.cancel()
        await running.value
        informers.cancel()
        await informers.value
        XCTAssertEqual(controller.metrics.activeWorkers, 0)
        try await server.stop()
    }

    func testResultsDriveTheQueueAndShutdownDrainsInFlightWork() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        for name in ["ok", "flaky", "bad", "later"] {
            _ = try await client.create(.configMaps, namespace: "default",
                                        object: configMap(name, namespace: "default", labels: ["suite": "results"]).removingServerFields())
        }
        let informer = Informer(client: client, resource: .configMaps,
                                options: InformerOptions(namespace: "default", labelSelector: "suite=results", watcher: fastWatcher))
        let attempts = Mutex<[String: Int]>([:])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let reconciler = ReconcileFunction { key in
            let n = attempts.withLock { a -> Int in
                a[key.name, default: 0] += 1
                return a[key.name] ?? 0
            }
            switch key.name {
            case "flaky": return n < 3 ? .error("not yet (attempt \(n))") : .done
            case "bad": return .terminalError("invalid spec")
            case "later": return n < 2 ? .requeue(after: 0.05) : .done
            case "slow":
                // Held until the test lets it go: in flight during shutdown.
                await withCheckedContinuation { c in gate.withLock { $0 = c } }
                return .done
            default: return .done
            }
        }
        let probe = ConcurrencyProbe()
        let controller = Controller(name: "results", primary: informer, reconciler: reconciler,
                                    options: ControllerOptions(maxConcurrentReconciles: 2, resyncPeriod: nil), hooks: probe)
        let informerTask = Task { await informer.run() }
        let running = Task { await controller.run() }
        try await waitUntil("flaky succeeded after two backoffs and later after its requeue") {
            let a = attempts.withLock { $0 }
            return a["flaky"] == 3 && a["later"] == 2 && a["ok"] == 1 && a["bad"] == 1
        }
        let counts = attempts.withLock { $0 }
        XCTAssertEqual(counts["bad"], 1, "a terminal error is not retried")
        XCTAssertEqual(controller.metrics.reconcileTotal["error"], 3)  // flaky twice + bad
        XCTAssertEqual(controller.metrics.terminalErrorsTotal, 1)
        XCTAssertEqual(controller.metrics.reconcileTotal["requeue_after"], 1)

        // A reconcile in flight when the controller is cancelled runs to its end.
        _ = try await client.create(.configMaps, namespace: "default",
                                    object: configMap("slow", namespace: "default", labels: ["suite": "results"]).removingServerFields())
        try await waitUntil("slow is in flight") { gate.withLock { $0 != nil } }
        running.cancel()
        try await waitUntil("the queue stopped taking work") { await controller.queue.isShuttingDown }
        XCTAssertEqual(probe.activeNow, 1, "the in-flight reconcile was not cancelled")
        gate.withLock { $0?.resume(); $0 = nil }
        await running.value
        XCTAssertEqual(probe.activeNow, 0)
        XCTAssertEqual(probe.results["success"], 4, "ok, flaky, later and slow finished")
        informerTask.cancel()
        await informerTask.value
        try await server.stop()
    }

    func testWatchesMapperAndPeriodicResyncQueueThePrimary() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let primaries = Informer(client: client, resource: .configMaps,
                                 options: InformerOptions(namespace: "default", labelSelector: "suite=watches", watcher: fastWatcher))
        let secrets = Informer(client: client, resource: .secrets,
                               options: InformerOptions(namespace: "default", labelSelector: "suite=watches", transform: .metadataOnly,
                                                        watcher: fastWatcher))
        let counts = Mutex<[String: Int]>([:])
        let clock = ManualClock()
        let controller = Controller(
            name: "watches", primary: primaries,
            reconciler: ReconcileFunction { key in
                counts.withLock { $0[key.name, default: 0] += 1 }
                return .done
            },
            options: ControllerOptions(resyncPeriod: 60), clock: clock)
        // A Secret names the ConfigMap that uses it in an annotation.
        controller.watches(secrets) { secret in
            guard let target = secret[path: ["metadata", "annotations", "example.com/used-by"]]?.stringValue else { return [] }
            return [ObjectKey(namespace: secret[path: ["metadata", "namespace"]]?.stringValue, name: target)]
        }
        _ = try await client.create(.configMaps, namespace: "default",
                                    object: configMap("app", namespace: "default", labels: ["suite": "watches"]).removingServerFields())
        let informers = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await primaries.run() }
                group.addTask { await secrets.run() }
            }
        }
        let running = Task { await controller.run() }
        try await waitUntil("the first reconcile") { counts.withLock { $0["app"] } == 1 }

        _ = try await client.create(.secrets, namespace: "default", object: [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": ["name": "creds", "labels": ["suite": "watches"], "annotations": ["example.com/used-by": "app"]],
            "stringData": ["token": "t"],
        ])
        try await waitUntil("the Secret's change queued its user") { counts.withLock { $0["app"] } == 2 }

        // The resync sleeps on the injected clock: one period later every cached primary is queued.
        try await waitUntil("the resync timer is armed") { clock.nextDeadline == 60 }
        clock.advance(by: 60)
        try await waitUntil("the resync reconciled app again") { counts.withLock { $0["app"] } == 3 }
        XCTAssertEqual(counts.withLock { $0.keys.sorted() }, ["app"], "the mapper named only the primary")

        running.cancel()
        await running.value
        informers.cancel()
        await informers.value
        try await server.stop()
    }
}
