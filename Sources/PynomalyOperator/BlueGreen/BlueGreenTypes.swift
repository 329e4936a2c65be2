#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// The steps of a blue-green rollout, stored in `status.blueGreen.step`. Fields: `active*` is the
/// colour the stable Service and the Ingress select; `preview*` is the other colour and the revision
/// its Deployment carries (also while scaled to zero).
///
/// | step | meaning | leaves when |
/// |---|---|---|
/// | `Migrating` | first BlueGreen pass after RollingUpdate: the stable revision is deployed to blue at full size (no smoke test: it already serves); the old `NAME` Deployment still serves | blue is fully ready → switch, delete `NAME` → `Idle` |
/// | `Idle` | the active colour serves `activeRevision`; the idle colour is at zero | the target differs from `activeRevision` |
/// | `DeployingPreview` | the preview colour is applied with the target at `previewReplicas` (full size on a first deployment); waiting until it is available | available → `SmokeTesting` (or on without a smoke test); `ProgressDeadlineExceeded` → `Aborted` |
/// | `SmokeTesting` | Job `NAME-smoke-REVISION` runs against the preview Service | succeeded → `AwaitingPromotion`; failed → `Aborted` |
/// | `PrePromotionAnalysis` | `spec.analysis` measures the preview colour (after the smoke test; not on a first deployment) | passed or skipped → `AwaitingPromotion`; failed or inconclusive → `Aborted` |
/// | `AwaitingPromotion` | waiting for `autoPromotion` (at `promotedAt`, = ready + `autoPromotionSeconds`) or a `pynomaly.ai/promote` token; skipped on a first deployment | promoted → `ScalingUpPreview` |
/// | `ScalingUpPreview` | the preview is sized to the desired replicas (the HPA's current count when autoscaling) | every desired replica ready → switch → `Switched` (`Idle` on a first deployment) |
/// | `PostPromotionAnalysis` | traffic is on the new colour, `spec.analysis` measures it; the old colour stays scaled up whatever `scaleDownAt` says | passed or skipped → `Switched`; failed or inconclusive → instant switch-back (as an abort) → `Aborted` |
/// | `Switched` | traffic is on the new colour; the old colour stays scaled until `scaleDownAt` for an instant switch-back | `scaleDownAt` passed → old colour to zero → `Idle` |
/// | `SwitchingBack` | an abort after the switch found the old colour not ready: it is scaled up (traffic stays) | fully ready → switch back → `Aborted` |
/// | `RollingBack` | a requested rollback (a pinned target) is deployed to the idle colour at full size, no smoke test, no promotion | fully ready → switch → `Switched` |
/// | `Aborted` | the preview revision was given up (abort request, missed deadline, failed smoke test): no switch, preview at zero | the target changes, or the same revision is allowed again (new generation) |
///
/// Promote tokens that arrive before the preview is tested stay pending (they promote once it is);
/// tokens that arrive when there is nothing to promote or abort are consumed with a Normal Event.
public enum BlueGreenStep: String, Sendable, Hashable, CaseIterable {
    case migrating = "Migrating"
    case idle = "Idle"
    case deployingPreview = "DeployingPreview"
    case smokeTesting = "SmokeTesting"
    case prePromotionAnalysis = "PrePromotionAnalysis"
    case awaitingPromotion = "AwaitingPromotion"
    case scalingUpPreview = "ScalingUpPreview"
    case postPromotionAnalysis = "PostPromotionAnalysis"
    case switched = "Switched"
    case switchingBack = "SwitchingBack"
    case rollingBack = "RollingBack"
    case aborted = "Aborted"
}

/// What the reconciler saw of one colour's Deployment (`NAME-blue` / `NAME-green`).
public struct BlueGreenColorObservation: Sendable, Hashable {
    public var exists: Bool
    /// The pod-template hash the Deployment was applied with (label `pynomaly.ai/template-hash`).
    public var templateHash: String?
    public var specReplicas: Int32?
    public var readyReplicas: Int32
    public var availableReplicas: Int32
    public var updatedReplicas: Int32
    public var rollout: RolloutObservation

    public init(exists: Bool, templateHash: String?, specReplicas: Int32?, readyReplicas: Int32 = 0, availableReplicas: Int32 = 0,
                updatedReplicas: Int32 = 0, rollout: RolloutObservation) {
        self.exists = exists
        self.templateHash = templateHash
        self.specReplicas = specReplicas
        self.readyReplicas = readyReplicas
        self.availableReplicas = availableReplicas
        self.updatedReplicas = updatedReplicas
        self.rollout = rollout
    }

    /// No Deployment of this colour.
    public static let absent = BlueGreenColorObservation(exists: false, templateHash: nil, specReplicas: nil, rollout: .progressing("absent"))

