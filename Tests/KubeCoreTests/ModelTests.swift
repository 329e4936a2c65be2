import Foundation
import KubeCore
import XCTest

final class ModelTests: XCTestCase {
    /// Decoders for every modelled kind, by `kind`.
    static let decoders: [String: @Sendable (JSONValue) throws -> JSONValue] = [
        "ConfigMap": { try roundTrip(ConfigMap.self, $0) },
        "Secret": { try roundTrip(Secret.self, $0) },
        "Service": { try roundTrip(Service.self, $0) },
        "Event": { try roundTrip(Event.self, $0) },
        "Pod": { try roundTrip(Pod.self, $0) },
        "Namespace": { try roundTrip(Namespace.self, $0) },
        "PersistentVolumeClaim": { try roundTrip(PersistentVolumeClaim.self, $0) },
        "Deployment": { try roundTrip(Deployment.self, $0) },
        "ControllerRevision": { try roundTrip(ControllerRevision.self, $0) },
        "Job": { try roundTrip(Job.self, $0) },
        "CronJob": { try roundTrip(CronJob.self, $0) },
        "Ingress": { try roundTrip(Ingress.self, $0) },
        "HorizontalPodAutoscaler": { try roundTrip(HorizontalPodAutoscaler.self, $0) },
        "PodDisruptionBudget": { try roundTrip(PodDisruptionBudget.self, $0) },
        "Lease": { try roundTrip(Lease.self, $0) },
        "CustomResourceDefinition": { try roundTrip(CustomResourceDefinition.self, $0) },
        "SelfSubjectAccessReview": { try roundTrip(SelfSubjectAccessReview.self, $0) },
        "Scale": { value in try JSONValue(encoding: try value.decode(Scale.self)) },
    ]

    static func roundTrip<T: KubeResource>(_ type: T.Type, _ value: JSONValue) throws -> JSONValue {
        try T.decoded(from: value).encodedJSON()
    }

    func testEveryFixtureObjectOfAModelledKindDecodesAndRoundTripsUnchanged() throws {
        var seenKinds = Set<String>()
        var count = 0
        for (origin, object) in try Fixtures.allObjects() {
            guard let kind = object["kind"]?.stringValue, let roundTrip = Self.decoders[kind] else { continue }
            // Only whole objects (requests that are patches or partial applies have no metadata).
            guard object["metadata"] != nil else { continue }
            do {
                let back = try roundTrip(object)
                XCTAssertEqual(back, object, "\(kind) from \(origin) changed in a decode/encode round trip")
                seenKinds.insert(kind)
                count += 1
            } catch {
                XCTFail("\(kind) from \(origin) does not decode: \(error)")
            }
        }
        // Kinds the fixtures hold (ControllerRevision, Job and Namespace responses are covered below).
        for kind in ["ConfigMap", "Secret", "Service", "Event", "Pod", "PersistentVolumeClaim", "Deployment", "CronJob", "Ingress",
                     "HorizontalPodAutoscaler", "PodDisruptionBudget", "Lease", "CustomResourceDefinition", "SelfSubjectAccessReview",
                     "Scale", "Namespace"] {
            XCTAssertTrue(seenKinds.contains(kind), "no fixture object of kind \(kind) was checked")
        }
        XCTAssertGreaterThan(count, 50)
    }

