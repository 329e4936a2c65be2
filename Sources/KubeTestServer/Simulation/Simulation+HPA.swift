import Foundation
import KubeCore

/// The simulated horizontal-pod-autoscaler: desired replicas = the recommendation a test set
/// (`setHPARecommendation`, default: the target's current replicas) clamped to min/max, written
/// to the target's /scale subresource as kube-controller-manager does, so the HPA owns
/// `spec.replicas` in managedFields.
extension ControllerSimulator {
    func reconcileHPAs(_ w: SimulationWriter, now: Date) {
        guard let info = w.info("autoscaling", "v2", "horizontalpodautoscalers") else { return }
        let nowText = Time.format(now)
        for hpa in w.visit(.hpa, info) {
            let ns = hpa[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let name = hpa[path: ["metadata", "name"]]?.stringValue ?? ""
            let previous = hpa[path: ["status", "conditions"]]?.arrayValue ?? []
            var status = hpa["status"]?.objectValue ?? [:]
            let ref = hpa[path: ["spec", "scaleTargetRef"]]
            let kind = ref?["kind"]?.stringValue ?? ""
            let targetName = ref?["name"]?.stringValue ?? ""
            guard let targetInfo = w.info(apiVersion: ref?["apiVersion"]?.stringValue ?? "", kind: kind), let scale = targetInfo.scale,
                  let target = w.get(targetInfo, namespace: ns, name: targetName) else {
                status["conditions"] = [SimConditions.make("AbleToScale", "False", reason: "FailedGetScale",
                                                           message: "the HPA controller was unable to get the target's current scale: \(kind.lowercased())s \"\(targetName)\" not found",
                                                           previous: previous, now: nowText)]
                w.writeStatus(info, hpa, .object(status))
                continue
            }
            let current = target[path: scale.specReplicasPath]?.intValue ?? 1
            let minReplicas = hpa[path: ["spec", "minReplicas"]]?.intValue ?? 1
            let maxReplicas = hpa[path: ["spec", "maxReplicas"]]?.intValue ?? max(current, minReplicas)
            let recommended = memory.withLock { $0.hpaRecommendations["\(ns)/\(name)"] } ?? current
            let desired = current == 0 ? 0 : min(max(recommended, minReplicas), maxReplicas)
            var conditions: [JSONValue] = []
            if current == 0 {
                // As the real HPA: a target scaled to zero switches autoscaling off.
                conditions.append(SimConditions.make("AbleToScale", "True", reason: "SucceededGetScale",
                                                     message: "the HPA controller was able to get the target's current scale", previous: previous, now: nowText))
                conditions.append(SimConditions.make("ScalingActive", "False", reason: "ScalingDisabled",
                                                     message: "scaling is disabled since the replica count of the target is zero", previous: previous, now: nowText))
            } else {
                if desired != current {
                    w.writeReplicas(targetInfo, target, desired)
                    status["lastScaleTime"] = .string(nowText)
                    conditions.append(SimConditions.make("AbleToScale", "True", reason: "SucceededRescale",
                                                         message: "the HPA controller was able to update the target scale to \(desired)", previous: previous, now: nowText))
                } else {
                    // The last rescale stays reported until something changes (no write per pass).
                    if let prior = previous.first(where: { $0["type"]?.stringValue == "AbleToScale" }),
                       prior["reason"]?.stringValue == "SucceededRescale" {
                        conditions.append(prior)
                    } else {
                        conditions.append(SimConditions.make("AbleToScale", "True", reason: "ReadyForNewScale",
                                                             message: "recommended size matches current size", previous: previous, now: nowText))
                    }
                }
                conditions.append(SimConditions.make("ScalingActive", "True", reason: "ValidMetricFound",
                                                     message: "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                                                     previous: previous, now: nowText))
                let limited = recommended < minReplicas || recommended > maxReplicas
                conditions.append(SimConditions.make(
                    "ScalingLimited", limited ? "True" : "False",
                    reason: recommended < minReplicas ? "TooFewReplicas" : recommended > maxReplicas ? "TooManyReplicas" : "DesiredWithinRange",
                    message: recommended < minReplicas ? "the desired replica count is less than the minimum replica count"
                        : recommended > maxReplicas ? "the desired replica count is more than the maximum replica count"
                        : "the desired count is within the acceptable range",
                    previous: previous, now: nowText))
            }
            status["currentReplicas"] = .int(target[path: scale.statusReplicasPath]?.intValue ?? 0)
            status["desiredReplicas"] = .int(desired)
            status["conditions"] = .array(conditions)
            w.writeStatus(info, hpa, .object(status))
        }
    }
}
