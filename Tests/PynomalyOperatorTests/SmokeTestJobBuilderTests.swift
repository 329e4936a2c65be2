import Foundation
import KubeCore
import PynomalyOperator
import Testing

@Suite("SmokeTestJobBuilder")
struct SmokeTestJobBuilderTests {
    static func context(change: (inout PynomalyDeployment) -> Void = { _ in }) throws -> BuildContext {
        try BuilderTests.context("pynomaly-bluegreen.yaml", change: change)
    }

    static func job(_ ctx: BuildContext) throws -> Job {
        try #require(SmokeTestJobBuilder.build(ctx, revision: 4, color: "green", previewService: "pynomaly-bg-green"))
    }

    @Test func golden() throws {
        try Golden.check(try Self.job(try Self.context()), "SmokeTestJob.yaml")
    }

    @Test func nameOwnerAndLabels() throws {
        let job = try Self.job(try Self.context())
        #expect(job.metadata.name == "pynomaly-bg-smoke-4")
        #expect(job.metadata.namespace == "pynomaly")
        #expect(job.metadata.ownerReferences?.first?.controller == true)
        #expect(job.metadata.ownerReferences?.first?.uid == "3f6a2c1e-0000-4000-8000-000000000001")
        let labels = try #require(job.metadata.labels)
        #expect(labels[PynomalyLabels.colorKey] == "green")
        #expect(labels[SmokeTestJobBuilder.revisionKey] == "4")
        #expect(labels[PynomalyLabels.componentKey] == "smoke-test")
        #expect(labels[PynomalyLabels.instanceKey] == "pynomaly-bg")
    }

    /// The stable and colour Services and the PDB select name + instance (+ colour): a smoke pod
    /// carrying both would receive app traffic.
    @Test func podIsNotSelectedByAppSelectors() throws {
        let ctx = try Self.context()
        let podLabels = try #require(try Self.job(ctx).spec?.template.metadata?.labels)
        let selector = ctx.selectorLabels.merging([PynomalyLabels.colorKey: "green"]) { _, c in c }
        #expect(!selector.allSatisfy { podLabels[$0.key] == $0.value })
        #expect(!ctx.selectorLabels.allSatisfy { podLabels[$0.key] == $0.value })
        #expect(podLabels[PynomalyLabels.colorKey] == "green")
        #expect(podLabels[SmokeTestJobBuilder.revisionKey] == "4")
    }

    @Test func oneAttemptWithDeadlineAndNoTTL() throws {
        let spec = try #require(try Self.job(try Self.context()).spec)
        #expect(spec.backoffLimit == 0)
        #expect(spec.activeDeadlineSeconds == 300)
        #expect(spec.ttlSecondsAfterFinished == nil)
        #expect(spec.template.spec?.restartPolicy == "Never")
        let custom = try Self.job(try Self.context { $0.spec.strategy?.blueGreen?.smokeTest?.timeoutSeconds = 45 })
        #expect(custom.spec?.activeDeadlineSeconds == 45)
    }

    @Test func restrictedPodSecurity() throws {
        let pod = try #require(try Self.job(try Self.context()).spec?.template.spec)
        #expect(pod.securityContext?.runAsNonRoot == true)
        #expect((pod.securityContext?.runAsUser ?? 0) > 0)
        #expect(pod.securityContext?.seccompProfile?.type == "RuntimeDefault")
        #expect(pod.automountServiceAccountToken == false)
        #expect(pod.containers.count == 1)
        for container in pod.containers {
            let sc = try #require(container.securityContext)
            #expect(sc.allowPrivilegeEscalation == false)
            #expect(sc.capabilities?.drop == ["ALL"])
            #expect(sc.runAsNonRoot == true)
            #expect(sc.readOnlyRootFilesystem == true)
            #expect(sc.privileged != true)
        }
    }

    /// The URL reaches the script only through PREVIEW_URL; the command is the spec's, unchanged.
    @Test func previewURLOnlyThroughEnv() throws {
        let ctx = try Self.context()
        let container = try #require(try Self.job(ctx).spec?.template.spec?.containers.first)
        #expect(container.image == "curlimages/curl:8.10.1")
        #expect(container.env == [EnvVar(name: "PREVIEW_URL", value: "http://pynomaly-bg-green.pynomaly.svc:8000")])
        #expect(container.command == ctx.spec.strategy.blueGreen?.smokeTest?.command)
        let commandText = (container.command ?? []).joined(separator: " ") + (container.args ?? []).joined(separator: " ")
        #expect(!commandText.contains("pynomaly-bg-green"))
        #expect(!commandText.contains("svc:"))
    }

    @Test func portAndNamespaceFollowTheSpec() throws {
        let ctx = try Self.context { $0.spec.port = 9000; $0.metadata.namespace = "ml" }
        let container = try #require(try Self.job(ctx).spec?.template.spec?.containers.first)
        #expect(container.env?.first?.value == "http://pynomaly-bg-green.ml.svc:9000")
    }

    @Test func noCommandMeansImageEntrypoint() throws {
        let ctx = try Self.context { $0.spec.strategy?.blueGreen?.smokeTest?.command = nil }
        #expect(try Self.job(ctx).spec?.template.spec?.containers.first?.command == nil)
    }

    @Test func noSmokeTestNoJob() throws {
        let withoutTest = try Self.context { $0.spec.strategy?.blueGreen?.smokeTest = nil }
        #expect(SmokeTestJobBuilder.build(withoutTest, revision: 1, color: "blue", previewService: "x") == nil)
        let rolling = try BuilderTests.context()
        #expect(SmokeTestJobBuilder.build(rolling, revision: 1, color: "blue", previewService: "x") == nil)
    }

    @Test func imagePullSecretsCarryOver() throws {
        let ctx = try Self.context { $0.spec.imagePullSecrets = [LocalObjectReference(name: "regcred")] }
        #expect(try Self.job(ctx).spec?.template.spec?.imagePullSecrets == [LocalObjectReference(name: "regcred")])
    }
}
