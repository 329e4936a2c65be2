#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// The blue-green rollout as a pure function of what a pass observed (no I/O, no clock: `now` is an
/// input). All state lives in `status.blueGreen` (steps: `BlueGreenStep`), so an operator restarted
/// at any moment decides the same again. Like argo-rollouts' blue-green reconciler, each step is a
/// checklist item that returns early when it had to act; a step that only needs a status change
/// moves on within the same pass.
///
/// Safety rules the code keeps (and the tests prove):
/// - traffic switches only to a colour whose Deployment carries the revision at the full desired
///   size with every replica updated, ready and available (`isFullyReady`);
/// - the smoke Job of a revision is created only when leaving `DeployingPreview` (or re-created by
///   name when it vanished during `SmokeTesting`); creation is idempotent by its name;
/// - an abort never switches to the aborted revision; a given-up revision is not retried in the same
///   generation (history outcome `Aborted`/`Failed`, and `lastRollback` pins the serving revision);
/// - switch-back is instant while the old colour is fully ready, otherwise it is scaled up first.
///
/// Decisions worth knowing:
/// - First deployment (no active colour): blue gets the target at full size, the smoke test runs,
///   and traffic switches without waiting for promotion (nothing is live to protect).
/// - Migration from RollingUpdate (no `status.blueGreen`, a stable revision): the stable revision
///   is deployed to blue at full size without smoke test (it already serves), traffic switches to
///   blue and the `NAME` Deployment is deleted; then the spec's revision, if different, is previewed
///   on green as usual. Nothing ever serves less than the stable revision did.
/// - A requested rollback (a pinned target) goes to the idle colour at full size, no smoke test, no
///   promotion; if that colour still runs the revision fully ready (within the scale-down delay),
///   the switch is instant.
/// - `promotedAt` holds the scheduled promotion time while `AwaitingPromotion` with `autoPromotion`
///   (there is no separate field for it), and the actual time after promotion.
public enum BlueGreenStateMachine {
    public typealias Color = PynomalyDeploymentStatus.Color

    /// One pass.
    public static func step(_ input: BlueGreenInput) -> BlueGreenDecision {
        var pass = Pass(input)
        pass.run()
        return pass.decision()
    }
}

/// The mutable working state of one pass.
private struct Pass {
    typealias Color = PynomalyDeploymentStatus.Color
    typealias Status = PynomalyDeploymentStatus

    let input: BlueGreenInput
    var bg: Status.BlueGreen
    var actions: [BlueGreenAction] = []
    var lastRollback: Status.LastRollback?
    var handledPromote: String?
    var handledAbort: String?
    var handledSkipAnalysis: String?
    var requeueAfter: TimeInterval?
    /// A query Prometheus refused: the analysis holds the rollout where it is (a spec problem).
    var analysisInvalid: String?
    /// Why the preview was given up in this pass (for the status message).
    var abortMessage: String?
    /// Migration could not bring blue up.
    var migrationFailed: String?

    init(_ input: BlueGreenInput) {
        self.input = input
        self.bg = input.status ?? Status.BlueGreen()
    }

    var step: BlueGreenStep {
        get { bg.step.flatMap(BlueGreenStep.init(rawValue:)) ?? .idle }
        set { bg.step = newValue.rawValue }
    }
    var now: Date { input.now }
    var target: BlueGreenRevision { input.target }
    var previewColor: Color { bg.previewColor ?? bg.activeColor?.other ?? .blue }
    var pendingAbort: String? { input.abortToken.flatMap { $0 == handledAbort ? nil : $0 } }
    var pendingPromote: String? { input.promoteToken.flatMap { $0 == handledPromote ? nil : $0 } }
    var pendingSkip: String? { input.skipAnalysisToken.flatMap { $0 == handledSkipAnalysis ? nil : $0 } }

    // MARK: Driver

    mutating func run() {
        if input.status == nil || input.status?.step == nil { start() }
        // Status-only transitions continue in the same pass; acting or waiting stops it. The bound
        // only guards against a bug: every cycle of steps needs an action or a wait. Reaching it is
        // said in a Warning Event, so such a bug shows instead of quietly stopping each pass midway.
        var settled = false
        for _ in 0..<Self.maxTransitionsPerPass where !settled {
            settled = !advance()
        }
        if !settled {
            event(.warning, "BlueGreenStepLimit", "the blue-green state machine changed step \(Self.maxTransitionsPerPass) times in one pass "
                + "without acting or waiting (now \(step.rawValue)); it goes on at the next pass. Please report this")
        }
        maintain()
    }

