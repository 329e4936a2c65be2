import Foundation
import KubeCore
import KubeYAML
import PynomalyOperator
import Testing

/// Files of the repository the API tests read (CRDs, samples), located from this file's path.
enum APIFixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// The `openAPIV3Schema` of a CRD in crds/.
    static func schema(crd file: String) throws -> JSONValue {
        let crd = try YAML.parse(text("crds/\(file)"))
        let schema = crd[path: ["spec", "versions"]]?[0]?[path: ["schema", "openAPIV3Schema"]]
        return try #require(schema, "no openAPIV3Schema in \(file)")
    }

    static var deploymentSchema: JSONValue { get throws { try schema(crd: "pynomaly.ai_pynomalydeployments.yaml") } }
    static var restoreSchema: JSONValue { get throws { try schema(crd: "pynomaly.ai_pynomalyrestores.yaml") } }

    /// Every document of every sample manifest, with the file it came from.
    static func sampleDocuments() throws -> [(file: String, document: JSONValue)] {
        let dir = repositoryRoot.appendingPathComponent("manifests/samples")
        var result: [(String, JSONValue)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where file.hasSuffix(".yaml") {
            for document in try YAML.parseDocuments(try text("manifests/samples/\(file)")) { result.append((file, document)) }
        }
        return result
    }

    /// The PynomalyDeployment of a sample file, with a namespace and uid as the API server would set them.
    static func sampleDeployment(_ file: String) throws -> PynomalyDeployment {
        let documents = try YAML.parseDocuments(try text("manifests/samples/\(file)"))
        let json = try #require(documents.first { $0["kind"]?.stringValue == "PynomalyDeployment" }, "no PynomalyDeployment in \(file)")
        var cr = try json.decode(PynomalyDeployment.self)
        cr.metadata.namespace = "pynomaly"
        cr.metadata.uid = "3f6a2c1e-0000-4000-8000-000000000001"
        cr.metadata.generation = 1
        return cr
    }
}

// MARK: - Schema agreement

/// Property paths of a structural schema (`spec.database.host`, `spec.env[].name`), and the paths
/// below which the schema does not describe fields (maps, preserve-unknown pass-through blocks).
struct SchemaPaths {
    var paths = Set<String>()
    var leaves = Set<String>()

    init(schema: JSONValue, root: String) {
        walk(schema, root)
    }

    private mutating func walk(_ node: JSONValue, _ prefix: String) {
        if node["additionalProperties"] != nil {
            leaves.insert(prefix)
        } else if let properties = node["properties"]?.objectValue {
            for (key, child) in properties {
                paths.insert("\(prefix).\(key)")
                walk(child, "\(prefix).\(key)")
            }
        } else if let items = node["items"] {
            walk(items, "\(prefix)[]")
        } else {
            // A scalar, or an object passed through unchanged (x-kubernetes-preserve-unknown-fields).
            leaves.insert(prefix)
        }
    }

    /// The property paths of a JSON value, not descending below the schema's leaves.
    func jsonPaths(_ value: JSONValue, _ prefix: String) -> Set<String> {
        var result = Set<String>()
        func walk(_ value: JSONValue, _ prefix: String) {
            if leaves.contains(prefix) { return }
            switch value {
            case .object(let fields):
                for (key, child) in fields {
                    result.insert("\(prefix).\(key)")
                    walk(child, "\(prefix).\(key)")
                }
            case .array(let items):
                for item in items { walk(item, "\(prefix)[]") }
            default: break
            }
        }
        walk(value, prefix)
        return result
    }
}

