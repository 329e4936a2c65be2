import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// Replays a recorded kube-apiserver scenario (Tests/Fixtures/kube-apiserver-1.36) against a fresh
/// KubeTestServer through the in-process handler and compares as the fixture README says:
/// status codes exactly; Status reason/code/details/causes and messages; objects field by field
/// with placeholders as wildcards; resourceVersions by relation; Content-Type and Warning headers;
/// watch event sequences.
final class FixtureReplayer {
    let file: String
    let doc: JSONValue
    let server: KubeTestServer
    var saToken = ""
    var lastETag = ""
    /// Recorded resourceVersion → ours.
    var rvMap: [Int64: Int64] = [:]
    /// Recorded continue token → ours.
    var tokenMap: [String: String] = [:]
    var mismatches: [(step: String, message: String)] = []
    /// Requests the recording made but did not record (the notes and later answers show them), sent
    /// before the step with this index.
    var extraSetup: [Int: [(method: String, path: String, body: JSONValue)]] = [:]
    /// Steps not sent at all (known differences that would only cost wall-clock time).
    var notReplayed: Set<Int> = []

    init(file: String, server: KubeTestServer) throws {
        self.file = file
        self.server = server
        doc = try JSONValue(parsing: Data(contentsOf: fixturesDirectory().appendingPathComponent(file)))
    }

    // MARK: Running

    func run() async throws {
        if !file.hasPrefix("19") { try await prerequisites() }
        saToken = server.serviceAccountToken(namespace: "fx", name: "nobody")
        for (i, step) in (doc["setup"]?.arrayValue ?? []).enumerated() {
            let answer = await send(step["request"] ?? .null, note: step["note"]?.stringValue ?? "")
            let want = step[path: ["response", "status"]]?.intValue ?? 0
            if Int64(answer.status) != want {
                mismatches.append(("setup\(i)", "status \(answer.status), want \(want): \(String(decoding: answer.body.prefix(400), as: UTF8.self))"))
            }
        }
        let steps = doc["steps"]?.arrayValue ?? []
        var i = 0
        while i < steps.count {
            let step = steps[i]
            await runExtraSetup(before: i)
            if notReplayed.contains(i) {
                i += 1
                continue
            }
            if step["async"]?.boolValue == true {
                currentStep = i
                let stream = await openWatch(step["request"] ?? .null, note: step["note"]?.stringValue ?? "")
                var j = i + 1
                while j < steps.count, steps[j]["async"]?.boolValue != true {
                    await runExtraSetup(before: j)
                    await runStep(j, steps[j])
                    j += 1
                }
                let lines = (try? await readLines(stream, timeout: 30)) ?? []
                compareWatch(i, step, status: stream.statusCode, headers: stream.headers, lines: lines)
                i = j
            } else {
                await runStep(i, step)
                i += 1
            }
        }
    }

    func runExtraSetup(before i: Int) async {
        let c = TestClient(server)
        for r in extraSetup.removeValue(forKey: i) ?? [] {
            let answer = await c.request(r.method, r.path, body: r.body)
            if answer.status >= 300 { fail("extra-setup\(i)", "\(r.method) \(r.path): \(answer.status)") }
        }
    }

