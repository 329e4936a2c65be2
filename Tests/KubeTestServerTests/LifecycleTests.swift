import Foundation
import Synchronization
import KubeCore
import KubeTestServer
import XCTest

/// Deletion, garbage collection, namespaces, dry run, CRDs and RBAC.
final class LifecycleTests: XCTestCase {
    var server: KubeTestServer!
    var c: TestClient!

    override func setUp() async throws {
        server = try await KubeTestServer.start()
        c = TestClient(server)
    }

    override func tearDown() async throws {
        try await server.stop()
    }

    func exists(_ path: String) async -> Bool { await c.get(path).status == 200 }

    func ownedConfigMap(_ name: String, owner: RawAnswer, block: Bool = false) -> JSONValue {
        var cm = configMap(name)
        cm[path: ["metadata", "ownerReferences"]] = [[
            "apiVersion": "apps/v1", "kind": "Deployment", "name": owner.json[path: ["metadata", "name"]] ?? "",
            "uid": owner.json[path: ["metadata", "uid"]] ?? "", "controller": true, "blockOwnerDeletion": .bool(block),
        ]]
        return cm
    }

    func testBackgroundDeletionCollectsDependents() async throws {
        let owner = await c.post("/apis/apps/v1/namespaces/default/deployments", deployment("owner"))
        let _a1 = await c.post("/api/v1/namespaces/default/configmaps", ownedConfigMap("dep", owner: owner))
        XCTAssertEqual(_a1.status, 201)
        let del = await c.delete("/apis/apps/v1/namespaces/default/deployments/owner")
        XCTAssertEqual(del.status, 200)
        XCTAssertEqual(del.json["status"], "Success")
        XCTAssertEqual(del.json[path: ["details", "uid"]], owner.json[path: ["metadata", "uid"]])
        let gone = await eventually { await !self.exists("/api/v1/namespaces/default/configmaps/dep") }
        XCTAssertTrue(gone, "the garbage collector deletes dependents of a deleted owner")
    }