    /// More transitions than the longest chain of status-only steps.
    static let maxTransitionsPerPass = 12

    /// The first BlueGreen pass: migrate the RollingUpdate stable revision, or deploy the first one.
    mutating func start() {
        bg = Status.BlueGreen()
        if let rolling = input.rollingStable {
            bg.previewColor = .blue
            bg.previewRevision = rolling.revision
            step = .migrating
            event(.normal, "BlueGreenMigration", "moving revision \(rolling.revision) to \(input.name)-blue before switching to blue-green")
        } else {
            startPreview(target)
        }
    }

    /// Runs the current step; true when the step changed without needing the world to change.
    mutating func advance() -> Bool {
        switch step {
        case .migrating: return migrating()
        case .idle: return idle()
        case .deployingPreview: return deployingPreview()
        case .smokeTesting: return smokeTesting()
        case .prePromotionAnalysis: return prePromotionAnalysis()
        case .awaitingPromotion: return awaitingPromotion()
        case .scalingUpPreview: return scalingUpPreview()
        case .postPromotionAnalysis: return postPromotionAnalysis()
        case .switched: return switched()
        case .switchingBack: return switchingBack()
        case .rollingBack: return rollingBack()
        case .aborted: return aborted()
        }
    }

    // MARK: Steps

    mutating func migrating() -> Bool {
        ignoreRequests(abort: true, promote: true, why: "the operator is moving the app to blue-green")
        guard let revision = bg.previewRevision, let hash = hash(of: revision) else {
            // The stable revision's template is gone: nothing to migrate, deploy the target instead.
            startPreview(target)
            return true
        }
        switch bring(.blue, to: revision, hash: hash, replicas: input.desiredReplicas) {
        case .applying, .waiting:
            return false
        case .failed(let reason, let message):
            migrationFailed = "revision \(revision) on \(input.name)-blue failed (\(reason): \(message)); \(input.name) keeps serving"
            return false
        case .ready:
            break
        }
        bg = Status.BlueGreen()
        switchTo(.blue, revision: revision)
        actions.append(.deleteRollingUpdateDeployment)
        event(.normal, "Switched", "traffic switched to blue (revision \(revision)); \(input.name) removed")
        bg.previewColor = .green
        step = .idle
        return true
    }

    mutating func idle() -> Bool {
        guard let active = bg.activeRevision, bg.activeColor != nil else {
            startPreview(target)
            return true
        }
        if target.revision == active || target.isBlocked {
            ignoreRequests(abort: true, promote: true, why: "no rollout in progress")
            return false
        }
        // A promote token given with the spec change stays pending for the new preview.
        startNext()
        return true
    }

    mutating func deployingPreview() -> Bool {
        if let token = pendingAbort { abortPreview(token: token); return false }
        if supersede() { return true }
        guard let revision = bg.previewRevision, let hash = hash(of: revision) else { startNext(); return true }
        let color = previewColor
        let want = previewSize
        let job = input.smokeJobs[revision]
        // A smoke Job seen before this step created one is from an earlier attempt; keep a success
        // (the revision passed against this colour) and an attempt still running against it (a
        // restart after creating it), delete the rest so the test runs again. (A crash between
        // creating the Job and writing the status, with the Job failing before the restart, thus
        // re-runs the test once: never a wrong switch, at most one Job at a time.)
        let jobStale: Bool
        switch job?.state {
        case nil: jobStale = false
        case .succeeded?, .running?: jobStale = job?.color != color
        case .failed?: jobStale = true
        }
        if jobStale { actions.append(.deleteSmokeJob(revision: revision)) }

        switch bring(color, to: revision, hash: hash, replicas: want) {
        case .applying, .waiting:
            return false
        case .failed(let reason, let message):
            givePreviewUp(reason: reason, detail: "revision \(revision) on \(color.rawValue) did not become available: \(message)",
                          outcome: .failed, token: nil)
            return false
        case .ready:
            break
        }
        guard input.settings.smokeTest != nil else { return enterAnalysisOrPromotion() }
        if jobStale { return false }
        let jobName = SmokeTestJobBuilder.jobName(input.name, revision: revision)
        bg.smokeTestJob = jobName
        step = .smokeTesting
        if job == nil {
            actions.append(.createSmokeJob(revision: revision, color: color))
            event(.normal, "SmokeTestStarted", "job \(jobName) tests revision \(revision) on \(color.rawValue)")
            return false
        }
        return true
    }