extension PynomalyDeployment {
    /// Every optional field set, every map and list with one element: encoding it shows every
    /// property path the Swift types have.
    static var fullyPopulatedExample: PynomalyDeployment {
        var spec = PynomalyDeploymentSpec(
            image: "ghcr.io/elgerytme/pynomaly:v0.1.3",
            imagePullPolicy: .always,
            imagePullSecrets: [LocalObjectReference(name: "regcred")],
            replicas: 3, port: 8000,
            env: [EnvVar(name: "PYTHONMALLOC", value: "malloc", valueFrom: EnvVarSource(fieldRef: ObjectFieldSelector(fieldPath: "metadata.name")))],
            config: ["LOG_LEVEL": "INFO"],
            database: .init(host: "db", port: 5432, name: "pynomaly", user: "pynomaly", passwordSecretRef: .init(name: "s", key: "k"),
                            sslMode: .require, poolSize: 30, maxOverflow: 50,
                            maintenance: .init(schedule: "0 3 * * 0", timeZone: "Etc/UTC", image: "postgres:16-alpine", suspend: false)),
            redis: .init(host: "redis", port: 6379, passwordSecretRef: .init(name: "s", key: "r")),
            resources: .init(requests: ["cpu": "750m"], limits: ["memory": "6Gi"]),
            probes: .init(healthPath: "/health", readyPath: "/ready", metricsPath: "/metrics"),
            pod: .init(labels: ["team": "ml"], annotations: ["a": "b"], nodeSelector: ["pool": "app"],
                       tolerations: [Toleration(key: "k", operator: "Equal", value: "v", effect: "NoExecute", tolerationSeconds: 30)],
                       affinity: ["nodeAffinity": [:], "podAffinity": [:], "podAntiAffinity": [:]],
                       topologySpreadConstraints: [["maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"]]),
            strategy: .init(type: .blueGreen, rollingUpdate: .init(maxSurge: "25%", maxUnavailable: 0),
                            blueGreen: .init(autoPromotion: true, autoPromotionSeconds: 0, previewReplicas: 1, scaleDownDelaySeconds: 300,
                                             previewHost: "preview.example", smokeTest: .init(image: "curl", command: ["sh"], timeoutSeconds: 300))),
            progressDeadlineSeconds: 600, revisionHistoryLimit: 10, rollback: .init(onFailure: true), paused: false,
            ingress: .init(enabled: true, className: "nginx", host: "api.example", path: "/", pathType: .prefix, annotations: ["x": "y"],
                           tls: .init(secretName: "tls", clusterIssuer: "letsencrypt", warnDays: 14)),
            autoscaling: .init(enabled: true, minReplicas: 3, maxReplicas: 20, targetCPUUtilizationPercentage: 70,
                               targetMemoryUtilizationPercentage: 80, behavior: ["scaleDown": [:]]),
            disruptionBudget: .init(minAvailable: 2, maxUnavailable: 1),
            backup: .init(enabled: true, schedule: "0 2 * * *", timeZone: "Etc/UTC", image: "postgres:16-alpine", retentionDays: 7,
                          storage: .init(persistentVolumeClaim: .init(claimName: "c", size: "20Gi", storageClassName: "standard")), suspend: false),
            monitoring: .init(serviceMonitor: true, prometheusRule: true),
            analysis: .init(enabled: true,
                            prometheus: .init(address: "https://prom:9090", caSecretRef: .init(name: "ca", key: "ca.crt"),
                                              bearerTokenSecretRef: .init(name: "tok", key: "token"), timeoutSeconds: 10),
                            metrics: [.init(name: "errors", query: #"vector(0)"#, successCondition: .init(max: 0.01, min: 0), intervalSeconds: 60,
                                            count: 5, failureLimit: 1)],
                            inconclusiveLimit: 1, prePromotion: true, postPromotion: true))
        spec.serviceAccountName = "pynomaly-app"
        spec.automountServiceAccountToken = false
        var condition = Condition(type: "Ready", status: "True", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z",
                                  reason: "RolloutComplete", message: "ok")
        condition.lastUpdateTime = nil
        let status = PynomalyDeploymentStatus(
            observedGeneration: 1, phase: .healthy, message: "3/3", conditions: [condition],
            replicas: 3, readyReplicas: 3, updatedReplicas: 3, availableReplicas: 3,
            selector: "app.kubernetes.io/instance=x", image: "img", currentRevision: 1, stableRevision: 1,
            history: [.init(revision: 1, image: "img", configHash: "h", templateHash: "t", generation: 1, createdAt: "2026-01-01T00:00:00Z",
                            outcome: .succeeded)],
            blueGreen: .init(activeColor: .blue, previewColor: .green, step: "Idle", activeRevision: 1, previewRevision: 2,
                             smokeTestJob: "j", promotedAt: "2026-01-01T00:00:00Z", scaleDownAt: "2026-01-01T00:05:00Z"),
            lastRollback: .init(fromRevision: 2, toRevision: 1, reason: "Requested", message: "m", at: "2026-01-01T00:00:00Z", generation: 3,
                                specTemplateHash: "abc"),
            backup: .init(lastScheduleTime: "2026-01-01T00:00:00Z", lastSuccessfulTime: "2026-01-01T00:00:00Z",
                          lastFailedTime: "2026-01-01T00:00:00Z", lastJob: "j", lastFailureReason: "BackoffLimitExceeded",
                          lastFailureMessage: "m"),
            handledRequests: ["promote": "t1"], handledTokens: ["promote": ["t0", "t1"]],
            restore: .init(name: "r", phase: "Restoring", originalReplicas: 3, startedAt: "2026-01-01T00:00:00Z"),
            analysis: .init(stage: "PostPromotion", revision: 2, color: .green, phase: "Running", startedAt: "2026-01-01T00:00:00Z",
                            finishedAt: "2026-01-01T00:05:00Z", message: "m", configHash: "h", inconclusive: 0,
                            metrics: [.init(name: "errors", measured: 1, successful: 1, failed: 0, inconclusive: 0, lastMeasuredAt: "2026-01-01T00:00:00Z",
                                            measurements: [.init(at: "2026-01-01T00:00:00Z", value: 0.001, phase: "Successful", message: "m")])]))
        var withTLS = status
        withTLS.tls = .init(secretName: "tls", notBefore: "2026-01-01T00:00:00Z", notAfter: "2026-04-01T00:00:00Z", daysLeft: 90,
                            hostsCovered: ["api.example"], secretResourceVersion: "42")
        return PynomalyDeployment(metadata: ObjectMeta(name: "pynomaly"), spec: spec, status: withTLS)
    }
}

