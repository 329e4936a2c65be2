#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// An apps/v1 Deployment of the app pods: `NAME` (RollingUpdate) or one colour (`NAME-blue`/`-green`).
public enum DeploymentBuilder {
    /// - Parameters:
    ///   - replicas: nil when the HPA owns the count (the field is then not applied at all).
    ///   - selectorExtra: labels added to the selector and the template (blue-green: `pynomaly.ai/color`).
    public static func build(_ ctx: BuildContext, name: String, template: PodTemplateSpec, replicas: Int32?,
                             selectorExtra: [String: String] = [:]) -> Deployment {
        let selector = ctx.selectorLabels.merging(selectorExtra) { _, extra in extra }
        var template = template
        var metadata = template.metadata ?? ObjectMeta()
        // The template must carry every selector label, or the API server rejects the Deployment.
        metadata.labels = (metadata.labels ?? [:]).merging(selector) { _, own in own }
        template.metadata = metadata
        let spec = DeploymentSpec(
            replicas: replicas,
            selector: LabelSelector(matchLabels: selector),
            template: template,
            strategy: DeploymentStrategy(
                type: "RollingUpdate",
                rollingUpdate: RollingUpdateDeployment(maxUnavailable: ctx.spec.strategy.maxUnavailable, maxSurge: ctx.spec.strategy.maxSurge)),
            revisionHistoryLimit: ctx.spec.revisionHistoryLimit,
            progressDeadlineSeconds: ctx.spec.progressDeadlineSeconds)
        // The version label on the Deployment (as on its pods) tells `kubectl get deploy -L` what runs.
        let version = [PynomalyLabels.versionKey: PynomalyLabels.version(ofImage: ctx.spec.image)]
        return Deployment(metadata: ctx.metadata(name: name, extraLabels: selectorExtra.merging(version) { own, _ in own }), spec: spec)
    }
}