    /// From a live Deployment (nil: absent). The template hash is read from the
    /// `pynomaly.ai/template-hash` label the reconciler puts on colour Deployments.
    public init(deployment: Deployment?) {
        guard let deployment else { self = .absent; return }
        let status = deployment.status
        self.init(exists: true, templateHash: deployment.metadata.labels?[PynomalyLabels.templateHashKey],
                  specReplicas: deployment.spec?.replicas ?? 1, readyReplicas: status?.readyReplicas ?? 0,
                  availableReplicas: status?.availableReplicas ?? 0, updatedReplicas: status?.updatedReplicas ?? 0,
                  rollout: RolloutObservation(deployment: deployment))
    }

    /// Carries `templateHash` at exactly `replicas` replicas, every one updated, ready and available.
    /// The only state traffic may be switched to.
    public func isFullyReady(templateHash hash: String, replicas: Int32) -> Bool {
        exists && templateHash == hash && specReplicas == replicas && rollout.isComplete
            && updatedReplicas >= replicas && readyReplicas >= replicas && availableReplicas >= replicas
    }

    /// Applied with `hash` at `replicas` (readiness aside).
    func carries(_ hash: String, replicas: Int32?) -> Bool {
        exists && templateHash == hash && (replicas == nil || specReplicas == replicas)
    }
}

/// The smoke-test Job of one revision, as observed.
public struct BlueGreenSmokeJob: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case running
        case succeeded
        case failed(reason: String, message: String)
    }

    /// The colour it tests (its `pynomaly.ai/color` label).
    public var color: PynomalyDeploymentStatus.Color?
    public var state: State

    public init(color: PynomalyDeploymentStatus.Color?, state: State) {
        self.color = color
        self.state = state
    }

    /// From a live Job: `Complete=True` → succeeded, `Failed=True` → failed with the condition's
    /// reason and message (e.g. `DeadlineExceeded`, `BackoffLimitExceeded`), else running.
    public init(job: Job) {
        let color = job.metadata.labels?[PynomalyLabels.colorKey].flatMap(PynomalyDeploymentStatus.Color.init(rawValue:))
        if job.isComplete {
            self.init(color: color, state: .succeeded)
        } else if job.isFailed {
            let condition = job.status?.conditions?.first(type: "Failed")
            self.init(color: color, state: .failed(reason: condition?.reason ?? "Failed", message: condition?.message ?? "the smoke test failed"))
        } else {
            self.init(color: color, state: .running)
        }
    }
}

/// A revision as the state machine needs it.
public struct BlueGreenRevision: Sendable, Hashable {
    public var revision: Int64
    public var templateHash: String
    /// Its history outcome this generation: `Aborted`/`Failed`/`RolledBack` mean "do not retry"
    /// (RevisionPlan resets them to `Progressing` when the generation changes).
    public var outcome: PynomalyDeploymentStatus.Outcome?
    /// Pinned by a rollback (RevisionPlan.pinned): deployed as a known-good revision, without smoke
    /// test or promotion.
    public var pinned: Bool

    public init(revision: Int64, templateHash: String, outcome: PynomalyDeploymentStatus.Outcome? = nil, pinned: Bool = false) {
        self.revision = revision
        self.templateHash = templateHash
        self.outcome = outcome
        self.pinned = pinned
    }

    /// Given up in this generation.
    var isBlocked: Bool { [.aborted, .failed, .rolledBack].contains(outcome) }
}

/// Everything one blue-green pass decides from. Pure data: the reconciler gathers it from its caches.
public struct BlueGreenInput: Sendable, Hashable {
    public typealias Color = PynomalyDeploymentStatus.Color

    /// The CR name (child names derive from it).
    public var name: String
    /// `status.blueGreen`; nil on the first BlueGreen pass.
    public var status: PynomalyDeploymentStatus.BlueGreen?
    /// The revision this pass should end up serving (RevisionPlan's target).
    public var target: BlueGreenRevision
    /// On a first BlueGreen pass after RollingUpdate: the stable revision the `NAME` Deployment
    /// serves. It is moved to blue first (see `BlueGreenStep.migrating`).
    public var rollingStable: BlueGreenRevision?
    /// Template hash per revision in history (to apply or recognise a colour's revision).
    public var templateHashes: [Int64: String]
    public var generation: Int64
    public var settings: ResolvedSpec.BlueGreen
    /// Full size: `spec.replicas`, or the HPA's current replicas when autoscaling.
    public var desiredReplicas: Int32
    /// The HPA owns the active colour's replica count.
    public var autoscaled: Bool
    public var blue: BlueGreenColorObservation
    public var green: BlueGreenColorObservation
    /// Smoke-test Jobs by revision (label `pynomaly.ai/revision`); a missing key is an absent Job.
    public var smokeJobs: [Int64: BlueGreenSmokeJob]
    /// A pending `pynomaly.ai/promote` token (not yet in `handledRequests`).
    public var promoteToken: String?
    /// A pending `pynomaly.ai/abort` token.
    public var abortToken: String?
    /// A pending `pynomaly.ai/skip-analysis` token.
    public var skipAnalysisToken: String?
    /// The analysis gates; nil without `spec.analysis`.
    public var analysis: BlueGreenAnalysis?
    public var now: Date

