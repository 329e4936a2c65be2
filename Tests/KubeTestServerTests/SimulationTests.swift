import Foundation
import Synchronization
import KubeCore
@testable import KubeTestServer
import Testing

/// The simulated kube-controller-manager and kubelet (`server.simulation`), through the in-process handler.
@Suite struct SimulationTests {
    static let deployments = "/apis/apps/v1/namespaces/default/deployments"
    static let pods = "/api/v1/namespaces/default/pods"
    static let jobs = "/apis/batch/v1/namespaces/default/jobs"

    func simulated() async throws -> KubeTestServer {
        var options = KubeTestServerOptions()
        options.simulation = .on
        return try await KubeTestServer.start(options)
    }

    func condition(_ obj: JSONValue, _ type: String) -> JSONValue? {
        obj[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    func podsOf(_ c: TestClient, app: String) async -> [JSONValue] {
        await c.get("\(Self.pods)?labelSelector=app%3D\(app)").json["items"]?.arrayValue ?? []
    }

    func job(_ name: String, image: String = "busybox:1.36") -> JSONValue {
        ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name), "namespace": "default"],
         "spec": ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "main", "image": .string(image)]]]]]]
    }

    @Test func deploymentRolloutCompletesThroughTheCommitPath() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let watch = await c.watch("\(Self.deployments)?watch=true")
        server.resetRequestCounts()
        var d = deployment("web", replicas: 2)
        d[path: ["spec", "replicas"]] = nil   // server default: 1
        #expect(await c.post(Self.deployments, d).status == 201)
        let done = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/web").json
            return condition(live, "Progressing")?["reason"] == "NewReplicaSetAvailable"
        }
        #expect(done)
        let live = await c.get("\(Self.deployments)/web").json
        #expect(live[path: ["spec", "replicas"]] == 1)
        #expect(live[path: ["status", "observedGeneration"]] == 1)
        #expect(live[path: ["status", "replicas"]] == 1)
        #expect(live[path: ["status", "updatedReplicas"]] == 1)
        #expect(live[path: ["status", "readyReplicas"]] == 1)
        #expect(live[path: ["status", "availableReplicas"]] == 1)
        #expect(condition(live, "Available")?["status"] == "True")
        #expect(condition(live, "Available")?["reason"] == "MinimumReplicasAvailable")
        let managers = live[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        #expect(managers.contains { $0["manager"] == "kube-controller-manager" && $0["subresource"] == "status" })

        let pods = await podsOf(c, app: "web")
        #expect(pods.count == 1)
        let pod = try #require(pods.first)
        let hash = try #require(pod[path: ["metadata", "labels", "pod-template-hash"]]?.stringValue)
        #expect(pod[path: ["metadata", "name"]]?.stringValue?.hasPrefix("web-\(hash)-") == true)
        #expect(pod[path: ["metadata", "ownerReferences"]]?[0]?["kind"] == "Deployment")
        #expect(pod[path: ["metadata", "ownerReferences"]]?[0]?["uid"] == live[path: ["metadata", "uid"]])
        #expect(pod[path: ["status", "phase"]] == "Running")
        #expect(condition(pod, "Ready")?["status"] == "True")

        // Watchers saw the status writes as MODIFIED events; no client request was counted for them.
        let events = try await readLines(watch, count: 3, timeout: 5)
        #expect(events.first?["type"] == "ADDED")
        #expect(events.dropFirst().allSatisfy { $0["type"] == "MODIFIED" })
        #expect(events.count == 3)
        #expect(server.requestCounts.keys.filter { $0.hasPrefix("update") || $0.hasPrefix("patch") }.isEmpty)
        #expect(server.requestCount(verb: "create", resource: "pods") == 0)
        #expect(server.simulation.writeCount > 0)

        // Converged: the simulation's own writes do not retrigger it (no commit while nothing changes).
        let settledRV = server.currentResourceVersion
        let churned = await eventually(timeout: 0.4) { server.currentResourceVersion != settledRV }
        #expect(!churned)

        // A new template rolls out: new Pods, old ones removed once the new ones are ready.
        let patched = await c.mergePatch("\(Self.deployments)/web", ["spec": ["template": ["spec": ["containers": [["name": "web", "image": "nginx:1.28"]]]]]])
        #expect(patched.status == 200)
        let rolled = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/web").json
            let pods = await podsOf(c, app: "web")
            return live[path: ["status", "observedGeneration"]] == 2 && condition(live, "Progressing")?["reason"] == "NewReplicaSetAvailable"
                && pods.count == 1 && pods.first?[path: ["metadata", "labels", "pod-template-hash"]]?.stringValue != hash
                && pods.first?[path: ["spec", "containers"]]?[0]?["image"] == "nginx:1.28"
        }
        #expect(rolled)
    }

    @Test func failingImageExceedsTheProgressDeadline() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        server.simulation.failImage("nginx:broken")
        var d = deployment("bad", replicas: 2)
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "web", "image": "nginx:broken"]]
        #expect(await c.post(Self.deployments, d).status == 201)
        let exceeded = await eventually(timeout: 30) {
            condition(await c.get("\(Self.deployments)/bad").json, "Progressing")?["reason"] == "ProgressDeadlineExceeded"
        }
        #expect(exceeded)
        let live = await c.get("\(Self.deployments)/bad").json
        #expect(condition(live, "Progressing")?["status"] == "False")
        #expect(condition(live, "Available")?["status"] == "False")
        #expect(live[path: ["status", "readyReplicas"]] == nil)
        #expect(live[path: ["status", "unavailableReplicas"]] == 2)
        let pods = await podsOf(c, app: "bad")
        #expect(pods.count == 2)
        for pod in pods {
            #expect(pod[path: ["status", "phase"]] == "Pending")
            #expect(pod[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "reason"]] == "ImagePullBackOff")
        }
        let settledRV = server.currentResourceVersion
        let churned = await eventually(timeout: 0.4) { server.currentResourceVersion != settledRV }
        #expect(!churned, "a stuck rollout is written once, not on every pass")

        // The image is fixed upstream: the Pods start and the rollout completes.
        server.simulation.stopFailingImages()
        let recovered = await eventually(timeout: 30) {
            condition(await c.get("\(Self.deployments)/bad").json, "Progressing")?["reason"] == "NewReplicaSetAvailable"
        }
        #expect(recovered)
    }

    @Test func crashLoopReasonAndForcedPodStates() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        server.simulation.failImage("app:crash", reason: "CrashLoopBackOff")
        var d = deployment("crash")
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "web", "image": "app:crash"]]
        #expect(await c.post(Self.deployments, d).status == 201)
        let crashing = await eventually(timeout: 30) {
            await podsOf(c, app: "crash").first?[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "reason"]] == "CrashLoopBackOff"
        }
        #expect(crashing)

        #expect(await c.post(Self.deployments, deployment("ok")).status == 201)
        let ready = await eventually(timeout: 30) { await c.get("\(Self.deployments)/ok").json[path: ["status", "readyReplicas"]] == 1 }
        #expect(ready)
        let podName = try #require(await podsOf(c, app: "ok").first?[path: ["metadata", "name"]]?.stringValue)
        server.simulation.setPodState(namespace: "default", name: podName, .notReady)
        let lost = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/ok").json
            return live[path: ["status", "readyReplicas"]] == nil && condition(live, "Available")?["status"] == "False"
        }
        #expect(lost)
        #expect(condition(await c.get("\(Self.pods)/\(podName)").json, "Ready")?["status"] == "False")
    }

    @Test func scalingUpdatesPodsAndCounts() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        server.simulation.settings.podStartDelay = 0   // Pods are ready as soon as they are seen
        #expect(await c.post(Self.deployments, deployment("scaled")).status == 201)
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/scaled").json[path: ["status", "readyReplicas"]] == 1 })
        #expect(await c.mergePatch("\(Self.deployments)/scaled", ["spec": ["replicas": 3]]).status == 200)
        let up = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/scaled").json
            return live[path: ["status", "readyReplicas"]] == 3 && live[path: ["status", "observedGeneration"]] == 2
                && live[path: ["status", "replicas"]] == 3
        }
        #expect(up)
        #expect(await podsOf(c, app: "scaled").count == 3)
        #expect(await c.mergePatch("\(Self.deployments)/scaled", ["spec": ["replicas": 1]]).status == 200)
        let down = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/scaled").json
            return live[path: ["status", "replicas"]] == 1 && live[path: ["status", "readyReplicas"]] == 1
        }
        #expect(down)
        #expect(await podsOf(c, app: "scaled").count == 1)
    }

    /// Pods that take 0.5 s to start roll out without ProgressDeadlineExceeded: the simulated
    /// deadline follows the Deployment's progressDeadlineSeconds and never undercuts a normal start.
    @Test func slowPodStartsDoNotExceedTheProgressDeadline() async throws {
        var options = KubeTestServerOptions()
        options.simulation = .on
        options.simulation.podStartDelay = 0.5
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let watch = await c.watch("\(Self.deployments)?watch=true")
        #expect(await c.post(Self.deployments, deployment("slow", replicas: 2)).status == 201)
        let done = await eventually(timeout: 30) {
            condition(await c.get("\(Self.deployments)/slow").json, "Progressing")?["reason"] == "NewReplicaSetAvailable"
        }
        #expect(done)
        let events = try await readLines(watch, count: .max, timeout: 1)
        let reasons = events.compactMap { condition($0["object"] ?? [:], "Progressing")?["reason"]?.stringValue }
        #expect(!reasons.contains("ProgressDeadlineExceeded"), "\(reasons)")
    }

    @Test func theSimulatedDeadlineIsDerivedFromTheDeployment() {
        func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }
        var settings = SimulationSettings.on
        var d = deployment("d")
        #expect(near(settings.progressDeadline(for: d), 0.35), "default: 600 s scaled, at least three 0.05 s starts + 0.2 s")
        d[path: ["spec", "progressDeadlineSeconds"]] = 2400
        #expect(near(settings.progressDeadline(for: d), 1.2))
        settings.podStartDelay = 2
        #expect(near(settings.progressDeadline(for: d), 6.2), "never shorter than a normal rollout of slow Pods")
        settings.progressDeadline = 0.4
        #expect(settings.progressDeadline(for: d) == 0.4, "a fixed deadline wins")
    }

    /// Each Deployment's own progressDeadlineSeconds applies: of two failing rollouts, the one with
    /// the long deadline (created first) still progresses when the short one has exceeded its own.
    @Test func eachDeploymentsProgressDeadlineSecondsIsHonoured() async throws {
        var options = KubeTestServerOptions()
        options.simulation = .on
        options.simulation.progressDeadlineScale = 1   // one simulated second per second
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        server.simulation.failImage("nginx:broken")
        for (name, seconds) in [("long", 3600), ("short", 1)] {
            var d = deployment(name)
            d[path: ["spec", "progressDeadlineSeconds"]] = .int(Int64(seconds))
            d[path: ["spec", "template", "spec", "containers"]] = [["name": "web", "image": "nginx:broken"]]
            #expect(await c.post(Self.deployments, d).status == 201)
        }
        let exceeded = await eventually(timeout: 30) {
            condition(await c.get("\(Self.deployments)/short").json, "Progressing")?["reason"] == "ProgressDeadlineExceeded"
        }
        #expect(exceeded)
        #expect(condition(await c.get("\(Self.deployments)/long").json, "Progressing")?["reason"] == "ReplicaSetUpdated")
    }

    /// A Deployment deleted while its Pods are being created gets no more of them (at most one
    /// pass's budget), and those it had are collected.
    @Test func podsOfADeletedDeploymentStopBeingCreated() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let counter = PodEventCounter(await c.watch("\(Self.pods)?watch=true"))
        #expect(await c.post(Self.deployments, deployment("huge", replicas: 3000)).status == 201)
        #expect(await eventually(timeout: 30) { counter.counts.added > 0 })
        #expect(await c.delete("\(Self.deployments)/huge").status == 200)
        let addedAtDeletion = counter.counts.added
        let collected = await eventually(timeout: 60) {
            let counts = counter.counts
            return await podsOf(c, app: "huge").isEmpty && counts.deleted == counts.added
        }
        #expect(collected, "\(counter.counts)")
        let budget = SimulationSettings().podCreatesPerPass
        #expect(counter.counts.added - addedAtDeletion <= budget, "created after the deletion: \(counter.counts.added - addedAtDeletion)")
        counter.stop()
    }

    /// Passes run by hand (the loop is off): each creates at most its budget, and none once the
    /// Deployment is deleted; its Pods are collected.
    @Test func aPassCreatesAtMostItsBudgetAndNoneForADeletedDeployment() async throws {
        var options = KubeTestServerOptions()
        options.simulation.podCreatesPerPass = 10
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let simulation = server.simulation
        let core = try #require(simulation.core)
        #expect(await c.post(Self.deployments, deployment("huge", replicas: 1000)).status == 201)
        #expect(simulation.pass(core) != nil, "more to do: the next pass is due at once")
        #expect(await podsOf(c, app: "huge").count == 10)
        _ = simulation.pass(core)
        #expect(await podsOf(c, app: "huge").count == 20)
        #expect(await c.delete("\(Self.deployments)/huge").status == 200)
        _ = simulation.pass(core)
        #expect(await podsOf(c, app: "huge").count <= 20, "no Pods for a deleted Deployment")
        #expect(await eventually(timeout: 30) { await podsOf(c, app: "huge").isEmpty }, "its Pods are collected")
    }

    @Test func thePassBudgetIsSharedSoAHugeDeploymentStarvesNoOther() {
        #expect(ControllerSimulator.allot([1000, 3, 0, 20], budget: 60) == [37, 3, 0, 20])
        #expect(ControllerSimulator.allot([1000, 3], budget: 500) == [497, 3])
        #expect(ControllerSimulator.allot(Array(repeating: 3, count: 1000), budget: 500).reduce(0, +) == 500)
        #expect(ControllerSimulator.allot([0, 0], budget: 10) == [0, 0])
        #expect(ControllerSimulator.allot([5], budget: 0) == [1], "every pass makes progress")
    }

    @Test func aSmallDeploymentGetsItsPodsBesideAHugeOne() async throws {
        var options = KubeTestServerOptions()
        options.simulation.podCreatesPerPass = 10
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let simulation = server.simulation
        let core = try #require(simulation.core)
        #expect(await c.post(Self.deployments, deployment("a-huge", replicas: 1000)).status == 201)
        #expect(await c.post(Self.deployments, deployment("b-small", replicas: 2)).status == 201)
        _ = simulation.pass(core)
        #expect(await podsOf(c, app: "b-small").count == 2)
        #expect(await podsOf(c, app: "a-huge").count == 8)
    }

    /// Large Deployments are created a pass's budget at a time and still roll out.
    @Test func podCreationIsBoundedPerPass() async throws {
        var options = KubeTestServerOptions()
        options.simulation = .on
        options.simulation.podCreatesPerPass = 7
        options.simulation.podStartDelay = 0
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        #expect(await c.post(Self.deployments, deployment("wide", replicas: 30)).status == 201)
        let done = await eventually(timeout: 30) {
            let live = await c.get("\(Self.deployments)/wide").json
            return condition(live, "Progressing")?["reason"] == "NewReplicaSetAvailable" && live[path: ["status", "readyReplicas"]] == 30
        }
        #expect(done)
        #expect(await podsOf(c, app: "wide").count == 30)
    }

    @Test func pausedDeploymentDoesNotRollOut() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        var d = deployment("paused")
        d[path: ["spec", "paused"]] = true
        #expect(await c.post(Self.deployments, d).status == 201)
        let reported = await eventually(timeout: 30) {
            condition(await c.get("\(Self.deployments)/paused").json, "Progressing")?["reason"] == "DeploymentPaused"
        }
        #expect(reported)
        #expect(await podsOf(c, app: "paused").isEmpty)
        #expect(await c.mergePatch("\(Self.deployments)/paused", ["spec": ["paused": false]]).status == 200)
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/paused").json[path: ["status", "readyReplicas"]] == 1 })
    }

    @Test func jobsSucceedOrFailAsTold() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        server.simulation.failJobs(matching: .namePrefix("restore-"), reason: "BackoffLimitExceeded", message: "restore failed")
        #expect(await c.post(Self.jobs, job("backup-1")).status == 201)
        #expect(await c.post(Self.jobs, job("restore-1")).status == 201)
        let finished = await eventually(timeout: 30) {
            let ok = await c.get("\(Self.jobs)/backup-1").json
            let failed = await c.get("\(Self.jobs)/restore-1").json
            return condition(ok, "Complete")?["status"] == "True" && condition(failed, "Failed")?["status"] == "True"
        }
        #expect(finished)
        let ok = await c.get("\(Self.jobs)/backup-1").json
        #expect(ok[path: ["status", "succeeded"]] == 1)
        #expect(ok[path: ["status", "completionTime"]]?.stringValue != nil)
        #expect(ok[path: ["status", "startTime"]]?.stringValue != nil)
        #expect(ok[path: ["status", "active"]] == nil)
        let failed = await c.get("\(Self.jobs)/restore-1").json
        #expect(condition(failed, "Failed")?["reason"] == "BackoffLimitExceeded")
        #expect(condition(failed, "Failed")?["message"] == "restore failed")
        #expect(condition(failed, "Complete") == nil)
        #expect(failed[path: ["status", "completionTime"]] == nil)
    }

    @Test func firingACronJobCreatesOneJobAndRecordsTimes() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let cron: JSONValue = ["apiVersion": "batch/v1", "kind": "CronJob", "metadata": ["name": "nightly", "namespace": "default"],
                               "spec": ["schedule": "0 3 * * *", "jobTemplate": ["metadata": ["labels": ["task": "backup"]],
                                                                                 "spec": job("x")["spec"] ?? [:]]]]
        #expect(await c.post("/apis/batch/v1/namespaces/default/cronjobs", cron).status == 201)
        let time = Date(timeIntervalSince1970: 1_800_000_000)
        let name = try server.simulation.fireCronJob(namespace: "default", name: "nightly", at: time)
        #expect(name == "nightly-30000000")
        let jobs = await c.get(Self.jobs).json["items"]?.arrayValue ?? []
        #expect(jobs.count == 1)
        let created = try #require(jobs.first)
        #expect(created[path: ["metadata", "name"]] == "nightly-30000000")
        #expect(created[path: ["metadata", "labels", "task"]] == "backup")
        #expect(created[path: ["metadata", "ownerReferences"]]?[0]?["kind"] == "CronJob")
        let scheduled = await c.get("/apis/batch/v1/namespaces/default/cronjobs/nightly").json
        #expect(scheduled[path: ["status", "lastScheduleTime"]] == "2027-01-15T08:00:00Z")
        let succeeded = await eventually(timeout: 30) {
            let live = await c.get("/apis/batch/v1/namespaces/default/cronjobs/nightly").json
            return live[path: ["status", "lastSuccessfulTime"]] != nil && live[path: ["status", "active"]] == nil
        }
        #expect(succeeded)
        #expect(throws: SimulationError.cronJobNotFound(namespace: "default", name: "missing")) {
            try server.simulation.fireCronJob(namespace: "default", name: "missing")
        }
    }

    @Test func hpaOwnsTheTargetsReplicas() async throws {
        let server = try await simulated()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        #expect(await c.post(Self.deployments, deployment("api")).status == 201)
        let hpa: JSONValue = ["apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                              "metadata": ["name": "api", "namespace": "default"],
                              "spec": ["scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": "api"],
                                       "minReplicas": 2, "maxReplicas": 4]]
        #expect(await c.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", hpa).status == 201)
        let scaled = await eventually(timeout: 30) {
            let live = await c.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/api").json
            return live[path: ["status", "desiredReplicas"]] == 2 && live[path: ["status", "currentReplicas"]] == 2
        }
        #expect(scaled)
        let target = await c.get("\(Self.deployments)/api").json
        #expect(target[path: ["spec", "replicas"]] == 2)
        let managers = target[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        #expect(managers.contains { $0["manager"] == "kube-controller-manager" && $0["subresource"] == "scale" })

        server.simulation.setHPARecommendation(namespace: "default", name: "api", replicas: 10)
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/api").json[path: ["spec", "replicas"]] == 4 })
        #expect(server.requestCount(verb: "update", resource: "deployments/scale") == 0)
        #expect(await eventually(timeout: 30) {
            let hpa = await c.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/api").json
            let target = await c.get("\(Self.deployments)/api").json
            return hpa[path: ["status", "currentReplicas"]] == 4 && target[path: ["status", "readyReplicas"]] == 4
        })
        let settledRV = server.currentResourceVersion
        let churned = await eventually(timeout: 0.4) { server.currentResourceVersion != settledRV }
        #expect(!churned)
    }

    @Test func offByDefaultNothingHappens() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        #expect(!server.simulation.isEnabled)
        #expect(await c.post(Self.deployments, deployment("idle")).status == 201)
        #expect(await c.post(Self.jobs, job("idle")).status == 201)
        let rv = server.currentResourceVersion
        // Nothing can be awaited here: give a simulation several of its delays to (wrongly) act.
        let moved = await eventually(timeout: 0.5) { server.currentResourceVersion != rv }
        #expect(!moved)
        #expect(await podsOf(c, app: "idle").isEmpty)
        #expect(server.simulation.writeCount == 0)

        // Switched on at run time, it catches up.
        server.simulation.isEnabled = true
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/idle").json[path: ["status", "readyReplicas"]] == 1 })
        #expect(await eventually(timeout: 30) { condition(await c.get("\(Self.jobs)/idle").json, "Complete") != nil })
        server.simulation.isEnabled = false
        #expect(await c.mergePatch("\(Self.deployments)/idle", ["spec": ["replicas": 2]]).status == 200)
        let scaled = await eventually(timeout: 0.5) { await podsOf(c, app: "idle").count == 2 }
        #expect(!scaled)
    }

    @Test func survivesRestartAndStopsWithTheServer() async throws {
        let server = try await simulated()
        let c = TestClient(server)
        #expect(await c.post(Self.deployments, deployment("r")).status == 201)
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/r").json[path: ["status", "readyReplicas"]] == 1 })
        try await server.restart()
        #expect(await c.mergePatch("\(Self.deployments)/r", ["spec": ["replicas": 2]]).status == 200)
        #expect(await eventually(timeout: 30) { await c.get("\(Self.deployments)/r").json[path: ["status", "readyReplicas"]] == 2 })
        try await server.stop()
        #expect(!server.simulation.isEnabled)
    }
}

/// Counts ADDED and DELETED events of a pods watch, read on a task of its own.
final class PodEventCounter: Sendable {
    struct Counts: Sendable, CustomStringConvertible {
        var added = 0
        var deleted = 0
        var description: String { "added \(added), deleted \(deleted)" }
    }

    final class Box: Sendable {
        let state = Mutex(Counts())
    }

    private let box = Box()
    private let task: Task<Void, Never>
    private let stream: KubeStreamResponse

    init(_ stream: KubeStreamResponse) {
        let box = self.box
        self.stream = stream
        task = Task {
            var splitter = LineSplitter()
            while let chunk = try? await stream.body.next() {
                for line in (try? splitter.feed(chunk)) ?? [] {
                    guard let type = (try? JSONValue(parsing: line))?["type"]?.stringValue else { continue }
                    box.state.withLock { c in
                        if type == "ADDED" { c.added += 1 }
                        if type == "DELETED" { c.deleted += 1 }
                    }
                }
            }
        }
    }

    var counts: Counts { box.state.withLock { $0 } }

    func stop() {
        stream.body.cancel()
        task.cancel()
    }
}
