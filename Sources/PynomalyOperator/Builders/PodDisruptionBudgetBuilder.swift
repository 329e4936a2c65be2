#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// policy/v1 PodDisruptionBudget `NAME` over the app pods.
public enum PodDisruptionBudgetBuilder {
    /// nil when spec.disruptionBudget is not set.
    /// - Parameter selectorExtra: added to the selector (blue-green: the active colour).
    public static func build(_ ctx: BuildContext, selectorExtra: [String: String] = [:]) -> PodDisruptionBudget? {
        guard let budget = ctx.spec.disruptionBudget else { return nil }
        let spec = PodDisruptionBudgetSpec(
            minAvailable: budget.minAvailable, maxUnavailable: budget.maxUnavailable,
            selector: LabelSelector(matchLabels: ctx.selectorLabels.merging(selectorExtra) { _, extra in extra }))
        return PodDisruptionBudget(metadata: ctx.metadata(name: ctx.name), spec: spec)
    }
}
