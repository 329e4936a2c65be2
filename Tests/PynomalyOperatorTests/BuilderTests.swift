import Foundation
import KubeCore
import KubeYAML
import KubeTestServer
import PynomalyOperator
import Testing

/// Golden YAML of each builder's output, in Tests/PynomalyOperatorTests/Golden/. Run with
/// `UPDATE_GOLDEN=1` to rewrite them after an intended change, then review the diff.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func check<T: Encodable>(_ value: T, _ file: String) throws {
        let yaml = YAML.emit(try JSONValue(encoding: value))
        let url = directory.appendingPathComponent(file)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try yaml.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden file \(file); run the test with UPDATE_GOLDEN=1 to create it")
            return
        }
        #expect(yaml == expected, "\(file) differs from the builder output; run with UPDATE_GOLDEN=1 if the change is intended:\n\(yaml)")
    }
}

@Suite("Builders")
struct BuilderTests {
    static let referencedHash = "9c1d0e5b7a3f2e41"

    static func context(_ file: String = "pynomaly.yaml", restartToken: String? = nil,
                        change: (inout PynomalyDeployment) -> Void = { _ in }) throws -> BuildContext {
        var cr = try APIFixtures.sampleDeployment(file)
        change(&cr)
        return BuildContext(cr: cr, referencedContentHash: referencedHash, restartToken: restartToken)
    }

    /// The pod template of a context, built the way the reconciler builds it.
    static func template(_ ctx: BuildContext) -> PodTemplateSpec {
        PodTemplateBuilder.build(ctx, configHash: configHash(ctx))
    }

