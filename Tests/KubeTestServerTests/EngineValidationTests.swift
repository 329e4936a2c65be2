import Foundation
import KubeCore
@testable import KubeTestServer
import XCTest

/// ObjectValidation and CEL driven by fixtures 04 (CR validation), 19 (defaulting/pruning) and 22 (unknown fields).
final class EngineValidationTests: XCTestCase {
    func widget() throws -> SchemaNode { try XCTUnwrap(EngineFixture.widget) }

    /// What the server core does before validating a CR: default and prune, then validate.
    func validateWidget(_ body: JSONValue, old: JSONValue? = nil) throws -> [StatusCause] {
        let schema = try widget()
        let defaulted = ObjectValidation.defaultAndPrune(body, schema: schema).object
        return ObjectValidation.validate(defaulted, schema: schema, oldObject: old)
    }

    func assertMatchesFixture(_ causes: [StatusCause], step: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try EngineFixture.step("04-errors-cr-validation.json", step).response
        let expected = response["body"] ?? .null
        assertJSONEqual(try JSONValue(encoding: causes), expected[path: ["details", "causes"]], "step \(step)", file: file, line: line)
        let name = expected[path: ["details", "name"]]?.stringValue ?? ""
        let error = ObjectValidation.invalidError(kind: "Widget", group: "example.com", name: name, causes: causes)
        XCTAssertEqual(error.httpCode, 422, file: file, line: line)
        XCTAssertEqual(error.status.message, expected["message"]?.stringValue, "step \(step)", file: file, line: line)
        XCTAssertEqual(error.status.reason, "Invalid", file: file, line: line)
    }

    func testCreateErrorsMatchFixture04() throws {
        for step in [0, 1, 2, 3, 4, 5, 7, 8] {
            let body = try EngineFixture.step("04-errors-cr-validation.json", step).request["body"] ?? .null
            try assertMatchesFixture(try validateWidget(body), step: step)
        }
    }

    func testValidObjectsHaveNoCauses() throws {
        for step in [6, 9] {
            let body = try EngineFixture.step("04-errors-cr-validation.json", step).request["body"] ?? .null
            XCTAssertEqual(try validateWidget(body), [], "step \(step)")
        }
    }

    func testTransitionRuleAndRuleOnPatch() throws {
        let stored = try EngineFixture.step("04-errors-cr-validation.json", 9).response["body"] ?? .null
        let put = try EngineFixture.step("04-errors-cr-validation.json", 10).request["body"] ?? .null
        try assertMatchesFixture(try validateWidget(put, old: stored), step: 10)
        let patch = try EngineFixture.step("04-errors-cr-validation.json", 11).request["body"] ?? .null
        try assertMatchesFixture(try validateWidget(MergePatch.apply(patch, to: stored), old: stored), step: 11)
        // Same class again: the transition rule holds.
        XCTAssertEqual(try validateWidget(stored, old: stored), [])
    }

    func testListMapKeysMustBeUnique() throws {
        var object: JSONValue = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w"], "spec": ["size": "small"]]
        object["status"] = ["conditions": [["type": "Ready", "status": "True"], ["type": "Ready", "status": "False"]]]
        let causes = ObjectValidation.validate(object, schema: try widget())
        XCTAssertEqual(causes.first, StatusCause(reason: "FieldValueDuplicate", message: "Duplicate value: {\"type\":\"Ready\"}", field: "status.conditions[1]"))
    }

    func testDefaultingAndPruningMatchFixture19() throws {
        let schema = try widget()
        let defaulted = ObjectValidation.defaultAndPrune(try EngineFixture.step("19-crd-lifecycle.json", 3).request["body"] ?? .null, schema: schema)
        XCTAssertEqual(defaulted.object["spec"], ["replicas": 1, "size": "medium"])
        XCTAssertEqual(defaulted.unknownFields, [])
        let pruned = ObjectValidation.defaultAndPrune(try EngineFixture.step("19-crd-lifecycle.json", 4).request["body"] ?? .null, schema: schema)
        XCTAssertEqual(pruned.object["spec"], ["replicas": 2, "size": "large"])
        XCTAssertNil(pruned.object["unknownTop"])
        XCTAssertEqual(pruned.unknownFields, ["spec.extra", "unknownTop"])
        XCTAssertEqual(pruned.object[path: ["metadata", "name"]], "w-prune", "metadata is left to the server core")
    }