    func prerequisites() async throws {
        let c = TestClient(server)
        _ = await c.post("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "fx"]])
        let crd = await c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", try widgetCRD())
        XCTAssertEqual(crd.status, 201, "prerequisite CRD: \(String(decoding: crd.body, as: UTF8.self))")
        // 03 creates it itself; 27 lists ServiceAccounts and the recording had no fx/nobody then.
        if !file.hasPrefix("03") && !file.hasPrefix("27") {
            _ = await c.post("/api/v1/namespaces/fx/serviceaccounts", ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "nobody", "namespace": "fx"]])
        }
    }

    func runStep(_ i: Int, _ step: JSONValue) async {
        currentStep = i
        let answer = await send(step["request"] ?? .null, note: step["note"]?.stringValue ?? "")
        compare("step\(i)", step["response"] ?? .null, answer, note: step["note"]?.stringValue ?? "")
    }

    // MARK: Requests

    /// Steps made as ServiceAccount fx/nobody whose note does not say so (they follow one that does).
    var serviceAccountSteps: Set<Int> = []
    /// Bearer tokens for steps made as another user than the note-derived one (index → token).
    var stepTokens: [Int: String] = [:]
    var currentStep = -1

    func authorization(note: String) -> String? {
        if let token = stepTokens[currentStep] { return "Bearer \(token)" }
        if serviceAccountSteps.contains(currentStep) { return "Bearer \(saToken)" }
        let n = note.lowercased()
        if n.contains("no authorization header") { return nil }
        if n.contains("token the server does not know") || n.contains("unknown bearer token") { return "Bearer not-a-known-token" }
        if n.contains("serviceaccount fx/nobody") || n.contains("same serviceaccount") { return "Bearer \(saToken)" }
        return "Bearer \(server.adminToken)"
    }

    func translate(path: String) -> String {
        guard let q = path.firstIndex(of: "?") else { return path }
        let items = path[path.index(after: q)...].split(separator: "&").map { item -> String in
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { return String(item) }
            if kv[0] == "resourceVersion", let n = Int64(kv[1]) { return "resourceVersion=\(mapRequestRV(n))" }
            if kv[0] == "continue", let ours = tokenMap[kv[1]] { return "continue=\(ours)" }
            return String(item)
        }
        return String(path[..<q]) + "?" + items.joined(separator: "&")
    }

    func mapRequestRV(_ n: Int64) -> Int64 {
        if n <= 1 { return n }
        if let m = rvMap[n] { return m }
        let maxRecorded = rvMap.keys.max() ?? 0
        if n > maxRecorded + 100 { return n }  // a resourceVersion from the future stays in the future
        // Between known points: the closest mapped point below.
        let below = rvMap.keys.filter { $0 < n }.max()
        return below.flatMap { rvMap[$0] } ?? n
    }

    /// Request bodies carry recorded resourceVersions. Known ones are mapped; an unknown one newer than
    /// every point seen so far was the target's current version (written by an unrecorded setup step).
    func translate(body: JSONValue, targetRV: String?, parent: String = "") -> JSONValue {
        switch body {
        case .object(var o):
            for (k, v) in o {
                if k == "resourceVersion", parent == "metadata" || parent == "preconditions", let s = v.stringValue, let n = Int64(s) {
                    if rvMap[n] == nil, n > (rvMap.keys.max() ?? 0), n > 1, n < (rvMap.keys.max() ?? 0) + 100 || rvMap.isEmpty, let current = targetRV {
                        o[k] = .string(current)
                    } else {
                        o[k] = .string(String(mapRequestRV(n)))
                    }
                } else {
                    o[k] = translate(body: v, targetRV: targetRV, parent: k)
                }
            }
            return .object(o)
        case .array(let a): return .array(a.map { translate(body: $0, targetRV: targetRV, parent: parent) })
        default: return body
        }
    }

    func currentRV(of path: String) async -> String? {
        let objectPath = String(path.split(separator: "?").first ?? "")
        let resp = await server.handleRaw(method: "GET", pathAndQuery: objectPath,
                                          headers: [("Authorization", "Bearer \(server.adminToken)"), ("Accept", "application/json")], body: nil)
        var all = Data()
        while let chunk = try? await resp.body.next() { all.append(chunk) }
        return (try? JSONValue(parsing: all))?[path: ["metadata", "resourceVersion"]]?.stringValue
    }

    func headers(_ request: JSONValue, note: String) -> [(name: String, value: String)] {
        var h: [(name: String, value: String)] = []
        for (k, v) in request["headers"]?.objectValue ?? [:] {
            guard var s = v.stringValue else { continue }
            if k == "If-None-Match" { s = lastETag }
            h.append((k, s))
        }
        if let auth = authorization(note: note) { h.append(("Authorization", auth)) }
        return h
    }

    func send(_ request: JSONValue, note: String) async -> RawAnswer {
        let method = request["method"]?.stringValue ?? "GET"
        let path = translate(path: request["path"]?.stringValue ?? "/")
        var body: Data?
        switch request["body"] {
        case .string(let s)?: body = Data(s.utf8)
        case .some(let v):
            let target = method == "PUT" || method == "DELETE" || method == "PATCH" ? await currentRV(of: path) : nil
            body = translate(body: v, targetRV: target).serialized()
        case nil: body = nil
        }
        let resp = await server.handleRaw(method: method, pathAndQuery: path, headers: headers(request, note: note), body: body)
        var all = Data()
        while let chunk = try? await resp.body.next() { all.append(chunk) }
        let answer = RawAnswer(status: resp.statusCode, headers: resp.headers, body: all)
        if let etag = answer.header("Etag") { lastETag = etag }
        return answer
    }

    func openWatch(_ request: JSONValue, note: String) async -> KubeStreamResponse {
        let path = translate(path: request["path"]?.stringValue ?? "/")
        return await server.handleRaw(method: "GET", pathAndQuery: path, headers: headers(request, note: note), body: nil)
    }

    // MARK: Comparison

    func fail(_ step: String, _ message: String) { mismatches.append((step, message)) }

    func compare(_ step: String, _ expected: JSONValue, _ answer: RawAnswer, note: String) {
        let want = expected["status"]?.intValue ?? 0
        guard Int64(answer.status) == want else {
            fail(step, "status \(answer.status), want \(want): \(String(decoding: answer.body.prefix(600), as: UTF8.self))")
            return
        }
        for (name, value) in expected["headers"]?.objectValue ?? [:] {
            switch name {
            case "Warning":
                let want = value.arrayValue?.compactMap(\.stringValue) ?? []
                let got = answer.headerValues("Warning")
                if Set(want) != Set(got) { fail(step, "Warning headers \(got), want \(want)") }
            case "Content-Type", "Vary", "Cache-Control", "Retry-After":
                if answer.header(name) != value.stringValue { fail(step, "\(name) \(answer.header(name) ?? "nil"), want \(value.stringValue ?? "")") }
            case "Etag":
                if answer.header(name) == nil { fail(step, "no Etag header") }
            default: break
            }
        }
        guard let body = expected["body"] else { return }
        // Bodies the recording replaced by a pointer to another file are not compared.
        if body["(trimmed)"] != nil { return }
        if case .string(let s) = body {
            let got = String(decoding: answer.body, as: UTF8.self)
            if (body.stringValue ?? "").hasPrefix("apiVersion:") {
                // YAML: compare after parsing both sides.
                if let a = try? KubeYAMLBridge.parse(got), let b = try? KubeYAMLBridge.parse(s), a != b {
                    fail(step, "YAML body differs:\n\(got)\nwant\n\(s)")
                }
            } else if got != s {
                fail(step, "body \(got.debugDescription), want \(s.debugDescription)")
            }
            return
        }
        if case .array = body, let path = expected["path"]?.stringValue ?? Optional(""), path.isEmpty {
            // A watch recorded without "async": its body is the list of lines.
            var splitter = LineSplitter()
            let lines = ((try? splitter.feed(answer.body)) ?? []).compactMap { try? JSONValue(parsing: $0) }
            compareWatch(Int(step.dropFirst(4)) ?? 0, ["response": expected], status: answer.status, headers: answer.headers, lines: lines)
            return
        }
        var actual = answer.json
        if note.contains("without their descriptions"), let columns = actual["columnDefinitions"]?.arrayValue {
            // The recording kept the column descriptions only once per kind.
            actual["columnDefinitions"] = .array(columns.map { c in
                var c = c
                c["description"] = nil
                return c
            })
        }
        let kind = body["kind"]?.stringValue ?? ""
        currentListLike = kind.hasSuffix("List") || kind == "Table"
        let lenient = note.contains("trimmed") || note.lowercased().contains("items trimmed")
        if body["kind"]?.stringValue == "Status" {
            compareStatus(step, body, actual)
        } else {
            compareValue(step, body, actual, path: "", subset: lenient)
        }
    }

    func compareStatus(_ step: String, _ want: JSONValue, _ got: JSONValue) {
        for key in ["kind", "status", "reason", "code"] where want[key] != got[key] {
            fail(step, "Status.\(key) \(got[key]?.serializedString() ?? "nil"), want \(want[key]?.serializedString() ?? "nil")")
        }
        for key in ["name", "group", "kind"] where want[path: ["details", key]] != got[path: ["details", key]] {
            if want[path: ["details", key]]?.stringValue == "<uid>" { continue }
            fail(step, "Status.details.\(key) \(got[path: ["details", key]]?.serializedString() ?? "nil"), want \(want[path: ["details", key]]?.serializedString() ?? "nil")")
        }
        let wc = want[path: ["details", "causes"]]?.arrayValue ?? []
        let gc = got[path: ["details", "causes"]]?.arrayValue ?? []
        let wPairs = wc.map { "\($0["reason"]?.stringValue ?? "")|\($0["field"]?.stringValue ?? "")" }
        let gPairs = gc.map { "\($0["reason"]?.stringValue ?? "")|\($0["field"]?.stringValue ?? "")" }
        if wPairs != gPairs { fail(step, "causes \(gPairs), want \(wPairs)") }
        if let wm = want["message"]?.stringValue, let gm = got["message"]?.stringValue, !Self.messageMatches(gm, wm) {
            fail(step, "message\n  got:  \(gm)\n  want: \(wm)")
        } else if want["message"] != nil, got["message"] == nil {
            fail(step, "message missing")
        }
    }

    /// Placeholders in a recorded message match anything; the text between them must appear in order.
    static func messageMatches(_ got: String, _ want: String) -> Bool {
        if want.lowercased().contains("resourceversion") || want.contains("resource version") {
            // resourceVersions inside messages differ from run to run.
            let digits = try? NSRegularExpression(pattern: "[0-9]+")
            func norm(_ s: String) -> String {
                digits?.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "#") ?? s
            }
            if norm(got) == norm(want) { return true }
        }
        let pattern = try? NSRegularExpression(pattern: "<(uid|time|microtime|hash|clusterIP)>")
        guard let pattern, pattern.firstMatch(in: want, range: NSRange(want.startIndex..., in: want)) != nil else { return got == want }
        let pieces = pattern.stringByReplacingMatches(in: want, range: NSRange(want.startIndex..., in: want), withTemplate: "\u{0}")
            .split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(got)
        for (i, p) in pieces.enumerated() {
            if p.isEmpty { continue }
            if i == 0 {
                guard rest.hasPrefix(p) else { return false }
                rest = rest.dropFirst(p.count)
            } else {
                guard let r = rest.range(of: p) else { return false }
                rest = rest[r.upperBound...]
            }
        }
        return true
    }

    func compareValue(_ step: String, _ want: JSONValue, _ got: JSONValue?, path: String, subset: Bool) {
        guard let got else {
            fail(step, "\(path): missing, want \(want.serializedString().prefix(200))")
            return
        }
        if path.hasSuffix("metadata.resourceVersion"), let ws = want.stringValue, let w = Int64(ws) {
            let lenient = currentListLike && (path == ".metadata.resourceVersion" || path.hasPrefix("watch."))
            checkRV(step, recorded: w, ours: Int64(got.stringValue ?? "") ?? -1, path: path, lenient: lenient)
            return
        }
        if path.hasSuffix(".continue"), let w = want.stringValue, !w.isEmpty {
            if let g = got.stringValue, !g.isEmpty { tokenMap[w] = g } else { fail(step, "\(path): no continue token") }
            return
        }
        switch (want, got) {
        case (.string(let w), _) where Self.isPlaceholder(w):
            if got.stringValue == nil { fail(step, "\(path): \(got.serializedString()), want a \(w)") }
        case (.string(let w), .string(let g)) where w.hasPrefix("kube-api-access-<"):
            if !g.hasPrefix("kube-api-access-") { fail(step, "\(path): \(g), want \(w)") }
        case (.object(let w), .object(let g)):
            let wk = Set(w.keys), gk = Set(g.keys)
            if !subset, wk != gk {
                fail(step, "\(path): keys \(gk.sorted()), want \(wk.sorted())")
            }
            for (k, v) in w {
                if k == "managedFields", let wa = v.arrayValue, let ga = g[k]?.arrayValue {
                    compareManagedFields(step, wa, ga, path: path + ".managedFields")
                    continue
                }
                compareValue(step, v, g[k], path: "\(path).\(k)", subset: subset)
            }
        case (.array(let w), .array(let g)):
            if subset {
                for (i, e) in w.enumerated() {
                    if let id = Self.identity(e), let match = g.first(where: { Self.identity($0) == id }) {
                        compareValue(step, e, match, path: "\(path)[\(id)]", subset: subset)
                    } else if Self.identity(e) != nil {
                        fail(step, "\(path): no element \(Self.identity(e) ?? "")")
                    } else if i < g.count {
                        compareValue(step, e, g[i], path: "\(path)[\(i)]", subset: subset)
                    }
                }
                return
            }
            if w.count != g.count {
                fail(step, "\(path): \(g.count) elements, want \(w.count): \(got.serializedString().prefix(300))")
                return
            }
            for (i, e) in w.enumerated() { compareValue(step, e, g[i], path: "\(path)[\(i)]", subset: subset) }
        case (.int, _), (.double, _):
            if want.doubleValue != got.doubleValue { fail(step, "\(path): \(got.serializedString()), want \(want.serializedString())") }
        default:
            // Table Age cells are rendered durations ("0s"); a replay that crosses a second boundary says "1s".
            if path.contains(".cells["), let w = want.stringValue, let g = got.stringValue, Self.isDuration(w), Self.isDuration(g) { return }
            if want != got { fail(step, "\(path): \(got.serializedString().prefix(300)), want \(want.serializedString().prefix(300))") }
        }
    }

    /// A human duration as kubectl and Table cells render them: `0s`, `5m`, `2d3h`.
    static func isDuration(_ s: String) -> Bool {
        !s.isEmpty && s.first?.isNumber == true && s.allSatisfy { $0.isNumber || "smhdy".contains($0) } && "smhdy".contains(s.last ?? " ")
    }

    /// List, Table and bookmark resourceVersions may be ahead of every object (the real server's own
    /// background writes), so they only need to be not older.
    var currentListLike = false

    static func isPlaceholder(_ s: String) -> Bool {
        ["<uid>", "<time>", "<microtime>", "<clusterIP>", "<hash>", "<age>", "<http-date>"].contains(s)
    }

    static func identity(_ e: JSONValue) -> String? {
        if let n = e["name"]?.stringValue { return "name=\(n)" }
        if let n = e["resource"]?.stringValue { return "resource=\(n)" }
        if let n = e[path: ["metadata", "name"]]?.stringValue { return "metadata.name=\(n)" }
        if let n = e["groupVersion"]?.stringValue { return "gv=\(n)" }
        if let n = e["version"]?.stringValue, e["resources"] != nil { return "version=\(n)" }
        if let cells = e["cells"]?.arrayValue, let first = cells.first?.stringValue { return "row=\(first)" }
        return nil
    }

    func compareManagedFields(_ step: String, _ want: [JSONValue], _ got: [JSONValue], path: String) {
        func key(_ e: JSONValue) -> String {
            "\(e["manager"]?.stringValue ?? "")|\(e["operation"]?.stringValue ?? "")|\(e["subresource"]?.stringValue ?? "")"
        }
        let wk = want.map(key), gk = got.map(key)
        if Set(wk) != Set(gk) {
            fail(step, "\(path): entries \(gk), want \(wk)")
            return
        }
        for w in want {
            guard let g = got.first(where: { key($0) == key(w) }) else { continue }
            if (w["time"] == nil) != (g["time"] == nil) { fail(step, "\(path)[\(key(w))].time presence differs") }
            if w["apiVersion"] != g["apiVersion"] { fail(step, "\(path)[\(key(w))].apiVersion \(g["apiVersion"]?.stringValue ?? "nil")") }
            if let wf = w["fieldsV1"], Self.normalizeUIDs(wf) != Self.normalizeUIDs(g["fieldsV1"] ?? .null) {
                fail(step, "\(path)[\(key(w))].fieldsV1 \(g["fieldsV1"]?.serializedString() ?? "nil"), want \(wf.serializedString())")
            }
        }
    }

    /// fieldsV1 keys may embed uids (`k:{"uid":"..."}`): compare them as placeholders.
    static func normalizeUIDs(_ v: JSONValue) -> JSONValue {
        guard case .object(let o) = v else { return v }
        var out = JSONObject()
        for (k, child) in o {
            let nk = k.replacingOccurrences(of: #"\"uid\":\"[^\"]*\""#, with: "\"uid\":\"<uid>\"", options: .regularExpression)
            out[nk] = normalizeUIDs(child)
        }
        return .object(out)
    }

    func checkRV(_ step: String, recorded: Int64, ours: Int64, path: String, lenient: Bool) {
        guard ours > 0 else {
            fail(step, "\(path): no resourceVersion (recorded \(recorded))")
            return
        }
        if let mapped = rvMap[recorded] {
            if mapped != ours { fail(step, "\(path): resourceVersion \(ours), want the one mapped from \(recorded) (\(mapped))") }
            return
        }
        // A new point: it must sit between the mapped neighbours, as the recorded one does.
        for (r, o) in rvMap {
            if lenient {
                if r < recorded, ours < o { fail(step, "\(path): resourceVersion \(ours) older than \(o) (recorded \(recorded) > \(r))") }
                continue
            }
            if r < recorded, ours <= o { fail(step, "\(path): resourceVersion \(ours) not after \(o) (recorded \(recorded) > \(r))") }
            if r > recorded, ours > o { fail(step, "\(path): resourceVersion \(ours) not before \(o) (recorded \(recorded) < \(r))") }
        }
        rvMap[recorded] = ours
    }

    func compareWatch(_ i: Int, _ step: JSONValue, status: Int, headers: [(name: String, value: String)], lines: [JSONValue]) {
        let sid = "step\(i)"
        let wantStatus = step[path: ["response", "status"]]?.intValue ?? 0
        guard Int64(status) == wantStatus else {
            fail(sid, "watch status \(status), want \(wantStatus)")
            return
        }
        let want = (step[path: ["response", "body"]]?.arrayValue ?? []).compactMap { $0.stringValue }.compactMap { try? JSONValue(parsing: $0) }
        let wantTypes = want.map { $0["type"]?.stringValue ?? "" }
        let gotTypes = lines.map { $0["type"]?.stringValue ?? "" }
        guard wantTypes == gotTypes else {
            fail(sid, "watch events \(gotTypes) \(lines.map { $0[path: ["object", "metadata", "name"]]?.stringValue ?? "-" }), want \(wantTypes) \(want.map { $0[path: ["object", "metadata", "name"]]?.stringValue ?? "-" })")
            return
        }
        for (w, g) in zip(want, lines) {
            let type = w["type"]?.stringValue ?? ""
            if type == "BOOKMARK" || type == "ERROR" {
                currentListLike = true
                compareValue(sid, w["object"] ?? .null, g["object"], path: "watch.\(type)", subset: false)
                currentListLike = false
            } else if ["Table", "PartialObjectMetadata"].contains(w[path: ["object", "kind"]]?.stringValue ?? "") {
                // Converted events (kubectl get -w, metadata-only informers): the whole object matters.
                currentListLike = false
                compareValue(sid, w["object"] ?? .null, g["object"], path: "watch.\(type)", subset: false)
            } else {
                if w[path: ["object", "metadata", "name"]] != g[path: ["object", "metadata", "name"]] {
                    fail(sid, "watch object \(g[path: ["object", "metadata", "name"]]?.stringValue ?? "nil"), want \(w[path: ["object", "metadata", "name"]]?.stringValue ?? "nil")")
                }
                if let r = w[path: ["object", "metadata", "resourceVersion"]]?.stringValue.flatMap({ Int64($0) }) {
                    checkRV(sid, recorded: r, ours: Int64(g[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "") ?? -1,
                            path: "watch.\(type).resourceVersion", lenient: false)
                }
                for key in ["kind", "apiVersion"] where w[path: ["object", key]] != g[path: ["object", key]] {
                    fail(sid, "watch object \(key) \(g[path: ["object", key]]?.stringValue ?? "nil")")
                }
            }
        }
    }
}

import KubeYAML

enum KubeYAMLBridge {
    static func parse(_ s: String) throws -> JSONValue { try YAML.parse(s) }
}
