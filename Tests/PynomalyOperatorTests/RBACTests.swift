import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import KubeYAML
import Logging
import OperatorTestSupport
import Synchronization
import XCTest

@testable import PynomalyOperator

/// The install manifests: the RBAC in `manifests/` equals `Permission.operatorPermissions`,
/// is sufficient (the operator runs the whole rolling path under exactly that ServiceAccount with RBAC
/// on and gets no 403) and is tight (one verb less and the same path fails); the CRD copies, the
/// Deployment and the Service are what docs/install.md says.
final class RBACTests: XCTestCase {
    // MARK: The manifests agree with the permission list

    func testManifestRBACGrantsExactlyThePermissionList() throws {
        let manifests = try InstallManifests()
        for rule in manifests.clusterRole.rules + manifests.leaderElectionRole.rules {
            for key in ["apiGroups", "resources", "verbs"] {
                let values = rule[key]?.arrayValue?.compactMap(\.stringValue) ?? []
                XCTAssertFalse(values.isEmpty, "a rule without \(key): \(rule.serializedString())")
                XCTAssertFalse(values.contains { $0.contains("*") }, "no wildcards: \(rule.serializedString())")
            }
            XCTAssertNil(rule["nonResourceURLs"], "no non-resource URLs")
            XCTAssertNil(rule["resourceNames"], "rules are by resource, as the list is")
        }
        let expectedCluster = Set(Permission.operatorPermissions.filter { !$0.operatorNamespaceOnly }.flatMap(\.grants))
        let expectedNamespaced = Set(Permission.operatorPermissions.filter(\.operatorNamespaceOnly).flatMap(\.grants))
        let cluster = InstallManifests.grants(of: manifests.clusterRole.rules)
        let namespaced = InstallManifests.grants(of: manifests.leaderElectionRole.rules)
        XCTAssertEqual(cluster.subtracting(expectedCluster).sorted(), [], "the ClusterRole grants more than the list")
        XCTAssertEqual(expectedCluster.subtracting(cluster).sorted(), [], "the ClusterRole lacks permissions of the list")
        XCTAssertEqual(namespaced.subtracting(expectedNamespaced).sorted(), [], "the Role grants more than the list")
        XCTAssertEqual(expectedNamespaced.subtracting(namespaced).sorted(), [], "the Role lacks permissions of the list")
        let secrets = cluster.filter { $0.hasPrefix(" secrets ") }
        XCTAssertEqual(secrets, [" secrets get", " secrets list", " secrets watch"],
                       "Secrets are read-only: metadata-only list/watch, and a GET of a referenced one when it changed")

        // Bound to the operator's ServiceAccount, the Role in the operator's namespace.
        let subject: JSONValue = ["kind": "ServiceAccount", "name": "pynomaly-operator", "namespace": "pynomaly-system"]
        XCTAssertEqual(manifests.clusterRoleBinding["subjects"], [subject])
        XCTAssertEqual(manifests.clusterRoleBinding["roleRef"],
                       ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(manifests.clusterRole.name)])
        XCTAssertEqual(manifests.leaderElectionRoleBinding["subjects"], [subject])
        XCTAssertEqual(manifests.leaderElectionRoleBinding["roleRef"],
                       ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": .string(manifests.leaderElectionRole.name)])
        for object in [manifests.leaderElectionRole.object, manifests.leaderElectionRoleBinding, manifests.serviceAccount, manifests.deployment,
                       manifests.metricsService] {
            XCTAssertEqual(object[path: ["metadata", "namespace"]]?.stringValue, "pynomaly-system", object["kind"]?.stringValue ?? "")
        }
        XCTAssertEqual(manifests.serviceAccount[path: ["metadata", "name"]]?.stringValue, "pynomaly-operator")
    }

    // MARK: The CRDs and the kustomization

