import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

@Suite("ControllerLogic: JSONValue.contains")
struct JSONContainsLogicTests {
    static let live: JSONValue = [
        "metadata": ["name": "app", "uid": "u-1", "resourceVersion": "42", "labels": ["a": "1", "b": "2"]],
        "spec": ["replicas": 3, "paused": false, "ratio": 0.5,
                 "ports": [["name": "http", "port": 80, "protocol": "TCP"], ["name": "metrics", "port": 9090, "protocol": "TCP"]]],
    ]

    @Test func extraLiveFieldsAreFine() {
        #expect(Self.live.contains(["metadata": ["name": "app", "labels": ["a": "1"]], "spec": ["replicas": 3]]))
        #expect(Self.live.contains([:]))
        #expect(Self.live.contains(Self.live))
    }

    @Test func aMissingOrDifferentFieldIsNotContained() {
        #expect(!Self.live.contains(["spec": ["minReadySeconds": 5]]))
        #expect(!Self.live.contains(["spec": ["replicas": 4]]))
        #expect(!Self.live.contains(["metadata": ["labels": ["c": "3"]]]))
        #expect(!Self.live.contains(["spec": ["paused": true]]))
        #expect(!Self.live.contains(["spec": ["replicas": "3"]]), "a string is not a number")
        #expect(!Self.live.contains(["spec": ["replicas": ["n": 3]]]), "an object is not a number")
    }

    @Test func arraysMustHaveTheSameLength() {
        // Elements may carry server-set fields, but an applied list is the whole list.
        #expect(Self.live.contains(["spec": ["ports": [["name": "http", "port": 80], ["name": "metrics", "port": 9090]]]]))
        #expect(!Self.live.contains(["spec": ["ports": [["name": "http", "port": 80]]]]), "shorter")
        #expect(!Self.live.contains(["spec": ["ports": [["name": "http"], ["name": "metrics"], ["name": "extra"]]]]), "longer")
        #expect(!Self.live.contains(["spec": ["ports": [["name": "metrics", "port": 9090], ["name": "http", "port": 80]]]]), "order")
        #expect(!Self.live.contains(["spec": ["ports": []]]))
        #expect(JSONValue.array([]).contains([]))
    }

    @Test func integersAndDoublesOfTheSameValueAreEqual() {
        #expect(JSONValue.int(3).contains(.double(3.0)))
        #expect(JSONValue.double(3.0).contains(.int(3)))
        #expect(!JSONValue.int(3).contains(.double(3.5)))
        #expect(!JSONValue.double(0.5).contains(.int(0)))
        #expect(Self.live.contains(["spec": ["replicas": 3.0, "ratio": 0.5]]))
    }

    /// A ConfigMap applied with `data: {}` comes back without `data`: re-applying it on every pass
    /// would be a write per pass for nothing.
    @Test func anEmptyMapOrListMatchesAnAbsentField() {
        let configMap: JSONValue = ["metadata": ["name": "app-config"]]
        #expect(configMap.contains(["metadata": ["name": "app-config"], "data": [:]]))
        #expect(configMap.contains(["spec": ["tolerations": []]]) == false, "the parent object must still be there")
        let emptySpec: JSONValue = ["spec": [:]]
        #expect(emptySpec.contains(["spec": ["tolerations": []]]))
        let withData: JSONValue = ["data": ["a": "1"]]
        #expect(withData.contains(["data": [:]]), "an empty desired map is contained in any map")
        #expect(!Self.live.contains(["spec": ["ports": []]]), "a non-empty live list is not an empty one")
    }

    @Test func anExplicitNullMeansAbsent() {
        #expect(Self.live.contains(["spec": ["minReadySeconds": nil]]), "absent")
        let withNull: JSONValue = ["a": nil, "b": 1]
        #expect(withNull.contains(["a": nil]), "present as null")
        #expect(!Self.live.contains(["spec": ["replicas": nil]]), "present with a value")
        #expect(!JSONValue.null.contains(["a": 1]))
        #expect(JSONValue.null.contains(.null))
    }
}
