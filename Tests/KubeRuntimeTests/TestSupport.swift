import Foundation
import KubeCore
import KubeTestServer
import XCTest

@testable import KubeRuntime

/// A ConfigMap as the API would hold it (for pure tests).
func configMap(_ name: String, namespace: String = "ns", rv: String = "1", labels: [String: String] = [:],
               data: [String: String] = [:], owner: (kind: String, apiVersion: String, name: String, uid: String, controller: Bool)? = nil) -> JSONValue {
    var metadata: JSONValue = ["name": .string(name), "namespace": .string(namespace), "resourceVersion": .string(rv),
                               "uid": .string("uid-\(name)")]
    if !labels.isEmpty { metadata["labels"] = .object(labels.mapValues(JSONValue.string)) }
    if let owner {
        metadata["ownerReferences"] = [[
            "apiVersion": .string(owner.apiVersion), "kind": .string(owner.kind), "name": .string(owner.name),
            "uid": .string(owner.uid), "controller": .bool(owner.controller),
        ]]
    }
    return ["apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": .object(data.mapValues(JSONValue.string))]
}

/// The API error a watch or request gets for a compacted resourceVersion.
let goneError = KubeError.api(Status(message: "too old resource version: 5 (10)", reason: "Expired", code: 410), httpCode: 410)
let serverError = KubeError.api(Status(message: "boom", reason: "InternalError", code: 500), httpCode: 500)