    public init(name: String, status: PynomalyDeploymentStatus.BlueGreen?, target: BlueGreenRevision, rollingStable: BlueGreenRevision? = nil,
                templateHashes: [Int64: String] = [:], generation: Int64, settings: ResolvedSpec.BlueGreen, desiredReplicas: Int32,
                autoscaled: Bool = false, blue: BlueGreenColorObservation = .absent, green: BlueGreenColorObservation = .absent,
                smokeJobs: [Int64: BlueGreenSmokeJob] = [:], promoteToken: String? = nil, abortToken: String? = nil, now: Date) {
        self.name = name
        self.status = status
        self.target = target
        self.rollingStable = rollingStable
        self.templateHashes = templateHashes
        self.generation = generation
        self.settings = settings
        self.desiredReplicas = desiredReplicas
        self.autoscaled = autoscaled
        self.blue = blue
        self.green = green
        self.smokeJobs = smokeJobs
        self.promoteToken = promoteToken
        self.abortToken = abortToken
        self.now = now
    }

    /// The observation of `color`.
    public func observation(_ color: Color) -> BlueGreenColorObservation { color == .blue ? blue : green }
}

/// The analysis gates of a blue-green pass. `verdict` is the verdict of the run the status's step
/// needs (the shell measured it before the state machine runs); nil when the step needs none.
public struct BlueGreenAnalysis: Sendable, Hashable {
    public var prePromotion: Bool
    public var postPromotion: Bool
    public var verdict: AnalysisVerdict?
    /// The run's progress line, for the status message.
    public var message: String?

    public init(prePromotion: Bool, postPromotion: Bool, verdict: AnalysisVerdict? = nil, message: String? = nil) {
        self.prePromotion = prePromotion
        self.postPromotion = postPromotion
        self.verdict = verdict
        self.message = message
    }
}

/// One thing the reconciler must do, in list order (a switch comes before the scale-down that
/// follows it in the same pass).
public enum BlueGreenAction: Sendable, Hashable {
    /// Server-side apply `NAME-COLOR` with the revision's template (from its ControllerRevision) and
    /// the `pynomaly.ai/template-hash` label; `replicas` nil: leave the count to the HPA.
    case applyColor(PynomalyDeploymentStatus.Color, revision: Int64, templateHash: String, replicas: Int32?)
    /// Set only the replica count of an existing colour Deployment.
    case scaleColor(PynomalyDeploymentStatus.Color, replicas: Int32)
    /// Create Job `NAME-smoke-REVISION` (SmokeTestJobBuilder) against the colour's Service; an
    /// AlreadyExists answer is success (the Job name is the idempotency key).
    case createSmokeJob(revision: Int64, color: PynomalyDeploymentStatus.Color)
    /// Delete a stale smoke Job of an earlier attempt at the revision (background propagation).
    case deleteSmokeJob(revision: Int64)
    /// Point the stable Service `NAME` and the Ingress backend at the colour, in one step (the HPA
    /// follows the active colour too). Level-based: the reconciler applies `status.activeColor`
    /// every pass; this marks the pass in which it changes.
    case switchTraffic(to: PynomalyDeploymentStatus.Color)
    /// Delete the RollingUpdate Deployment `NAME` (after migration switched traffic to blue).
    case deleteRollingUpdateDeployment
    /// Record an Event on the CR.
    case event(PlannedEvent)
    /// Set the outcome of a revision in `status.history`.
    case recordOutcome(revision: Int64, outcome: PynomalyDeploymentStatus.Outcome)
}

/// What the reconciler should report about this pass (the StatusCalculator's inputs for BlueGreen).
public struct BlueGreenStatusHint: Sendable, Hashable {
    public var phase: PynomalyDeploymentStatus.Phase
    public var ready: Bool
    public var reconciling: Bool
    public var stalled: Bool
    /// Reason for Ready/Reconciling/Stalled.
    public var reason: String
    public var message: String
}

/// The result of one pass.
public struct BlueGreenDecision: Sendable, Hashable {
    /// The new `status.blueGreen`.
    public var status: PynomalyDeploymentStatus.BlueGreen
    public var actions: [BlueGreenAction]
    /// Set when this pass gave up a revision while another one serves: `status.lastRollback`. Its
    /// `generation` makes RevisionPlan pin the serving revision until the spec changes.
    public var lastRollback: PynomalyDeploymentStatus.LastRollback?
    /// Tokens to record in `status.handledRequests` (`promote`, `abort`).
    public var handledPromote: String?
    public var handledAbort: String?
    public var handledSkipAnalysis: String?
    public var hint: BlueGreenStatusHint
    /// Reconcile again after this long (promotion and scale-down timers); nil: on the next change.
    public var requeueAfter: TimeInterval?

    /// The step as an enum (nil only for a status written by something else).
    public var step: BlueGreenStep? { status.step.flatMap(BlueGreenStep.init(rawValue:)) }
}