extension PynomalyRestore {
    static var fullyPopulatedExample: PynomalyRestore {
        PynomalyRestore(
            metadata: ObjectMeta(name: "r"),
            spec: PynomalyRestoreSpec(deploymentName: "pynomaly", backupFile: "f.dump", latest: false, emergencyBackup: true),
            status: PynomalyRestoreStatus(
                observedGeneration: 1, phase: .restoring, message: "m",
                conditions: [Condition(type: "Ready", status: "False", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z",
                                       reason: "RestoreRunning", message: "m")],
                startedAt: "2026-01-01T00:00:00Z", completedAt: "2026-01-01T00:10:00Z", emergencyBackupFile: "e.dump",
                restoredFile: "f.dump", originalReplicas: 3,
                target: .init(deploymentUID: "u", host: "db", port: 5432, database: "pynomaly", user: "pynomaly"),
                jobs: .init(emergencyBackup: "j1", restore: "j2")))
    }
}

@Suite("PynomalyDeployment API types")
struct APITypesTests {
    /// Spec and status paths of the Swift types equal the CRD schema's, both ways.
    func expectAgreement<T: Encodable>(_ example: T, schema: JSONValue) throws {
        let json = try JSONValue(encoding: example)
        for part in ["spec", "status"] {
            let schemaNode = try #require(schema[path: ["properties", part]])
            let expected = SchemaPaths(schema: schemaNode, root: part)
            let actual = expected.jsonPaths(try #require(json[part]), part)
            let missingInSwift = expected.paths.subtracting(actual).sorted()
            let missingInSchema = actual.subtracting(expected.paths).sorted()
            #expect(missingInSwift.isEmpty, "schema paths the Swift types do not produce: \(missingInSwift)")
            #expect(missingInSchema.isEmpty, "Swift paths the schema does not have: \(missingInSchema)")
            #expect(expected.paths.count >= 4, "the schema walk found too little under \(part)")
        }
        #expect(json["apiVersion"]?.stringValue == "pynomaly.ai/v1alpha1")
    }

    @Test func deploymentTypesMatchTheCRDSchema() throws {
        try expectAgreement(PynomalyDeployment.fullyPopulatedExample, schema: APIFixtures.deploymentSchema)
    }

    @Test func restoreTypesMatchTheCRDSchema() throws {
        try expectAgreement(PynomalyRestore.fullyPopulatedExample, schema: APIFixtures.restoreSchema)
    }

    /// The agreement check notices a field the schema lacks (so it can fail).
    @Test func agreementCheckDetectsExtraField() throws {
        var json = try JSONValue(encoding: PynomalyDeployment.fullyPopulatedExample)
        json["spec"]?["database"]?["bogus"] = "x"
        let schemaPaths = SchemaPaths(schema: try #require(try APIFixtures.deploymentSchema[path: ["properties", "spec"]]), root: "spec")
        let actual = schemaPaths.jsonPaths(try #require(json["spec"]), "spec")
        #expect(actual.subtracting(schemaPaths.paths) == ["spec.database.bogus"])
    }

    @Test func samplesDecode() throws {
        var deployments = 0, restores = 0
        for (file, document) in try APIFixtures.sampleDocuments() {
            switch document["kind"]?.stringValue {
            case "PynomalyDeployment":
                let cr = try document.decode(PynomalyDeployment.self)
                #expect(cr.spec.image.hasPrefix("ghcr.io/elgerytme/pynomaly:"), "\(file)")
                #expect(validate(cr).isEmpty, "\(file): \(validate(cr))")
                // Re-encoding keeps the document (typed fields over raw).
                #expect(try JSONValue(encoding: cr) == document, "\(file)")
                deployments += 1
            case "PynomalyRestore":
                let restore = try document.decode(PynomalyRestore.self)
                #expect(restore.spec.deploymentName == "pynomaly")
                #expect(restore.spec.latest == true)
                restores += 1
            default: continue
            }
        }
        #expect(deployments == 3)
        #expect(restores == 1)
    }

    @Test func fullyPopulatedRoundTrips() throws {
        let cr = PynomalyDeployment.fullyPopulatedExample
        let decoded = try JSONValue(encoding: cr).decode(PynomalyDeployment.self)
        #expect(decoded.spec == cr.spec)
        #expect(decoded.status == cr.status)
        let restore = PynomalyRestore.fullyPopulatedExample
        let decodedRestore = try JSONValue(encoding: restore).decode(PynomalyRestore.self)
        #expect(decodedRestore.spec == restore.spec && decodedRestore.status == restore.status)
    }

    @Test func newStatusFieldsAreInTheSchema() throws {
        let status = try #require(try APIFixtures.deploymentSchema[path: ["properties", "status", "properties"]])
        #expect(status[path: ["lastRollback", "properties", "generation", "format"]] == "int64")
        #expect(status[path: ["history", "items", "properties", "templateHash", "type"]] == "string")
        #expect(status[path: ["history", "items", "properties", "generation", "format"]] == "int64")
        #expect(status[path: ["history", "x-kubernetes-list-type"]] == "map")
    }
}

// MARK: - Defaults

/// Structural defaulting as the API server does it: a `default` fills an absent property, then
/// defaulting continues inside present (or just defaulted) objects and list items.
func applySchemaDefaults(_ value: JSONValue, schema: JSONValue) -> JSONValue {
    switch value {
    case .object(var fields):
        for (key, child) in schema["properties"]?.objectValue ?? [:] {
            if fields[key] == nil, let value = child["default"] { fields[key] = value }
            if let present = fields[key] { fields[key] = applySchemaDefaults(present, schema: child) }
        }
        return .object(fields)
    case .array(let items):
        guard let itemSchema = schema["items"] else { return value }
        return .array(items.map { applySchemaDefaults($0, schema: itemSchema) })
    default:
        return value
    }
}

@Suite("Resolved spec defaults")
struct ResolvedSpecTests {
    /// Each minimal spec names every block with only its required fields.
    static let minimalSpecs: [JSONValue] = [
        [
            "image": "ghcr.io/elgerytme/pynomaly:v1",
            "database": ["host": "db", "maintenance": ["schedule": "0 3 * * 0"]],
            "redis": ["host": "redis"],
            "strategy": ["type": "BlueGreen", "blueGreen": ["smokeTest": ["image": "curl"]]],
            "ingress": ["host": "api.example"],
            "autoscaling": [:],
            "backup": ["storage": ["persistentVolumeClaim": ["size": "1Gi"]]],
            "monitoring": [:],
            "pod": [:],
        ],
        ["image": "ghcr.io/elgerytme/pynomaly:v1", "strategy": ["rollingUpdate": [:]]],
        ["image": "ghcr.io/elgerytme/pynomaly:v1"],
    ]

    /// Resolving a spec gives the same result as resolving it after the API server applied the CRD's defaults.
    @Test(arguments: minimalSpecs)
    func resolvedAgreesWithCRDDefaults(spec: JSONValue) throws {
        let specSchema = try #require(try APIFixtures.deploymentSchema[path: ["properties", "spec"]])
        let defaulted = applySchemaDefaults(spec, schema: specSchema)
        #expect(defaulted != spec, "the CRD applied no default")
        let plain = try spec.decode(PynomalyDeploymentSpec.self)
        let serverDefaulted = try defaulted.decode(PynomalyDeploymentSpec.self)
        #expect(plain.resolved() == serverDefaulted.resolved())
    }

    @Test func someDefaults() throws {
        let resolved = try ResolvedSpecTests.minimalSpecs[0].decode(PynomalyDeploymentSpec.self).resolved()
        #expect(resolved.replicas == 3)
        #expect(resolved.port == 8000)
        #expect(resolved.imagePullPolicy == .ifNotPresent)
        #expect(resolved.probes.healthPath == "/health" && resolved.probes.readyPath == "/ready" && resolved.probes.metricsPath == "/metrics")
        #expect(resolved.progressDeadlineSeconds == 600 && resolved.revisionHistoryLimit == 10 && resolved.rollbackOnFailure)
        #expect(resolved.strategy.maxSurge == "25%" && resolved.strategy.maxUnavailable == 0)
        let blueGreen = try #require(resolved.strategy.blueGreen)
        #expect(blueGreen.autoPromotion && blueGreen.autoPromotionSeconds == 0 && blueGreen.scaleDownDelaySeconds == 300)
        #expect(blueGreen.previewReplicas == nil)
        #expect(blueGreen.smokeTest?.timeoutSeconds == 300)
        #expect(resolved.database?.port == 5432 && resolved.database?.poolSize == 30 && resolved.database?.maxOverflow == 50)
        #expect(resolved.database?.sslMode == .prefer && resolved.database?.maintenance?.image == "postgres:16-alpine")
        #expect(resolved.redis?.port == 6379)
        #expect(resolved.ingress?.path == "/" && resolved.ingress?.pathType == .prefix)
        let autoscaling = try #require(resolved.autoscaling)
        #expect(autoscaling.minReplicas == 3 && autoscaling.maxReplicas == 20 && autoscaling.targetCPUUtilizationPercentage == 70)
        #expect(autoscaling.targetMemoryUtilizationPercentage == nil && autoscaling.behavior == nil)
        #expect(resolved.backup?.schedule == "0 2 * * *" && resolved.backup?.retentionDays == 7 && resolved.backup?.timeZone == "Etc/UTC")
    }

    @Test func disabledBlocksResolveToNil() throws {
        let spec = PynomalyDeploymentSpec(
            image: "ghcr.io/elgerytme/pynomaly:v1",
            ingress: .init(enabled: false, host: "api.example"),
            autoscaling: .init(enabled: false),
            backup: .init(enabled: false, storage: .init(persistentVolumeClaim: .init(claimName: "c"))))
        let resolved = spec.resolved()
        #expect(resolved.ingress == nil && resolved.autoscaling == nil && resolved.backup == nil)
        #expect(resolved.strategy.type == .rollingUpdate && resolved.strategy.blueGreen == nil)
        #expect(PynomalyDeploymentSpec(image: "x").resolved().ingress == nil)
    }
}

// MARK: - Requests, labels, image references

@Suite("Request annotations and labels")
struct RequestAnnotationTests {
    @Test func annotationNames() {
        #expect(RequestAnnotation.allCases.map(\.name) == [
            "pynomaly.ai/promote", "pynomaly.ai/abort", "pynomaly.ai/restart", "pynomaly.ai/backup", "pynomaly.ai/rollback-to",
            "pynomaly.ai/skip-analysis",
        ])
        #expect(RequestAnnotation.rollbackTo.statusKey == "rollback-to")
    }

    @Test func pendingToken() {
        let annotations = ["pynomaly.ai/restart": "t2"]
        let handledT1 = PynomalyDeploymentStatus(handledRequests: ["restart": "t1"])
        #expect(RequestAnnotation.restart.pendingToken(annotations: annotations, status: handledT1) == "t2")
        #expect(RequestAnnotation.restart.pendingToken(annotations: annotations, status: PynomalyDeploymentStatus(handledRequests: ["restart": "t2"])) == nil)
        #expect(RequestAnnotation.promote.pendingToken(annotations: annotations, status: nil) == nil)
        #expect(RequestAnnotation.restart.pendingToken(annotations: ["pynomaly.ai/restart": ""], status: nil) == nil)
    }

    /// A GitOps revert sets an annotation back to a token handled before: that is not a new request,
    /// as long as the token is among the last `handledTokenLimit` of its kind.
    @Test func anEarlierTokenComingBackIsNotANewRequest() {
        var status = PynomalyDeploymentStatus()
        status.markHandled(.restart, token: "t1")
        status.markHandled(.restart, token: "t2")
        status.markHandled(.backup, token: "b1")
        #expect(status.handledRequests == ["restart": "t2", "backup": "b1"])
        #expect(RequestAnnotation.restart.pendingToken(annotations: ["pynomaly.ai/restart": "t1"], status: status) == nil)
        #expect(RequestAnnotation.restart.pendingToken(annotations: ["pynomaly.ai/restart": "t3"], status: status) == "t3")
        #expect(RequestAnnotation.backup.pendingToken(annotations: ["pynomaly.ai/backup": "t1"], status: status) == "t1", "per kind")
        // Bounded: the oldest are forgotten; marking a remembered token again moves it to the end.
        for i in 3...12 { status.markHandled(.restart, token: "t\(i)") }
        #expect(status.handledTokens?["restart"]?.count == RequestAnnotation.handledTokenLimit)
        #expect(status.hasHandled(.restart, token: "t2") == false)
        #expect(status.hasHandled(.restart, token: "t3"))
        status.markHandled(.restart, token: "t3")
        #expect(status.handledTokens?["restart"]?.last == "t3")
        #expect(status.handledTokens?["restart"]?.count == RequestAnnotation.handledTokenLimit)
    }

    @Test func rollbackValues() throws {
        #expect(try RollbackRequest.parse("5") == RollbackRequest(revision: 5))
        #expect(try RollbackRequest.parse("0").isPrevious)
        #expect(try RollbackRequest.parse("3@1767225600") == RollbackRequest(revision: 3, token: "1767225600"))
        #expect(try RollbackRequest.parse("3@a@b") == RollbackRequest(revision: 3, token: "a@b"))
        #expect(RollbackRequest(revision: 3, token: "x").annotationValue == "3@x")
        #expect(throws: RollbackRequestError.empty) { try RollbackRequest.parse(" ") }
        #expect(throws: RollbackRequestError.invalidRevision("-1")) { try RollbackRequest.parse("-1") }
        #expect(throws: RollbackRequestError.invalidRevision("abc")) { try RollbackRequest.parse("abc@t") }
        #expect(throws: RollbackRequestError.invalidRevision("99999999999999999999")) { try RollbackRequest.parse("99999999999999999999") }
        #expect(throws: RollbackRequestError.emptyToken) { try RollbackRequest.parse("2@") }
    }

    @Test func labels() {
        #expect(PynomalyLabels.selector(for: "web") == ["app.kubernetes.io/name": "pynomaly", "app.kubernetes.io/instance": "web"])
        #expect(PynomalyLabels.selectorString(for: "web") == "app.kubernetes.io/instance=web,app.kubernetes.io/name=pynomaly")
        let all = PynomalyLabels.all(for: "web", image: "ghcr.io/elgerytme/pynomaly:v0.1.3")
        #expect(all["app.kubernetes.io/managed-by"] == "pynomaly-operator")
        #expect(all["app.kubernetes.io/version"] == "v0.1.3")
        #expect(PynomalyLabels.selector(for: "web")["app.kubernetes.io/version"] == nil)
        #expect(PynomalyLabels.version(ofImage: "localhost:5000/pynomaly") == "latest")
        #expect(PynomalyLabels.version(ofImage: "pynomaly@sha256:" + String(repeating: "ab", count: 32)) == "sha256-abababababab")
        #expect(PynomalyLabels.version(ofImage: "p:" + String(repeating: "x", count: 100)).count == 63)
    }

    @Test func imageReferences() {
        let ref = ImageReference(parsing: "ghcr.io:443/elgerytme/pynomaly:v0.1.3")
        #expect(ref?.name == "ghcr.io:443/elgerytme/pynomaly" && ref?.tag == "v0.1.3")
        #expect(ImageReference(parsing: "postgres:16-alpine")?.tag == "16-alpine")
        #expect(ImageReference(parsing: "pynomaly") != nil)
        for bad in ["", "Pynomaly:v1", "ghcr.io/x/pynomaly:", "a b", "ghcr.io//x", "x:v1@sha256:abc", "-x", "x:-tag", "host:99999/x"] {
            #expect(ImageReference(parsing: bad) == nil, "\(bad)")
        }
    }
}

// MARK: - Validation

@Suite("Spec validation")
struct SpecValidationTests {
    static func cr(_ change: (inout PynomalyDeploymentSpec) -> Void) throws -> PynomalyDeployment {
        var cr = try APIFixtures.sampleDeployment("pynomaly.yaml")
        change(&cr.spec)
        return cr
    }

