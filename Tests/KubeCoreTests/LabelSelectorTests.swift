import KubeCore
import XCTest

final class LabelSelectorTests: XCTestCase {
    func testParseEveryForm() throws {
        let s = try LabelSelector(parsing: "a=b, c in (x,y),!d, e notin (z), f, g!=h, i==j")
        XCTAssertEqual(s.matchLabels, ["a": "b", "i": "j"])
        XCTAssertEqual(s.matchExpressions, [
            LabelSelectorRequirement(key: "c", operator: .in, values: ["x", "y"]),
            LabelSelectorRequirement(key: "d", operator: .doesNotExist),
            LabelSelectorRequirement(key: "e", operator: .notIn, values: ["z"]),
            LabelSelectorRequirement(key: "f", operator: .exists),
            LabelSelectorRequirement(key: "g", operator: .notIn, values: ["h"]),
        ])
    }

    func testStringFormIsSortedAndParsesBack() throws {
        let s = try LabelSelector(parsing: "tier in (web,api),app=shop,!legacy,app.kubernetes.io/name")
        // Sorted by key, as labels.Selector.String() writes it.
        XCTAssertEqual(s.description, "app=shop,app.kubernetes.io/name,!legacy,tier in (api,web)")
        let back = try LabelSelector(parsing: s.description)
        XCTAssertEqual(back.description, s.description)
        XCTAssertEqual(back.matchLabels, s.matchLabels)
        XCTAssertEqual(Set((back.matchExpressions ?? []).map(\.description)), Set((s.matchExpressions ?? []).map(\.description)))
        XCTAssertEqual(LabelSelector().description, "")
        XCTAssertEqual(try LabelSelector(parsing: ""), LabelSelector())
        XCTAssertEqual(try LabelSelector(parsing: "   "), LabelSelector())
    }

    func testRepeatedEqualityOnOneKeyBecomesAnExpression() throws {
        let s = try LabelSelector(parsing: "a=b,a=c")
        XCTAssertEqual(s.matchLabels, ["a": "b"])
        XCTAssertEqual(s.matchExpressions, [LabelSelectorRequirement(key: "a", operator: .in, values: ["c"])])
        XCTAssertFalse(s.matches(["a": "b"]))
    }

    func testMatching() throws {
        let s = try LabelSelector(parsing: "app=web,env in (prod,stage),!canary,track notin (beta),owner")
        XCTAssertTrue(s.matches(["app": "web", "env": "prod", "owner": "me"]))
        XCTAssertTrue(s.matches(["app": "web", "env": "stage", "owner": "", "track": "stable"]))
        XCTAssertFalse(s.matches(["app": "web", "env": "dev", "owner": "me"]))
        XCTAssertFalse(s.matches(["app": "web", "env": "prod", "owner": "me", "canary": "true"]))
        XCTAssertFalse(s.matches(["app": "web", "env": "prod", "owner": "me", "track": "beta"]))
        XCTAssertFalse(s.matches(["app": "web", "env": "prod"]))
        XCTAssertFalse(s.matches(["app": "api", "env": "prod", "owner": "me"]))
        XCTAssertTrue(LabelSelector().matches([:]))
        XCTAssertTrue(LabelSelector().matches(["any": "thing"]))
        XCTAssertFalse(LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "a", operator: .in, values: [])]).matches(["a": "x"]))
    }

    func testEmptyValueIsAllowed() throws {
        let s = try LabelSelector(parsing: "a=")
        XCTAssertEqual(s.matchLabels, ["a": ""])
        XCTAssertTrue(s.matches(["a": ""]))
        XCTAssertFalse(s.matches(["a": "x"]))
    }

    func testParseErrors() {
        let cases: [(String, String)] = [
            ("a in x", "expected '('"),
            ("a in (x", "expected ',' or ')'"),
            ("a in ()", "can't be empty"),
            ("a>1", "'>' and '<'"),
            ("a<1", "'>' and '<'"),
            ("=b", "expected a label key"),
            ("a=b,", "after ','"),
            ("a=b c", "expected ',' or the end"),
            ("!a=b", "expected ','"),
            ("-bad=x", "invalid label key"),
            ("a=-bad", "invalid label value"),
            ("a/b/c=x", "invalid label key"),
            (String(repeating: "k", count: 64) + "=v", "no more than 63"),
            ("a=" + String(repeating: "v", count: 64), "no more than 63"),
            ("Example.COM/a=b", "invalid label key"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try LabelSelector(parsing: text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(fragment), "'\(text)': \(message)")
                XCTAssertTrue(message.contains("position"), "'\(text)': \(message)")
            }
        }
    }

    func testCodableShape() throws {
        let s = try LabelSelector(parsing: "app=web,tier in (a)")
        XCTAssertEqual(try JSONValue(encoding: s), [
            "matchLabels": ["app": "web"],
            "matchExpressions": [["key": "tier", "operator": "In", "values": ["a"]]],
        ])
    }
}
