import Foundation
import KubeCore
@testable import KubeTestServer
import Testing

/// The simulated controllers visit only what changed or is due (`SimulationQueue`). Every test
/// here switches the safety-net resync off, so it fails when that bookkeeping misses a change.
@Suite struct SimulationIncrementalTests {
    static let deployments = "/apis/apps/v1/namespaces/default/deployments"
    static let pods = "/api/v1/namespaces/default/pods"

    func simulatedWithoutResync(_ configure: (inout SimulationSettings) -> Void = { _ in }) async throws -> KubeTestServer {
        var options = KubeTestServerOptions()
        options.simulation = .on
        configure(&options.simulation)
        let server = try await KubeTestServer.start(options)
        server.simulation.resyncInterval = nil
        return server
    }

    func condition(_ obj: JSONValue, _ type: String) -> JSONValue? {
        obj[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    func rolledOut(_ c: TestClient, _ name: String, replicas: Int64 = 1) async -> Bool {
        let live = await c.get("\(Self.deployments)/\(name)").json
        return condition(live, "Progressing")?["reason"] == "NewReplicaSetAvailable" && live[path: ["status", "readyReplicas"]] == .int(replicas)
    }

    /// Waits until no pass has run for a while (nothing changed, no timer due).
    func quiet(_ simulation: ControllerSimulator) async -> Bool {
        var last = -1
        return await eventually(timeout: 60, interval: 0.3) {
            let passes = simulation.memory.withLock { $0.passes }
            defer { last = passes }
            return passes == last
        }
    }

    @Test func aForcedPodStateStillUpdatesItsDeployment() async throws {
        let server = try await simulatedWithoutResync()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        #expect(await c.post(Self.deployments, deployment("web")).status == 201)
        #expect(await eventually(timeout: 30) { await rolledOut(c, "web") })
        let pod = try #require(await c.get("\(Self.pods)?labelSelector=app%3Dweb").json["items"]?[0])
        let podName = try #require(pod[path: ["metadata", "name"]]?.stringValue)
        server.simulation.setPodState(namespace: "default", name: podName, .notReady)
        let lost = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/web").json
            return live[path: ["status", "readyReplicas"]] == nil && condition(live, "Available")?["status"] == "False"
        }
        #expect(lost, "the Pod's forced state reaches its Deployment")
        server.simulation.setPodState(namespace: "default", name: podName, nil)
        #expect(await eventually(timeout: 30) { await rolledOut(c, "web") }, "and so does its release")
    }

    @Test func aProgressDeadlineFiresWithoutAnyWrite() async throws {
        let server = try await simulatedWithoutResync { $0.progressDeadline = 0.5 }
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        server.simulation.failImage("nginx:broken")
        var d = deployment("stuck")
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "web", "image": "nginx:broken"]]
        #expect(await c.post(Self.deployments, d).status == 201)
        let exceeded = await eventually(timeout: 30) {
            condition(await c.get("\(Self.deployments)/stuck").json, "Progressing")?["reason"] == "ProgressDeadlineExceeded"
        }
        #expect(exceeded, "the deadline's timer wakes the Deployment")
    }

    @Test func aJobFinishesAndItsCronJobFollows() async throws {
        let server = try await simulatedWithoutResync()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let template: JSONValue = ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "main", "image": "busybox:1.36"]]]]]
        let cron: JSONValue = ["apiVersion": "batch/v1", "kind": "CronJob", "metadata": ["name": "nightly", "namespace": "default"],
                               "spec": ["schedule": "0 3 * * *", "jobTemplate": ["spec": template]]]
        #expect(await c.post("/apis/batch/v1/namespaces/default/cronjobs", cron).status == 201)
        try server.simulation.fireCronJob(namespace: "default", name: "nightly")
        let succeeded = await eventually(timeout: 30) {
            let live = await c.get("/apis/batch/v1/namespaces/default/cronjobs/nightly").json
            return live[path: ["status", "lastSuccessfulTime"]] != nil && live[path: ["status", "active"]] == nil
        }
        #expect(succeeded, "the Job's end (a timer) completes it, and its CronJob follows")
    }

    @Test func anHPARecommendationAndItsTargetsCountsArrive() async throws {
        let server = try await simulatedWithoutResync()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let path = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
        let hpa: JSONValue = ["apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": ["name": "api", "namespace": "default"],
                              "spec": ["scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": "api"], "minReplicas": 1, "maxReplicas": 5]]
        // The HPA first, so its target's creation is what wakes it.
        #expect(await c.post(path, hpa).status == 201)
        #expect(await c.post(Self.deployments, deployment("api")).status == 201)
        server.simulation.setHPARecommendation(namespace: "default", name: "api", replicas: 3)
        let scaled = await eventually(timeout: 30) {
            let live = await c.get("\(path)/api").json
            return live[path: ["status", "desiredReplicas"]] == 3 && live[path: ["status", "currentReplicas"]] == 3
        }
        #expect(scaled)
        #expect(await eventually(timeout: 30) { await rolledOut(c, "api", replicas: 3) })
    }

    /// A store of many Deployments: a new one still converges, and one Pod's change costs a few
    /// visits, not one per object. The many are scaled to zero: a pass over everything would
    /// still visit each of them, and the test stays cheap beside the suites running in parallel.
    @Test func oneChangeAmongManyDeploymentsVisitsFewObjects() async throws {
        let server = try await simulatedWithoutResync()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let many = 500
        for i in 0..<many { #expect(await c.post(Self.deployments, deployment("d\(i)", replicas: 0)).status == 201) }
        let settled = await eventually(timeout: 300, interval: 1) {
            let items = await c.get(Self.deployments).json["items"]?.arrayValue ?? []
            return items.count == many && items.allSatisfy { condition($0, "Progressing")?["reason"] == "NewReplicaSetAvailable" }
        }
        #expect(settled)
        #expect(await c.post(Self.deployments, deployment("late", replicas: 2)).status == 201)
        #expect(await eventually(timeout: 60) { await rolledOut(c, "late", replicas: 2) }, "a Deployment created among \(many) converges")

        #expect(await quiet(server.simulation))
        let pod = try #require(await c.get("\(Self.pods)?labelSelector=app%3Dlate").json["items"]?[0])
        let podName = try #require(pod[path: ["metadata", "name"]]?.stringValue)
        let before = server.simulation.memory.withLock { ($0.visits, $0.fullPasses) }
        server.simulation.setPodState(namespace: "default", name: podName, .notReady)
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/late").json[path: ["status", "readyReplicas"]] == 1 })
        #expect(await quiet(server.simulation))
        let after = server.simulation.memory.withLock { ($0.visits, $0.fullPasses) }
        #expect(after.1 == before.1, "no full pass")
        // The Pod, its Deployment, and each again after its own status write.
        #expect(after.0 - before.0 <= 10, "visited \(after.0 - before.0) objects for one Pod's change among \(many + 1) Deployments")
    }
}
