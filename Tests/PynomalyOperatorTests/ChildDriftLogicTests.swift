import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

/// Hand edits that change what runs or where traffic goes are found and reverted whole; what other
/// managers add elsewhere is left alone.
@Suite("ControllerLogic: ChildDrift")
struct ChildDriftLogicTests {
    static let desiredDeployment: JSONValue = ["spec": ["template": ["spec": [
        "containers": [["name": "pynomaly", "image": "app:v1", "env": [["name": "A", "value": "1"]],
                        "volumeMounts": [["name": "tmp", "mountPath": "/tmp"]]]],
        "volumes": [["name": "tmp", "emptyDir": [:]]],
    ]]]]

    func live(_ change: (inout JSONValue) -> Void) -> JSONValue {
        var live = Self.desiredDeployment
        live[path: ["spec", "template", "spec", "containers"]] = [["name": "pynomaly", "image": "app:v1", "imagePullPolicy": "IfNotPresent",
                                                                  "env": [["name": "A", "value": "1"]],
                                                                  "volumeMounts": [["name": "tmp", "mountPath": "/tmp"]]]]
        live[path: ["metadata", "annotations"]] = ["someone.else/note": "kept"]
        change(&live)
        return live
    }

    @Test func aConvergedDeploymentHasNoDrift() {
        #expect(ChildDrift.find(.deployments, live: live { _ in }, desired: Self.desiredDeployment) == nil,
                "server defaults and other managers' annotations are not drift")
    }

    @Test func aPausedDeploymentIsResumed() throws {
        let finding = try #require(ChildDrift.find(.deployments, live: live { $0[path: ["spec", "paused"]] = true }, desired: Self.desiredDeployment))
        #expect(finding.fields == ["spec.paused"])
        #expect(finding.patch == ["spec": ["paused": false]])
    }

    @Test func anInjectedSidecarAnExtraEnvAndAnExtraVolumeAreRemoved() throws {
        let edited = live {
            var containers = $0[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
            containers[0]["env"] = [["name": "A", "value": "1"], ["name": "DEBUG", "value": "true"]]
            containers.append(["name": "sidecar", "image": "proxy:1"])
            $0[path: ["spec", "template", "spec", "containers"]] = .array(containers)
            $0[path: ["spec", "template", "spec", "volumes"]] = [["name": "tmp", "emptyDir": [:]], ["name": "extra", "emptyDir": [:]]]
        }
        let finding = try #require(ChildDrift.find(.deployments, live: edited, desired: Self.desiredDeployment))
        #expect(finding.fields == ["spec.template.spec.containers[pynomaly].env[DEBUG]", "spec.template.spec.containers[sidecar]",
                                   "spec.template.spec.volumes[extra]"])
        #expect(finding.patch[path: ["spec", "template", "spec", "containers"]] == Self.desiredDeployment[path: ["spec", "template", "spec", "containers"]],
                "the list is replaced whole by what the operator builds")
        #expect(finding.patch[path: ["spec", "template", "spec", "volumes"]] == Self.desiredDeployment[path: ["spec", "template", "spec", "volumes"]])
    }

    @Test func anExtraServiceSelectorKeyIsDeleted() throws {
        let live: JSONValue = ["spec": ["selector": ["app": "a", "extra": "x"], "ports": [["port": 80]]]]
        let finding = try #require(ChildDrift.find(.services, live: live, desired: ["spec": ["selector": ["app": "a"]]]))
        #expect(finding.fields == ["spec.selector[extra]"])
        #expect(finding.patch == ["spec": ["selector": ["extra": nil]]])
        #expect(ChildDrift.find(.services, live: ["spec": ["selector": ["app": "a"]]], desired: ["spec": ["selector": ["app": "a"]]]) == nil)
    }

    @Test func otherKindsAreLeftToTheirManagers() {
        #expect(ChildDrift.find(.ingresses, live: ["spec": ["rules": []]], desired: [:]) == nil)
    }
}