    /// The single problem of a spec with one mistake; its field and message.
    static func problem(_ change: (inout PynomalyDeploymentSpec) -> Void) throws -> SpecProblem? {
        let problems = validate(try cr(change))
        #expect(problems.count <= 1, "\(problems)")
        return problems.first
    }

    @Test func sampleIsValid() throws {
        #expect(validate(try APIFixtures.sampleDeployment("pynomaly.yaml")).isEmpty)
        #expect(validate(try APIFixtures.sampleDeployment("pynomaly-bluegreen.yaml")).isEmpty)
    }

    @Test func imageReference() throws {
        let p = try Self.problem { $0.image = "ghcr.io/Elgerytme/pynomaly:v1" }
        #expect(p?.field == "spec.image")
        #expect(p?.message.contains("Elgerytme") == true)
    }

    @Test func quantitiesParse() throws {
        let p = try Self.problem { $0.resources?.limits?["memory"] = "6 GB" }
        #expect(p?.field == "spec.resources.limits.memory")
        #expect(try Self.problem { $0.resources?.requests?["cpu"] = "1.5.2" }?.field == "spec.resources.requests.cpu")
        #expect(try Self.problem { $0.resources?.requests?["cpu"] = "1e3" } != nil) // 1000 CPUs exceeds the limit of 2
        #expect(try Self.problem { $0.resources?.limits?["cpu"] = "2e3" } == nil)
    }