    mutating func smokeTesting() -> Bool {
        if let token = pendingAbort { abortPreview(token: token); return false }
        if supersede() { return true }
        guard let revision = bg.previewRevision else { startNext(); return true }
        let color = previewColor
        let jobName = SmokeTestJobBuilder.jobName(input.name, revision: revision)
        if let hash = hash(of: revision), case .failed(let reason, let message) = input.observation(color).rollout,
           input.observation(color).templateHash == hash {
            givePreviewUp(reason: reason, detail: "revision \(revision) on \(color.rawValue) failed during the smoke test: \(message)",
                          outcome: .failed, token: nil)
            return false
        }
        switch input.smokeJobs[revision]?.state {
        case nil:
            // Recorded as started but not seen: the cache lags, or someone deleted it. Creating by
            // name again is harmless (AlreadyExists) and un-sticks a deleted Job.
            bg.smokeTestJob = jobName
            actions.append(.createSmokeJob(revision: revision, color: color))
            return false
        case .running?:
            return false
        case .succeeded?:
            event(.normal, "SmokeTestPassed", "job \(jobName) passed for revision \(revision)")
            return enterAnalysisOrPromotion()
        case .failed(let reason, let message)?:
            givePreviewUp(reason: "SmokeTestFailed", detail: "job \(jobName) failed (\(reason): \(message))", outcome: .failed, token: nil)
            return false
        }
    }

    /// Measures the preview colour before promotion.
    mutating func prePromotionAnalysis() -> Bool {
        if let token = pendingAbort { abortPreview(token: token); return false }
        if supersede() { return true }
        guard let revision = bg.previewRevision else { startNext(); return true }
        let obs = input.observation(previewColor)
        if case .failed(let reason, let message) = obs.rollout, obs.templateHash == hash(of: revision) {
            givePreviewUp(reason: reason, detail: "revision \(revision) on \(previewColor.rawValue) failed: \(message)", outcome: .failed, token: nil)
            return false
        }
        if let token = pendingSkip {
            handledSkipAnalysis = token
            event(.normal, "AnalysisSkipped", "pre-promotion analysis of revision \(revision) skipped by \(RequestAnnotation.skipAnalysis.name)")
            return enterPromotion()
        }
        guard input.analysis?.prePromotion == true else { return enterPromotion() }
        switch input.analysis?.verdict {
        case nil:
            requeueAfter = 0.05
            return false
        case .running(let next)?:
            requeueAfter = max(next, 0.05)
            return false
        case .successful?, .skipped?:
            return enterPromotion()
        case .failed(let message)?:
            givePreviewUp(reason: "AnalysisFailed", detail: "pre-promotion analysis of revision \(revision) failed: \(message)", outcome: .failed, token: nil)
            return false
        case .inconclusive(let message)?:
            givePreviewUp(reason: "AnalysisInconclusive", detail: "pre-promotion analysis of revision \(revision) was inconclusive: \(message)",
                          outcome: .failed, token: nil)
            return false
        case .invalid(let field, let message)?:
            analysisInvalid = "\(field): \(message)"
            return false
        }
    }

    mutating func awaitingPromotion() -> Bool {
        if let token = pendingAbort { abortPreview(token: token); return false }
        if supersede() { return true }
        guard let revision = bg.previewRevision else { startNext(); return true }
        let obs = input.observation(previewColor)
        if case .failed(let reason, let message) = obs.rollout, obs.templateHash == hash(of: revision) {
            givePreviewUp(reason: reason, detail: "revision \(revision) on \(previewColor.rawValue) failed: \(message)", outcome: .failed, token: nil)
            return false
        }
        if let token = pendingPromote {
            handledPromote = token
            event(.normal, "PromotionRequested", "revision \(revision) promoted by \(RequestAnnotation.promote.name)")
            promote()
            return true
        }
        guard input.settings.autoPromotion else { return false }
        let seconds = TimeInterval(max(0, input.settings.autoPromotionSeconds))
        guard let due = bg.promotedAt.flatMap(KubeTime.parse) else {
            // Switched to automatic while waiting: the timer starts now.
            if seconds == 0 { promote(); return true }
            bg.promotedAt = KubeTime.format(now.addingTimeInterval(seconds))
            requeueAfter = seconds
            return false
        }
        if now >= due {
            promote()
            return true
        }
        requeueAfter = due.timeIntervalSince(now)
        return false
    }

