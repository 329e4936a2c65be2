import Foundation
import KubeCore
import KubeRuntime
@testable import PynomalyOperator
import Testing

/// When a pass may remember its children converged: the cache must hold what it compared or wrote,
/// or a version of it that changed only its status.
@Suite("ControllerLogic: PassMemo")
struct PassMemoLogicTests {
    /// A Deployment as the apply's answer: generation 1, no status yet.
    static let written: JSONValue = ["metadata": ["name": "app", "generation": 1, "resourceVersion": "145", "labels": ["app": "x"],
                                                  "managedFields": [["manager": "pynomaly-operator"]]],
                                     "spec": ["replicas": 2]]
    static let configMap: JSONValue = ["metadata": ["name": "app-config", "resourceVersion": "120"], "data": ["a": "1"]]

    func cached(_ change: (inout JSONValue) -> Void) -> SpecStamp {
        var object = Self.written
        object[path: ["metadata", "managedFields"]] = nil
        change(&object)
        return SpecStamp(of: object)
    }

    @Test func theObjectsAsWrittenAreHeld() {
        #expect(PassMemo.cacheHolds([Self.configMap, Self.written, nil], stamps: [SpecStamp(of: Self.configMap), cached { _ in }, nil]))
    }

    @Test func aDeploymentWhoseStatusMovedOnSinceTheWriteIsHeld() {
        let statusOnly = cached {
            $0[path: ["metadata", "resourceVersion"]] = "158"
            $0["status"] = ["observedGeneration": 1, "readyReplicas": 2]
        }
        #expect(PassMemo.cacheHolds([Self.configMap, Self.written], stamps: [SpecStamp(of: Self.configMap), statusOnly]))
    }

    @Test func aSpecOrMetadataChangeSinceTheWriteIsNotHeld() {
        let edited = cached {
            $0[path: ["metadata", "resourceVersion"]] = "158"
            $0[path: ["metadata", "generation"]] = 2
            $0[path: ["spec", "replicas"]] = 5
        }
        let relabelled = cached {
            $0[path: ["metadata", "resourceVersion"]] = "158"
            $0[path: ["metadata", "labels", "app"]] = "other"
        }
        #expect(!PassMemo.cacheHolds([Self.written], stamps: [edited]))
        #expect(!PassMemo.cacheHolds([Self.written], stamps: [relabelled]))
    }

    @Test func aKindWithoutGenerationIsHeldOnlyAtTheSameVersion() {
        var newer = Self.configMap
        newer[path: ["metadata", "resourceVersion"]] = "131"
        #expect(!PassMemo.cacheHolds([Self.configMap], stamps: [SpecStamp(of: newer)]))
    }

    @Test func aChildMissingFromTheCacheOrUnexpectedlyPresentIsNotHeld() {
        #expect(!PassMemo.cacheHolds([Self.configMap], stamps: [nil]), "the cache has not seen the write yet")
        #expect(!PassMemo.cacheHolds([nil], stamps: [SpecStamp(of: Self.configMap)]), "an object that should be gone is still cached")
    }
}
