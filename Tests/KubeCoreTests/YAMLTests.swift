import KubeCore
import KubeYAML
import XCTest

final class YAMLTests: XCTestCase {
    func testKubeconfigLikeDocument() throws {
        let text = """
            apiVersion: v1
            kind: Config
            current-context: dev   # a comment
            clusters:
            - name: dev
              cluster:
                server: https://127.0.0.1:6443
                insecure-skip-tls-verify: true
                certificate-authority-data: LS0tLS1CRUdJTg==
            users:
            - name: admin
              user:
                token: "abc:def"
                exec:
                  args: [--region, eu-west-1]
                  env: null
            contexts:
            - {name: dev, context: {cluster: dev, user: admin, namespace: default}}
            """
        let v = try YAML.parse(text)
        XCTAssertEqual(v["current-context"], "dev")
        XCTAssertEqual(v[path: ["clusters"]]?[0]?[path: ["cluster", "server"]], "https://127.0.0.1:6443")
        XCTAssertEqual(v[path: ["clusters"]]?[0]?[path: ["cluster", "insecure-skip-tls-verify"]], .bool(true))
        XCTAssertEqual(v["users"]?[0]?[path: ["user", "token"]], "abc:def")
        XCTAssertEqual(v["users"]?[0]?[path: ["user", "exec", "args"]], ["--region", "eu-west-1"])
        XCTAssertEqual(v["users"]?[0]?[path: ["user", "exec", "env"]], .null)
        XCTAssertEqual(v["contexts"]?[0]?[path: ["context", "namespace"]], "default")
    }

    func testMultipleDocumentsSkipEmptyOnes() throws {
        let text = """
            ---
            # only a comment
            ---
            a: 1
            ---
            ---
            - x
            ...
            ---
            b: two
            """
        let docs = try YAML.parseDocuments(text)
        XCTAssertEqual(docs, [["a": 1], ["x"], ["b": "two"]])
        XCTAssertEqual(try YAML.parseDocuments(""), [])
        XCTAssertEqual(try YAML.parseDocuments("# nothing\n"), [])
    }

    func testCRLFAndByteOrderMark() throws {
        XCTAssertEqual(try YAML.parse("\u{FEFF}a: 1\r\nb:\r\n  - x\r\n"), ["a": 1, "b": ["x"]])
    }

    func testParseRequiresExactlyOneDocument() {
        XCTAssertThrowsError(try YAML.parse("")) { error in
            XCTAssertTrue("\(error)".contains("no document"), "\(error)")
        }
        XCTAssertThrowsError(try YAML.parse("a: 1\n---\nb: 2\n")) { error in
            XCTAssertTrue("\(error)".contains("found 2"), "\(error)")
        }
        XCTAssertEqual(try YAML.parse("null"), .null)
    }