    static func configHash(_ ctx: BuildContext) -> String { ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(ctx)) }

    // MARK: Golden files

    @Test func configMapGolden() throws {
        try Golden.check(ConfigMapBuilder.build(try Self.context()), "ConfigMap.yaml")
    }

    @Test func deploymentGolden() throws {
        let ctx = try Self.context()
        try Golden.check(DeploymentBuilder.build(ctx, name: ctx.name, template: Self.template(ctx), replicas: ctx.desiredReplicas), "Deployment.yaml")
    }

    /// The Deployment and the ControllerRevision built around a template encoded once are the same
    /// documents as those encoded from the typed builders, with and without a colour selector.
    @Test func aTemplateEncodedOnceGivesTheSameDeploymentAndRevision() throws {
        for (file, extra) in [("pynomaly.yaml", [String: String]()), ("pynomaly-bluegreen.yaml", ["pynomaly.ai/color": "blue"])] {
            let ctx = try Self.context(file, restartToken: "t1")
            let identified = PodTemplateBuilder.identified(ctx, configHash: Self.configHash(ctx))
            #expect(identified.encoded == (try JSONValue(encoding: identified.template)))
            #expect(identified.hash == PodTemplateBuilder.templateHash(identified.template))
            let typed = try JSONValue(encoding: DeploymentBuilder.build(ctx, name: "d", template: identified.template, replicas: 3, selectorExtra: extra))
            #expect(try DeploymentBuilder.encoded(ctx, name: "d", encodedTemplate: identified.encoded, replicas: 3, selectorExtra: extra) == typed, "\(file)")
            let revision = ControllerRevisionBuilder.build(ctx, revision: 2, template: identified.template, templateHash: identified.hash, image: "i", configHash: "c")
            let fromEncoded = ControllerRevisionBuilder.build(ctx, revision: 2, encodedTemplate: identified.encoded, templateHash: identified.hash, image: "i", configHash: "c")
            #expect(try JSONValue(encoding: fromEncoded) == JSONValue(encoding: revision))
        }
    }

    @Test func serviceGolden() throws {
        let ctx = try Self.context()
        try Golden.check(ServiceBuilder.build(ctx, name: ctx.name, selectorExtra: [:]), "Service.yaml")
    }

    /// pynomaly.yaml has no Ingress and no HPA: these two come from the blue-green sample.
    @Test func ingressGolden() throws {
        let ctx = try Self.context("pynomaly-bluegreen.yaml")
        let ingress = try #require(IngressBuilder.build(ctx, backendService: "pynomaly-bg-blue", previewService: "pynomaly-bg-green"))
        try Golden.check(ingress, "Ingress.yaml")
    }

    @Test func horizontalPodAutoscalerGolden() throws {
        let ctx = try Self.context("pynomaly-bluegreen.yaml")
        let hpa = try #require(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: "pynomaly-bg-blue"))
        try Golden.check(hpa, "HorizontalPodAutoscaler.yaml")
    }

    @Test func podDisruptionBudgetGolden() throws {
        let pdb = try #require(PodDisruptionBudgetBuilder.build(try Self.context(), selectorExtra: [:]))
        try Golden.check(pdb, "PodDisruptionBudget.yaml")
    }

    @Test func controllerRevisionGolden() throws {
        let ctx = try Self.context()
        let template = Self.template(ctx)
        let revision = ControllerRevisionBuilder.build(ctx, revision: 1, template: template, templateHash: PodTemplateBuilder.templateHash(template), image: ctx.spec.image, configHash: Self.configHash(ctx))
        try Golden.check(revision, "ControllerRevision.yaml")
    }

    // MARK: Ownership and labels

    @Test func everyObjectIsOwnedAndLabelled() throws {
        let ctx = try Self.context("pynomaly-bluegreen.yaml")
        let template = Self.template(ctx)
        let metas: [ObjectMeta?] = [
            ConfigMapBuilder.build(ctx).metadata,
            DeploymentBuilder.build(ctx, name: "pynomaly-bg-blue", template: template, replicas: nil).metadata,
            ServiceBuilder.build(ctx, name: "pynomaly-bg").metadata,
            IngressBuilder.build(ctx, backendService: "pynomaly-bg", previewService: nil)?.metadata,
            HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: "pynomaly-bg-blue")?.metadata,
            PodDisruptionBudgetBuilder.build(ctx)?.metadata,
            ControllerRevisionBuilder.build(ctx, revision: 1, template: template, templateHash: "abc", image: ctx.spec.image, configHash: Self.configHash(ctx)).metadata,
        ]
        let owner = OwnerReference(apiVersion: "pynomaly.ai/v1alpha1", kind: "PynomalyDeployment", name: "pynomaly-bg",
                                   uid: "3f6a2c1e-0000-4000-8000-000000000001", controller: true, blockOwnerDeletion: true)
        for meta in metas {
            let meta = try #require(meta)
            #expect(meta.ownerReferences == [owner], "\(meta.name ?? "")")
            #expect(meta.namespace == "pynomaly")
            #expect(meta.labels?["app.kubernetes.io/name"] == "pynomaly")
            #expect(meta.labels?["app.kubernetes.io/instance"] == "pynomaly-bg")
            #expect(meta.labels?["app.kubernetes.io/managed-by"] == "pynomaly-operator")
            // Only the Deployment (and its pods) carry the version: an image change rewrites nothing else.
            let isDeployment = meta.name == "pynomaly-bg-blue"
            #expect(meta.labels?["app.kubernetes.io/version"] == (isDeployment ? "v0.1.3" : nil), "\(meta.name ?? "")")
        }
    }

    @Test func selectorsHaveNoVersionAndTakeTheColour() throws {
        let ctx = try Self.context()
        let colour = [PynomalyLabels.colorKey: "green"]
        let deployment = DeploymentBuilder.build(ctx, name: "pynomaly-green", template: Self.template(ctx), replicas: 1, selectorExtra: colour)
        let selector = try #require(deployment.spec?.selector.matchLabels)
        #expect(selector == ["app.kubernetes.io/name": "pynomaly", "app.kubernetes.io/instance": "pynomaly", "pynomaly.ai/color": "green"])
        let templateLabels = try #require(deployment.spec?.template.metadata?.labels)
        #expect(selector.allSatisfy { templateLabels[$0.key] == $0.value }, "the template must match the selector")
        #expect(templateLabels["app.kubernetes.io/version"] == "v0.1.3")
        #expect(deployment.metadata.labels?["app.kubernetes.io/version"] == "v0.1.3")
        #expect(ServiceBuilder.build(ctx, name: "pynomaly-green", selectorExtra: colour).spec?.selector == selector)
        #expect(PodDisruptionBudgetBuilder.build(ctx, selectorExtra: colour)?.spec?.selector?.matchLabels == selector)
    }

    @Test func podLabelsCannotOverrideOperatorLabels() throws {
        let ctx = try Self.context { $0.spec.pod = .init(labels: ["app.kubernetes.io/instance": "other", "team": "ml"]) }
        let labels = try #require(Self.template(ctx).metadata?.labels)
        #expect(labels["app.kubernetes.io/instance"] == "pynomaly")
        #expect(labels["team"] == "ml")
    }

    // MARK: Replicas and the HPA

    @Test func hpaOwnsReplicas() throws {
        let ctx = try Self.context("pynomaly-bluegreen.yaml")
        #expect(ctx.desiredReplicas == nil)
        let deployment = DeploymentBuilder.build(ctx, name: "pynomaly-bg-blue", template: Self.template(ctx), replicas: ctx.desiredReplicas)
        let json = try JSONValue(encoding: deployment)
        #expect(json["spec"]?.objectValue?.keys.contains("replicas") == false, "replicas must not be applied while the HPA owns it")
        let hpa = try #require(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: "pynomaly-bg-blue"))
        #expect(hpa.spec?.scaleTargetRef == CrossVersionObjectReference(apiVersion: "apps/v1", kind: "Deployment", name: "pynomaly-bg-blue"))
        #expect(hpa.spec?.metrics?.count == 2)
        #expect(hpa.spec?.behavior?[path: ["scaleDown", "stabilizationWindowSeconds"]] == 300)

        let plain = try Self.context()
        #expect(plain.desiredReplicas == 3)
        #expect(HorizontalPodAutoscalerBuilder.build(plain, targetDeployment: "pynomaly") == nil)
        #expect(IngressBuilder.build(plain, backendService: "pynomaly", previewService: nil) == nil)
        let disabled = try Self.context("pynomaly-bluegreen.yaml") { $0.spec.autoscaling?.enabled = false; $0.spec.ingress?.enabled = false }
        #expect(disabled.desiredReplicas == 3)
        #expect(HorizontalPodAutoscalerBuilder.build(disabled, targetDeployment: "x") == nil)
        #expect(IngressBuilder.build(disabled, backendService: "x", previewService: nil) == nil)
    }

    // MARK: Secrets

    @Test func noSecretValueAnywhere() throws {
        let documents = try YAML.parseDocuments(try APIFixtures.text("manifests/samples/pynomaly-bluegreen.yaml"))
        let secretValues = documents.filter { $0["kind"] == "Secret" }.flatMap { $0["stringData"]?.objectValue?.values.compactMap(\.stringValue) ?? [] }
        #expect(secretValues.count == 2)

        let ctx = try Self.context("pynomaly-bluegreen.yaml")
        let template = Self.template(ctx)
        var outputs: [String] = []
        func add<T: Encodable>(_ value: T?) throws { if let value { outputs.append(YAML.emit(try JSONValue(encoding: value))) } }
        try add(ConfigMapBuilder.build(ctx))
        try add(DeploymentBuilder.build(ctx, name: "pynomaly-bg-blue", template: template, replicas: nil))
        try add(ControllerRevisionBuilder.build(ctx, revision: 1, template: template, templateHash: PodTemplateBuilder.templateHash(template), image: ctx.spec.image, configHash: Self.configHash(ctx)))
        try add(IngressBuilder.build(ctx, backendService: "a", previewService: "b"))
        for output in outputs {
            for secret in secretValues { #expect(!output.contains(secret)) }
            #expect(!output.lowercased().contains("password: "), "a password key with a literal value")
        }
        let env = try #require(template.spec?.containers.first?.env)
        let passwords = env.filter { $0.name.hasSuffix("_PASSWORD") }
        #expect(passwords.map(\.name) == ["DATABASE_PASSWORD", "REDIS_PASSWORD"])
        for variable in passwords {
            #expect(variable.value == nil)
            #expect(variable.valueFrom?.secretKeyRef?.name == "pynomaly-bg-secret")
        }
        let data = try #require(ConfigMapBuilder.build(ctx).data)
        #expect(data.keys.allSatisfy { !$0.contains("PASSWORD") })
        #expect(data["DATABASE_HOST"] == "pynomaly-postgresql" && data["DATABASE_PORT"] == "5432" && data["REDIS_PORT"] == "6379")
    }

    // MARK: Hashes

    @Test func hashesFollowTheTemplateNotTheScale() throws {
        let base = try Self.context()
        let baseTemplate = Self.template(base)
        let baseHash = PodTemplateBuilder.templateHash(baseTemplate)
        #expect(baseHash.count == 10 && baseHash.allSatisfy(\.isHexDigit))
        #expect(PodTemplateBuilder.templateHash(Self.template(try Self.context())) == baseHash, "hashing must be deterministic")

        let scaled = try Self.context { $0.spec.replicas = 7 }
        #expect(PodTemplateBuilder.templateHash(Self.template(scaled)) == baseHash)
        #expect(ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(scaled)) == ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(base)))

        let reconfigured = try Self.context { $0.spec.config?["LOG_LEVEL"] = "DEBUG" }
        #expect(ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(reconfigured)) != ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(base)))
        #expect(PodTemplateBuilder.templateHash(Self.template(reconfigured)) != baseHash)

        let pool = try Self.context { $0.spec.database?.poolSize = 40 }
        #expect(PodTemplateBuilder.templateHash(Self.template(pool)) != baseHash)
        let image = try Self.context { $0.spec.image = "ghcr.io/elgerytme/pynomaly:v0.1.4" }
        #expect(PodTemplateBuilder.templateHash(Self.template(image)) != baseHash)
        let restarted = try Self.context(restartToken: "1767225600")
        #expect(Self.template(restarted).metadata?.annotations?["pynomaly.ai/restart"] == "1767225600")
        #expect(PodTemplateBuilder.templateHash(Self.template(restarted)) != baseHash)
        var rotated = base
        rotated.referencedContentHash = "0000000000000001"
        #expect(PodTemplateBuilder.templateHash(Self.template(rotated)) != baseHash)
    }

    @Test func stableHashIsFNV1a() {
        // Reference vectors of FNV-1a 64.
        #expect(StableHash.fnv1a64([UInt8]()) == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a64(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.hex(of: ["b": 1, "a": 2]) == StableHash.hex(of: ["a": 2, "b": 1]))
        #expect(StableHash.hex(of: ["a": 1]).count == 16)
    }

    // MARK: Pod template

    @Test func podTemplateIsRestricted() throws {
        let ctx = try Self.context { $0.spec.pod = .init(annotations: ["prometheus.io/scrape": "true"], nodeSelector: ["pool": "app"]) }
        let template = Self.template(ctx)
        let pod = try #require(template.spec)
        #expect(pod.securityContext?.runAsNonRoot == true)
        #expect(pod.securityContext?.seccompProfile?.type == "RuntimeDefault")
        #expect(pod.nodeSelector == ["pool": "app"])
        let container = try #require(pod.containers.first)
        #expect(pod.containers.count == 1 && container.name == "pynomaly")
        #expect(container.securityContext?.allowPrivilegeEscalation == false)
        #expect(container.securityContext?.capabilities?.drop == ["ALL"])
        #expect(container.securityContext?.readOnlyRootFilesystem == true)
        #expect(container.volumeMounts == [VolumeMount(name: "tmp", mountPath: "/tmp")])
        #expect(pod.volumes?.first?.emptyDir != nil)
        #expect(container.ports == [ContainerPort(name: "http", containerPort: 8000, protocol: "TCP")])
        #expect(container.livenessProbe?.httpGet?.path == "/health" && container.readinessProbe?.httpGet?.path == "/ready")
        #expect(container.envFrom?.first?.configMapRef?.name == "pynomaly-config")
        #expect(container.env?.first?.name == "PYTHONMALLOC")
        let annotations = try #require(template.metadata?.annotations)
        #expect(annotations["prometheus.io/scrape"] == "true")
        #expect(annotations["pynomaly.ai/referenced-hash"] == Self.referencedHash)
        #expect(annotations["pynomaly.ai/config-hash"] == ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(ctx)))
        #expect(annotations["pynomaly.ai/restart"] == nil)
    }

    // MARK: Ingress

    @Test func ingressRulesAndTLS() throws {
        let ctx = try Self.context("pynomaly-bluegreen.yaml")
        let withPreview = try #require(IngressBuilder.build(ctx, backendService: "pynomaly-bg-blue", previewService: "pynomaly-bg-green"))
        #expect(withPreview.spec?.rules?.map(\.host) == ["api.pynomaly.example", "preview.pynomaly.example"])
        #expect(withPreview.spec?.rules?.map { $0.http?.paths.first?.backend.service?.name } == ["pynomaly-bg-blue", "pynomaly-bg-green"])
        #expect(withPreview.spec?.tls == [IngressTLS(hosts: ["api.pynomaly.example", "preview.pynomaly.example"], secretName: "pynomaly-bg-tls")])
        #expect(withPreview.metadata.annotations?["cert-manager.io/cluster-issuer"] == "letsencrypt")
        #expect(withPreview.metadata.annotations?["nginx.ingress.kubernetes.io/proxy-body-size"] == "50m")
        #expect(withPreview.spec?.ingressClassName == "nginx")
        let single = try #require(IngressBuilder.build(ctx, backendService: "pynomaly-bg", previewService: nil))
        #expect(single.spec?.rules?.count == 1)
        #expect(single.spec?.rules?.first?.http?.paths.first?.pathType == "Prefix")
    }

    // MARK: Revisions

    @Test func controllerRevisionRoundTrip() throws {
        let ctx = try Self.context()
        let template = Self.template(ctx)
        let hash = PodTemplateBuilder.templateHash(template)
        let revision = ControllerRevisionBuilder.build(ctx, revision: 4, template: template, templateHash: hash, image: ctx.spec.image, configHash: Self.configHash(ctx))
        #expect(revision.metadata.name == "pynomaly-\(hash)")
        #expect(revision.metadata.labels?["pynomaly.ai/template-hash"] == hash)
        #expect(revision.revision == 4)
        #expect(ControllerRevisionBuilder.image(from: revision) == "ghcr.io/elgerytme/pynomaly:v0.1.3")
        #expect(ControllerRevisionBuilder.configHash(from: revision) == ConfigMapBuilder.configHash(of: ConfigMapBuilder.build(ctx)))
        // Through JSON, as read back from the API server.
        let read = try JSONValue(encoding: revision).decode(ControllerRevision.self)
        let restored = try #require(ControllerRevisionBuilder.template(from: read))
        #expect(restored == template)
        #expect(PodTemplateBuilder.templateHash(restored) == hash)
        var broken = read
        broken.data = ["template": "not an object"]
        #expect(ControllerRevisionBuilder.template(from: broken) == nil)
    }

    @Test func deploymentStrategyAndLimits() throws {
        let ctx = try Self.context { $0.spec.strategy?.rollingUpdate = .init(maxSurge: 1, maxUnavailable: "10%"); $0.spec.progressDeadlineSeconds = 120 }
        let spec = try #require(DeploymentBuilder.build(ctx, name: "pynomaly", template: Self.template(ctx), replicas: 3).spec)
        #expect(spec.strategy == DeploymentStrategy(type: "RollingUpdate", rollingUpdate: RollingUpdateDeployment(maxUnavailable: "10%", maxSurge: 1)))
        #expect(spec.progressDeadlineSeconds == 120 && spec.revisionHistoryLimit == 10 && spec.replicas == 3)
    }

    // MARK: Against the API server

    /// Every built object is accepted by the (test) API server's schemas through server-side apply,
    /// and the CR's status, with the fields added in this issue, is stored without pruning.
    @Test func builtObjectsAreAcceptedByTheAPIServer() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let client = KubeAPIClient(transport: server.transport)
        for file in ["pynomaly.ai_pynomalydeployments.yaml", "pynomaly.ai_pynomalyrestores.yaml"] {
            _ = try await client.create(.customResourceDefinitions, namespace: nil, object: try YAML.parse(try APIFixtures.text("crds/\(file)")),
                                        options: WriteOptions())
        }
        let established = try await eventually {
            let crd = try await client.get(.customResourceDefinitions, namespace: nil, name: "pynomalydeployments.pynomaly.ai", subresource: nil)
            return crd[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Established" && $0["status"] == "True" } ?? false
        }
        #expect(established)
        _ = try await client.create(Namespace(metadata: ObjectMeta(name: "pynomaly")))

        var sample = try APIFixtures.sampleDeployment("pynomaly-bluegreen.yaml")
        sample.metadata.uid = nil
        sample.metadata.generation = nil
        let cr = try await client.create(sample)
        let ctx = BuildContext(cr: cr, referencedContentHash: Self.referencedHash)
        #expect(ctx.ownerReference.uid == cr.metadata.uid)

        let manager = "pynomaly-operator"
        let template = Self.template(ctx)
        let hash = PodTemplateBuilder.templateHash(template)
        let colour = [PynomalyLabels.colorKey: "blue"]
        _ = try await client.apply(ConfigMapBuilder.build(ctx), fieldManager: manager)
        let deployment = try await client.apply(DeploymentBuilder.build(ctx, name: "pynomaly-bg-blue", template: template, replicas: ctx.desiredReplicas,
                                                                        selectorExtra: colour), fieldManager: manager)
        #expect(deployment.spec?.template.metadata?.annotations?["pynomaly.ai/config-hash"] != nil)
        _ = try await client.apply(ServiceBuilder.build(ctx, name: "pynomaly-bg", selectorExtra: colour), fieldManager: manager)
        _ = try await client.apply(try #require(IngressBuilder.build(ctx, backendService: "pynomaly-bg", previewService: "pynomaly-bg-green")),
                                   fieldManager: manager)
        _ = try await client.apply(try #require(HorizontalPodAutoscalerBuilder.build(ctx, targetDeployment: "pynomaly-bg-blue")), fieldManager: manager)
        _ = try await client.apply(try #require(PodDisruptionBudgetBuilder.build(ctx, selectorExtra: colour)), fieldManager: manager)
        let revision = try await client.apply(ControllerRevisionBuilder.build(ctx, revision: 1, template: template, templateHash: hash, image: ctx.spec.image, configHash: Self.configHash(ctx)),
                                              fieldManager: manager)
        #expect(ControllerRevisionBuilder.template(from: revision) == template)

        var withStatus = cr
        withStatus.metadata.managedFields = nil
        withStatus.status = PynomalyDeployment.fullyPopulatedExample.status
        _ = try await client.updateStatus(withStatus)
        let read = try await client.get(PynomalyDeployment.self, namespace: "pynomaly", name: "pynomaly-bg")
        #expect(read.status == PynomalyDeployment.fullyPopulatedExample.status)
        #expect(read.status?.history?.first?.templateHash == "t")
        #expect(read.status?.lastRollback?.generation == 3)
    }
}
