import Foundation
import KubeCore
@testable import KubeTestServer
import XCTest

/// FieldManager driven by fixtures 06, 07, 08, 19 and 21: managedFields, conflicts, force, removal,
/// co-ownership, subresources and no-op writes.
final class EngineFieldManagerTests: XCTestCase {
    let time = "<time>"

    func managedFields(_ object: JSONValue?) -> JSONValue? { object?[path: ["metadata", "managedFields"]] }

    /// Applies step `index` of fixture 07 onto `live` as the server core would (name/namespace from the URL).
    func apply07(_ index: Int, live: JSONValue?, schema: SchemaNode?, subresource: String? = nil) throws -> JSONValue {
        let (request, _) = try EngineFixture.step("07-server-side-apply.json", index)
        var applied = request["body"] ?? .null
        if applied[path: ["metadata", "namespace"]] == nil { applied[path: ["metadata", "namespace"]] = "fx" }
        return try FieldManager.apply(live: live, applied: applied, manager: EngineFixture.manager(request),
                                      force: EngineFixture.force(request), subresource: subresource, time: time, schema: schema)
    }

    func expectConflict(_ index: Int, live: JSONValue?, schema: SchemaNode?, subresource: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try EngineFixture.step("07-server-side-apply.json", index).response["body"] ?? .null
        XCTAssertThrowsError(try apply07(index, live: live, schema: schema, subresource: subresource), file: file, line: line) { error in
            guard let e = error as? EngineError else { return XCTFail("not an EngineError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.httpCode, 409, file: file, line: line)
            XCTAssertEqual(e.status.reason, "Conflict", file: file, line: line)
            XCTAssertEqual(e.status.message, expected["message"]?.stringValue, file: file, line: line)
            let causes = try? JSONValue(encoding: e.status.details?.causes ?? [])
            assertJSONEqual(causes, expected[path: ["details", "causes"]], file: file, line: line)
        }
    }

    // MARK: ConfigMap SSA (07 steps 0-8)

    func testConfigMapApplySequenceMatchesFixture() throws {
        let schema = EngineFixture.configMap
        func response(_ i: Int) throws -> JSONValue { try EngineFixture.step("07-server-side-apply.json", i).response["body"] ?? .null }

        // 0: A creates by apply.
        let created = try apply07(0, live: nil, schema: schema)
        assertJSONEqual(managedFields(created), managedFields(try response(0)))
        XCTAssertEqual(created["data"], try response(0)["data"])

        // 1: B applies c: a second Apply entry.
        let afterB = try apply07(1, live: try response(0), schema: schema)
        assertJSONEqual(managedFields(afterB), managedFields(try response(1)))
        XCTAssertEqual(afterB["data"], ["a": "1", "b": "2", "c": "3"])

        // 2: A applies a different c without force: 409 naming B.
        try expectConflict(2, live: try response(1), schema: schema)

        // 3: forced: A takes c over; B owns nothing and its entry disappears.
        let forced = try apply07(3, live: try response(1), schema: schema)
        assertJSONEqual(managedFields(forced), managedFields(try response(3)))
        XCTAssertEqual(forced["data"], ["a": "1", "b": "2", "c": "x"])

        // 4: A stops applying b: b is removed from the object.
        let removed = try apply07(4, live: try response(3), schema: schema)
        assertJSONEqual(managedFields(removed), managedFields(try response(4)))
        XCTAssertEqual(removed["data"], ["a": "1", "c": "x"])

        // 5: B applies the same value of c: co-owned, and B's new entry carries no time (nothing changed).
        let coOwned = try apply07(5, live: try response(4), schema: schema)
        assertJSONEqual(managedFields(coOwned), managedFields(try response(5)))

        // 6: a merge patch by mgr-c (Update) takes c from both appliers.
        let (patchRequest, patchResponse) = try EngineFixture.step("07-server-side-apply.json", 6)
        let live5 = try response(5)
        let patched = MergePatch.apply(patchRequest["body"] ?? .null, to: live5)
        let updated = FieldManager.recordUpdate(old: live5, new: patched, manager: "mgr-c", subresource: nil, time: time, schema: schema)
        assertJSONEqual(managedFields(updated), managedFields(patchResponse["body"]))

        // 7: A re-applies c=x: conflict with the Update manager, printed "using v1".
        try expectConflict(7, live: patchResponse["body"], schema: schema)

        // 8: forced.
        let forcedAgain = try apply07(8, live: patchResponse["body"], schema: schema)
        assertJSONEqual(managedFields(forcedAgain), managedFields(try response(8)))
    }

    func testCoOwnedFieldSurvivesWhenOneOwnerStopsApplying() throws {
        let schema = EngineFixture.configMap
        var live = try FieldManager.apply(live: nil, applied: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["k": "v", "only-a": "1"]],
                                          manager: "a", force: false, subresource: nil, time: "t1", schema: schema)
        live = try FieldManager.apply(live: live, applied: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["k": "v"]],
                                      manager: "b", force: false, subresource: nil, time: "t2", schema: schema)
        live = try FieldManager.apply(live: live, applied: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"]],
                                      manager: "a", force: false, subresource: nil, time: "t3", schema: schema)
        XCTAssertEqual(live["data"], ["k": "v"], "k survives (still owned by b), only-a is removed")
        let entries = live[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        XCTAssertEqual(entries.compactMap { $0["manager"]?.stringValue }, ["b"], "a now owns nothing and its entry is dropped")
    }

    func testMultipleConflictsAreListedPerManager() throws {
        let schema = EngineFixture.configMap
        var live = try FieldManager.apply(live: nil, applied: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["x": "1", "y": "1"]],
                                          manager: "a", force: false, subresource: nil, time: "t1", schema: schema)
        live = FieldManager.recordUpdate(old: live, new: MergePatch.apply(["data": ["z": "1"]], to: live), manager: "u", subresource: nil, time: "t2", schema: schema)
        XCTAssertThrowsError(try FieldManager.apply(live: live, applied: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["x": "2", "y": "2", "z": "2"]],
                                                    manager: "b", force: false, subresource: nil, time: "t3", schema: schema)) { error in
            let e = error as? EngineError
            XCTAssertEqual(e?.status.message, "Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.x\n- .data.y\nconflicts with \"u\" using v1:\n- .data.z")
            XCTAssertEqual(e?.status.details?.causes?.map(\.field), [".data.x", ".data.y", ".data.z"])
        }
    }

    // MARK: Deployment SSA (07 steps 15-23)

    func testDeploymentApplyCreateRecordsAppliedFieldsOnly() throws {
        let created = try apply07(15, live: nil, schema: EngineFixture.deployment)
        let expected = try EngineFixture.step("07-server-side-apply.json", 15).response["body"]
        assertJSONEqual(managedFields(created), managedFields(expected))
    }

    func testDeploymentApplyWithUnknownFieldsFailsWith500() throws {
        let live = try EngineFixture.step("07-server-side-apply.json", 15).response["body"]
        XCTAssertThrowsError(try apply07(16, live: live, schema: EngineFixture.deployment)) { error in
            let e = error as? EngineError
            XCTAssertEqual(e?.httpCode, 500)
            XCTAssertNil(e?.status.reason)
            let message = e?.status.message ?? ""
            XCTAssertTrue(message.hasPrefix("failed to create typed patch object (fx/ssa-web; apps/v1, Kind=Deployment): errors:\n  "), message)
            XCTAssertTrue(message.contains("\n  .spec.template.spec.containers[name=\"web\"].imagePullPolice: field not declared in schema"), message)
            XCTAssertTrue(message.contains("\n  .spec.replicass: field not declared in schema"), message)
        }
    }

    func testPartialApplyRemovesFieldsTheManagerNoLongerApplies() throws {
        let live = try EngineFixture.step("07-server-side-apply.json", 15).response["body"] ?? .null
        let result = try apply07(19, live: live, schema: EngineFixture.deployment)
        XCTAssertNil(result[path: ["spec", "selector"]])
        XCTAssertEqual(result[path: ["spec", "template", "spec", "containers"]], [], "the applied container item is removed with its defaulted fields")
        XCTAssertEqual(result[path: ["spec", "template", "metadata", "labels"]], [:])
        XCTAssertEqual(result[path: ["spec", "replicas"]], 2)
        XCTAssertNil(result[path: ["metadata", "labels", "app"]])
        XCTAssertEqual(result[path: ["spec", "strategy", "type"]], "RollingUpdate", "fields nobody applied stay")
    }

    func testReplicasHandOverBetweenAppliers() throws {
        let schema = EngineFixture.deployment
        func response(_ i: Int) throws -> JSONValue { try EngineFixture.step("07-server-side-apply.json", i).response["body"] ?? .null }
        try expectConflict(20, live: try response(15), schema: schema)
        let coOwned = try apply07(21, live: try response(15), schema: schema)
        assertJSONEqual(managedFields(coOwned), managedFields(try response(21)))
        let dropped = try apply07(22, live: try response(21), schema: schema)
        assertJSONEqual(managedFields(dropped), managedFields(try response(22)))
        XCTAssertEqual(dropped[path: ["spec", "replicas"]], 1, "still owned by hpa-like, so it stays")
        let changed = try apply07(23, live: try response(22), schema: schema)
        assertJSONEqual(managedFields(changed), managedFields(try response(23)))
        XCTAssertEqual(changed[path: ["spec", "replicas"]], 3)
    }

    // MARK: CR SSA and /status (07 steps 24-28)

    func testCustomResourceApplyStatusAndConflict() throws {
        let schema = EngineFixture.widget
        func response(_ i: Int) throws -> JSONValue { try EngineFixture.step("07-server-side-apply.json", i).response["body"] ?? .null }
        let created = try apply07(24, live: nil, schema: schema)
        assertJSONEqual(managedFields(created), managedFields(try response(24)))
        let status = try apply07(25, live: try response(24), schema: schema, subresource: "status")
        assertJSONEqual(managedFields(status), managedFields(try response(25)))
        assertJSONEqual(status["status"], try response(25)["status"])
        try expectConflict(26, live: try response(25), schema: schema)
        XCTAssertThrowsError(try apply07(28, live: try response(25), schema: schema)) { error in
            XCTAssertEqual((error as? EngineError)?.status.message,
                           try? EngineFixture.step("07-server-side-apply.json", 28).response[path: ["body", "message"]]?.stringValue)
        }
    }

    // MARK: Updates (fixture 06, 19, 21)

    /// Every successful patch of fixture 06 on the Deployment: the patched object (as recorded, with the
    /// previous managedFields) gets exactly the recorded managedFields.
    func testPatchesRecordUpdateManagedFields() throws {
        let doc = try EngineFixture.load("06-patches.json")
        let steps = doc["steps"]?.arrayValue ?? []
        var previous: JSONValue?
        var checked = 0
        for (i, step) in steps.enumerated() {
            guard step[path: ["response", "status"]] == 200,
                  step[path: ["request", "path"]]?.stringValue?.contains("/deployments/") == true,
                  let body = step[path: ["response", "body"]] else { continue }
            if let old = previous {
                var new = body
                new[path: ["metadata", "managedFields"]] = old[path: ["metadata", "managedFields"]]
                let result = FieldManager.recordUpdate(old: old, new: new, manager: EngineFixture.manager(step["request"] ?? .null),
                                                       subresource: nil, time: time, schema: EngineFixture.deployment)
                assertJSONEqual(managedFields(result), managedFields(body), "step \(i)")
                checked += 1
            }
            previous = body
        }
        XCTAssertGreaterThanOrEqual(checked, 9)
    }

    func testCreateRecordsDotEntriesLikeTheTypedZeroValue() throws {
        for (file, index, schema) in [("21-noop-writes.json", 6, EngineFixture.deployment), ("21-noop-writes.json", 0, EngineFixture.configMap),
                                      ("19-crd-lifecycle.json", 3, EngineFixture.widget)] {
            let expected = try EngineFixture.step(file, index).response["body"] ?? .null
            var new = expected
            FieldManager.removeManagedFields(&new)
            let result = FieldManager.recordUpdate(old: nil, new: new, manager: "kube-fixtures", subresource: nil, time: time, schema: schema)
            assertJSONEqual(managedFields(result), managedFields(expected), "\(file) step \(index)")
        }
    }

    func testStatusSubresourceUpdateOwnsOnlyStatus() throws {
        let widget = try EngineFixture.step("08-scale-subresource.json", 11).response["body"] ?? .null
        var old = widget
        old["status"] = nil
        old[path: ["metadata", "managedFields"]] = .array((widget[path: ["metadata", "managedFields"]]?.arrayValue ?? []).filter { $0["subresource"] != "status" })
        let result = FieldManager.recordUpdate(old: old, new: MergePatch.apply(["status": widget["status"] ?? .null], to: old),
                                               manager: "kube-fixtures", subresource: "status", time: time, schema: EngineFixture.widget)
        assertJSONEqual(managedFields(result), managedFields(widget))
    }

    func testNoOpWritesKeepTheObjectByteIdentical() throws {
        // PUT of the stored object, with and without managedFields in the body (21 steps 1-2).
        let stored = try EngineFixture.step("21-noop-writes.json", 0).response["body"] ?? .null
        var withoutFields = stored
        FieldManager.removeManagedFields(&withoutFields)
        for body in [stored, withoutFields] {
            let result = FieldManager.recordUpdate(old: stored, new: body, manager: "kube-fixtures", subresource: nil, time: "2031-01-01T00:00:00Z", schema: EngineFixture.configMap)
            XCTAssertEqual(result.serialized(), stored.serialized())
        }
        // A first apply of identical content adds an entry without time; the same apply again changes nothing.
        let afterFirst = try EngineFixture.step("21-noop-writes.json", 4)
        var applied = afterFirst.request["body"] ?? .null
        applied[path: ["metadata", "namespace"]] = "fx"
        let first = try FieldManager.apply(live: stored, applied: applied, manager: "applier", force: false, subresource: nil, time: "2031-01-01T00:00:00Z", schema: EngineFixture.configMap)
        // The server core bumps the resourceVersion (the entry is a change); everything else is as recorded.
        var expectedFirst = afterFirst.response["body"] ?? .null
        expectedFirst[path: ["metadata", "resourceVersion"]] = stored[path: ["metadata", "resourceVersion"]]
        assertJSONEqual(first, expectedFirst)
        let again = try FieldManager.apply(live: first, applied: applied, manager: "applier", force: false, subresource: nil, time: "2032-01-01T00:00:00Z", schema: EngineFixture.configMap)
        XCTAssertEqual(again.serialized(), first.serialized())
        // Deployment: the minimal manifest applied onto the defaulted object (21 steps 8-9).
        let deployment = try EngineFixture.step("21-noop-writes.json", 8)
        let live = try EngineFixture.step("21-noop-writes.json", 7).response["body"]
        let d1 = try FieldManager.apply(live: live, applied: deployment.request["body"] ?? .null, manager: "applier", force: false, subresource: nil,
                                        time: "2031-01-01T00:00:00Z", schema: EngineFixture.deployment)
        var expectedD1 = deployment.response["body"] ?? .null
        expectedD1[path: ["metadata", "resourceVersion"]] = live?[path: ["metadata", "resourceVersion"]]
        assertJSONEqual(d1, expectedD1)
        let d2 = try FieldManager.apply(live: d1, applied: deployment.request["body"] ?? .null, manager: "applier", force: false, subresource: nil,
                                        time: "2032-01-01T00:00:00Z", schema: EngineFixture.deployment)
        XCTAssertEqual(d2.serialized(), d1.serialized())
    }

    func testResetManagedFieldsWithSingleEmptyEntry() throws {
        let stored = try EngineFixture.step("21-noop-writes.json", 0).response["body"] ?? .null
        var body = stored
        body[path: ["metadata", "managedFields"]] = [[:]]
        let result = FieldManager.recordUpdate(old: stored, new: body, manager: "x", subresource: nil, time: time, schema: EngineFixture.configMap)
        XCTAssertNil(result[path: ["metadata", "managedFields"]])
    }

    // MARK: /scale (fixture 08)

    func testScaleWritesAndApplyThroughScale() throws {
        let parent = try EngineFixture.step("08-scale-subresource.json", 2).response["body"] ?? .null
        // Update through /scale: an entry with subresource scale and no time, owning spec.replicas.
        var old = parent
        old[path: ["spec", "replicas"]] = 2
        var mainEntry = try XCTUnwrap((parent[path: ["metadata", "managedFields"]]?.arrayValue ?? []).first { $0["subresource"] == nil })
        var fields = mainEntry["fieldsV1"] ?? .null
        fields[path: ["f:spec", "f:replicas"]] = [:]
        mainEntry["fieldsV1"] = fields
        old[path: ["metadata", "managedFields"]] = [mainEntry]
        var new = old
        new[path: ["spec", "replicas"]] = 5
        let scaled = FieldManager.recordUpdate(old: old, new: new, manager: "kube-fixtures", subresource: "scale", time: time, schema: EngineFixture.deployment)
        assertJSONEqual(managedFields(scaled), managedFields(parent))

        // Apply through /scale by another manager: conflict worded with the subresource and autoscaling/v1.
        let applied: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "scale-web", "namespace": "fx"], "spec": ["replicas": 2]]
        let expected = try EngineFixture.step("08-scale-subresource.json", 6).response["body"] ?? .null
        XCTAssertThrowsError(try FieldManager.apply(live: parent, applied: applied, manager: "hpa-like", force: false, subresource: "scale", time: time,
                                                    schema: EngineFixture.deployment)) { error in
            XCTAssertEqual((error as? EngineError)?.status.message, expected["message"]?.stringValue)
        }
        let forced = try FieldManager.apply(live: parent, applied: applied, manager: "hpa-like", force: true, subresource: "scale", time: time,
                                            schema: EngineFixture.deployment)
        let after = try EngineFixture.step("08-scale-subresource.json", 8).response["body"]
        assertJSONEqual(managedFields(forced), managedFields(after))
    }

    // MARK: FieldSet encoding

    func testFieldsV1RoundTripAndPathPrinting() throws {
        let fields = try EngineFixture.step("06-patches.json", 0).response["body"]?[path: ["metadata", "managedFields"]]?[0]?["fieldsV1"] ?? .null
        let set = FieldSet(fieldsV1: fields)
        XCTAssertFalse(set.isEmpty)
        assertJSONEqual(set.fieldsV1, fields)
        XCTAssertEqual(FieldSet.describe(["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]), ".spec.containers[name=\"web\"].image")
        XCTAssertEqual(FieldSet.describe(["f:ports", "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]), ".ports[containerPort=80,protocol=\"TCP\"]")
        XCTAssertEqual(FieldSet.describe(["f:finalizers", "v:\"a\""]), ".finalizers[=\"a\"]")
    }

    func testPortsAreKeyedByContainerPortAndDefaultedProtocol() throws {
        let applied: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "p"],
                                  "spec": ["template": ["spec": ["containers": [["name": "app", "ports": [["containerPort": 80]]]]]]]]
        let result = try FieldManager.apply(live: nil, applied: applied, manager: "m", force: false, subresource: nil, time: time, schema: EngineFixture.deployment)
        let fields = result[path: ["metadata", "managedFields"]]?[0]?["fieldsV1"]
        XCTAssertNotNil(fields?[path: ["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"app\"}", "f:ports",
                                       "k:{\"containerPort\":80,\"protocol\":\"TCP\"}", "f:containerPort"]], "\(fields?.serializedString() ?? "nil")")
    }
}

final class EngineFieldManagerEdgeTests: XCTestCase {
    /// Fixture 04 step 12: a create body whose status contradicts the schema is stored without managedFields.
    func testObjectNotMatchingTheSchemaGetsNoManagedFields() throws {
        let body = try EngineFixture.step("04-errors-cr-validation.json", 12).request["body"] ?? .null
        let result = FieldManager.recordUpdate(old: nil, new: body, manager: "kube-fixtures", subresource: nil, time: "<time>", schema: EngineFixture.widget)
        XCTAssertNil(result[path: ["metadata", "managedFields"]])
        var valid = body
        valid["status"] = ["phase": "Ready"]
        XCTAssertNotNil(FieldManager.recordUpdate(old: nil, new: valid, manager: "kube-fixtures", subresource: nil, time: "<time>",
                                                  schema: EngineFixture.widget)[path: ["metadata", "managedFields"]])
    }

    func testUnknownApplyFieldsAreListedDeepestFirst() throws {
        let request = try EngineFixture.step("07-server-side-apply.json", 16)
        let live = try EngineFixture.step("07-server-side-apply.json", 15).response["body"]
        XCTAssertThrowsError(try FieldManager.apply(live: live, applied: request.request["body"] ?? .null, manager: "mgr-a", force: false,
                                                    subresource: nil, time: "<time>", schema: EngineFixture.deployment)) { error in
            XCTAssertEqual((error as? EngineError)?.status.message, request.response[path: ["body", "message"]]?.stringValue)
        }
    }

    func testRemovingNulls() {
        XCTAssertEqual(ObjectValidation.removingNulls(["spec": ["replicas": nil, "list": [["a": nil, "b": 1]]], "x": 1]),
                       ["spec": ["list": [["b": 1]]], "x": 1])
    }
}

final class EngineCRDFieldManagerTests: XCTestCase {
    /// Fixture 19: the CRD's own managedFields (spec/names without ".", conversion with ".", atomic versions),
    /// then the apiserver's status update establishing it (conditions keyed by type).
    func testCustomResourceDefinitionManagedFields() throws {
        let schema = try XCTUnwrap(EngineFixture.registry.schema(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition"))
        let created = try EngineFixture.step("19-crd-lifecycle.json", 1).response["body"] ?? .null
        var new = created
        FieldManager.removeManagedFields(&new)
        new["status"] = nil
        let result = FieldManager.recordUpdate(old: nil, new: new, manager: "kube-fixtures", subresource: nil, time: "<time>", schema: schema)
        assertJSONEqual(result[path: ["metadata", "managedFields"]], created[path: ["metadata", "managedFields"]])

        let established = try EngineFixture.step("19-crd-lifecycle.json", 2).response["body"] ?? .null
        var next = established
        next[path: ["metadata", "managedFields"]] = created[path: ["metadata", "managedFields"]]
        let status = FieldManager.recordUpdate(old: created, new: next, manager: "kube-apiserver", subresource: "status", time: "<time>", schema: schema)
        assertJSONEqual(status[path: ["metadata", "managedFields"]], established[path: ["metadata", "managedFields"]])
        XCTAssertEqual(ObjectValidation.unknownFields(created, schema: schema), [])
    }
}

final class EngineApplyListOrderTests: XCTestCase {
    func names(_ object: JSONValue) -> [String] {
        object[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
    }

    func deployment(_ containers: [String]) -> JSONValue {
        ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "d", "namespace": "fx"],
         "spec": ["template": ["spec": ["containers": .array(containers.map { ["name": .string($0), "image": "i"] })]]]]
    }

    /// Applied items keep the applied order; live-only items (another manager's) keep their place relative
    /// to the live list, as structured-merge-diff's merge walks both lists (traced by hand against its algorithm).
    func testAssociativeListsInterleaveLikeStructuredMergeDiff() throws {
        let schema = EngineFixture.deployment
        var live = try FieldManager.apply(live: nil, applied: deployment(["a", "b"]), manager: "one", force: false, subresource: nil, time: "t", schema: schema)
        live = try FieldManager.apply(live: live, applied: deployment(["x"]), manager: "two", force: false, subresource: nil, time: "t", schema: schema)
        XCTAssertEqual(names(live), ["a", "b", "x"])
        let reordered = try FieldManager.apply(live: live, applied: deployment(["b", "new", "a"]), manager: "one", force: false, subresource: nil, time: "t", schema: schema)
        XCTAssertEqual(names(reordered), ["b", "x", "new", "a"])
        let shrunk = try FieldManager.apply(live: reordered, applied: deployment(["a"]), manager: "one", force: false, subresource: nil, time: "t", schema: schema)
        XCTAssertEqual(names(shrunk), ["x", "a"], "b and new are no longer applied by anyone and are removed")
    }
}