    mutating func scalingUpPreview() -> Bool {
        if let token = pendingAbort { abortPreview(token: token); return false }
        if supersede() { return true }
        guard let revision = bg.previewRevision, let hash = hash(of: revision) else { startNext(); return true }
        let color = previewColor
        let want = input.desiredReplicas
        switch bring(color, to: revision, hash: hash, replicas: want) {
        case .applying, .waiting:
            return false
        case .failed(let reason, let message):
            givePreviewUp(reason: reason, detail: "revision \(revision) on \(color.rawValue) did not scale to \(want): \(message)",
                          outcome: .failed, token: nil)
            return false
        case .ready:
            break
        }
        let old = bg.activeColor.map { ($0, bg.activeRevision) }
        switchTo(color, revision: revision)
        actions.append(.recordOutcome(revision: revision, outcome: .succeeded))
        if let (oldColor, oldRevision) = old {
            bg.previewColor = oldColor
            bg.previewRevision = oldRevision
            scheduleScaleDown()
            if input.analysis?.postPromotion == true {
                // The old colour stays up until the analysis passes (validation keeps the window
                // inside the scale-down delay); the shell starts the run on the next pass.
                step = .postPromotionAnalysis
                requeueAfter = 0.05
                event(.normal, "Switched", "traffic switched to \(color.rawValue) (revision \(revision)); \(oldColor.rawValue) stays up during the post-promotion analysis")
                return false
            }
            event(.normal, "Switched", "traffic switched to \(color.rawValue) (revision \(revision)); \(oldColor.rawValue) scales down at \(bg.scaleDownAt ?? "?")")
        } else {
            // First switch: a RollingUpdate Deployment `NAME` left from before goes (if any).
            actions.append(.deleteRollingUpdateDeployment)
            bg.previewColor = color.other
            bg.previewRevision = nil
            step = .idle
            event(.normal, "Switched", "traffic switched to \(color.rawValue) (revision \(revision)): first deployment complete")
        }
        return true
    }

    mutating func switched() -> Bool {
        guard let activeColor = bg.activeColor, let activeRevision = bg.activeRevision else { step = .idle; return true }
        let oldColor = activeColor.other
        if let token = pendingAbort {
            handledAbort = token
            let detail = "abort requested (\(RequestAnnotation.abort.name)=\(token)) after the switch to revision \(activeRevision)"
            return switchBackAfterSwitch(reason: "AbortRequested", eventReason: "Aborted", detail: detail, outcome: .aborted)
        }
        if target.revision != activeRevision && !target.isBlocked {
            startNext()
            return true
        }
        ignoreRequests(abort: false, promote: true, why: "revision \(activeRevision) is already promoted")
        let due = bg.scaleDownAt.flatMap(KubeTime.parse) ?? now
        if now >= due {
            scaleToZero(oldColor)
            bg.scaleDownAt = nil
            step = .idle
            event(.normal, "ScaledDown", "\(oldColor.rawValue) scaled to zero after the scale-down delay")
            return true
        }
        requeueAfter = due.timeIntervalSince(now)
        return false
    }

    /// Measures the active colour after the switch; the old one stays scaled up meanwhile.
    mutating func postPromotionAnalysis() -> Bool {
        guard let activeRevision = bg.activeRevision, bg.activeColor != nil else { step = .idle; return true }
        if let token = pendingAbort {
            handledAbort = token
            let detail = "abort requested (\(RequestAnnotation.abort.name)=\(token)) during the post-promotion analysis of revision \(activeRevision)"
            return switchBackAfterSwitch(reason: "AbortRequested", eventReason: "Aborted", detail: detail, outcome: .aborted)
        }
        if target.revision != activeRevision && !target.isBlocked {
            startNext()
            return true
        }
        if let token = pendingSkip {
            handledSkipAnalysis = token
            event(.normal, "AnalysisSkipped", "post-promotion analysis of revision \(activeRevision) skipped by \(RequestAnnotation.skipAnalysis.name)")
            step = .switched
            return true
        }
        ignoreRequests(abort: false, promote: true, why: "revision \(activeRevision) is already promoted")
        guard input.analysis?.postPromotion == true else { step = .switched; return true }
        switch input.analysis?.verdict {
        case nil:
            requeueAfter = 0.05
            return false
        case .running(let next)?:
            requeueAfter = max(next, 0.05)
            return false
        case .successful?, .skipped?:
            step = .switched
            return true
        case .failed(let message)?:
            return switchBackAfterSwitch(reason: "AnalysisFailed", eventReason: "AnalysisFailed",
                                         detail: "post-promotion analysis of revision \(activeRevision) failed: \(message)", outcome: .rolledBack)
        case .inconclusive(let message)?:
            return switchBackAfterSwitch(reason: "AnalysisInconclusive", eventReason: "AnalysisInconclusive",
                                         detail: "post-promotion analysis of revision \(activeRevision) was inconclusive: \(message)", outcome: .rolledBack)
        case .invalid(let field, let message)?:
            analysisInvalid = "\(field): \(message)"
            return false
        }
    }

