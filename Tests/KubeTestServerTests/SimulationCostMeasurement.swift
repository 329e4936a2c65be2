import Foundation
import KubeCore
@testable import KubeTestServer
import Testing

/// What the simulated cluster costs at scale: N Deployments × 3 Pods settle, then one Deployment
/// at a time gets a new template and the time until its rollout completes and the process CPU
/// spent are printed. A measurement, not a check (timings depend on the machine), so it runs only
/// when asked: `KUBE_SIM_MEASURE=1 swift test --filter SimulationCostMeasurement`
/// (`KUBE_SIM_MEASURE_N` Deployments, default 1000; `KUBE_SIM_MEASURE_PATCHES`, default 100).
@Suite struct SimulationCostMeasurement {
    static let environment = ProcessInfo.processInfo.environment
    static let deployments = "/apis/apps/v1/namespaces/default/deployments"

    static func cpuSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    @Test(.enabled(if: environment["KUBE_SIM_MEASURE"] != nil))
    func patchOneDeploymentAtATime() async throws {
        let n = Int(Self.environment["KUBE_SIM_MEASURE_N"] ?? "") ?? 1000
        let patches = Int(Self.environment["KUBE_SIM_MEASURE_PATCHES"] ?? "") ?? 100
        var options = KubeTestServerOptions()
        options.simulation = .on
        let server = try await KubeTestServer.start(options)
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)

        let setupStart = Date()
        for i in 0..<n {
            #expect(await c.post(Self.deployments, deployment("d\(i)", replicas: 3)).status == 201)
        }
        let settled = await eventually(timeout: 1800, interval: 1) {
            let items = await c.get(Self.deployments).json["items"]?.arrayValue ?? []
            return items.count == n && items.allSatisfy { $0[path: ["status", "readyReplicas"]] == 3 && $0[path: ["status", "replicas"]] == 3 }
        }
        #expect(settled)
        let setupSeconds = Date().timeIntervalSince(setupStart)

        var latencies: [Double] = []
        let cpuStart = Self.cpuSeconds()
        let wallStart = Date()
        for i in 0..<patches {
            let name = "d\((i * 7) % n)"
            let sent = Date()
            let patch: JSONValue = ["spec": ["template": ["metadata": ["annotations": ["measure/round": .string(String(i))]]]]]
            let answer = await c.mergePatch("\(Self.deployments)/\(name)", patch)
            #expect(answer.status == 200)
            let generation = answer.json[path: ["metadata", "generation"]]
            let done = await eventually(timeout: 120, interval: 0.005) {
                let live = await c.get("\(Self.deployments)/\(name)").json
                return live[path: ["status", "observedGeneration"]] == generation && live[path: ["status", "updatedReplicas"]] == 3
                    && live[path: ["status", "readyReplicas"]] == 3 && live[path: ["status", "replicas"]] == 3
            }
            #expect(done)
            latencies.append(Date().timeIntervalSince(sent))
        }
        let cpu = Self.cpuSeconds() - cpuStart
        let wall = Date().timeIntervalSince(wallStart)
        // The same window with nothing changing: what the simulation costs at rest.
        let idleCPUStart = Self.cpuSeconds()
        try await Task.sleep(for: .seconds(10))
        let idleCPU = Self.cpuSeconds() - idleCPUStart
        latencies.sort()
        let passes = server.simulation.memory.withLock { $0.passes }
        print(String(format: "SIMCOST n=%d patches=%d setup=%.1fs cpu=%.2fs wall=%.2fs cpu/wall=%.0f%% cpu/patch=%.1fms rollout p50=%.0fms p99=%.0fms idle10s-cpu=%.2fs passes=%d",
                     n, patches, setupSeconds, cpu, wall, 100 * cpu / max(wall, 0.001), 1000 * cpu / Double(max(patches, 1)),
                     1000 * Self.percentile(latencies, 0.5), 1000 * Self.percentile(latencies, 0.99), idleCPU, passes))
    }
}
