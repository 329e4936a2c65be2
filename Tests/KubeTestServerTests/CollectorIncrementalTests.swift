import Foundation
import KubeCore
@testable import KubeTestServer
import Testing

/// The garbage collector examines what commits queued for it (`CollectorQueue`). Every test here
/// switches its periodic full scan off, so it fails when that bookkeeping misses something.
@Suite struct CollectorIncrementalTests {
    static let configMaps = "/api/v1/namespaces/default/configmaps"

    func withoutFullScans() async throws -> KubeTestServer {
        let server = try await KubeTestServer.start()
        server.core.state.withLock { $0.store.collector.fullScanInterval = nil }
        return server
    }

    func owned(_ name: String, by owner: JSONValue, block: Bool = false, ns: String = "default") -> JSONValue {
        var cm = configMap(name, ns: ns)
        cm[path: ["metadata", "ownerReferences"]] = [[
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner[path: ["metadata", "name"]] ?? "",
            "uid": owner[path: ["metadata", "uid"]] ?? "", "blockOwnerDeletion": .bool(block),
        ]]
        return cm
    }

    func exists(_ c: TestClient, _ path: String) async -> Bool { await c.get(path).status == 200 }

    @Test func deletingAnOwnerExaminesItsDependentsNotTheStore() async throws {
        let server = try await withoutFullScans()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        for i in 0..<300 { #expect(await c.post(Self.configMaps, configMap("bystander-\(i)")).status == 201) }
        let owner = await c.post(Self.configMaps, configMap("owner")).json
        let child = await c.post(Self.configMaps, owned("child", by: owner)).json
        #expect(await c.post(Self.configMaps, owned("grandchild", by: child)).status == 201)
        let before = server.core.state.withLock { ($0.store.collector.examined, $0.store.collector.fullScans) }
        #expect(await c.delete("\(Self.configMaps)/owner").status == 200)
        let gone = await eventually(timeout: 30) {
            let child = await exists(c, "\(Self.configMaps)/child")
            let grandchild = await exists(c, "\(Self.configMaps)/grandchild")
            return !child && !grandchild
        }
        #expect(gone, "dependents, and theirs, are collected")
        let after = server.core.state.withLock { ($0.store.collector.examined, $0.store.collector.fullScans) }
        #expect(after.1 == before.1, "no full scan")
        #expect(after.0 - before.0 <= 10, "examined \(after.0 - before.0) objects in a store of 300")
    }

    @Test func foregroundDeletionWaitsThenFinishes() async throws {
        let server = try await withoutFullScans()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let owner = await c.post(Self.configMaps, configMap("fg")).json
        var blocker = owned("fg-blocker", by: owner, block: true)
        blocker[path: ["metadata", "finalizers"]] = ["example.com/hold"]
        #expect(await c.post(Self.configMaps, blocker).status == 201)
        let del = await c.delete("\(Self.configMaps)/fg", ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"])
        #expect(del.status == 200)
        let marked = await eventually(timeout: 30) {
            await c.get("\(Self.configMaps)/fg-blocker").json[path: ["metadata", "deletionTimestamp"]] != nil
        }
        #expect(marked)
        #expect(await exists(c, "\(Self.configMaps)/fg"), "the owner waits for its blocking dependent")
        #expect(await c.mergePatch("\(Self.configMaps)/fg-blocker", ["metadata": ["finalizers": nil]]).status == 200)
        #expect(await eventually(timeout: 30) { await !exists(c, "\(Self.configMaps)/fg") }, "the dependent's removal wakes its owner")
    }

    @Test func aTerminatingNamespaceEmptiesAndGoes() async throws {
        let server = try await withoutFullScans()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        #expect(await c.post("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "gc-ns"]]).status == 201)
        var held = configMap("held", ns: "gc-ns")
        held[path: ["metadata", "finalizers"]] = ["example.com/hold"]
        #expect(await c.post("/api/v1/namespaces/gc-ns/configmaps", held).status == 201)
        #expect(await c.post("/api/v1/namespaces/gc-ns/configmaps", configMap("plain", ns: "gc-ns")).status == 201)
        #expect(await c.delete("/api/v1/namespaces/gc-ns").status == 200)
        #expect(await eventually(timeout: 30) { await !exists(c, "/api/v1/namespaces/gc-ns/configmaps/plain") })
        #expect(await exists(c, "/api/v1/namespaces/gc-ns"), "a held object keeps its namespace")
        #expect(await c.mergePatch("/api/v1/namespaces/gc-ns/configmaps/held", ["metadata": ["finalizers": nil]]).status == 200)
        #expect(await eventually(timeout: 30) { await !exists(c, "/api/v1/namespaces/gc-ns") }, "the last object's removal wakes the namespace")
    }
}