    /// Gives the active revision up after the switch (an abort, a failed post-promotion analysis):
    /// back to the old colour at once when it is still fully ready, else after scaling it up. The
    /// given-up revision is pinned away (`lastRollback`) until the spec's template changes.
    mutating func switchBackAfterSwitch(reason: String, eventReason: String, detail: String, outcome: Status.Outcome) -> Bool {
        guard let activeColor = bg.activeColor, let activeRevision = bg.activeRevision,
              let oldRevision = bg.previewRevision, let oldHash = hash(of: oldRevision) else {
            event(.normal, reason == "AbortRequested" ? "AbortIgnored" : eventReason, "\(detail); nothing to switch back to")
            if step == .postPromotionAnalysis { step = .switched }
            return false
        }
        let oldColor = activeColor.other
        actions.append(.recordOutcome(revision: activeRevision, outcome: outcome))
        recordRollback(from: activeRevision, to: oldRevision, reason: reason, message: detail)
        abortMessage = detail
        if input.observation(oldColor).isFullyReady(templateHash: oldHash, replicas: input.desiredReplicas) {
            event(.warning, eventReason, "\(detail); switching back to \(oldColor.rawValue) (revision \(oldRevision)) at once")
            switchBack(to: oldColor, revision: oldRevision)
            return false
        }
        event(.warning, eventReason, "\(detail); scaling \(oldColor.rawValue) (revision \(oldRevision)) up before switching back")
        step = .switchingBack
        bg.scaleDownAt = nil
        return true
    }

    mutating func switchingBack() -> Bool {
        ignoreRequests(abort: true, promote: true, why: "already switching back")
        guard let revision = bg.previewRevision, let hash = hash(of: revision) else { step = .aborted; return true }
        let color = previewColor
        switch bring(color, to: revision, hash: hash, replicas: input.desiredReplicas) {
        case .applying, .waiting:
            return false
        case .failed(let reason, let message):
            // Traffic stays on the aborted revision: the only one with ready pods.
            event(.warning, "SwitchBackFailed", "revision \(revision) on \(color.rawValue) did not become ready (\(reason): \(message)); traffic stays on \(bg.activeColor?.rawValue ?? "?")")
            abortMessage = "switch-back to revision \(revision) failed: \(message)"
            scaleToZero(color)
            step = .aborted
            return false
        case .ready:
            break
        }
        switchBack(to: color, revision: revision)
        return false
    }

    mutating func rollingBack() -> Bool {
        ignoreRequests(abort: true, promote: true, why: "a rollback is in progress")
        guard let revision = bg.previewRevision, let hash = hash(of: revision) else { startNext(); return true }
        if target.revision != revision {
            if target.revision == bg.activeRevision { cancelPreview(); return true }
            startNext()
            return true
        }
        let color = previewColor
        switch bring(color, to: revision, hash: hash, replicas: input.desiredReplicas) {
        case .applying, .waiting:
            return false
        case .failed(let reason, let message):
            givePreviewUp(reason: "RollbackFailed", detail: "rollback to revision \(revision) failed (\(reason): \(message))",
                          outcome: .failed, token: nil, recordRollback: false)
            return false
        case .ready:
            break
        }
        let old = bg.activeColor.map { ($0, bg.activeRevision) }
        switchTo(color, revision: revision)
        actions.append(.recordOutcome(revision: revision, outcome: .succeeded))
        if let (oldColor, oldRevision) = old {
            if let oldRevision { actions.append(.recordOutcome(revision: oldRevision, outcome: .rolledBack)) }
            bg.previewColor = oldColor
            bg.previewRevision = oldRevision
            scheduleScaleDown()
        } else {
            step = .idle
        }
        event(.normal, "RolledBack", "traffic switched to \(color.rawValue) (revision \(revision))")
        return true
    }

    mutating func aborted() -> Bool {
        let stay: Bool
        if bg.activeRevision == nil && bg.activeColor == nil {
            // A first deployment that failed: only a new target or generation retries.
            stay = target.isBlocked || (target.revision == bg.previewRevision && !retryAllowed)
        } else if target.revision == bg.activeRevision {
            // Pinned: the abort itself holds the serving revision for this generation.
            if !target.pinned {
                step = .idle
                return true
            }
            stay = true
        } else {
            stay = target.isBlocked || (target.revision == bg.previewRevision && !retryAllowed)
        }
        if stay {
            ignoreRequests(abort: true, promote: true, why: "the rollout was aborted; change the spec to try again")
            return false
        }
        if bg.activeColor == nil { startPreview(target) } else { startNext() }
        return true
    }

