#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// autoscaling/v2 HorizontalPodAutoscaler `NAME` on the active Deployment.
public enum HorizontalPodAutoscalerBuilder {
    /// nil when autoscaling is disabled.
    public static func build(_ ctx: BuildContext, targetDeployment: String) -> HorizontalPodAutoscaler? {
        guard let autoscaling = ctx.spec.autoscaling else { return nil }
        var metrics = [MetricSpec.resourceUtilization("cpu", averageUtilization: autoscaling.targetCPUUtilizationPercentage)]
        if let memory = autoscaling.targetMemoryUtilizationPercentage {
            metrics.append(.resourceUtilization("memory", averageUtilization: memory))
        }
        let spec = HorizontalPodAutoscalerSpec(
            scaleTargetRef: CrossVersionObjectReference(apiVersion: Deployment.resourceType.apiVersion, kind: Deployment.resourceType.kind,
                                                        name: targetDeployment),
            minReplicas: autoscaling.minReplicas, maxReplicas: autoscaling.maxReplicas, metrics: metrics, behavior: autoscaling.behavior)
        return HorizontalPodAutoscaler(metadata: ctx.metadata(name: ctx.name), spec: spec)
    }
}