    func testNestedDefaultsOnlyWhenParentPresent() throws {
        let schema = SchemaNode([
            "type": "object",
            "properties": [
                "spec": ["type": "object", "properties": [
                    "tls": ["type": "object", "properties": ["enabled": ["type": "boolean", "default": true]]],
                    "mode": ["type": "string", "default": "fast"],
                    "list": ["type": "array", "items": ["type": "object", "properties": ["w": ["type": "integer", "default": 1]]]],
                ]],
                "free": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
            ],
        ])
        let without = ObjectValidation.defaultAndPrune(["spec": [:], "free": ["anything": ["goes": 1]]], schema: schema)
        XCTAssertEqual(without.object, ["spec": ["mode": "fast"], "free": ["anything": ["goes": 1]]])
        let with = ObjectValidation.defaultAndPrune(["spec": ["tls": [:], "list": [[:], ["w": 5, "x": 1]]]], schema: schema)
        XCTAssertEqual(with.object, ["spec": ["mode": "fast", "tls": ["enabled": true], "list": [["w": 1], ["w": 5]]]])
        XCTAssertEqual(with.unknownFields, ["spec.list[1].x"])
    }

    func testUnknownFieldsOfBuiltinsMatchFixture22() throws {
        let configMap = try XCTUnwrap(EngineFixture.configMap)
        let cm = try EngineFixture.step("22-unknown-fields.json", 0).request["body"] ?? .null
        XCTAssertEqual(ObjectValidation.unknownFields(cm, schema: configMap), ["metadata.labelz", "extra"])
        let deployment = try XCTUnwrap(EngineFixture.deployment)
        let d = try EngineFixture.step("22-unknown-fields.json", 7).request["body"] ?? .null
        XCTAssertEqual(ObjectValidation.unknownFields(d, schema: deployment), ["spec.template.spec.containers[0].imagePullPolice"])
        XCTAssertEqual(ObjectValidation.unknownFields(["spec": ["replicaz": 2]], schema: deployment), ["spec.replicaz"])
        // A recorded, fully defaulted Deployment has no unknown fields.
        let stored = try EngineFixture.step("21-noop-writes.json", 6).response["body"] ?? .null
        XCTAssertEqual(ObjectValidation.unknownFields(stored, schema: deployment), [])
    }