    /// The target is the aborted preview revision again: allowed only once RevisionPlan reset its
    /// outcome (a new generation) — `Progressing` — or it is a pinned rollback to it.
    var retryAllowed: Bool { target.outcome == .progressing || target.outcome == nil || target.pinned }

    // MARK: Colours

    /// How far a colour has come towards running a revision at a size.
    enum ColorProgress {
        /// Its Deployment did not carry the revision at that size: applied in this pass.
        case applying
        case failed(reason: String, message: String)
        /// Carries it; not every replica is ready yet.
        case waiting
        case ready
    }

    /// Asks for `revision` on `color` at `replicas` and says how far it got: applies it where the
    /// colour's Deployment does not carry it, else reports a failed rollout or whether every
    /// replica is ready. Every step that brings a colour up goes through here.
    mutating func bring(_ color: Color, to revision: Int64, hash: String, replicas: Int32) -> ColorProgress {
        let observed = input.observation(color)
        if !observed.carries(hash, replicas: replicas) {
            actions.append(.applyColor(color, revision: revision, templateHash: hash, replicas: replicas))
            return .applying
        }
        if case .failed(let reason, let message) = observed.rollout { return .failed(reason: reason, message: message) }
        return observed.isFullyReady(templateHash: hash, replicas: replicas) ? .ready : .waiting
    }

    // MARK: Transitions

    /// Previews (or rolls back to) the target.
    mutating func startNext() {
        if target.pinned { startRollback(target) } else { startPreview(target) }
    }

    mutating func startPreview(_ revision: BlueGreenRevision) {
        let color = bg.activeColor?.other ?? .blue
        bg.previewColor = color
        bg.previewRevision = revision.revision
        bg.smokeTestJob = nil
        bg.promotedAt = nil
        bg.scaleDownAt = nil
        step = .deployingPreview
        event(.normal, "PreviewDeploying", "deploying revision \(revision.revision) to \(color.rawValue) (\(previewSize) replicas)")
    }

    mutating func startRollback(_ revision: BlueGreenRevision) {
        let color = bg.activeColor?.other ?? .blue
        bg.previewColor = color
        bg.previewRevision = revision.revision
        bg.smokeTestJob = nil
        bg.promotedAt = nil
        bg.scaleDownAt = nil
        step = .rollingBack
        event(.normal, "RollingBack", "deploying revision \(revision.revision) to \(color.rawValue) to switch back to it")
    }

    /// A new target arrived during a preview: start over with it (or drop the preview when the
    /// target is what already serves). True when it acted.
    mutating func supersede() -> Bool {
        guard target.revision != bg.previewRevision else { return false }
        if target.revision == bg.activeRevision {
            cancelPreview()
            return true
        }
        if target.isBlocked { return false }
        if let old = bg.previewRevision { event(.normal, "PreviewSuperseded", "revision \(old) superseded by revision \(target.revision)") }
        startNext()
        return true
    }

    /// Drops the preview (the target is the serving revision again): preview to zero, Idle.
    mutating func cancelPreview() {
        scaleToZero(previewColor)
        bg.smokeTestJob = nil
        bg.promotedAt = nil
        step = .idle
    }

    /// After the smoke test: the pre-promotion analysis when there is one and something already
    /// serves (a first deployment has nothing to protect), else promotion.
    mutating func enterAnalysisOrPromotion() -> Bool {
        guard bg.activeColor != nil, input.analysis?.prePromotion == true else { return enterPromotion() }
        step = .prePromotionAnalysis
        // The shell starts the run on the next pass, from this status.
        requeueAfter = 0.05
        return false
    }

    /// After the preview is tested: promotion, or straight to full size on a first deployment.
    mutating func enterPromotion() -> Bool {
        if bg.activeColor == nil {
            promote()
            return true
        }
        step = .awaitingPromotion
        if input.settings.autoPromotion {
            let seconds = TimeInterval(max(0, input.settings.autoPromotionSeconds))
            bg.promotedAt = KubeTime.format(now.addingTimeInterval(seconds))
        } else {
            bg.promotedAt = nil
            if pendingPromote == nil {
                event(.normal, "AwaitingPromotion", "revision \(bg.previewRevision.map(String.init) ?? "?") is ready on \(previewColor.rawValue); annotate \(RequestAnnotation.promote.name) to promote")
            }
        }
        return true
    }