    func testPlainScalarResolution() throws {
        let cases: [(String, JSONValue)] = [
            ("true", true), ("True", true), ("TRUE", true), ("false", false), ("FALSE", false),
            ("yes", true), ("Yes", true), ("YES", true), ("no", false), ("NO", false),
            ("on", true), ("On", true), ("off", false), ("OFF", false), ("y", true), ("Y", true), ("n", false), ("N", false),
            ("yEs", "yEs"), ("tRue", "tRue"),
            ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null), ("", .null), ("nUll", "nUll"),
            ("0", 0), ("42", 42), ("-17", -17), ("+1", 1), ("0x1F", 31), ("0o17", 15), ("017", 15), ("0b101", 5),
            ("1_000", 1000), ("9223372036854775807", .int(Int64.max)), ("-9223372036854775808", .int(Int64.min)),
            ("1.5", 1.5), ("-0.25", -0.25), (".5", 0.5), ("1.0", 1.0), ("1e+3", 1000.0), ("1.5E-2", 0.015),
            ("1e3", "1e3"), ("08", 8.0), ("0x", "0x"), ("1.2.3", "1.2.3"), ("-a", "-a"), ("+", "+"), (".", "."),
            ("2024-01-02", "2024-01-02"), ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
            ("nginx:1.25", "nginx:1.25"), ("hello world", "hello world"), ("10.0.0.1", "10.0.0.1"),
        ]
        for (text, expected) in cases {
            let v = try YAML.parse("v: \(text)")
            XCTAssertEqual(v["v"], expected, "plain scalar '\(text)'")
        }
        let inf = try YAML.parse("[.inf, -.Inf, +.INF, .nan]")
        XCTAssertEqual(inf[0], .double(.infinity))
        XCTAssertEqual(inf[1], .double(-.infinity))
        XCTAssertEqual(inf[2], .double(.infinity))
        XCTAssertTrue(inf[3]?.doubleValue?.isNaN == true)
    }

    func testQuotedAndTaggedScalarsAreStringsOrAsTagged() throws {
        let v = try YAML.parse("""
            a: "true"
            b: '1'
            c: "null"
            d: !!str 123
            e: !!int "42"
            f: !!float 3
            g: !custom 7
            h: ""
            """)
        XCTAssertEqual(v, ["a": "true", "b": "1", "c": "null", "d": "123", "e": 42, "f": 3.0, "g": "7", "h": ""])
        XCTAssertThrowsError(try YAML.parse("a: !!int abc")) { error in
            XCTAssertTrue("\(error)".contains("!!int"), "\(error)")
        }
    }

    func testBlockScalars() throws {
        let v = try YAML.parse("""
            literal: |
              line one
                indented
              line three
            strip: |-
              no newline
            keep: |+
              kept

            folded: >
              folded
              text

              paragraph
            after: x
            """)
        XCTAssertEqual(v["literal"], "line one\n  indented\nline three\n")
        XCTAssertEqual(v["strip"], "no newline")
        XCTAssertEqual(v["keep"], "kept\n\n")
        XCTAssertEqual(v["folded"], "folded text\nparagraph\n")
        XCTAssertEqual(v["after"], "x")
    }

    func testNonStringKeysBecomeStrings() throws {
        let v = try YAML.parse("1: a\ntrue: b\n1.5: c\n0x10: d\n")
        XCTAssertEqual(v, ["1": "a", "true": "b", "1.5": "c", "16": "d"])
        XCTAssertThrowsError(try YAML.parse("~: a")) { error in
            XCTAssertTrue("\(error)".contains("null"), "\(error)")
        }
        XCTAssertThrowsError(try YAML.parse("? [a, b]\n: c\n")) { error in
            XCTAssertTrue("\(error)".contains("mapping key"), "\(error)")
        }
    }

    func testDuplicateKeyIsAnErrorNamingKeyAndLine() {
        XCTAssertThrowsError(try YAML.parse("a: 1\nb:\n  c: 1\n  c: 2\n")) { error in
            guard let e = error as? YAMLError else { return XCTFail("\(error)") }
            XCTAssertTrue(e.message.contains("\"c\""), e.message)
            XCTAssertEqual(e.line, 4)
            XCTAssertEqual(e.column, 3)
        }
    }

    func testAnchorsAliasesAndMerge() throws {
        let v = try YAML.parse("""
            base: &base
              image: nginx
              port: 80
            copy: *base
            derived:
              <<: *base
              port: 8080
            list: [&x 1, *x]
            """)
        XCTAssertEqual(v["copy"], ["image": "nginx", "port": 80])
        XCTAssertEqual(v["derived"], ["image": "nginx", "port": 8080])
        XCTAssertEqual(v["list"], [1, 1])
        XCTAssertThrowsError(try YAML.parse("a: *missing")) { error in
            XCTAssertTrue("\(error)".contains("missing"), "\(error)")
        }
    }

    func testAliasBombIsRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            let refs = Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ")
            text += "a\(i): &a\(i) [\(refs)]\n"
        }
        let start = Date()
        XCTAssertThrowsError(try YAML.parse(text)) { error in
            XCTAssertTrue("\(error)".contains("more than"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testDeepNestingIsRefused() {
        let text = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        XCTAssertThrowsError(try YAML.parse(text)) { error in
            XCTAssertTrue("\(error)".contains("nested deeper"), "\(error)")
        }
    }

    func testMalformedInputErrorsCarryPositions() {
        let cases: [(String, Int)] = [
            ("a: 1\nb: [1, 2\n", 3),
            ("a: 1\n  b: 2\n", 2),
            ("a: \"unterminated\n", 2),
            ("key: value\n\tbad: tab\n", 2),
            ("- a\nb: c\n", 2),
        ]
        for (text, line) in cases {
            XCTAssertThrowsError(try YAML.parse(text), "'\(text)'") { error in
                guard let e = error as? YAMLError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.line, line, "\(e) for '\(text)'")
                XCTAssertFalse(e.message.isEmpty)
                XCTAssertTrue(e.description.contains("line \(line)"), e.description)
            }
        }
    }

    // MARK: Emit

    static let trickyStrings: [String] = [
        "", " ", "  lead", "trail ", "true", "True", "FALSE", "yes", "No", "on", "OFF", "y", "n", "Y", "N", "~", "null", "Null",
        "NULL", "0", "1", "-1", "+1", "1.0", "1e3", "1e+3", ".5", "0x1F", "0o17", "017", "0b1", "1_000", "08", ".inf", "-.inf",
        ".nan", "inf", "nan", "2024-01-02", "12:30", "1:20:30", "a: b", "a:b", "a #b", "a#b", "#c", "- item", "-", "--", "---",
        "...", "? q", ":", "a:", "[x]", "{x}", "a, b", "&anchor", "*alias", "!tag", "|", ">", "'single'", "\"double\"", "%x",
        "@at", "`tick", "<<", "=", "multi\nline", "multi\nline\n", "two\n\n", "\nleading newline", "line\n  indented\n",
        "trailing space \nline", "tab\there", "\t", "cr\r\nlf", "nul\u{0}", "bell\u{7}", "del\u{7F}", "nel\u{85}",
        "ls\u{2028}", "bom\u{FEFF}", "émoji 🎉", "中文", "back\\slash", "quote\"inside", "it's", "http://example.com/a?b=c#d",
        "nginx:1.25", "key=value", "a b c", "-Xmx512m", "100m", "1Gi", "0.5", "3e", "e3", "1.", "1.2.3", "0.0.0.0",
        "\n", "\n\n", " \n", "x\n ", "a\n\nb", "end:\n", String(repeating: "long ", count: 40),
    ]

    func testEmitRoundTripsTrickyStrings() throws {
        for s in Self.trickyStrings {
            let values: [JSONValue] = [.string(s), ["k": .string(s)], [.string(s)], .object([s: "v"]), ["outer": [["k": .string(s)]]]]
            for value in values {
                let text = YAML.emit(value)
                let back: JSONValue
                do {
                    back = try YAML.parse(text)
                } catch {
                    XCTFail("emitted YAML for \(String(reflecting: s)) does not parse: \(error)\n\(text)")
                    continue
                }
                XCTAssertEqual(back, value, "round trip of \(String(reflecting: s)) through:\n\(text)")
            }
        }
    }

    func testEmitRoundTripsGeneratedStrings() throws {
        // Property-style: strings assembled from fragments that matter to YAML.
        let fragments = ["a", " ", ":", "#", "-", "\n", "\"", "'", "0", "1", ".", "e", "+", "x", "true", "null", "\t", "[", "&", "|", "~", "é",
                         "?", ",", "{", "}", "!", "*", "%", "@", "`", "\r", "\u{85}", "---", "...", "<<", "0x", "_", ">", "\\"]
        var rng = SplitMix64(seed: 42)
        for _ in 0..<5000 {
            let count = Int(rng.next() % 6) + 1
            var s = ""
            for _ in 0..<count { s += fragments[Int(rng.next() % UInt64(fragments.count))] }
            let value: JSONValue = ["k": .string(s), "list": [.string(s), ["n": .string(s)]]]
            let text = YAML.emit(value)
            XCTAssertEqual(try? YAML.parse(text), value, "round trip of \(String(reflecting: s)) through:\n\(text)")
            let root = YAML.emit(.string(s))
            XCTAssertEqual(try? YAML.parse(root), .string(s), "round trip of \(String(reflecting: s)) through:\n\(root)")
        }
    }

    func testEmitOtherValuesRoundTrip() throws {
        let value: JSONValue = [
            "b": true, "n": .null, "i": 42, "neg": -7, "d": 1.5, "whole": 2.0, "tiny": 1e-7, "big": 1e300,
            "inf": .double(.infinity), "empty": [:], "emptyList": [], "nested": ["list": [1, [2, 3], ["a": [:]]], "o": ["p": "q"]],
            "min": .int(Int64.min), "max": .int(Int64.max),
        ]
        let text = YAML.emit(value)
        XCTAssertEqual(try YAML.parse(text), value, text)
        XCTAssertTrue(text.hasPrefix("b: true\n"), text)
    }

    func testEmitIsReadableBlockStyle() {
        let value: JSONValue = ["metadata": ["name": "web", "labels": ["app": "web"]], "items": ["a", ["k": "v", "l": "w"]]]
        XCTAssertEqual(YAML.emit(value), """
            items:
            - a
            - k: v
              l: w
            metadata:
              labels:
                app: web
              name: web

            """)
        XCTAssertEqual(YAML.emit(["script": "echo hi\necho there\n"]), "script: |\n  echo hi\n  echo there\n")
    }
}