    func testTypeAndFormatChecks() throws {
        let schema = SchemaNode([
            "type": "object",
            "properties": [
                "when": ["type": "string", "format": "date-time"],
                "port": ["x-kubernetes-int-or-string": true],
                "name": ["type": "string", "pattern": "^[a-z]+$", "minLength": 2],
                "tags": ["type": "array", "items": ["type": "string"], "maxItems": 1, "x-kubernetes-list-type": "set"],
                "n": ["type": "number", "nullable": true, "exclusiveMinimum": true, "minimum": 0],
            ],
        ])
        XCTAssertEqual(ObjectValidation.validate(["when": "2030-01-02T03:04:05Z", "port": "http", "name": "ab", "tags": ["x"], "n": nil], schema: schema), [])
        XCTAssertEqual(ObjectValidation.validate(["port": 80], schema: schema), [])
        let causes = ObjectValidation.validate(["when": "yesterday", "port": true, "name": "A", "tags": ["x", "x"], "n": 0], schema: schema)
        let byField = Dictionary(causes.map { ($0.field ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byField["when"]?.message, "Invalid value: \"yesterday\": when in body must be of type date-time: \"yesterday\"")
        XCTAssertEqual(byField["port"]?.reason, "FieldValueTypeInvalid")
        XCTAssertEqual(byField["tags"]?.message, "Too many: 2: must have at most 1 items")
        XCTAssertEqual(byField["n"]?.message, "Invalid value: 0: n in body should be greater than 0")
        XCTAssertTrue(causes.contains { $0.field == "name" && $0.message == "Invalid value: \"A\": name in body should match '^[a-z]+$'" })
        XCTAssertTrue(causes.contains { $0.field == "name" && $0.message == "Invalid value: \"A\": name in body should be at least 2 chars long" })
        XCTAssertEqual(causes.last?.field, "<nil>", "blocking errors skip the CEL rules")
    }

    // MARK: CEL

    func testCELSubset() throws {
        let value: JSONValue = ["size": "small", "replicas": 2, "tags": ["a", "b"], "labels": ["x": "1"], "name": "web-1"]
        let cases: [(String, Bool)] = [
            ("self.size != 'small' || self.replicas <= 3", true),
            ("self.replicas > 2 && self.size == 'small'", false),
            ("!(self.replicas == 2)", false),
            ("has(self.color) ? self.color != '' : true", true),
            ("has(self.size)", true),
            ("size(self.tags) == 2 && self.tags.size() == 2", true),
            ("'a' in self.tags && !('z' in self.tags)", true),
            ("'x' in self.labels", true),
            ("self.name.startsWith('web') && self.name.endsWith('1') && self.name.contains('b-')", true),
            ("self.name.matches('^[a-z]+-[0-9]+$')", true),
            ("self.tags.all(t, t.size() == 1)", true),
            ("self.tags.exists(t, t == 'b')", true),
            ("self.tags.exists_one(t, t == 'c')", false),
            ("self.replicas * 2 + 1 == 5 && self.replicas % 2 == 0 && -self.replicas < 0", true),
            ("self.replicas >= 1.5", true),
            ("self.tags[0] == 'a' && self.labels['x'] == '1'", true),
            ("self.missing == 1 || true", true),
            ("false && self.missing == 1", false),
        ]
        for (rule, expected) in cases {
            XCTAssertEqual(try CEL.evaluate(rule, self: value, oldSelf: nil), expected, rule)
        }
        XCTAssertEqual(try CEL.evaluate("self == oldSelf", self: "a", oldSelf: "a"), true)
        XCTAssertEqual(try CEL.evaluate("self >= oldSelf", self: 1, oldSelf: 2), false)
        XCTAssertThrowsError(try CEL.evaluate("self.missing == 1", self: value, oldSelf: nil))
        XCTAssertThrowsError(try CEL.evaluate("self.replicas.quantity()", self: value, oldSelf: nil)) { XCTAssertTrue($0 is CEL.Unsupported) }
        XCTAssertTrue(CEL.referencesOldSelf("self == oldSelf"))
        XCTAssertFalse(CEL.referencesOldSelf("self.oldSelfish == 1"))
    }

    func testUnsupportedRuleIsReportedWithTheRule() throws {
        let schema = SchemaNode(["type": "object", "properties": ["spec": [
            "type": "object", "x-kubernetes-validations": [["rule": "self.x.quantity() > 1"]],
        ]]])
        let causes = ObjectValidation.validate(["spec": ["x": "1"]], schema: schema)
        XCTAssertEqual(causes.count, 1)
        XCTAssertEqual(causes.first?.field, "spec")
        XCTAssertTrue(causes.first?.message?.contains("self.x.quantity() > 1") ?? false, causes.first?.message ?? "")
    }

    func testRuleEvaluationErrorNamesTheRule() throws {
        let schema = SchemaNode(["type": "object", "properties": ["spec": [
            "type": "object", "properties": ["a": ["type": "integer"]],
            "x-kubernetes-validations": [["rule": "self.a > 1", "message": "a must exceed 1"]],
        ]]])
        XCTAssertEqual(ObjectValidation.validate(["spec": [:]], schema: schema),
                       [StatusCause(reason: "FieldValueInvalid", message: "Invalid value: no such key: a evaluating rule: self.a > 1", field: "spec")])
        XCTAssertEqual(ObjectValidation.validate(["spec": ["a": 2]], schema: schema), [])
    }

    func testRuleWithoutMessageAndWithFieldPath() throws {
        let schema = SchemaNode(["type": "object", "properties": ["spec": [
            "type": "object", "properties": ["min": ["type": "integer"], "max": ["type": "integer"]],
            "x-kubernetes-validations": [["rule": "self.min <= self.max", "fieldPath": ".min"]],
        ]]])
        let causes = ObjectValidation.validate(["spec": ["min": 3, "max": 1]], schema: schema)
        XCTAssertEqual(causes, [StatusCause(reason: "FieldValueInvalid", message: "Invalid value: failed rule: self.min <= self.max", field: "spec.min")])
    }
}