    mutating func promote() {
        bg.promotedAt = KubeTime.format(now)
        step = .scalingUpPreview
        event(.normal, "Promoted", "revision \(bg.previewRevision.map(String.init) ?? "?") promoted; scaling \(previewColor.rawValue) to \(input.desiredReplicas)")
    }

    /// Abort request before the switch.
    mutating func abortPreview(token: String) {
        givePreviewUp(reason: "AbortRequested", detail: "abort requested (\(RequestAnnotation.abort.name)=\(token))", outcome: .aborted, token: token)
    }

    /// Gives the preview up before any switch: preview to zero, Warning, `Aborted`, no retry this generation.
    mutating func givePreviewUp(reason: String, detail: String, outcome: Status.Outcome, token: String?, recordRollback record: Bool = true) {
        if let token { handledAbort = token }
        let color = previewColor
        scaleToZero(color)
        if let revision = bg.previewRevision {
            actions.append(.recordOutcome(revision: revision, outcome: outcome))
            if record, let active = bg.activeRevision {
                recordRollback(from: revision, to: active, reason: reason, message: detail)
            }
        }
        let serving = bg.activeColor.map { "; traffic stays on \($0.rawValue)" } ?? "; nothing serves yet"
        event(.warning, reason, "\(detail)\(serving)")
        abortMessage = "\(reason): \(detail)"
        step = .aborted
    }

    /// Switches traffic back to the old colour after an abort; the aborted colour goes to zero.
    mutating func switchBack(to color: Color, revision: Int64) {
        let aborted = bg.activeRevision
        switchTo(color, revision: revision)
        bg.previewColor = color.other
        bg.previewRevision = aborted
        bg.scaleDownAt = nil
        scaleToZero(color.other)
        step = .aborted
    }

    mutating func switchTo(_ color: Color, revision: Int64) {
        actions.append(.switchTraffic(to: color))
        bg.activeColor = color
        bg.activeRevision = revision
        step = .switched
    }

    mutating func scheduleScaleDown() {
        let delay = TimeInterval(max(0, input.settings.scaleDownDelaySeconds))
        bg.scaleDownAt = KubeTime.format(now.addingTimeInterval(delay))
        step = .switched
    }

    mutating func recordRollback(from: Int64, to: Int64, reason: String, message: String) {
        lastRollback = Status.LastRollback(fromRevision: from, toRevision: to, reason: reason, message: message,
                                           at: KubeTime.format(now), generation: input.generation)
    }

    // MARK: Helpers

    /// Consumes requests that do not apply in this step, with a Normal Event.
    mutating func ignoreRequests(abort: Bool, promote: Bool, why: String) {
        if abort, let token = pendingAbort {
            handledAbort = token
            event(.normal, "AbortIgnored", "\(RequestAnnotation.abort.name)=\(token) ignored: \(why)")
        }
        if promote, let token = pendingPromote {
            handledPromote = token
            event(.normal, "PromoteIgnored", "\(RequestAnnotation.promote.name)=\(token) ignored: \(why)")
        }
        // A skip left pending would silently skip the next rollout's analysis.
        if promote, let token = pendingSkip {
            handledSkipAnalysis = token
            event(.normal, "SkipAnalysisIgnored", "\(RequestAnnotation.skipAnalysis.name)=\(token) ignored: \(why)")
        }
    }

    /// Preview size: full on a first deployment, else `previewReplicas` (default: the active count).
    var previewSize: Int32 {
        guard bg.activeColor != nil else { return input.desiredReplicas }
        return input.settings.previewReplicas ?? input.desiredReplicas
    }

    func hash(of revision: Int64) -> String? {
        if revision == target.revision { return target.templateHash }
        if let rolling = input.rollingStable, rolling.revision == revision { return rolling.templateHash }
        return input.templateHashes[revision]
    }

    mutating func scaleToZero(_ color: Color) {
        let obs = input.observation(color)
        guard obs.exists, obs.specReplicas != 0 else { return }
        actions.removeAll { if case .applyColor(color, _, _, _) = $0 { return true } else { return false } }
        actions.append(.scaleColor(color, replicas: 0))
    }

    mutating func event(_ type: EventType, _ reason: String, _ message: String) {
        actions.append(.event(PlannedEvent(type, reason, message)))
    }

