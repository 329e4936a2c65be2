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

    /// `build` as JSON, with the template encoded already (`PodTemplateBuilder.encode`): the same
    /// document as encoding `build`'s Deployment, without encoding the template a second time.
    public static func encoded(_ ctx: BuildContext, name: String, encodedTemplate: JSONValue, replicas: Int32?,
                               selectorExtra: [String: String] = [:]) throws -> JSONValue {
        var deployment = try JSONValue(encoding: build(ctx, name: name, template: PodTemplateSpec(), replicas: replicas, selectorExtra: selectorExtra))
        var template = encodedTemplate
        // As `build` does: the template carries every selector label.
        for (key, value) in ctx.selectorLabels.merging(selectorExtra, uniquingKeysWith: { _, extra in extra }) {
            template[path: ["metadata", "labels", key]] = .string(value)
        }
        deployment[path: ["spec", "template"]] = template
        return deployment
    }
}
