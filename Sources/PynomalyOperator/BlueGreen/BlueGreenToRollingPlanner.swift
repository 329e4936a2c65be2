#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// What a pass observed for the migration from BlueGreen back to RollingUpdate (the strategy is
/// RollingUpdate and `status.blueGreen` is still set). Pure data: the reconciler gathers it from
/// its caches, so a restarted operator decides the same again.
public struct BlueGreenToRollingInput: Sendable, Hashable {
    public typealias Color = PynomalyDeploymentStatus.Color

    public var name: String
    /// `status.blueGreen` as the last BlueGreen pass (or migration pass) left it.
    public var status: PynomalyDeploymentStatus.BlueGreen
    /// Template hash of `status.activeRevision` (from history); nil when unknown.
    public var activeTemplateHash: String?
    /// Full size: `spec.replicas`, or the HPA's current replicas when autoscaling.
    public var desiredReplicas: Int32
    /// The HPA owns the replica count (apply without replicas, then set the count once).
    public var autoscaled: Bool
    /// The RollingUpdate Deployment `NAME` (its `pynomaly.ai/template-hash` label is set while migrating).
    public var rolling: BlueGreenColorObservation
    public var blue: BlueGreenColorObservation
    public var green: BlueGreenColorObservation

    public init(name: String, status: PynomalyDeploymentStatus.BlueGreen, activeTemplateHash: String?, desiredReplicas: Int32,
                autoscaled: Bool = false, rolling: BlueGreenColorObservation = .absent, blue: BlueGreenColorObservation = .absent,
                green: BlueGreenColorObservation = .absent) {
        self.name = name
        self.status = status
        self.activeTemplateHash = activeTemplateHash
        self.desiredReplicas = desiredReplicas
        self.autoscaled = autoscaled
        self.rolling = rolling
        self.blue = blue
        self.green = green
    }

    public func observation(_ color: Color) -> BlueGreenColorObservation { color == .blue ? blue : green }
}

/// One thing the reconciler does for the migration, in list order.
public enum BlueGreenToRollingAction: Sendable, Hashable {
    /// Server-side apply `NAME` with the revision's template (from its ControllerRevision) and the
    /// `pynomaly.ai/template-hash` label; `replicas` nil: the HPA owns the count.
    case applyRolling(revision: Int64, templateHash: String, replicas: Int32?)
    /// Set only the replica count of `NAME` (merge patch, so a later apply without replicas keeps it).
    case scaleRolling(replicas: Int32)
    /// Set only the replica count of a colour Deployment (the non-serving colour goes to zero
    /// before the colourless Service could select its pods).
    case scaleColor(PynomalyDeploymentStatus.Color, replicas: Int32)
    /// In one step: stable Service `NAME` without the colour selector, Ingress backend `NAME`, HPA
    /// target `NAME`, PDB selector without colour (the RollingUpdate layout).
    case switchToRolling
    /// Delete the colour Deployments, colour Services and smoke Jobs this CR controls.
    case deleteBlueGreenObjects
    case event(PlannedEvent)
}

/// The result of one migration pass.
public struct BlueGreenToRollingDecision: Sendable, Hashable {
    public var actions: [BlueGreenToRollingAction]
    /// The migration is over: clear `status.blueGreen` and reconcile as RollingUpdate from now on.
    public var finished: Bool
    /// Why the pass waits (the status message), or what it did.
    public var message: String
    /// `NAME` could not become available; the active colour keeps serving.
    public var failed: Bool
    /// A revision that was under blue-green test (not promoted) when the strategy changed: it never
    /// passed its gate, so it is not handed to RollingUpdate (the shell records it Aborted and pins
    /// the active revision until the spec's template changes).
    public var abandonedPreview: Int64? = nil
}