    func testDependentOfAReplacedOwnerIsCollected() async throws {
        let owner = await c.post("/apis/apps/v1/namespaces/default/deployments", deployment("o2"))
        var stale = owner
        stale.body = {
            var j = owner.json
            j[path: ["metadata", "uid"]] = "00000000-0000-0000-0000-000000000000"
            return j.serialized()
        }()
        let _a2 = await c.post("/api/v1/namespaces/default/configmaps", ownedConfigMap("orphaned", owner: stale))
        XCTAssertEqual(_a2.status, 201)
        // Any later write wakes the collector.
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("poke"))
        _ = await c.delete("/api/v1/namespaces/default/configmaps/poke")
        let gone = await eventually { await !self.exists("/api/v1/namespaces/default/configmaps/orphaned") }
        XCTAssertTrue(gone, "an owner reference whose uid matches nothing means the owner is gone")
    }

    func testForegroundDeletionWaitsForBlockingDependents() async throws {
        let owner = await c.post("/apis/apps/v1/namespaces/default/deployments", deployment("fg"))
        var dep = ownedConfigMap("fg-dep", owner: owner, block: true)
        dep[path: ["metadata", "finalizers"]] = ["example.com/hold"]
        let _a3 = await c.post("/api/v1/namespaces/default/configmaps", dep)
        XCTAssertEqual(_a3.status, 201)
        let del = await c.delete("/apis/apps/v1/namespaces/default/deployments/fg", ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"])
        XCTAssertEqual(del.status, 200)
        XCTAssertEqual(del.json[path: ["metadata", "finalizers"]], ["foregroundDeletion"])
        XCTAssertNotNil(del.json[path: ["metadata", "deletionTimestamp"]])
        let depMarked = await eventually {
            await self.c.get("/api/v1/namespaces/default/configmaps/fg-dep").json[path: ["metadata", "deletionTimestamp"]] != nil
        }
        XCTAssertTrue(depMarked)
        let _a4 = await exists("/apis/apps/v1/namespaces/default/deployments/fg")
        XCTAssertTrue(_a4, "the owner waits for its blocking dependent")
        _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/fg-dep", ["metadata": ["finalizers": nil]])
        let ownerGone = await eventually { await !self.exists("/apis/apps/v1/namespaces/default/deployments/fg") }
        XCTAssertTrue(ownerGone)
    }

    func testOrphanDeletionKeepsDependentsAndDropsTheirReference() async throws {
        let owner = await c.post("/apis/apps/v1/namespaces/default/deployments", deployment("orph"))
        _ = await c.post("/api/v1/namespaces/default/configmaps", ownedConfigMap("kept", owner: owner))
        let del = await c.delete("/apis/apps/v1/namespaces/default/deployments/orph?propagationPolicy=Orphan")
        XCTAssertEqual(del.json[path: ["metadata", "finalizers"]], ["orphan"])
        let ownerGone = await eventually { await !self.exists("/apis/apps/v1/namespaces/default/deployments/orph") }
        XCTAssertTrue(ownerGone)
        let kept = await c.get("/api/v1/namespaces/default/configmaps/kept")
        XCTAssertEqual(kept.status, 200)
        XCTAssertNil(kept.json[path: ["metadata", "ownerReferences"]])
    }

    func testFinalizersKeepTheObjectUntilRemoved() async throws {
        var cm = configMap("fin")
        cm[path: ["metadata", "finalizers"]] = ["example.com/cleanup"]
        _ = await c.post("/api/v1/namespaces/default/configmaps", cm)
        let del = await c.delete("/api/v1/namespaces/default/configmaps/fin")
        XCTAssertEqual(del.status, 200)
        XCTAssertEqual(del.json["kind"], "ConfigMap", "with finalizers DELETE answers the object")
        XCTAssertEqual(del.json[path: ["metadata", "deletionGracePeriodSeconds"]], 0)
        XCTAssertNotNil(del.json[path: ["metadata", "deletionTimestamp"]])
        let refused = await c.mergePatch("/api/v1/namespaces/default/configmaps/fin", ["metadata": ["finalizers": ["example.com/cleanup", "x/y"]]])
        XCTAssertEqual(refused.status, 422)
        XCTAssertEqual(refused.json[path: ["details", "causes", "0", "reason"]] ?? refused.json["details"]?["causes"]?[0]?["reason"], "FieldValueForbidden")
        let stream = await c.watch("/api/v1/namespaces/default/configmaps?watch=1&fieldSelector=metadata.name%3Dfin&resourceVersion=\(del.rv)&timeoutSeconds=1")
        let removed = await c.mergePatch("/api/v1/namespaces/default/configmaps/fin", ["metadata": ["finalizers": nil]])
        XCTAssertEqual(removed.status, 200)
        let _a5 = await c.get("/api/v1/namespaces/default/configmaps/fin")
        XCTAssertEqual(_a5.status, 404)
        let lines = try await readLines(stream)
        XCTAssertEqual(lines.map { $0["type"]?.stringValue ?? "" }, ["DELETED"])
    }

    func testNamespaces() async throws {
        let ns = await c.post("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team"]])
        XCTAssertEqual(ns.status, 201)
        XCTAssertEqual(ns.json[path: ["metadata", "labels", "kubernetes.io/metadata.name"]], "team")
        XCTAssertEqual(ns.json[path: ["status", "phase"]], "Active")
        let missing = await c.post("/api/v1/namespaces/nope/configmaps", configMap("x", ns: "nope"))
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.json["message"], "namespaces \"nope\" not found")
        _ = await c.post("/api/v1/namespaces/team/configmaps", configMap("inside", ns: "team"))
        let del = await c.delete("/api/v1/namespaces/team")
        XCTAssertEqual(del.json[path: ["status", "phase"]], "Terminating")
        let gone = await eventually { await !self.exists("/api/v1/namespaces/team") }
        XCTAssertTrue(gone, "the namespace controller empties and removes a deleted namespace")
        let _a6 = await c.get("/api/v1/namespaces/team/configmaps/inside")
        XCTAssertEqual(_a6.status, 404)
        let _a7 = await c.delete("/api/v1/namespaces/default")
        XCTAssertEqual(_a7.status, 403)
    }

    func testTerminatingNamespaceRefusesCreates() async throws {
        try await server.stop()
        var o = KubeTestServerOptions()
        o.controllerManagerEnabled = false
        server = try await KubeTestServer.start(o)
        c = TestClient(server)
        _ = await c.post("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "term"]])
        _ = await c.delete("/api/v1/namespaces/term")
        let refused = await c.post("/api/v1/namespaces/term/configmaps", configMap("after", ns: "term"))
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(refused.json[path: ["details", "causes"]]?[0]?["reason"], "NamespaceTerminating")
    }

    func testDryRunPersistsNothing() async throws {
        let dry = await c.post("/api/v1/namespaces/default/configmaps?dryRun=All", configMap("dry"))
        XCTAssertEqual(dry.status, 201)
        XCTAssertNil(dry.json[path: ["metadata", "resourceVersion"]])
        XCTAssertNotNil(dry.json[path: ["metadata", "uid"]])
        let _a8 = await c.get("/api/v1/namespaces/default/configmaps/dry")
        XCTAssertEqual(_a8.status, 404)
        let real = await c.post("/api/v1/namespaces/default/configmaps", configMap("dry"))
        let rv = server.currentResourceVersion
        let patched = await c.request("PATCH", "/api/v1/namespaces/default/configmaps/dry?dryRun=All", body: ["data": ["k": "2"]],
                                      contentType: "application/merge-patch+json")
        XCTAssertEqual(patched.json[path: ["data", "k"]], "2")
        XCTAssertEqual(patched.rv, real.rv)
        let _a9 = await c.delete("/api/v1/namespaces/default/configmaps/dry?dryRun=All")
        XCTAssertEqual(_a9.status, 200)
        XCTAssertEqual(server.currentResourceVersion, rv, "dry runs do not write")
        let _a10 = await c.get("/api/v1/namespaces/default/configmaps/dry")
        XCTAssertEqual(_a10.json[path: ["data", "k"]], "v")
        let _a11 = await c.post("/api/v1/namespaces/default/configmaps?dryRun=Bogus", configMap("b"))
        XCTAssertEqual(_a11.status, 422)
    }

    /// Commit observers see every committed change with the whole state right after it, and
    /// nothing a dry run only answered.
    func testCommitObserversSeeEachChangeWithTheStateAfterIt() async throws {
        let seen = Mutex<[String]>([])
        server.observeCommits { change in
            guard change.isOf(.configMaps), let name = change.object[path: ["metadata", "name"]]?.stringValue, name.hasPrefix("seen-") else { return }
            let held = change.get(.configMaps, namespace: "default", name: name) != nil
            let count = change.list(.configMaps, namespace: "default").filter { ($0[path: ["metadata", "name"]]?.stringValue ?? "").hasPrefix("seen-") }.count
            seen.withLock { $0.append("\(change.type) \(name) held=\(held) count=\(count) previous=\(change.previous != nil)") }
        }
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("seen-a"))
        _ = await c.post("/api/v1/namespaces/default/configmaps?dryRun=All", configMap("seen-dry"))
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("seen-b"))
        _ = await c.request("DELETE", "/api/v1/namespaces/default/configmaps/seen-a")
        XCTAssertEqual(seen.withLock { $0 }, [
            "ADDED seen-a held=true count=1 previous=false",
            "ADDED seen-b held=true count=2 previous=false",
            "DELETED seen-a held=false count=1 previous=true",
        ])
    }

    /// Server-side apply with dryRun=All (what `kubectl pynomaly diff` sends): the would-be object,
    /// defaulted, with the stored resourceVersion (or none for a create) and nothing kept.
    func testDryRunApplyAnswersWithoutStoring() async throws {
        let service: JSONValue = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "web"],
                                  "spec": ["selector": ["app": "web"], "ports": [["port": 80]]]]
        let rv = server.currentResourceVersion
        let dry = await c.request("PATCH", "/api/v1/namespaces/default/services/web?fieldManager=op&force=true&dryRun=All", body: service,
                                  contentType: "application/apply-patch+yaml")
        XCTAssertEqual(dry.status, 201)
        XCTAssertNil(dry.json[path: ["metadata", "resourceVersion"]])
        XCTAssertEqual(dry.json[path: ["spec", "type"]], "ClusterIP", "defaulted")
        let dryIP = try XCTUnwrap(dry.json[path: ["spec", "clusterIP"]]?.stringValue)
        XCTAssertEqual(server.currentResourceVersion, rv, "a dry run does not write")
        let _a1 = await c.get("/api/v1/namespaces/default/services/web")
        XCTAssertEqual(_a1.status, 404)
        // The address was answered, not taken.
        let real = await c.request("PATCH", "/api/v1/namespaces/default/services/web?fieldManager=op&force=true", body: service,
                                   contentType: "application/apply-patch+yaml")
        XCTAssertEqual(real.json[path: ["spec", "clusterIP"]]?.stringValue, dryIP)

        var changed = service
        changed[path: ["spec", "selector"]] = ["app": "web", "tier": "front"]
        let dryUpdate = await c.request("PATCH", "/api/v1/namespaces/default/services/web?fieldManager=op&force=true&dryRun=All", body: changed,
                                        contentType: "application/apply-patch+yaml")
        XCTAssertEqual(dryUpdate.status, 200)
        XCTAssertEqual(dryUpdate.rv, real.rv, "the answer carries the stored resourceVersion")
        XCTAssertEqual(dryUpdate.json[path: ["spec", "selector", "tier"]], "front")
        let stored = await c.get("/api/v1/namespaces/default/services/web")
        XCTAssertEqual(stored.rv, real.rv)
        XCTAssertNil(stored.json[path: ["spec", "selector", "tier"]])
    }

    func testCRDRegistrationDiscoveryCRUDAndSchemaValidation() async throws {
        let _a12 = await c.get("/apis/example.com/v1/namespaces/default/widgets")
        XCTAssertEqual(_a12.status, 404)
        let crd = await c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", try widgetCRD())
        XCTAssertEqual(crd.status, 201, String(decoding: crd.body, as: UTF8.self))
        let established = await c.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
        let conditions = established.json[path: ["status", "conditions"]]?.arrayValue ?? []
        XCTAssertTrue(conditions.contains { $0["type"] == "Established" && $0["status"] == "True" })
        XCTAssertTrue(conditions.contains { $0["type"] == "NamesAccepted" && $0["status"] == "True" })
        let resources = await c.get("/apis/example.com/v1")
        let names = resources.json["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        XCTAssertEqual(Set(names), ["widgets", "widgets/status", "widgets/scale"])
        let groups = await c.get("/apis")
        XCTAssertTrue(groups.json["groups"]?.arrayValue?.contains { $0["name"] == "example.com" } ?? false)

        let w: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w1", "namespace": "default"],
                            "spec": ["size": "medium"], "status": ["phase": "X"]]
        let created = await c.post("/apis/example.com/v1/namespaces/default/widgets", w)
        XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        XCTAssertEqual(created.json[path: ["spec", "replicas"]], 1, "schema default applied")
        XCTAssertNil(created.json["status"], "status dropped on create with the status subresource")
        let bad = await c.mergePatch("/apis/example.com/v1/namespaces/default/widgets/w1", ["spec": ["size": "huge"]])
        XCTAssertEqual(bad.status, 422)
        XCTAssertEqual(bad.json["reason"], "Invalid")
        let scale = await c.mergePatch("/apis/example.com/v1/namespaces/default/widgets/w1/scale", ["spec": ["replicas": 4]])
        XCTAssertEqual(scale.status, 200)
        XCTAssertEqual(scale.json["kind"], "Scale")
        let after = await c.get("/apis/example.com/v1/namespaces/default/widgets/w1")
        XCTAssertEqual(after.json[path: ["spec", "replicas"]], 4)
        XCTAssertEqual(after.json[path: ["metadata", "generation"]], 2)
        let list = await c.get("/apis/example.com/v1/namespaces/default/widgets")
        XCTAssertEqual(list.json["kind"], "WidgetList")
        XCTAssertEqual(list.json["items"]?[0]?["kind"], "Widget", "CR list items carry kind")
        let table = await c.request("GET", "/apis/example.com/v1/namespaces/default/widgets", accept: "application/json;as=Table;v=v1;g=meta.k8s.io")
        XCTAssertEqual(table.json["kind"], "Table")
        XCTAssertEqual(table.json["rows"]?[0]?["cells"]?.arrayValue?.prefix(3).map { $0 }, ["w1", "medium", 4])

        let _a13 = await c.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
        XCTAssertEqual(_a13.status, 200)
        let _a14 = await c.get("/apis/example.com/v1/namespaces/default/widgets/w1")
        XCTAssertEqual(_a14.status, 404)
        let _a15 = await c.get("/apis/example.com/v1")
        XCTAssertEqual(_a15.status, 404)
    }

    func testRequestCounters() async throws {
        server.resetRequestCounts()
        _ = await c.post("/api/v1/namespaces/default/configmaps", configMap("cnt"))
        _ = await c.get("/api/v1/namespaces/default/configmaps/cnt")
        _ = await c.get("/api/v1/namespaces/default/configmaps")
        _ = await c.mergePatch("/api/v1/namespaces/default/configmaps/cnt", ["data": ["k": "2"]])
        XCTAssertEqual(server.requestCount(verb: "create", resource: "configmaps"), 1)
        XCTAssertEqual(server.requestCount(verb: "get", resource: "configmaps"), 1)
        XCTAssertEqual(server.requestCount(verb: "list", resource: "configmaps"), 1)
        XCTAssertEqual(server.requestCount(verb: "patch", resource: "configmaps"), 1)
        server.resetRequestCounts()
        XCTAssertEqual(server.requestCount(verb: "get", resource: "configmaps"), 0)
    }
}