    /// Keeps the steady parts right whatever the step: the active colour carries its revision at
    /// the desired size (unless the HPA owns it); an idle colour at rest is at zero.
    mutating func maintain() {
        let touched = Set(actions.compactMap { action -> Color? in
            switch action {
            case .applyColor(let c, _, _, _), .scaleColor(let c, _): return c
            default: return nil
            }
        })
        if let active = bg.activeColor, let revision = bg.activeRevision, let hash = hash(of: revision), !touched.contains(active) {
            let obs = input.observation(active)
            // With the HPA on, an existing active colour's count is the HPA's.
            let replicas: Int32? = input.autoscaled ? nil : input.desiredReplicas
            if !obs.exists || obs.templateHash != hash {
                actions.append(.applyColor(active, revision: revision, templateHash: hash, replicas: obs.exists ? replicas : input.desiredReplicas))
            } else if let replicas, obs.specReplicas != replicas {
                actions.append(.scaleColor(active, replicas: replicas))
            }
        }
        if [.idle, .aborted].contains(step), let active = bg.activeColor, !touched.contains(active.other) {
            scaleToZero(active.other)
        }
        if step == .aborted, bg.activeColor == nil, let preview = bg.previewColor, !touched.contains(preview) {
            scaleToZero(preview)
        }
    }

    // MARK: Result

    func decision() -> BlueGreenDecision {
        BlueGreenDecision(status: bg, actions: actions, lastRollback: lastRollback, handledPromote: handledPromote,
                          handledAbort: handledAbort, handledSkipAnalysis: handledSkipAnalysis, hint: hint(), requeueAfter: requeueAfter)
    }

    func hint() -> BlueGreenStatusHint {
        let preview = bg.previewRevision.map { "revision \($0) on \(previewColor.rawValue)" } ?? "the preview"
        let serving = bg.activeRevision.map { "revision \($0) serves on \(bg.activeColor?.rawValue ?? "?")" } ?? "nothing serves yet"
        func progressing(_ message: String) -> BlueGreenStatusHint {
            BlueGreenStatusHint(phase: .progressing, ready: false, reconciling: true, stalled: false, reason: step.rawValue, message: message)
        }
        switch step {
        case .migrating:
            if let failed = migrationFailed {
                return BlueGreenStatusHint(phase: .degraded, ready: false, reconciling: false, stalled: true, reason: "MigrationFailed", message: failed)
            }
            return progressing("moving \(preview) before switching to blue-green")
        case .idle, .switched:
            if let active = bg.activeColor, !input.observation(active).rollout.isComplete {
                return progressing("\(active.rawValue) is not fully available; \(serving)")
            }
            return BlueGreenStatusHint(phase: .healthy, ready: true, reconciling: false, stalled: false, reason: "RolloutComplete", message: serving)
        case .deployingPreview: return progressing("deploying \(preview); \(serving)")
        case .smokeTesting: return progressing("smoke-testing \(preview) (job \(bg.smokeTestJob ?? "?")); \(serving)")
        case .prePromotionAnalysis:
            if let invalid = analysisInvalid {
                return BlueGreenStatusHint(phase: .failed, ready: false, reconciling: false, stalled: true, reason: ConditionReason.invalidSpec,
                                           message: "analysis of \(preview) cannot run: \(invalid); \(serving)")
            }
            return progressing("analysing \(preview) before promotion (\(input.analysis?.message ?? "starting")); \(serving)")
        case .postPromotionAnalysis:
            if let invalid = analysisInvalid {
                return BlueGreenStatusHint(phase: .failed, ready: false, reconciling: false, stalled: true, reason: ConditionReason.invalidSpec,
                                           message: "post-promotion analysis cannot run: \(invalid); \(serving), the old colour stays up")
            }
            return progressing("analysing after the switch (\(input.analysis?.message ?? "starting")); \(serving)")
        case .awaitingPromotion:
            let when = input.settings.autoPromotion ? "promotion at \(bg.promotedAt ?? "?")" : "waiting for \(RequestAnnotation.promote.name)"
            return progressing("\(preview) passed its checks, \(when); \(serving)")
        case .scalingUpPreview: return progressing("scaling \(preview) to \(input.desiredReplicas) before the switch; \(serving)")
        case .switchingBack:
            return BlueGreenStatusHint(phase: .rollingBack, ready: false, reconciling: true, stalled: false, reason: "SwitchingBack",
                                       message: "scaling \(preview) up to switch back; \(serving)")
        case .rollingBack:
            return BlueGreenStatusHint(phase: .rollingBack, ready: false, reconciling: true, stalled: false, reason: "RollingBack",
                                       message: "rolling back to \(preview); \(serving)")
        case .aborted:
            let why = abortMessage ?? "\(preview) was aborted; change the spec to try again"
            return BlueGreenStatusHint(phase: bg.activeColor == nil ? .failed : .degraded, ready: false, reconciling: false, stalled: true,
                                       reason: "Aborted", message: "\(why); \(serving)")
        }
    }
}