    @Test func requestsWithinLimits() throws {
        let p = try Self.problem { $0.resources?.requests?["memory"] = "8Gi" }
        #expect(p?.field == "spec.resources.requests.memory")
        #expect(p?.message.contains("6Gi") == true)
        #expect(try Self.problem { $0.resources?.requests?["memory"] = "6Gi" } == nil)
    }

    @Test func envNames() throws {
        #expect(try Self.problem { $0.env = [EnvVar(name: "1BAD", value: "x")] }?.field == "spec.env[0].name")
        #expect(try Self.problem { $0.env = [EnvVar(name: "BAD=NAME", value: "x")] }?.field == "spec.env[0].name")
        let duplicate = try Self.problem { $0.env = [EnvVar(name: "A", value: "1"), EnvVar(name: "A", value: "2")] }
        #expect(duplicate?.field == "spec.env[1].name")
        #expect(duplicate?.message.contains("duplicate") == true)
    }

    /// What kube-apiserver would refuse in a child, refused up front with the field named (the
    /// alternative is a Deployment written and its Service refused, half a deployment).
    @Test func childNamesMustBeRFC1035Labels() throws {
        for bad in ["my.app.v2", "1app", "App"] {
            var cr = try Self.cr { _ in }
            cr.metadata.name = bad
            #expect(validate(cr).map(\.field) == ["metadata.name"], "\(bad)")
        }
        var ok = try Self.cr { _ in }
        ok.metadata.name = "my-app-v2"
        #expect(validate(ok).isEmpty)
    }