/// Authentication and RBAC.
final class AuthorizationTests: XCTestCase {
    /// `kubectl auth can-i --list --as=system:serviceaccount:NS:NAME`: the admin impersonates the
    /// account, and the rules review lists what its bindings grant in the namespace; an account
    /// without the `impersonate` verb may not do it.
    func testRulesReviewThroughImpersonationListsTheAccountsRules() async throws {
        var o = KubeTestServerOptions()
        o.rbacEnabled = true
        let server = try await KubeTestServer.start(o)
        let admin = TestClient(server)
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "r", "namespace": "default"],
            "rules": [["apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]]],
        ])
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "rb", "namespace": "default"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"],
            "subjects": [["kind": "ServiceAccount", "name": "app", "namespace": "default"]],
        ])
        let review: JSONValue = ["apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": ["namespace": "default"]]
        let answer = await admin.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", body: review,
                                         headers: [("Impersonate-User", "system:serviceaccount:default:app")])
        XCTAssertEqual(answer.status, 201)
        let rules = answer.json[path: ["status", "resourceRules"]]?.arrayValue ?? []
        XCTAssertTrue(rules.contains { $0["resources"] == ["configmaps"] && $0["verbs"] == ["get", "list"] }, "\(rules)")
        XCTAssertFalse(rules.contains { $0["resources"] == ["*"] }, "the account's rules, not the admin's")
        let asAdmin = await admin.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", review)
        XCTAssertTrue((asAdmin.json[path: ["status", "resourceRules"]]?.arrayValue ?? []).contains { $0["resources"] == ["*"] })

        let app = TestClient(server, token: server.serviceAccountToken(namespace: "default", name: "app"))
        let refused = await app.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", body: review,
                                        headers: [("Impersonate-User", "admin")])
        XCTAssertEqual(refused.status, 403, "impersonation needs the impersonate verb")
    }

    func testRBACAllowsAndDeniesByRulesResourceNamesAndSubresources() async throws {
        var o = KubeTestServerOptions()
        o.rbacEnabled = true
        let server = try await KubeTestServer.start(o)
        let admin = TestClient(server)
        let sa = TestClient(server, token: server.serviceAccountToken(namespace: "default", name: "op"))

        let denied = await sa.get("/api/v1/namespaces/default/configmaps")
        XCTAssertEqual(denied.status, 403)
        XCTAssertEqual(denied.json["message"]?.stringValue,
                       "configmaps is forbidden: User \"system:serviceaccount:default:op\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\"")

        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "r", "namespace": "default"],
            "rules": [
                ["apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]],
                ["apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["only-this"], "verbs": ["get", "update"]],
                ["apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["*"]],
            ],
        ])
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "rb", "namespace": "default"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"],
            "subjects": [["kind": "ServiceAccount", "name": "op", "namespace": "default"]],
        ])
        _ = await admin.post("/api/v1/namespaces/default/configmaps", configMap("only-this"))
        _ = await admin.post("/api/v1/namespaces/default/configmaps", configMap("other"))
        _ = await admin.post("/apis/apps/v1/namespaces/default/deployments", deployment("d"))

        let _a16 = await sa.get("/api/v1/namespaces/default/configmaps")
        XCTAssertEqual(_a16.status, 200)
        let _a17 = await sa.get("/api/v1/namespaces/default/configmaps/only-this")
        XCTAssertEqual(_a17.status, 200)
        let _a18 = await sa.get("/api/v1/namespaces/default/configmaps/other")
        XCTAssertEqual(_a18.status, 403, "resourceNames limit get")
        let _a19 = await sa.get("/api/v1/configmaps")
        XCTAssertEqual(_a19.status, 403, "a Role does not grant cluster-wide lists")
        let _a20 = await sa.get("/api/v1/namespaces/kube-system/configmaps")
        XCTAssertEqual(_a20.status, 403, "nor other namespaces")
        let _a21 = await sa.mergePatch("/apis/apps/v1/namespaces/default/deployments/d/status", ["status": ["replicas": 1]])
        XCTAssertEqual(_a21.status, 200)
        let _a22 = await sa.mergePatch("/apis/apps/v1/namespaces/default/deployments/d", ["spec": ["replicas": 2]])
        XCTAssertEqual(_a22.status, 403,
                       "a grant on deployments/status does not cover the main resource")

        let review = await sa.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", [
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": ["resourceAttributes": ["namespace": "default", "resource": "configmaps", "verb": "list"]],
        ])
        XCTAssertEqual(review.status, 201)
        XCTAssertEqual(review.json[path: ["status", "allowed"]], true)
        let deniedReview = await sa.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", [
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": ["resourceAttributes": ["namespace": "default", "resource": "secrets", "verb": "delete"]],
        ])
        XCTAssertEqual(deniedReview.json[path: ["status", "allowed"]], false)

        // ClusterRole + ClusterRoleBinding to a group.
        server.addUser(token: "tok-ops", name: "ops", groups: ["ops-team"])
        let ops = TestClient(server, token: "tok-ops")
        let _a23 = await ops.get("/api/v1/secrets")
        XCTAssertEqual(_a23.status, 403)
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "secret-reader"],
            "rules": [["apiGroups": ["*"], "resources": ["secrets"], "verbs": ["get", "list"]]],
        ])
        _ = await admin.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "ops-secrets"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader"],
            "subjects": [["kind": "Group", "name": "ops-team"]],
        ])
        let _a24 = await ops.get("/api/v1/secrets")
        XCTAssertEqual(_a24.status, 200)
        server.removeToken("tok-ops")
        let _a25 = await ops.get("/api/v1/secrets")
        XCTAssertEqual(_a25.status, 401)
        try await server.stop()
    }

    func testAuthenticationWithoutRBAC() async throws {
        let server = try await KubeTestServer.start()
        let anonymous = TestClient(server, token: nil)
        var anon = anonymous
        anon.token = nil
        let _a26 = await anon.get("/version")
        XCTAssertEqual(_a26.status, 200, "/version is public")
        let _a27 = await anon.get("/api/v1/namespaces")
        XCTAssertEqual(_a27.status, 401, "without RBAC anonymous requests are refused")
        let bad = TestClient(server, token: "nope")
        let unauthorized = await bad.get("/api/v1/namespaces")
        XCTAssertEqual(unauthorized.status, 401)
        XCTAssertEqual(unauthorized.json["message"], "Unauthorized")
        let sa = TestClient(server, token: server.serviceAccountToken(namespace: "x", name: "y"))
        let _a28 = await sa.get("/api/v1/namespaces")
        XCTAssertEqual(_a28.status, 200, "authenticated users may do anything without RBAC")
        try await server.stop()
    }
}
