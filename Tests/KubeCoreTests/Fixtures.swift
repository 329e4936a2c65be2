import Foundation
import KubeCore
import XCTest

/// Reads the recorded kube-apiserver scenarios in `Tests/Fixtures/kube-apiserver-1.36`.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kube-apiserver-1.36")

    static func scenario(_ name: String) throws -> JSONValue {
        try JSONValue(parsing: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func allScenarioNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
    }

    /// Every object body (request and response, list items included) of every scenario, with where it came from.
    static func allObjects() throws -> [(origin: String, object: JSONValue)] {
        var out: [(String, JSONValue)] = []
        for name in try allScenarioNames() {
            let s = try scenario(name)
            let steps = (s["setup"]?.arrayValue ?? []) + (s["steps"]?.arrayValue ?? [])
            for (i, step) in steps.enumerated() {
                for side in ["request", "response"] {
                    guard let body = step[side]?["body"], case .object = body else { continue }
                    // Request bodies only when they are whole objects the server accepted (not patches,
                    // partial apply configurations or deliberately invalid objects).
                    if side == "request" {
                        let method = step["request"]?["method"]?.stringValue ?? ""
                        let status = step["response"]?["status"]?.intValue ?? 0
                        guard method == "POST" || method == "PUT", (200..<300).contains(status) else { continue }
                    }
                    out.append(("\(name) step \(i) \(side)", body))
                    for (j, item) in (body["items"]?.arrayValue ?? []).enumerated() {
                        out.append(("\(name) step \(i) \(side) item \(j)", item))
                    }
                }
            }
        }
        return out
    }

    /// The first response body of a kind in a scenario.
    static func firstResponse(kind: String, in name: String) throws -> JSONValue {
        let s = try scenario(name)
        for step in (s["setup"]?.arrayValue ?? []) + (s["steps"]?.arrayValue ?? []) {
            if let body = step["response"]?["body"], body["kind"]?.stringValue == kind { return body }
        }
        throw FixtureMissing("no \(kind) response in \(name)")
    }
}

struct FixtureMissing: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