/// BlueGreen → RollingUpdate without downtime, as a pure function of one pass's observation:
/// 1. the non-serving colour is scaled to zero (its untested pods must never be selected by the
///    colourless stable Service);
/// 2. `NAME` is applied with the active revision at full size and awaited until fully ready, while
///    the traffic objects keep pointing at the active colour;
/// 3. the Service, Ingress, HPA and PDB switch to `NAME` in one pass, then the colour objects and
///    smoke Jobs are deleted and `status.blueGreen` is cleared.
/// Nothing is stored besides `status.blueGreen`: a pass that finds the active colour gone while
/// `NAME` exists knows the switch already happened (an interrupted step 3) and finishes it.
/// Only the active revision moves: a preview still under test (`abandonedPreview`) is given up,
/// never rolled out by RollingUpdate behind its smoke test.
public enum BlueGreenToRollingPlanner {
    /// Steps in which the preview revision has not been promoted yet.
    static let untestedSteps: Set<BlueGreenStep> = [.deployingPreview, .smokeTesting, .awaitingPromotion, .scalingUpPreview]

    public static func plan(_ input: BlueGreenToRollingInput) -> BlueGreenToRollingDecision {
        var decision = decide(input)
        if input.status.activeRevision != nil, let preview = input.status.previewRevision, preview != input.status.activeRevision,
           let step = input.status.step.flatMap(BlueGreenStep.init(rawValue:)), untestedSteps.contains(step) {
            decision.abandonedPreview = preview
        }
        return decision
    }

    static func decide(_ input: BlueGreenToRollingInput) -> BlueGreenToRollingDecision {
        let name = input.name
        guard let active = input.status.activeColor, let revision = input.status.activeRevision, let hash = input.activeTemplateHash else {
            // Nothing served through a colour (a first deployment never switched): just clean up.
            return BlueGreenToRollingDecision(
                actions: [.deleteBlueGreenObjects, .event(PlannedEvent(.normal, "RollingUpdateMigration", "no colour served; blue-green objects removed"))],
                finished: true, message: "blue-green objects removed", failed: false)
        }
        let serving = input.observation(active)
        let rolling = input.rolling
        let finish: [BlueGreenToRollingAction] = [
            .switchToRolling, .deleteBlueGreenObjects,
            .event(PlannedEvent(.normal, "Switched", "traffic switched to \(name) (revision \(revision)); blue-green objects removed")),
        ]
        // An interrupted switch: the colour objects were being deleted, so traffic already went to NAME.
        if !serving.exists && rolling.exists {
            return BlueGreenToRollingDecision(actions: finish, finished: true, message: "finishing the switch to \(name)", failed: false)
        }

        var actions: [BlueGreenToRollingAction] = []
        var waiting: [String] = []
        let other = input.observation(active.other)
        if other.exists && other.specReplicas != 0 {
            actions.append(.scaleColor(active.other, replicas: 0))
        }
        if other.exists && (other.specReplicas != 0 || other.readyReplicas > 0) {
            waiting.append("\(name)-\(active.other.rawValue) to scale down")
        }

        let want = input.desiredReplicas
        if !rolling.carries(hash, replicas: input.autoscaled ? nil : want) {
            if actions.isEmpty && !rolling.exists {
                actions.append(.event(PlannedEvent(.normal, "RollingUpdateMigration",
                                                   "moving revision \(revision) from \(active.rawValue) to \(name) before switching to RollingUpdate")))
            }
            actions.append(.applyRolling(revision: revision, templateHash: hash, replicas: input.autoscaled ? nil : want))
            if input.autoscaled { actions.append(.scaleRolling(replicas: want)) }
            return BlueGreenToRollingDecision(actions: actions, finished: false,
                                              message: "moving revision \(revision) from \(active.rawValue) to \(name)", failed: false)
        }
        if input.autoscaled && rolling.specReplicas != want {
            actions.append(.scaleRolling(replicas: want))
            return BlueGreenToRollingDecision(actions: actions, finished: false, message: "scaling \(name) to \(want)", failed: false)
        }
        if case .failed(let reason, let message) = rolling.rollout {
            return BlueGreenToRollingDecision(
                actions: actions, finished: false,
                message: "revision \(revision) on \(name) failed (\(reason): \(message)); \(active.rawValue) keeps serving", failed: true)
        }
        if !rolling.isFullyReady(templateHash: hash, replicas: want) { waiting.append("\(name) to be fully ready") }
        if !waiting.isEmpty {
            return BlueGreenToRollingDecision(actions: actions, finished: false, message: "waiting for " + waiting.joined(separator: " and "), failed: false)
        }
        return BlueGreenToRollingDecision(actions: actions + finish, finished: true, message: "switched to \(name)", failed: false)
    }
}
