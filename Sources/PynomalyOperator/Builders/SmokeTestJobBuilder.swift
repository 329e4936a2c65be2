#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The blue-green smoke test: a batch/v1 Job `NAME-smoke-REVISION` that runs
/// `spec.strategy.blueGreen.smokeTest` once against the preview colour's Service.
///
/// The preview URL reaches the command only through the `PREVIEW_URL` environment variable, never
/// pasted into the command text. The pod meets the `restricted` Pod Security Standard, and its labels
/// deliberately leave out `app.kubernetes.io/name`, so the app's Services and PodDisruptionBudget
/// (which select `name` + `instance`) never select a smoke-test pod.
public enum SmokeTestJobBuilder {
    public static let containerName = "smoke-test"
    /// `app.kubernetes.io/component` of the Job and its pod.
    public static let component = "smoke-test"
    /// The revision the Job tests, on the Job and its pod.
    public static let revisionKey = "pynomaly.ai/revision"
    /// The environment variable holding the preview Service URL.
    public static let previewURLEnv = "PREVIEW_URL"
    /// A fixed non-root uid: `runAsNonRoot` alone fails for images whose USER is a name (curlimages/curl).
    public static let runAsUser: Int64 = 65532
    static let tmpVolume = "tmp"

    /// `NAME-smoke-REVISION`: one Job per revision, so creating it is idempotent by name.
    public static func jobName(_ name: String, revision: Int64) -> String { "\(name)-smoke-\(revision)" }

    /// `http://SERVICE.NAMESPACE.svc:PORT`.
    public static func previewURL(_ ctx: BuildContext, previewService: String) -> String {
        "http://\(previewService).\(ctx.namespace).svc:\(ctx.spec.port)"
    }

    /// The Job, or nil when the spec has no smoke test (not BlueGreen, or `smokeTest` unset).
    /// - Parameters:
    ///   - revision: the revision under test (part of the name and a label).
    ///   - color: the preview colour (`blue`/`green`), a label.
    ///   - previewService: the preview colour's Service name, e.g. `NAME-green`.
    public static func build(_ ctx: BuildContext, revision: Int64, color: String, previewService: String) -> Job? {
        guard let smoke = ctx.spec.strategy.blueGreen?.smokeTest else { return nil }
        let extra = [PynomalyLabels.componentKey: component, PynomalyLabels.colorKey: color, revisionKey: String(revision)]

        // Pod labels: no `app.kubernetes.io/name`, so the app selectors never match these pods.
        var podLabels = extra
        podLabels[PynomalyLabels.instanceKey] = ctx.name
        podLabels[PynomalyLabels.managedByKey] = PynomalyLabels.managerName

        let container = Container(
            name: containerName,
            image: smoke.image,
            command: smoke.command,
            env: [EnvVar(name: previewURLEnv, value: previewURL(ctx, previewService: previewService))],
            volumeMounts: [VolumeMount(name: tmpVolume, mountPath: "/tmp")],
            securityContext: SecurityContext(
                runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
                capabilities: Capabilities(drop: ["ALL"]), seccompProfile: SeccompProfile(type: "RuntimeDefault")))
        var podSpec = PodSpec(
            containers: [container],
            volumes: [Volume(name: tmpVolume, emptyDir: EmptyDirVolumeSource())],
            restartPolicy: "Never",
            securityContext: PodSecurityContext(runAsUser: runAsUser, runAsNonRoot: true, seccompProfile: SeccompProfile(type: "RuntimeDefault")))
        // The test talks HTTP only: no API credentials in the pod.
        podSpec.automountServiceAccountToken = false
        if !ctx.spec.imagePullSecrets.isEmpty { podSpec.imagePullSecrets = ctx.spec.imagePullSecrets.map { LocalObjectReference(name: $0) } }

        // backoffLimit 0: one attempt, its failure is the verdict. No TTL: the finished Job is the
        // record that this revision was tested (the state machine reads it after a restart).
        let spec = JobSpec(
            template: PodTemplateSpec(metadata: ObjectMeta(labels: podLabels), spec: podSpec),
            backoffLimit: 0,
            activeDeadlineSeconds: Int64(smoke.timeoutSeconds))
        return Job(metadata: ctx.metadata(name: jobName(ctx.name, revision: revision), extraLabels: extra), spec: spec)
    }
}
