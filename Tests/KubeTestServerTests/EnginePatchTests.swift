import Foundation
import KubeCore
@testable import KubeTestServer
import XCTest

/// MergePatch, JSONPatch and StrategicMergePatch driven by fixture 06, plus round-trip properties.
final class EnginePatchTests: XCTestCase {
    func steps() throws -> [JSONValue] { try EngineFixture.load("06-patches.json")["steps"]?.arrayValue ?? [] }

    /// Replays every successful Deployment patch of fixture 06 on the previous recorded object and
    /// compares the spec (defaults are the server core's, so they are re-applied from the recorded result).
    func testFixture06PatchesProduceTheRecordedSpec() throws {
        let deployment = try XCTUnwrap(EngineFixture.deployment)
        var previous: JSONValue?
        var checked = 0
        for (i, step) in try steps().enumerated() {
            guard step[path: ["request", "path"]]?.stringValue?.contains("/deployments/patchy") == true,
                  step[path: ["response", "status"]] == 200, let expected = step[path: ["response", "body"]] else { continue }
            defer { previous = expected }
            guard let old = previous, let patch = step[path: ["request", "body"]] else { continue }
            let contentType = step[path: ["request", "headers", "Content-Type"]]?.stringValue ?? ""
            var result: JSONValue
            switch contentType {
            case "application/merge-patch+json": result = MergePatch.apply(patch, to: old)
            case "application/json-patch+json": result = try JSONPatch.apply(patch, to: old)
            default: result = try StrategicMergePatch.apply(patch, to: old, schema: deployment)
            }
            // Fields the apiserver defaults after the patch (null replicas, container defaults) come from the recording.
            if result[path: ["spec", "replicas"]] == .null { result[path: ["spec", "replicas"]] = 1 }
            var containers = result[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
            let recorded = expected[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
            for j in containers.indices {
                for key in ["resources", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"] where containers[j][key] == nil {
                    containers[j][key] = recorded.first { $0["name"] == containers[j]["name"] }?[key]
                }
            }
            result[path: ["spec", "template", "spec", "containers"]] = .array(containers)
            assertJSONEqual(result["spec"], expected["spec"], "step \(i) (\(contentType))")
            XCTAssertEqual(result[path: ["metadata", "labels"]], expected[path: ["metadata", "labels"]], "step \(i)")
            XCTAssertEqual(result[path: ["metadata", "annotations"]], expected[path: ["metadata", "annotations"]], "step \(i)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 9)
    }

    func testJSONPatchFailuresAreBare422() throws {
        let all = try steps()
        let target = all[2][path: ["response", "body"]] ?? .null
        for index in [3, 4] {
            let expected = all[index][path: ["response", "body"]] ?? .null
            XCTAssertThrowsError(try JSONPatch.apply(all[index][path: ["request", "body"]] ?? .null, to: target)) { error in
                guard let e = error as? EngineError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.httpCode, 422)
                assertJSONEqual(try? JSONValue(encoding: e.status), expected)
            }
        }
        XCTAssertThrowsError(try JSONPatch.apply(all[6][path: ["request", "body"]] ?? .null, to: target)) { error in
            XCTAssertEqual((error as? EngineError)?.status.message, all[6][path: ["response", "body", "message"]]?.stringValue)
            XCTAssertEqual((error as? EngineError)?.httpCode, 400)
        }
    }

    func testJSONPatchOperationsAndPointerEscaping() throws {
        let doc: JSONValue = ["a/b": ["~x": 1], "list": [1, 2, 3], "o": ["k": "v"]]
        let ops: JSONValue = [
            ["op": "add", "path": "/a~1b/~0y", "value": 2],
            ["op": "test", "path": "/a~1b/~0x", "value": 1.0],
            ["op": "add", "path": "/list/-", "value": 4],
            ["op": "add", "path": "/list/0", "value": 0],
            ["op": "remove", "path": "/list/2"],
            ["op": "move", "from": "/o/k", "path": "/moved"],
            ["op": "copy", "from": "/moved", "path": "/copied"],
            ["op": "replace", "path": "/o", "value": ["n": nil]],
        ]
        let result = try JSONPatch.apply(ops, to: doc)
        XCTAssertEqual(result, ["a/b": ["~x": 1, "~y": 2], "list": [0, 1, 3, 4], "o": ["n": nil], "moved": "v", "copied": "v"])
        XCTAssertThrowsError(try JSONPatch.apply([["op": "add", "path": "/list/9", "value": 1]], to: doc))
        XCTAssertThrowsError(try JSONPatch.apply([["op": "add", "path": "/missing/x", "value": 1]], to: doc))
        XCTAssertThrowsError(try JSONPatch.apply([["op": "frobnicate", "path": "/o"]], to: doc))
        XCTAssertEqual(JSONPatch.escape("a/b~c"), "a~1b~0c")
    }

    /// Property: a patch followed by its inverse restores the document.
    func testJSONPatchInverseRestoresTheDocument() throws {
        let bodies = try steps().compactMap { $0[path: ["response", "body"]] }.filter { $0["kind"] == "Deployment" }
        for doc in bodies {
            guard let replicas = doc[path: ["spec", "replicas"]], let image = doc[path: ["spec", "template", "spec", "containers", "0", "image"]]
                    ?? doc[path: ["spec", "template", "spec", "containers"]]?[0]?["image"] else { continue }
            let forward: JSONValue = [
                ["op": "replace", "path": "/spec/replicas", "value": 42],
                ["op": "add", "path": "/metadata/labels/new~1key", "value": "x"],
                ["op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "changed"],
            ]
            let inverse: JSONValue = [
                ["op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image],
                ["op": "remove", "path": "/metadata/labels/new~1key"],
                ["op": "replace", "path": "/spec/replicas", "value": replicas],
            ]
            let changed = try JSONPatch.apply(forward, to: doc)
            XCTAssertNotEqual(changed, doc)
            XCTAssertEqual(try JSONPatch.apply(inverse, to: changed), doc)
        }
    }

    /// Property: the merge patch computed between two recorded objects reproduces the target.
    func testMergePatchOfADiffReproducesTheTarget() throws {
        let bodies = try steps().compactMap { $0[path: ["response", "body"]] }.filter { $0["kind"] == "Deployment" }
        XCTAssertGreaterThan(bodies.count, 5)
        for a in bodies {
            for b in bodies {
                XCTAssertEqual(MergePatch.apply(MergePatch.diff(from: a, to: b), to: a), b)
            }
        }
        XCTAssertEqual(MergePatch.apply(["a": ["b": nil, "c": 1], "d": [1]], to: ["a": ["b": 1], "d": [2, 3], "e": true]),
                       ["a": ["c": 1], "d": [1], "e": true])
        XCTAssertEqual(MergePatch.apply("x", to: ["a": 1]), "x")
    }

    func testStrategicMergeDirectives() throws {
        let deployment = try XCTUnwrap(EngineFixture.deployment)
        let podSpec: JSONValue = ["spec": ["template": ["spec": [
            "containers": [
                ["name": "web", "image": "a", "ports": [["containerPort": 80], ["containerPort": 81]], "args": ["x", "y"],
                 "env": [["name": "A", "value": "1"], ["name": "B", "value": "2"]]],
                ["name": "side", "image": "b"],
            ],
            "volumes": [["name": "v1", "emptyDir": [:]], ["name": "v2", "emptyDir": [:]]],
            "nodeSelector": ["a": "1", "b": "2"],
        ]], "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 1]]]]
        // Merge by key, primitive lists replaced, $patch delete on items, $setElementOrder.
        let patch: JSONValue = ["spec": ["template": ["spec": [
            "$setElementOrder/containers": [["name": "side"], ["name": "web"]],
            "containers": [["name": "web", "args": ["z"], "ports": [["containerPort": 82]], "env": [["name": "B", "$patch": "delete"], ["name": "C", "value": "3"]]]],
            "volumes": [["name": "v1", "$patch": "delete"]],
            "nodeSelector": ["$patch": "replace", "c": "3"],
        ]]]]
        let result = try StrategicMergePatch.apply(patch, to: podSpec, schema: deployment)
        let spec = result[path: ["spec", "template", "spec"]]
        XCTAssertEqual(spec?["containers"]?.arrayValue?.compactMap { $0["name"]?.stringValue }, ["side", "web"])
        let web = spec?["containers"]?[1]
        XCTAssertEqual(web?["args"], ["z"])
        XCTAssertEqual(web?["ports"], [["containerPort": 80], ["containerPort": 81], ["containerPort": 82]])
        XCTAssertEqual(web?["env"], [["name": "A", "value": "1"], ["name": "C", "value": "3"]])
        XCTAssertEqual(spec?["volumes"], [["name": "v2", "emptyDir": [:]]])
        XCTAssertEqual(spec?["nodeSelector"], ["c": "3"])

        // $retainKeys (strategy has patch strategy retainKeys) and $deleteFromPrimitiveList.
        let retain = try StrategicMergePatch.apply(["spec": ["strategy": ["$retainKeys": ["type"], "type": "Recreate"]]], to: podSpec, schema: deployment)
        XCTAssertEqual(retain[path: ["spec", "strategy"]], ["type": "Recreate"])
        let finalizers: JSONValue = ["metadata": ["finalizers": ["a", "b", "c"]]]
        let removed = try StrategicMergePatch.apply(["metadata": ["$deleteFromPrimitiveList/finalizers": ["b"]]], to: finalizers, schema: deployment)
        XCTAssertEqual(removed[path: ["metadata", "finalizers"]], ["a", "c"])
        let merged = try StrategicMergePatch.apply(["metadata": ["finalizers": ["c", "d"]]], to: finalizers, schema: deployment)
        XCTAssertEqual(merged[path: ["metadata", "finalizers"]], ["a", "b", "c", "d"], "finalizers merge as a set")
        // A whole-list replace.
        let replaced = try StrategicMergePatch.apply(["spec": ["template": ["spec": ["containers": [["$patch": "replace"], ["name": "only", "image": "c"]]]]]],
                                                     to: podSpec, schema: deployment)
        XCTAssertEqual(replaced[path: ["spec", "template", "spec", "containers"]], [["name": "only", "image": "c"]])
        // An item without its merge key is a 400.
        XCTAssertThrowsError(try StrategicMergePatch.apply(["spec": ["template": ["spec": ["containers": [["image": "x"]]]]]], to: podSpec, schema: deployment)) {
            XCTAssertEqual(($0 as? EngineError)?.httpCode, 400)
        }
    }

    func testStrategicMergeUnsupportedOnCustomResources() throws {
        let expected = try EngineFixture.step("06-patches.json", 17).response["body"] ?? .null
        assertJSONEqual(try JSONValue(encoding: FieldManager.strategicMergeUnsupportedError().status), expected)
    }
}