    @Test func whatTheAPIServerRefusesInChildrenIsRefusedUpFront() throws {
        #expect(try Self.problem { $0.resources?.requests?["cpu"] = "-1" }?.field == "spec.resources.requests.cpu", "negative quantity")
        #expect(try Self.problem { $0.strategy = .init(rollingUpdate: .init(maxUnavailable: "150%")) }?.field
                == "spec.strategy.rollingUpdate.maxUnavailable", "over 100 %")
        #expect(try Self.problem { $0.strategy = .init(rollingUpdate: .init(maxSurge: "abc")) }?.field == "spec.strategy.rollingUpdate.maxSurge",
                "malformed int-or-string")
        #expect(try Self.problem { $0.strategy = .init(rollingUpdate: .init(maxSurge: "150%")) } == nil, "maxSurge may exceed 100 %")
        #expect(try Self.problem { $0.disruptionBudget = .init(minAvailable: "101%") }?.field == "spec.disruptionBudget.minAvailable")
        #expect(try Self.problem { $0.disruptionBudget = .init(maxUnavailable: -1) }?.field == "spec.disruptionBudget.maxUnavailable")
        #expect(try Self.problem { $0.env = [EnvVar(name: "A", valueFrom: EnvVarSource())] }?.field == "spec.env[0].valueFrom", "empty valueFrom")
        #expect(try Self.problem { $0.pod = .init(tolerations: [Toleration(key: "k", operator: "Like", value: "v")]) }?.field
                == "spec.pod.tolerations[0].operator")
        #expect(try Self.problem { $0.pod = .init(tolerations: [Toleration(key: "k", operator: "Exists", value: "v")]) }?.field
                == "spec.pod.tolerations[0].value")
        #expect(try Self.problem { $0.pod = .init(tolerations: [Toleration(key: "k", operator: "Equal", value: "v", effect: "Sometimes")]) }?.field
                == "spec.pod.tolerations[0].effect")
        #expect(try Self.problem { $0.pod = .init(labels: ["bad key!": "v"]) }?.field == "spec.pod.labels.bad key!")
        #expect(try Self.problem { $0.pod = .init(nodeSelector: ["-bad": "v"]) }?.field == "spec.pod.nodeSelector.-bad")
        let spread = validate(try Self.cr { $0.pod = .init(topologySpreadConstraints: [[:]]) }).map(\.field)
        #expect(spread == ["spec.pod.topologySpreadConstraints[0].maxSkew", "spec.pod.topologySpreadConstraints[0].topologyKey",
                           "spec.pod.topologySpreadConstraints[0].whenUnsatisfiable"])
        #expect(try Self.problem { $0.pod = .init(topologySpreadConstraints: [["maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                                                 "whenUnsatisfiable": "DoNotSchedule"]]) } == nil)
        #expect(try Self.problem { $0.pod = .init(affinity: ["nodeAffinity": ["requiredDuringScheduling": [:]]]) }?.field
                == "spec.pod.affinity.nodeAffinity.requiredDuringScheduling", "unknown affinity field")
        #expect(try Self.problem { $0.pod = .init(affinity: ["podAntiAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": []]]) } == nil)
    }

    @Test func ownedEnvNames() throws {
        let p = try Self.problem { $0.env = [EnvVar(name: "DATABASE_PASSWORD", value: "hunter2")] }
        #expect(p?.field == "spec.env[0].name")
        #expect(p?.message.contains("spec.database") == true)
        #expect(try Self.problem { $0.env = [EnvVar(name: "REDIS_HOST", value: "x")] }?.field == "spec.env[0].name")
        // Without spec.redis the operator does not own REDIS_*.
        #expect(try Self.problem { $0.redis = nil; $0.env = [EnvVar(name: "REDIS_HOST", value: "x")] } == nil)
        #expect(try Self.problem { $0.config?["DATABASE_HOST"] = "elsewhere" }?.field == "spec.config.DATABASE_HOST")
    }

    @Test func configKeys() throws {
        let p = try Self.problem { $0.config?["bad key"] = "x" }
        #expect(p?.field == "spec.config.bad key")
        #expect(try Self.problem { $0.config?[".."] = "x" }?.field == "spec.config...")
    }

    @Test func ingressHost() throws {
        let p = try Self.problem { $0.ingress = .init(host: "API_pynomaly.example") }
        #expect(p?.field == "spec.ingress.host")
        #expect(try Self.problem { $0.ingress = .init(host: "*.pynomaly.example") } == nil)
        #expect(try Self.problem { $0.ingress = .init(host: "10.0.0.1") }?.field == "spec.ingress.host")
    }

    @Test func secretRefs() throws {
        #expect(try Self.problem { $0.database?.passwordSecretRef = .init(name: "", key: "k") }?.field == "spec.database.passwordSecretRef.name")
        #expect(try Self.problem { $0.redis?.passwordSecretRef = .init(name: "s", key: "") }?.field == "spec.redis.passwordSecretRef.key")
        #expect(try Self.problem { $0.redis?.passwordSecretRef = .init(name: "Bad_Name", key: "k") }?.field == "spec.redis.passwordSecretRef.name")
    }

    @Test func ports() throws {
        #expect(try Self.problem { $0.port = 0 }?.field == "spec.port")
        #expect(try Self.problem { $0.port = 70000 }?.field == "spec.port")
        #expect(try Self.problem { $0.database?.port = 65536 }?.field == "spec.database.port")
        #expect(try Self.problem { $0.redis?.port = -1 }?.field == "spec.redis.port")
    }

    @Test func cronSchedules() throws {
        let storage = PynomalyDeploymentSpec.BackupStorage(persistentVolumeClaim: .init(size: "20Gi"))
        let p = try Self.problem { $0.backup = .init(schedule: "0 2 * *", storage: storage) }
        #expect(p?.field == "spec.backup.schedule")
        #expect(p?.message.contains("5 fields") == true)
        #expect(try Self.problem { $0.backup = .init(schedule: "@daily", storage: storage) } == nil)
        #expect(try Self.problem { $0.database?.maintenance = .init(schedule: "0 3 * * 0 *") }?.field == "spec.database.maintenance.schedule")
        #expect(try Self.problem { $0.database?.maintenance = .init(schedule: "*/15 3 * * SUN") } == nil)
    }

    @Test func rollingUpdateNotBothZero() throws {
        #expect(try Self.problem { $0.strategy?.rollingUpdate = .init(maxSurge: "0%", maxUnavailable: 0) }?.field == "spec.strategy.rollingUpdate")
    }

    @Test func problemsNameTheirField() throws {
        let cr = try Self.cr {
            $0.image = "bad image"
            $0.port = 0
        }
        let problems = validate(cr)
        #expect(problems.map(\.field) == ["spec.image", "spec.port"])
        #expect(problems[0].description.hasPrefix("spec.image: "))
    }
}