    func testTypedFieldsOfFixtureObjects() throws {
        let deployment = try Deployment.decoded(from: try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(deployment.metadata.name, "def-web")
        XCTAssertEqual(deployment.spec?.replicas, 1)
        XCTAssertEqual(deployment.spec?.strategy?.rollingUpdate?.maxSurge, .string("25%"))
        XCTAssertEqual(deployment.spec?.template.spec?.containers.first?.imagePullPolicy, "IfNotPresent")
        XCTAssertEqual(deployment.spec?.selector.matchLabels, ["app": "def-web"])

        let pod = try Pod.decoded(from: try Fixtures.firstResponse(kind: "Pod", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(pod.status?.phase, "Pending")
        XCTAssertEqual(pod.spec?.containers.first?.resources?.limits?["memory"], "64Mi")
        XCTAssertEqual(pod.spec?.tolerations?.first?.tolerationSeconds, 300)
        XCTAssertNotNil(pod.spec?.volumes?.first?.projected)

        let hpa = try HorizontalPodAutoscaler.decoded(from: try Fixtures.firstResponse(kind: "HorizontalPodAutoscaler", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(hpa.spec?.metrics?.first?.resource?.target.averageUtilization, 70)
        XCTAssertEqual(hpa.spec?.scaleTargetRef.name, "def-web")

        let ingress = try Ingress.decoded(from: try Fixtures.firstResponse(kind: "Ingress", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(ingress.spec?.rules?.first?.http?.paths.first?.backend.service?.port?.number, 80)

        let pdb = try PodDisruptionBudget.decoded(from: try Fixtures.firstResponse(kind: "PodDisruptionBudget", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(pdb.spec?.minAvailable, .int(1))

        let service = try Service.decoded(from: try Fixtures.firstResponse(kind: "Service", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(service.spec?.ports?.first?.targetPort, .int(8080))

        let secret = try Secret.decoded(from: try Fixtures.firstResponse(kind: "Secret", in: "20-builtin-defaulting.json"))
        XCTAssertEqual(secret.decodedData("user").map { String(decoding: $0, as: UTF8.self) }, "app")

        let lease = try Lease.decoded(from: try Fixtures.firstResponse(kind: "Lease", in: "15-leases.json"))
        XCTAssertEqual(lease.spec?.holderIdentity, "operator-a_1234")
        XCTAssertEqual(lease.spec?.leaseDurationSeconds, 15)

        let crd = try CustomResourceDefinition.decoded(from: try Fixtures.firstResponse(kind: "CustomResourceDefinition", in: "19-crd-lifecycle.json"))
        XCTAssertEqual(crd.spec?.names.plural, "widgets")
        XCTAssertEqual(crd.spec?.scope, "Namespaced")
        XCTAssertEqual(crd.storageVersion, "v1")
        XCTAssertNotNil(crd.spec?.versions.first?.schema?["openAPIV3Schema"])

        let review = try SelfSubjectAccessReview.decoded(from: try Fixtures.firstResponse(kind: "SelfSubjectAccessReview", in: "17-access-reviews.json"))
        XCTAssertEqual(review.spec?.resourceAttributes?.verb, "create")
        XCTAssertEqual(review.status?.allowed, true)

        let event = try Event.decoded(from: try Fixtures.firstResponse(kind: "Event", in: "14-events.json"))
        XCTAssertEqual(event.involvedObject?.kind, "Widget")
        XCTAssertEqual(event.count, 1)
        XCTAssertNil(event.eventTime)

        let scale = try Fixtures.firstResponse(kind: "Scale", in: "08-scale-subresource.json").decode(Scale.self)
        XCTAssertEqual(scale.spec?.replicas, 2)
        XCTAssertEqual(scale.status?.selector, "app=scale-web")
    }

    // MARK: Unknown fields

    func defaultedDeployment() throws -> (JSONValue, Deployment) {
        var json = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        // Fields from a newer server at every level: top, metadata, spec, template, pod spec, container, status.
        json["futureTopLevel"] = ["x": 1]
        json[path: ["metadata", "futureMeta"]] = "m"
        json[path: ["spec", "futureSpec"]] = true
        json[path: ["spec", "template", "spec", "futurePodSpec"]] = ["a", "b"]
        json[path: ["status", "futureStatus"]] = 3
        var containers = json[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        containers[0]["futureContainerField"] = ["deep": ["er": 1]]
        containers.append(["name": "sidecar", "image": "envoy:1", "futureSidecarField": "s"])
        json[path: ["spec", "template", "spec", "containers"]] = .array(containers)
        return (json, try Deployment.decoded(from: json))
    }

    func testChangingAFieldKeepsEveryUnknownAndDefaultedField() throws {
        let (original, read) = try defaultedDeployment()
        var changed = read
        changed.spec?.template.spec?.containers[0].image = "nginx:1.28"
        let encoded = try changed.encodedJSON()

        var expected = original
        var containers = expected[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        containers[0]["image"] = "nginx:1.28"
        expected[path: ["spec", "template", "spec", "containers"]] = .array(containers)
        XCTAssertEqual(encoded, expected)
        XCTAssertEqual(encoded[path: ["spec", "template", "spec", "containers"]]?[0]?["futureContainerField"], ["deep": ["er": 1]])
        XCTAssertEqual(encoded[path: ["spec", "progressDeadlineSeconds"]], 600)
    }

    func testSettingAKnownOptionalFieldToNilRemovesIt() throws {
        let (original, read) = try defaultedDeployment()
        var changed = read
        changed.spec?.revisionHistoryLimit = nil
        changed.spec?.strategy?.rollingUpdate = nil
        changed.metadata.labels = nil
        changed.status = nil
        let encoded = try changed.encodedJSON()
        XCTAssertNil(encoded[path: ["spec", "revisionHistoryLimit"]])
        XCTAssertNil(encoded[path: ["spec", "strategy", "rollingUpdate"]])
        XCTAssertEqual(encoded[path: ["spec", "strategy", "type"]], "RollingUpdate")
        XCTAssertNil(encoded[path: ["metadata", "labels"]])
        XCTAssertNil(encoded["status"])
        XCTAssertEqual(encoded["futureTopLevel"], original["futureTopLevel"])
        XCTAssertEqual(encoded[path: ["spec", "futureSpec"]], true)
    }

    func testMapsAreReplacedWholeNotMerged() throws {
        let (_, read) = try defaultedDeployment()
        var changed = read
        changed.metadata.labels = ["other": "x"]
        changed.spec?.template.metadata?.labels?["added"] = "y"
        let encoded = try changed.encodedJSON()
        XCTAssertEqual(encoded[path: ["metadata", "labels"]], ["other": "x"])
        XCTAssertEqual(encoded[path: ["spec", "template", "metadata", "labels"]], ["app": "def-web", "added": "y"])
    }

    func testListsOfNamedObjectsMergeByName() throws {
        let (_, read) = try defaultedDeployment()
        var changed = read
        // Reorder, drop the first container, add a new one: unknown fields follow the names.
        var containers = changed.spec?.template.spec?.containers ?? []
        let sidecar = containers.removeLast()
        containers.removeAll()
        containers.append(sidecar)
        containers.append(Container(name: "new", image: "busybox"))
        changed.spec?.template.spec?.containers = containers
        let encoded = try changed.encodedJSON()
        let out = encoded[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out.first?["name"], "sidecar")
        XCTAssertEqual(out.first?["futureSidecarField"], "s")
        XCTAssertEqual(out.last, ["name": "new", "image": "busybox"])
    }

    func testListsWithoutKeysMergeByIndexOnlyWhenTheLengthIsUnchanged() {
        let base: JSONValue = ["ports": [["port": 80, "x": 1], ["port": 81, "x": 2]]]
        let same = JSONValue.merge(["ports": [["port": 90], ["port": 91]]], over: base)
        XCTAssertEqual(same, ["ports": [["port": 90, "x": 1], ["port": 91, "x": 2]]])
        let shorter = JSONValue.merge(["ports": [["port": 81]]], over: base)
        XCTAssertEqual(shorter, ["ports": [["port": 81]]])
    }

    func testConditionsMergeByTypeKeepingUnknownFields() throws {
        let json: JSONValue = ["metadata": ["name": "d"], "status": ["conditions": [
            ["type": "Available", "status": "True", "futureField": 1],
            ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "futureField": 2],
        ]]]
        var d = try Deployment.decoded(from: json)
        d.status?.conditions?.reverse()
        d.status?.conditions?[0].status = "False"
        let out = try d.encodedJSON()
        XCTAssertEqual(out[path: ["status", "conditions"]], [
            ["type": "Progressing", "status": "False", "reason": "NewReplicaSetAvailable", "futureField": 2],
            ["type": "Available", "status": "True", "futureField": 1],
        ])
    }

    func testFreshObjectsGetAPIVersionAndKind() throws {
        var cm = ConfigMap(metadata: ObjectMeta(name: "c", namespace: "ns"), data: ["k": "v"])
        cm.apiVersion = nil
        cm.kind = nil
        let json = try JSONValue(encoding: cm)
        XCTAssertEqual(json, ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c", "namespace": "ns"], "data": ["k": "v"]])
        let hpa = try JSONValue(encoding: HorizontalPodAutoscaler(metadata: ObjectMeta(name: "h"), spec: HorizontalPodAutoscalerSpec(
            scaleTargetRef: CrossVersionObjectReference(apiVersion: "apps/v1", kind: "Deployment", name: "web"), maxReplicas: 3,
            metrics: [.resourceUtilization("cpu", averageUtilization: 80)])))
        XCTAssertEqual(hpa["apiVersion"], "autoscaling/v2")
        XCTAssertEqual(hpa[path: ["spec", "metrics"]], [["type": "Resource", "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": 80]]]])
    }

    func testExplicitNullsReadFromTheServerStay() throws {
        let json = try Fixtures.firstResponse(kind: "Event", in: "14-events.json")
        XCTAssertEqual(json["eventTime"], .null)
        let event = try Event.decoded(from: json)
        XCTAssertEqual(try event.encodedJSON()["eventTime"], .null)
    }

    func testDecodeErrorsNameTheObjectAndTheField() throws {
        var json = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        json[path: ["spec", "replicas"]] = "three"
        XCTAssertThrowsError(try Deployment.decoded(from: json)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("Deployment fx/def-web"), text)
            XCTAssertTrue(text.contains("spec.replicas"), text)
            XCTAssertTrue(text.contains("found string"), text)
        }
        var json2 = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        var containers = json2[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        containers[0]["name"] = nil
        json2[path: ["spec", "template", "spec", "containers"]] = .array(containers)
        XCTAssertThrowsError(try Deployment.decoded(from: json2)) { error in
            XCTAssertTrue("\(error)".contains("spec.template.spec.containers[0].name: required field is missing"), "\(error)")
        }
        // Maps and lists of strings are decoded on a shorter way; a member that is not a string
        // still fails with its own path.
        var json3 = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        json3[path: ["metadata", "labels", "tier"]] = 3
        XCTAssertThrowsError(try Deployment.decoded(from: json3)) { error in
            XCTAssertTrue("\(error)".contains("metadata.labels.tier"), "\(error)")
        }
        var json4 = try Fixtures.firstResponse(kind: "Deployment", in: "20-builtin-defaulting.json")
        var withArgs = json4[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        withArgs[0]["args"] = ["--port", 8000]
        json4[path: ["spec", "template", "spec", "containers"]] = .array(withArgs)
        XCTAssertThrowsError(try Deployment.decoded(from: json4)) { error in
            XCTAssertTrue("\(error)".contains("spec.template.spec.containers[0].args[1]"), "\(error)")
        }
        withArgs[0]["args"] = ["--port", "8000"]
        json4[path: ["spec", "template", "spec", "containers"]] = .array(withArgs)
        json4[path: ["metadata", "labels", "tier"]] = "web"
        let decoded = try Deployment.decoded(from: json4)
        XCTAssertEqual(decoded.spec?.template.spec?.containers.first?.args, ["--port", "8000"])
        XCTAssertEqual(decoded.metadata.labels?["tier"], "web")
    }

    func testBuildingADeploymentForAnOperator() throws {
        let labels = ["app.kubernetes.io/instance": "web"]
        let deployment = Deployment(metadata: ObjectMeta(name: "web", namespace: "ns", labels: labels), spec: DeploymentSpec(
            replicas: 2, selector: LabelSelector(matchLabels: labels),
            template: PodTemplateSpec(metadata: ObjectMeta(labels: labels), spec: PodSpec(containers: [
                Container(name: "app", image: "img:1", ports: [ContainerPort(name: "http", containerPort: 8000)],
                          env: [.secret("DB_PASSWORD", secret: "db", key: "password"), .field("NS", fieldPath: "metadata.namespace"),
                                EnvVar(name: "MODE", value: "prod")],
                          envFrom: [EnvFromSource(configMapRef: EnvSourceReference(name: "web-config"))],
                          resources: ResourceRequirements(limits: ["memory": "512Mi"], requests: ["cpu": "250m"]),
                          readinessProbe: Probe(httpGet: HTTPGetAction(path: "/health", port: "http"), periodSeconds: 5),
                          securityContext: .restricted),
            ])),
            strategy: DeploymentStrategy(type: "RollingUpdate", rollingUpdate: RollingUpdateDeployment(maxUnavailable: 0, maxSurge: "25%"))))
        let json = try deployment.encodedJSON()
        let container = json[path: ["spec", "template", "spec", "containers"]]?[0]
        XCTAssertEqual(container?["env"]?[0], ["name": "DB_PASSWORD", "valueFrom": ["secretKeyRef": ["name": "db", "key": "password"]]])
        XCTAssertEqual(container?[path: ["readinessProbe", "httpGet", "port"]], "http")
        XCTAssertEqual(container?[path: ["securityContext", "capabilities", "drop"]], ["ALL"])
        XCTAssertEqual(json[path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"]], 0)
        XCTAssertEqual(json["apiVersion"], "apps/v1")
        // And it reads back to the same value.
        let back = try Deployment.decoded(from: json)
        XCTAssertEqual(back.spec, deployment.spec)
    }
}