    func testManifestCRDsAreByteIdenticalCopiesAndTheKustomizationListsEveryFile() throws {
        let fm = FileManager.default
        let crds = repositoryRoot.appendingPathComponent("crds")
        let copies = repositoryRoot.appendingPathComponent("manifests/crds")
        let originals = try fm.contentsOfDirectory(atPath: crds.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertFalse(originals.isEmpty)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: copies.path).filter { $0.hasSuffix(".yaml") }.sorted(), originals,
                       "manifests/crds/ holds exactly the files of crds/")
        for file in originals {
            let original = try Data(contentsOf: crds.appendingPathComponent(file))
            let copy = try Data(contentsOf: copies.appendingPathComponent(file))
            XCTAssertEqual(copy, original, "manifests/crds/\(file) differs from crds/\(file): run `cp crds/*.yaml manifests/crds/`")
        }

        let manifests = repositoryRoot.appendingPathComponent("manifests")
        let kustomization = try YAML.parse(String(contentsOf: manifests.appendingPathComponent("kustomization.yaml"), encoding: .utf8))
        let resources = kustomization["resources"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let expected = originals.map { "crds/\($0)" }
            + (try fm.contentsOfDirectory(atPath: manifests.path).filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" })
        XCTAssertEqual(Set(resources), Set(expected), "kustomization.yaml lists every manifest and every CRD, nothing else")
        XCTAssertEqual(resources.count, Set(resources).count)
        XCTAssertFalse(resources.contains { $0.hasPrefix("..") || $0.hasPrefix("/") }, "kustomize refuses files outside its root")
    }

    // MARK: The operator Deployment and the metrics Service

    func testOperatorDeploymentIsHardenedProbedAndElectsALeader() throws {
        let manifests = try InstallManifests()
        let deployment = manifests.deployment
        XCTAssertEqual(deployment[path: ["spec", "replicas"]]?.intValue, 2)
        let pod = try XCTUnwrap(deployment[path: ["spec", "template", "spec"]])
        XCTAssertEqual(pod["serviceAccountName"]?.stringValue, "pynomaly-operator")
        XCTAssertGreaterThan(pod["terminationGracePeriodSeconds"]?.intValue ?? 0, 30, "longer than --graceful-shutdown-timeout")
        XCTAssertEqual(pod[path: ["securityContext", "runAsNonRoot"]]?.boolValue, true)
        XCTAssertEqual(pod[path: ["securityContext", "runAsUser"]]?.intValue, 65532)
        XCTAssertEqual(pod[path: ["securityContext", "seccompProfile", "type"]]?.stringValue, "RuntimeDefault")
        let containers = pod["containers"]?.arrayValue ?? []
        XCTAssertEqual(containers.count, 1)
        let container = try XCTUnwrap(containers.first)
        let args = container["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(args.first, "run")
        XCTAssertTrue(args.contains("--leader-elect"), "\(args)")
        XCTAssertTrue(args.contains("--metrics-bind-address=:8080"), "\(args)")
        XCTAssertTrue(args.contains("--health-probe-bind-address=:8081"), "\(args)")
        let ports = Dictionary((container["ports"]?.arrayValue ?? []).compactMap { p in
            p["name"]?.stringValue.map { ($0, p["containerPort"]?.intValue ?? 0) }
        }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(ports, ["metrics": 8080, "probes": 8081])
        XCTAssertEqual(container[path: ["livenessProbe", "httpGet", "path"]]?.stringValue, "/healthz")
        XCTAssertEqual(container[path: ["livenessProbe", "httpGet", "port"]]?.stringValue, "probes")
        XCTAssertEqual(container[path: ["readinessProbe", "httpGet", "path"]]?.stringValue, "/readyz")
        XCTAssertEqual(container[path: ["readinessProbe", "httpGet", "port"]]?.stringValue, "probes")
        // Sized from make bench (docs/performance.md); the comment in the manifest gives the figures.
        XCTAssertEqual(container["resources"], ["requests": ["cpu": "100m", "memory": "64Mi"], "limits": ["cpu": "1", "memory": "256Mi"]])
        let security = try XCTUnwrap(container["securityContext"])
        XCTAssertEqual(security["allowPrivilegeEscalation"]?.boolValue, false)
        XCTAssertEqual(security["readOnlyRootFilesystem"]?.boolValue, true)
        XCTAssertEqual(security["runAsNonRoot"]?.boolValue, true)
        XCTAssertEqual(security[path: ["capabilities", "drop"]], ["ALL"])
        XCTAssertNotEqual(security["privileged"]?.boolValue, true)

        // The Service selects the operator's pods and exposes the metrics port.
        let service = manifests.metricsService
        let podLabels = deployment[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
        let selector = service[path: ["spec", "selector"]]?.objectValue ?? [:]
        XCTAssertFalse(selector.isEmpty)
        XCTAssertTrue(selector.allSatisfy { podLabels[$0.key] == $0.value }, "the Service selects the operator's pods")
        XCTAssertEqual(deployment[path: ["spec", "selector", "matchLabels"]]?.objectValue?.allSatisfy { podLabels[$0.key] == $0.value }, true)
        let servicePort = service[path: ["spec", "ports"]]?.arrayValue?.first
        XCTAssertEqual(servicePort?["port"]?.intValue, 8080)
        XCTAssertEqual(servicePort?["targetPort"]?.stringValue, "metrics")
        XCTAssertEqual(manifests.namespace[path: ["metadata", "labels", "pod-security.kubernetes.io/enforce"]]?.stringValue, "restricted")
    }

    // MARK: The operator under exactly the manifests' RBAC

    /// The rolling path — create, Secret rotation, image change, HPA on and off, pause and resume,
    /// failing image with automatic rollback, rollback on request — under the ServiceAccount with
    /// RBAC on: preflight passes, the operator leads through its Lease, and no request gets a 403.
    func testTheRollingPathUnderTheManifestsRBACGetsNoForbidden() async throws {
        let rig = try await RBACRig()
        let preflight = try await Preflight(client: rig.preflightClient(), operatorNamespace: "pynomaly-system").run()
        XCTAssertTrue(preflight.passed, preflight.rendered())
        rig.start()
        try await rig.createSampleSecret()
        _ = try await rig.admin.create(.pynomalyDeployments, namespace: RBACRig.namespace, object: try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.ready)
        let lease = try await rig.admin.get(.leases, namespace: "pynomaly-system", name: "pynomaly-operator-leader")
        XCTAssertNotNil(lease[path: ["spec", "holderIdentity"]]?.stringValue, "the operator leads through its Lease")

        // Secret rotation rolls the pods.
        func referencedHash() async throws -> String? {
            try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", "pynomaly.ai/referenced-hash"]]?.stringValue
        }
        let hashBefore = try await referencedHash()
        XCTAssertNotNil(hashBefore)
        _ = try await rig.admin.patch(.secrets, namespace: RBACRig.namespace, name: "pynomaly-secret", type: .merge,
                                      body: JSONValue.object(["stringData": ["database-password": "rotated-under-rbac"]]).serialized(),
                                      subresource: nil, options: WriteOptions())
        try await waitUntil("the pods roll") { try await referencedHash() != hashBefore }
        try await rig.waitForCondition(ConditionType.ready)

        // A new image.
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await waitUntil("v0.1.4 is deployed") { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.1.4" }
        try await rig.waitForCondition(ConditionType.ready)

        // HPA on, then off (the operator deletes what it no longer wants).
        try await rig.patchSpec(["autoscaling": ["enabled": true, "minReplicas": 4, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70]])
        try await waitUntil("the HPA exists") { try await rig.get(.horizontalPodAutoscalers, "pynomaly") != nil }
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.patchSpec(["autoscaling": ["enabled": false]])
        try await waitUntil("the HPA is gone") { try await rig.get(.horizontalPodAutoscalers, "pynomaly") == nil }
        try await rig.waitForCondition(ConditionType.ready)

        // Pause: no workload change; resume: the change rolls out.
        try await rig.patchSpec(["paused": true])
        try await waitUntil("the CR is Paused") { try await rig.cr()[path: ["status", "phase"]]?.stringValue == "Paused" }
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.5"])
        try await waitUntil("the paused CR observed the new spec") {
            let cr = try await rig.cr()
            return cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
        }
        let pausedImage = try await rig.deploymentImage()
        XCTAssertEqual(pausedImage, "ghcr.io/elgerytme/pynomaly:v0.1.4", "nothing rolls while paused")
        try await rig.patchSpec(["paused": false])
        try await waitUntil("v0.1.5 rolls out after resume") { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.1.5" }
        try await rig.waitForCondition(ConditionType.ready)

        // A failing image: automatic rollback to v0.1.5.
        rig.server.simulation.failImage("ghcr.io/elgerytme/pynomaly:broken")
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:broken"])
        try await rig.waitForCondition(ConditionType.rolledBack, "True")
        try await waitUntil("v0.1.5 runs again") { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.1.5" }
        // Rollback on request, to revision 1.
        try await rig.annotate(RequestAnnotation.rollbackTo.name, "1@rbac")
        try await waitUntil("revision 1 is deployed") { try await rig.deploymentImage() == "ghcr.io/elgerytme/pynomaly:v0.1.3" }
        try await rig.waitForCondition(ConditionType.ready)
        try await waitUntil("Events are recorded") { try await !rig.events().isEmpty }

        XCTAssertEqual(rig.forbidden.entries, [], "the operator was refused something the manifests do not grant")
        XCTAssertGreaterThan(rig.forbidden.answered, 20, "the counting transport saw the operator's requests")
        try await rig.stop()
    }

    /// The other paths under the same RBAC: backups (claim, CronJobs, a scheduled and an on-demand
    /// Job), a restore with its emergency backup, monitoring objects, then the move to BlueGreen with
    /// Ingress, preview, smoke test and switch — with no 403.
    func testBackupRestoreMonitoringAndBlueGreenPathsUnderTheManifestsRBACGetNoForbidden() async throws {
        let rig = try await RBACRig()
        rig.server.simulation.settings.jobDuration = 0.1
        rig.start()
        let documents = try OperatorRig.sample("pynomaly-backup.yaml")
        for document in documents {
            let resource: ResourceType = document["kind"]?.stringValue == "Secret" ? .secrets : .pynomalyDeployments
            _ = try await rig.admin.create(resource, namespace: RBACRig.namespace, object: document)
        }
        try await rig.waitForCondition(ConditionType.ready)
        try await waitUntil("the backup CronJob exists") { try await rig.get(.cronJobs, "pynomaly-backup") != nil }
        let claim = try await rig.get(.persistentVolumeClaims, "pynomaly-backups")
        XCTAssertNotNil(claim)
        try rig.server.simulation.fireCronJob(namespace: RBACRig.namespace, name: "pynomaly-backup")
        try await rig.waitForCondition(ConditionType.backupHealthy)
        try await rig.annotate(RequestAnnotation.backup.name, "rbac")
        try await waitUntil("the on-demand backup Job exists") { try await rig.get(.jobs, "pynomaly-backup-rbac") != nil }

        let restore: JSONValue = ["apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyRestore",
                                  "metadata": ["name": "rbac-restore", "namespace": .string(RBACRig.namespace)],
                                  "spec": ["deploymentName": "pynomaly", "latest": true]]
        _ = try await rig.admin.create(.pynomalyRestores, namespace: RBACRig.namespace, object: restore)
        try await waitUntil("the restore succeeds", timeout: 30) {
            try await rig.get(.pynomalyRestores, "rbac-restore")?[path: ["status", "phase"]]?.stringValue == "Succeeded"
        }
        try await rig.waitForCondition(ConditionType.ready)

        // Monitoring: discovery, then the ServiceMonitor and PrometheusRule read by name and applied.
        try await MonitoringTests.installMonitoringCRDs(rig.admin)
        try await rig.patchSpec(["monitoring": ["serviceMonitor": true, "prometheusRule": true]])
        try await waitUntil("the monitoring objects are applied", timeout: 30) {
            let cr = try await rig.cr()
            return rig.condition(cr, ConditionType.monitoring)?["status"]?.stringValue == "True"
        }

        let blueGreen = try OperatorRig.sample("pynomaly-bluegreen.yaml").first { $0["kind"]?.stringValue == "PynomalyDeployment" }
        var strategy = try XCTUnwrap(blueGreen?[path: ["spec", "strategy"]])
        strategy["blueGreen"]?["scaleDownDelaySeconds"] = 1
        try await rig.patchSpec(["strategy": strategy, "ingress": blueGreen?[path: ["spec", "ingress"]] ?? .null])
        try await waitUntil("blue serves", timeout: 30) {
            try await rig.cr()[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue"
        }
        try await rig.patchSpec(["image": "ghcr.io/elgerytme/pynomaly:v0.1.4"])
        try await waitUntil("green serves v0.1.4 after its smoke test", timeout: 30) {
            let cr = try await rig.cr()
            return cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "green" && cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
        }
        let smoke = try await rig.get(.jobs, "pynomaly-smoke-2")
        XCTAssertNotNil(smoke, "the smoke test ran")

        XCTAssertEqual(rig.forbidden.entries, [], "the operator was refused something the manifests do not grant")
        try await rig.stop()
    }

    /// The check is real: without `patch` on Deployments the same start fails — 403s, no Deployment,
    /// not Ready — and preflight names exactly the missing verb.
    func testWithoutPatchOnDeploymentsTheOperatorIsForbiddenAndNothingBecomesReady() async throws {
        let rig = try await RBACRig(dropping: (group: "apps", resource: "deployments", verb: "patch"))
        let preflight = try await Preflight(client: rig.preflightClient(), operatorNamespace: "pynomaly-system").run()
        XCTAssertFalse(preflight.passed)
        XCTAssertEqual(preflight.missingPermissions.map { "\($0.verb) \($0.permission)" }, ["patch deployments.apps"], preflight.rendered())
        rig.start()
        try await rig.createSampleSecret()
        _ = try await rig.admin.create(.pynomalyDeployments, namespace: RBACRig.namespace, object: try OperatorRig.sampleDeployment())
        try await waitUntil("the API server refuses the Deployment's apply") {
            rig.forbidden.entries.contains { $0.hasPrefix("PATCH /apis/apps/v1/namespaces/default/deployments/pynomaly") }
        }
        // Retried with backoff, refused every time; the ConfigMap (still granted) was applied.
        try await waitUntil("the apply is retried and refused again") {
            rig.forbidden.entries.filter { $0.contains("/deployments/pynomaly") }.count >= 2
        }
        let deployment = try await rig.get(.deployments, "pynomaly")
        XCTAssertNil(deployment, "no Deployment without patch")
        let configMap = try await rig.get(.configMaps, "pynomaly-config")
        XCTAssertNotNil(configMap, "what is granted still happens")
        let cr = try await rig.cr()
        XCTAssertNotEqual(rig.condition(cr, ConditionType.ready)?["status"]?.stringValue, "True")
        XCTAssertTrue(rig.forbidden.entries.allSatisfy { $0.contains("/deployments") }, "only the dropped verb is refused: \(rig.forbidden.entries)")
        try await rig.stop()
    }
}

// MARK: - kubectl apply -k

/// `kubectl apply -k manifests/` (the real kubectl, its built-in kustomize) against a fresh
/// KubeTestServer installs the CRDs and every object of the operator, and applying again changes nothing.
final class InstallManifestsTests: XCTestCase {
    func testKubectlApplyKustomizeInstallsTheCRDsAndTheOperator() async throws {
        let server = try await KubeTestServer.start()
        let admin = KubeAPIClient(transport: server.transport)
        let kubeconfig = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)").path
        try server.writeKubeconfig(to: kubeconfig)
        let manifests = repositoryRoot.appendingPathComponent("manifests").path

        let applied = try await kubectl(kubeconfig, ["apply", "-k", manifests])
        XCTAssertEqual(applied.status, 0, applied.output)
        for line in ["customresourcedefinition.apiextensions.k8s.io/pynomalydeployments.pynomaly.ai created",
                     "customresourcedefinition.apiextensions.k8s.io/pynomalyrestores.pynomaly.ai created",
                     "namespace/pynomaly-system created", "serviceaccount/pynomaly-operator created",
                     "role.rbac.authorization.k8s.io/pynomaly-operator-leader-election created",
                     "clusterrole.rbac.authorization.k8s.io/pynomaly-operator created",
                     "rolebinding.rbac.authorization.k8s.io/pynomaly-operator-leader-election created",
                     "clusterrolebinding.rbac.authorization.k8s.io/pynomaly-operator created",
                     "service/pynomaly-operator-metrics created", "deployment.apps/pynomaly-operator created"] {
            XCTAssertTrue(applied.output.contains(line), "no \"\(line)\" in:\n\(applied.output)")
        }
        let deployment = try await admin.get(.deployments, namespace: "pynomaly-system", name: "pynomaly-operator")
        XCTAssertEqual(deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue,
                       "ghcr.io/elgerytme/pynomaly-operator:v0.1.0", "the kustomization's image")
        let crd = try await admin.get(.customResourceDefinitions, namespace: nil, name: Preflight.crdName)
        XCTAssertNotNil(crd[path: ["spec", "versions"]])

        let again = try await kubectl(kubeconfig, ["apply", "-k", manifests])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertFalse(again.output.contains(" created") || again.output.contains(" configured"), "a second apply changes nothing:\n\(again.output)")
        try await server.stop()
        try? FileManager.default.removeItem(atPath: kubeconfig)
    }
}

// MARK: - The manifests

/// The objects in `manifests/`, read as they are applied.
struct InstallManifests {
    struct Role {
        var object: JSONValue
        var name: String { object[path: ["metadata", "name"]]?.stringValue ?? "" }
        var rules: [JSONValue] { object["rules"]?.arrayValue ?? [] }
    }

    var namespace: JSONValue
    var serviceAccount: JSONValue
    var clusterRole: Role
    var clusterRoleBinding: JSONValue
    var leaderElectionRole: Role
    var leaderElectionRoleBinding: JSONValue
    var deployment: JSONValue
    var metricsService: JSONValue

    init() throws {
        func one(_ file: String, kind: String) throws -> JSONValue {
            let url = repositoryRoot.appendingPathComponent("manifests/\(file)")
            let documents = try YAML.parseDocuments(String(contentsOf: url, encoding: .utf8))
            guard documents.count == 1, let object = documents.first, object["kind"]?.stringValue == kind else {
                throw KubeError.configuration("manifests/\(file) must hold exactly one \(kind)")
            }
            return object
        }
        namespace = try one("namespace.yaml", kind: "Namespace")
        serviceAccount = try one("service-account.yaml", kind: "ServiceAccount")
        clusterRole = Role(object: try one("cluster-role.yaml", kind: "ClusterRole"))
        clusterRoleBinding = try one("cluster-role-binding.yaml", kind: "ClusterRoleBinding")
        leaderElectionRole = Role(object: try one("leader-election-role.yaml", kind: "Role"))
        leaderElectionRoleBinding = try one("leader-election-role-binding.yaml", kind: "RoleBinding")
        deployment = try one("deployment.yaml", kind: "Deployment")
        metricsService = try one("metrics-service.yaml", kind: "Service")
    }

    /// "group resource[/subresource] verb" for every combination the rules grant.
    static func grants(of rules: [JSONValue]) -> Set<String> {
        var grants = Set<String>()
        for rule in rules {
            for group in rule["apiGroups"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                for resource in rule["resources"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                    for verb in rule["verbs"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                        grants.insert("\(group) \(resource) \(verb)")
                    }
                }
            }
        }
        return grants
    }
}

extension Permission {
    /// "group resource[/subresource] verb" for each verb, as `InstallManifests.grants` spells them.
    var grants: [String] {
        let resource = subresource.map { "\(self.resource)/\($0)" } ?? self.resource
        return verbs.map { "\(group) \(resource) \($0)" }
    }
}

// MARK: - The operator as its ServiceAccount

/// The real manager with leader election, against KubeTestServer with RBAC on, authenticated as
/// ServiceAccount pynomaly-system/pynomaly-operator bound by the objects in `manifests/` (applied by
/// the admin, as `kubectl apply -k` would). Every 403 the operator gets is recorded below the retries.
final class RBACRig: Sendable {
    static let namespace = "default"
    let cluster: TestCluster
    let manager: Manager
    let operatorClient: KubeAPIClient
    /// The operator's connection: HTTPS with the ServiceAccount's token.
    let configuration: ClientConfiguration
    let events: EventRecorder
    let forbidden = ForbiddenLog()
    private let task = Mutex<Task<ManagerOutcome, any Error>?>(nil)

    var server: KubeTestServer { cluster.server }
    var admin: KubeAPIClient { cluster.admin }

    /// `dropping` removes one verb from the ClusterRole before it is applied.
    init(dropping: (group: String, resource: String, verb: String)? = nil) async throws {
        var options = KubeTestServerOptions()
        options.rbacEnabled = true
        options.ownerReferencesPermissionEnforcement = true
        options.simulation = .on
        options.simulation.podStartDelay = 0.02
        options.simulation.progressDeadline = 0.4
        cluster = try await TestCluster.start(options)

        let manifests = try InstallManifests()
        var clusterRole = manifests.clusterRole.object
        if let dropping {
            clusterRole["rules"] = .array(manifests.clusterRole.rules.map { rule in
                let groups = rule["apiGroups"]?.arrayValue?.compactMap(\.stringValue) ?? []
                let resources = rule["resources"]?.arrayValue?.compactMap(\.stringValue) ?? []
                guard groups == [dropping.group], resources == [dropping.resource] else { return rule }
                var changed = rule
                changed["verbs"] = .array((rule["verbs"]?.arrayValue ?? []).filter { $0.stringValue != dropping.verb })
                return changed
            })
            XCTAssertNotEqual(clusterRole, manifests.clusterRole.object, "the ClusterRole grants \(dropping.verb) \(dropping.resource)")
        }
        _ = try await cluster.admin.create(.namespaces, namespace: nil, object: manifests.namespace, options: WriteOptions())
        _ = try await cluster.admin.create(.serviceAccounts, namespace: "pynomaly-system", object: manifests.serviceAccount, options: WriteOptions())
        _ = try await cluster.admin.create(.clusterRoles, namespace: nil, object: clusterRole, options: WriteOptions())
        _ = try await cluster.admin.create(.clusterRoleBindings, namespace: nil, object: manifests.clusterRoleBinding, options: WriteOptions())
        _ = try await cluster.admin.create(.roles, namespace: "pynomaly-system", object: manifests.leaderElectionRole.object, options: WriteOptions())
        _ = try await cluster.admin.create(.roleBindings, namespace: "pynomaly-system", object: manifests.leaderElectionRoleBinding,
                                           options: WriteOptions())

        // The operator's client: HTTPS (libcurl) with the ServiceAccount's token, 403s counted below the retries.
        var configuration = try ConfigurationResolver.resolve(kubeconfigPath: cluster.kubeconfig, context: nil)
        configuration.authentication = .bearerToken(cluster.server.serviceAccountToken(namespace: "pynomaly-system", name: "pynomaly-operator"))
        configuration.qps = 0
        self.configuration = configuration
        let forbidden = forbidden
        operatorClient = try makeKubeClientWithTransport(configuration: configuration, instrument: { curl in
            ForbiddenCountingTransport(base: curl, log: forbidden)
        }).client
        let leaderElection = LeaderElectionConfiguration(leaseNamespace: "pynomaly-system", leaseName: "pynomaly-operator-leader",
                                                         leaseDuration: 15, renewDeadline: 10, retryPeriod: 2)
        manager = Manager(client: operatorClient, options: ManagerOptions(leaderElection: leaderElection))
        events = OperatorSetup.register(on: manager, configuration: OperatorConfiguration(maxConcurrentReconciles: 4)).events
    }

    /// Another client with the ServiceAccount's token, for preflight (its CRD check may get a 403 it
    /// handles: the operator's own client must see none).
    func preflightClient() throws -> KubeAPIClient {
        try makeKubeClient(configuration: configuration)
    }

    func start() {
        let manager = manager
        task.withLock { $0 = Task { try await manager.run() } }
    }

    func stop() async throws {
        manager.shutDown()
        if let running = task.withLock({ $0 }) { _ = try await running.value }
        try await cluster.stop()
    }

    func createSampleSecret() async throws {
        guard let secret = try OperatorRig.sample().first(where: { $0["kind"]?.stringValue == "Secret" }) else { return }
        _ = try await admin.create(.secrets, namespace: Self.namespace, object: secret)
    }

    func cr() async throws -> JSONValue {
        try await admin.get(.pynomalyDeployments, namespace: Self.namespace, name: "pynomaly")
    }

    func get(_ resource: ResourceType, _ name: String) async throws -> JSONValue? {
        do {
            return try await admin.get(resource, namespace: Self.namespace, name: name)
        } catch let error as KubeError where error.isNotFound { return nil }
    }

    func deploymentImage() async throws -> String? {
        try await get(.deployments, "pynomaly")?[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue
    }

    func events() async throws -> [JSONValue] {
        try await admin.list(.events, namespace: Self.namespace, options: ListOptions()).items
    }

    func patchSpec(_ spec: JSONValue) async throws {
        _ = try await admin.patch(.pynomalyDeployments, namespace: Self.namespace, name: "pynomaly", type: .merge,
                                  body: JSONValue.object(["spec": spec]).serialized(), subresource: nil, options: WriteOptions())
    }

    func annotate(_ key: String, _ value: String) async throws {
        let body: JSONValue = ["metadata": ["annotations": .object([key: .string(value)])]]
        _ = try await admin.patch(.pynomalyDeployments, namespace: Self.namespace, name: "pynomaly", type: .merge,
                                  body: body.serialized(), subresource: nil, options: WriteOptions())
    }

    func condition(_ cr: JSONValue, _ type: String) -> JSONValue? {
        cr[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    /// Waits until condition `type` has `status` at the CR's current generation.
    func waitForCondition(_ type: String, _ status: String = "True", timeout: Double = 20,
                          file: StaticString = #filePath, line: UInt = #line) async throws {
        var last: JSONValue = .null
        let reached = try await eventually(timeout: timeout) {
            let cr = try await self.cr()
            last = cr
            return self.condition(cr, type)?["status"]?.stringValue == status
                && cr[path: ["status", "observedGeneration"]] == cr[path: ["metadata", "generation"]]
        }
        if !reached {
            XCTFail("\(type) did not become \(status) within \(timeout) s; status: \(last["status"]?.serializedString() ?? "none"); 403s: \(forbidden.entries)",
                    file: file, line: line)
            throw CancellationError()
        }
    }
}

/// The 403 answers the operator got ("METHOD path?query"), and how many answers it got at all.
final class ForbiddenLog: Sendable {
    private let state = Mutex((entries: [String](), answered: 0))
    func record(_ request: KubeRequest, status: Int) {
        state.withLock {
            $0.answered += 1
            if status == 403 { $0.entries.append("\(request.method.rawValue) \(request.pathAndQuery)") }
        }
    }
    var entries: [String] { state.withLock { $0.entries } }
    var answered: Int { state.withLock { $0.answered } }
}

/// Records every answer's status code (watches included, at their headers) into a `ForbiddenLog`.
struct ForbiddenCountingTransport: KubeTransport {
    let base: any KubeTransport
    let log: ForbiddenLog

    func send(_ request: KubeRequest) async throws -> KubeResponse {
        let response = try await base.send(request)
        log.record(request, status: response.statusCode)
        return response
    }

    func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        let response = try await base.stream(request)
        log.record(request, status: response.statusCode)
        return response
    }
}
