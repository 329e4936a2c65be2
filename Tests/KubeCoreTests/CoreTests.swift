import Foundation
import KubeCore
import XCTest

/// The pre-existing KubeCore pieces: JSON parsing, request building, watch line handling.
final class CoreTests: XCTestCase {
    // MARK: JSON parser

    func testJSONParserAcceptsValidDocuments() throws {
        XCTAssertEqual(try JSONValue(parsing: #"{"a":[1,-2,3.5,1e2,true,false,null,"x\u00e9\ud83c\udf89\n"]}"#),
                       ["a": [1, -2, 3.5, 100.0, true, false, nil, "xé🎉\n"]])
        XCTAssertEqual(try JSONValue(parsing: " 42 "), 42)
        XCTAssertEqual(try JSONValue(parsing: "9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSONValue(parsing: "9223372036854775808"), .double(9223372036854775808))
    }

    func testJSONParserRejectsMalformedInputWithAReason() {
        let cases: [(String, String)] = [
            ("", "end of JSON"),
            ("{", "expected object key"),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\":1,}", "expected object key"),
            ("[1,]", "beginning of value"),
            ("[1 2]", "expected ',' or ']'"),
            ("01", "after JSON value"),
            ("1.", "digit expected after '.'"),
            ("1e", "digit expected in exponent"),
            ("-", "invalid number"),
            ("tru", "invalid literal"),
            ("\"abc", "unterminated string"),
            ("\"a\tb\"", "control character"),
            ("\"\\x\"", "invalid escape"),
            ("\"\\u12G4\"", "invalid hex digit"),
            ("{} {}", "after JSON value"),
            ("'a'", "beginning of value"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try JSONValue(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(fragment), "'\(text)': \(error)")
            }
        }
        XCTAssertThrowsError(try JSONValue(parsing: String(repeating: "[", count: 600) + String(repeating: "]", count: 600))) { error in
            XCTAssertTrue("\(error)".contains("nested deeper"), "\(error)")
        }
        XCTAssertThrowsError(try JSONValue(parsing: Data([0x22, 0xFF, 0x22]))) { error in
            XCTAssertTrue("\(error)".contains("UTF-8"), "\(error)")
        }
    }

    /// Strings take a fast path while they are plain ASCII and the byte-by-byte path from their
    /// first escape on: both give the same text, and both refuse invalid UTF-8.
    func testStringsWithAndWithoutEscapesAndNonASCIIText() throws {
        let cases: [(String, String)] = [
            (#""""#, ""), (#""plain""#, "plain"), (#""h\u00e9llo""#, "héllo"), (#""héllo""#, "héllo"),
            (#""a\"b\\c""#, "a\"b\\c"), (#""é\n\t""#, "é\n\t"), (#""x\ud83d\ude00y""#, "x😀y"), (#""日本\/語""#, "日本/語"),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try JSONValue(parsing: text), .string(expected), text)
            XCTAssertEqual(try JSONValue(parsing: "{\(text):1}")[expected], 1, "as a key: \(text)")
        }
        for bytes: [UInt8] in [[0x22, 0x61, 0xC3, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            XCTAssertThrowsError(try JSONValue(parsing: Data(bytes)), "\(bytes)") { error in
                XCTAssertTrue("\(error)".contains("UTF-8"), "\(error)")
            }
        }
    }

    func testListParsingTransformsTopLevelItemsOneByOne() throws {
        let text = #"{"kind":"ConfigMapList","metadata":{"items":[1]},"items":[{"a":1,"items":[2]},{"a":2},{"a":3}]}"#
        var seen: [JSONValue] = []
        let value = try JSONValue(parsingList: Data(text.utf8)) { item in
            seen.append(item)
            return ["kept": item["a"] ?? .null]
        }
        XCTAssertEqual(seen.count, 3, "only the top-level items array is transformed, each element once")
        XCTAssertEqual(value["items"], [["kept": 1], ["kept": 2], ["kept": 3]])
        XCTAssertEqual(value[path: ["metadata", "items"]], [1], "nested items keys are left alone")
        XCTAssertEqual(try JSONValue(parsingList: Data(text.utf8)) { $0 }, try JSONValue(parsing: text))
        XCTAssertThrowsError(try JSONValue(parsingList: Data(#"{"items":[{"a":1},"#.utf8)) { $0 })
    }

    /// Skipping `metadata.managedFields` gives what the full parse gives with them removed, only
    /// for the object's own metadata, and refuses exactly the text the full parse refuses.
    func testManagedFieldsAreSkippedOnlyWhereAsked() throws {
        let managed = #"[{"manager":"kubectl","operation":"Apply","fieldsV1":{"f:spec":{"f:replicas":{},"f:te\u0301mplate":{"f:x":{}}},"f:é":{}},"n":[1,-2.5e3,true,false,null]}]"#
        let object = #"{"kind":"Deployment","metadata":{"name":"web","managedFields":\#(managed),"labels":{"a":"b"}},"#
            + #""spec":{"template":{"metadata":{"managedFields":[1]}}},"managedFields":[2]}"#
        let line = #"{"type":"MODIFIED","object":\#(object)}"#
        var expected = try JSONValue(parsing: line)
        expected[path: ["object", "metadata", "managedFields"]] = nil
        let event = try WatchLineDecoder.decode(Data(line.utf8), droppingManagedFields: true)
        XCTAssertEqual(event.object, expected["object"])
        XCTAssertEqual(event.object[path: ["spec", "template", "metadata", "managedFields"]], [1], "a template's metadata is not the object's")
        XCTAssertEqual(event.object["managedFields"], [2], "only under metadata")
        XCTAssertEqual(try WatchLineDecoder.decode(Data(line.utf8)).object, try JSONValue(parsing: object), "kept unless asked")

        let list = #"{"kind":"DeploymentList","metadata":{"resourceVersion":"7","managedFields":[3]},"items":[\#(object),\#(object)]}"#
        let page = try JSONValue(parsingList: Data(list.utf8), transformingItems: { $0 }, droppingManagedFields: true)
        XCTAssertEqual(page["items"]?.arrayValue?.map { $0[path: ["metadata", "managedFields"]] }, [nil, nil])
        XCTAssertEqual(page[path: ["metadata", "managedFields"]], [3], "the list's own metadata is not an item's")

        // Whatever the full parse refuses inside managedFields, the skip refuses too.
        for bad in [#"[{"a":tru}]"#, #"[{"a" 1}]"#, #"[{"a":1,}]"#, #"[1 2]"#, #"["\q"]"#, "[\"a\u{1}\"]", #"["\ud800\u00"]"#, #"[01]"#, #"[-]"#,
                    #"{"a":[1]"#, #"[{"a":"b"]"#, #"["open]}}}"#, String(repeating: "[", count: 600) + String(repeating: "]", count: 600)] {
            let broken = Data(#"{"type":"ADDED","object":{"metadata":{"managedFields":\#(bad)}}}"#.utf8)
            XCTAssertThrowsError(try WatchLineDecoder.decode(broken, droppingManagedFields: true), bad)
            XCTAssertThrowsError(try WatchLineDecoder.decode(broken), bad)
        }
        var invalidUTF8 = Data(#"{"type":"ADDED","object":{"metadata":{"managedFields":["x"#.utf8)
        invalidUTF8.append(contentsOf: [0xFF, 0x22, 0x5D, 0x7D, 0x7D, 0x7D])
        XCTAssertThrowsError(try WatchLineDecoder.decode(invalidUTF8, droppingManagedFields: true), "invalid UTF-8 is refused unbuilt too")
        XCTAssertThrowsError(try WatchLineDecoder.decode(invalidUTF8))
    }

    func testSerializationIsSortedAndRoundTrips() throws {
        let v: JSONValue = ["b": [1, 2.5, "s\"\\\n\u{1}"], "a": nil, "c": ["z": true]]
        XCTAssertEqual(v.serializedString(), #"{"a":null,"b":[1,2.5,"s\"\\\n\u0001"],"c":{"z":true}}"#)
        XCTAssertEqual(try JSONValue(parsing: v.serialized()), v)
        XCTAssertEqual(try JSONValue(parsing: v.serialized(pretty: true)), v)
    }

    /// Keys order and match by their UTF-8 bytes, as the API server's Go maps do: a key spelled with
    /// a combining accent is another key than the same letter precomposed, and a duplicate's last
    /// value wins.
    func testObjectKeysOrderAndMatchByTheirBytes() throws {
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        let parsed = try JSONValue(parsing: "{\"\(composed)\":1,\"\(decomposed)\":2,\"b\":3,\"Z\":4,\"b\":5}")
        guard case .object(let object) = parsed else { return XCTFail("not an object") }
        XCTAssertEqual(object.keys.map { Array($0.utf8) }, ["Z", "b", decomposed, composed].map { Array($0.utf8) })
        XCTAssertEqual(object[composed], 1)
        XCTAssertEqual(object[decomposed], 2)
        XCTAssertEqual(object["b"], 5, "the last of a duplicate key wins")
        XCTAssertNil(object["c"])
    }

    // MARK: Request building

    func testRequestBuilderPaths() throws {
        XCTAssertEqual(try RequestBuilder(.configMaps).get(namespace: "ns", name: "c").path, "/api/v1/namespaces/ns/configmaps/c")
        XCTAssertEqual(try RequestBuilder(.deployments).get(namespace: "ns", name: "web", subresource: "scale").path,
                       "/apis/apps/v1/namespaces/ns/deployments/web/scale")
        XCTAssertEqual(try RequestBuilder(.namespaces).get(namespace: "ignored", name: "fx").path, "/api/v1/namespaces/fx")
        XCTAssertEqual(try RequestBuilder(.deployments).list(namespace: nil).path, "/apis/apps/v1/deployments")
        XCTAssertEqual(try RequestBuilder(.customResourceDefinitions).list(namespace: nil).path,
                       "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        let watch = try RequestBuilder(.configMaps).watch(namespace: "ns", options: ListOptions(labelSelector: "a=b", resourceVersion: "5",
                                                                                                 allowWatchBookmarks: true))
        XCTAssertEqual(watch.pathAndQuery, "/api/v1/namespaces/ns/configmaps?watch=true&labelSelector=a%3Db&resourceVersion=5&allowWatchBookmarks=true")
        XCTAssertTrue(watch.isWatch)
        let apply = try RequestBuilder(.deployments).patch(namespace: "ns", name: "web", type: .apply, body: Data("{}".utf8),
                                                           options: WriteOptions(fieldManager: "op", force: true))
        XCTAssertEqual(apply.contentType, "application/apply-patch+yaml")
        XCTAssertEqual(apply.pathAndQuery, "/apis/apps/v1/namespaces/ns/deployments/web?fieldManager=op&force=true")
    }

    func testInvalidNamesThrowInsteadOfBuildingAListPath() {
        let builder = RequestBuilder(.configMaps)
        for name in ["", ".", "..", "a/b", "a%2Fb"] {
            XCTAssertThrowsError(try builder.get(namespace: "ns", name: name), "name '\(name)'") { error in
                guard case KubeError.invalidRequest(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains("name"), message)
            }
            XCTAssertThrowsError(try builder.update(namespace: "ns", name: name, body: Data()), "update '\(name)'")
            XCTAssertThrowsError(try builder.delete(namespace: "ns", name: name), "delete '\(name)'")
            XCTAssertThrowsError(try builder.patch(namespace: "ns", name: name, type: .merge, body: Data()), "patch '\(name)'")
        }
        XCTAssertThrowsError(try builder.get(namespace: nil, name: "c")) { error in
            XCTAssertTrue("\(error)".contains("namespace is required"), "\(error)")
        }
        XCTAssertThrowsError(try builder.get(namespace: "a/b", name: "c"))
        XCTAssertThrowsError(try builder.create(namespace: nil, body: Data()))
        XCTAssertThrowsError(try builder.patch(namespace: "ns", name: "c", type: .apply, body: Data())) { error in
            XCTAssertTrue("\(error)".contains("field manager"), "\(error)")
        }
    }

    // MARK: Watch lines

    func testLineSplitterAcrossChunkBoundaries() throws {
        let text = "{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":\"x y\"}\n{\"d\":4}"
        let bytes = Array(text.utf8)
        // Every way of cutting the stream in two, and one byte at a time, gives the same lines.
        var cuts: [[Int]] = (0...bytes.count).map { [$0] }
        cuts.append(Array(0...bytes.count))
        for cut in cuts {
            var splitter = LineSplitter()
            var lines: [String] = []
            var start = 0
            for c in cut + [bytes.count] where c >= start {
                lines += try splitter.feed(Data(bytes[start..<c])).map { String(decoding: $0, as: UTF8.self) }
                start = c
            }
            if let last = splitter.finish() { lines.append(String(decoding: last, as: UTF8.self)) }
            XCTAssertEqual(lines, ["{\"a\":1}", "{\"b\":2}", "{\"c\":\"x y\"}", "{\"d\":4}"], "cut at \(cut.prefix(3))")
        }
    }

    func testLineSplitterRefusesOverlongLines() throws {
        var splitter = LineSplitter(maxLineBytes: 8)
        XCTAssertEqual(try splitter.feed(Data("1234\n".utf8)).count, 1)
        XCTAssertThrowsError(try splitter.feed(Data("123456789".utf8))) { error in
            XCTAssertTrue("\(error)".contains("longer than 8"), "\(error)")
        }
    }

    func testWatchLineDecoder() throws {
        let event = try WatchLineDecoder.decode(Data(#"{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a"}}}"#.utf8))
        XCTAssertEqual(event.type, .added)
        XCTAssertEqual(event.object[path: ["metadata", "name"]], "a")
        let bookmark = try WatchLineDecoder.decode(Data(#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#.utf8))
        XCTAssertEqual(bookmark.type, .bookmark)
        for bad in ["not json", #"{"object":{}}"#, #"{"type":"WHAT","object":{}}"#, #"{"type":"ADDED"}"#] {
            XCTAssertThrowsError(try WatchLineDecoder.decode(Data(bad.utf8)), bad) { error in
                guard case KubeError.decoding = error else { return XCTFail("\(bad): \(error)") }
            }
        }
    }

    func testWatchErrorLineBecomesGone() {
        let line = #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (10)","reason":"Expired","code":410}}"#
        XCTAssertThrowsError(try WatchLineDecoder.decode(Data(line.utf8))) { error in
            guard let e = error as? KubeError else { return XCTFail("\(error)") }
            XCTAssertTrue(e.isGone)
            XCTAssertEqual(e.status?.reason, "Expired")
            XCTAssertEqual(e.httpCode, 410)
            XCTAssertFalse(e.isNotFound)
        }
    }

    func testWatchErrorLinesFromTheFixtureAreGone() throws {
        let scenario = try Fixtures.scenario("12-expired-resourceversion.json")
        var errorLines = 0
        for step in scenario["steps"]?.arrayValue ?? [] {
            for line in step["response"]?["body"]?.arrayValue ?? [] {
                guard let text = line.stringValue, text.contains("\"ERROR\"") else { continue }
                errorLines += 1
                XCTAssertThrowsError(try WatchLineDecoder.decode(Data(text.utf8))) { error in
                    XCTAssertTrue((error as? KubeError)?.isGone == true, "\(error)")
                }
            }
        }
        XCTAssertGreaterThan(errorLines, 0, "the fixture has no ERROR watch line")
    }
}
