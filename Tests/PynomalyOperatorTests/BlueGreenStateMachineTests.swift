import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

// MARK: - A simulated cluster and reconciler around the pure state machine

/// One colour Deployment as the simulation keeps it.
struct SimColor: Hashable {
    var hash: String?
    var spec: Int32 = 0
    var ready: Int32 = 0
    var failed = false
}

/// The cluster: two colour Deployments, smoke Jobs, where traffic points. Actions take effect at
/// once; `tick` lets the Deployment controller, kubelet and Jobs catch up.
struct SimWorld {
    typealias Color = PynomalyDeploymentStatus.Color
    var colors: [Color: SimColor] = [.blue: SimColor(), .green: SimColor()]
    var existing: Set<Color> = []
    var jobs: [Int64: BlueGreenSmokeJob] = [:]
    /// Jobs created anew per revision (an AlreadyExists create is not counted).
    var jobsCreated: [Int64: Int] = [:]
    var traffic: Color?
    var legacyDeployment = false
    /// Templates whose pods never become available (ProgressDeadlineExceeded after a tick).
    var failingHashes: Set<String> = []
    /// How each revision's smoke test ends (default: success).
    var smokeResults: [Int64: BlueGreenSmokeJob.State] = [:]
    /// Jobs stay running while set.
    var holdJobs = false

    func observation(_ color: Color) -> BlueGreenColorObservation {
        guard existing.contains(color), let c = colors[color] else { return .absent }
        let rollout: RolloutObservation = c.failed ? .failed(reason: "ProgressDeadlineExceeded", message: "ReplicaSet has timed out progressing")
            : (c.ready >= c.spec ? .complete : .progressing("\(c.ready) of \(c.spec) ready"))
        return BlueGreenColorObservation(exists: true, templateHash: c.hash, specReplicas: c.spec, readyReplicas: c.ready,
                                         availableReplicas: c.ready, updatedReplicas: c.ready, rollout: rollout)
    }

    mutating func apply(_ action: BlueGreenAction) {
        switch action {
        case .applyColor(let color, _, let hash, let replicas):
            var c = colors[color] ?? SimColor()
            if c.hash != hash { c.ready = 0; c.failed = false }
            c.hash = hash
            c.spec = replicas ?? c.spec
            c.ready = min(c.ready, c.spec)
            colors[color] = c
            existing.insert(color)
        case .scaleColor(let color, let replicas):
            guard existing.contains(color), var c = colors[color] else { return }
            c.spec = replicas
            c.ready = min(c.ready, replicas)
            colors[color] = c
        case .createSmokeJob(let revision, let color):
            if jobs[revision] == nil {
                jobs[revision] = BlueGreenSmokeJob(color: color, state: .running)
                jobsCreated[revision, default: 0] += 1
            }
        case .deleteSmokeJob(let revision):
            jobs[revision] = nil
        case .switchTraffic(let color):
            traffic = color
        case .deleteRollingUpdateDeployment:
            legacyDeployment = false
        case .event, .recordOutcome:
            break
        }
    }

    mutating func tick() {
        for color in existing {
            guard var c = colors[color] else { continue }
            if let hash = c.hash, failingHashes.contains(hash), c.spec > 0 { c.failed = true } else { c.ready = c.spec }
            colors[color] = c
        }
        guard !holdJobs else { return }
        for (revision, job) in jobs where job.state == .running {
            jobs[revision]?.state = smokeResults[revision] ?? .succeeded
        }
    }
}

/// The reconciler around the state machine: RevisionPlan for the target (as the real one), the
/// state machine, actions into the world, one status write. Every pass checks the invariants.
struct BlueGreenSim {
    typealias Status = PynomalyDeploymentStatus
    typealias Color = Status.Color

    var world = SimWorld()
    var status = Status()
    var generation: Int64 = 1
    var templateHash = "h1"
    var annotations: [String: String] = [:]
    var settings = BlueGreenSim.defaultSettings()
    var replicas: Int32 = 3
    var autoscaled = false
    var now = Date(timeIntervalSince1970: 1_900_000_000)
    var decisions: [BlueGreenDecision] = []
    /// Every switch: (colour, revision it serves).
    var switches: [(Color, Int64)] = []
    /// Passes (0-based) after whose actions the operator crashes before writing the status; the
    /// restarted operator re-runs from the old status against the changed world.
    var crashAt: Set<Int> = []
    var passCount = 0

    var step: BlueGreenStep? { status.blueGreen?.step.flatMap(BlueGreenStep.init(rawValue:)) }
    var active: (Color?, Int64?) { (status.blueGreen?.activeColor, status.blueGreen?.activeRevision) }

    /// autoPromotion, no delay, previewReplicas 1, scale-down after 300 s, a smoke test.
    static func defaultSettings() -> ResolvedSpec.BlueGreen {
        var spec = PynomalyDeploymentSpec(image: "img")
        spec.strategy = .init(type: .blueGreen, blueGreen: .init(
            autoPromotion: true, autoPromotionSeconds: 0, previewReplicas: 1, scaleDownDelaySeconds: 300,
            smokeTest: .init(image: "curlimages/curl:8.10.1", timeoutSeconds: 60)))
        guard let settings = spec.resolved().strategy.blueGreen else { preconditionFailure("BlueGreen strategy resolves to settings") }
        return settings
    }

    /// Changes the spec's pod template (a new generation).
    mutating func deploy(_ hash: String) {
        templateHash = hash
        generation += 1
    }

    mutating func input() -> (BlueGreenInput, RevisionPlan) {
        let spec = Status.HistoryEntry(revision: 0, image: "img:\(templateHash)", templateHash: templateHash)
        let plan = RevisionPlan.plan(status: status, generation: generation, spec: spec,
                                     rollbackRequest: annotations[RequestAnnotation.rollbackTo.name], now: KubeTime.format(now))
        let input = BlueGreenInput(
            name: "pyd", plan: plan, settings: settings, generation: generation, desiredReplicas: replicas, autoscaled: autoscaled,
            blue: world.observation(.blue), green: world.observation(.green), smokeJobs: world.jobs, annotations: annotations, now: now)
        return (input, plan)
    }

    /// One reconcile pass.
    @discardableResult
    mutating func pass(sourceLocation: SourceLocation = #_sourceLocation) -> BlueGreenDecision {
        var (input, plan) = self.input()
        var decision = BlueGreenStateMachine.step(input)
        // Pure: the same input decides the same.
        #expect(BlueGreenStateMachine.step(input) == decision, "step is not deterministic", sourceLocation: sourceLocation)
        execute(decision, input: input, restart: false, sourceLocation: sourceLocation)
        if crashAt.contains(passCount) {
            // The status write is lost: a restarted operator decides again from the old status.
            (input, plan) = self.input()
            decision = BlueGreenStateMachine.step(input)
            execute(decision, input: input, restart: true, sourceLocation: sourceLocation)
        }
        passCount += 1
        write(decision, plan: plan)
        decisions.append(decision)
        return decision
    }

    mutating func execute(_ decision: BlueGreenDecision, input: BlueGreenInput, restart: Bool, sourceLocation: SourceLocation) {
        for action in decision.actions {
            switch action {
            case .switchTraffic(let color):
                // Traffic only goes to a colour with every desired replica of its revision ready.
                let serving = decision.status.activeRevision ?? -1
                let hash = input.templateHashes[serving] ?? (serving == input.target.revision ? input.target.templateHash : nil)
                let obs = world.observation(color)
                #expect(decision.status.activeColor == color, sourceLocation: sourceLocation)
                #expect(hash != nil && obs.isFullyReady(templateHash: hash ?? "", replicas: replicas),
                        "switched to \(color) which is not fully ready: \(obs)", sourceLocation: sourceLocation)
                if switches.last.map({ $0.0 != color || $0.1 != serving }) ?? true { switches.append((color, serving)) }
            case .createSmokeJob(let revision, _):
                // A new Job only where none exists; an existing one is the restart case (AlreadyExists).
                if !restart {
                    #expect(world.jobs[revision] == nil, "smoke job \(revision) created twice", sourceLocation: sourceLocation)
                }
            default:
                break
            }
            world.apply(action)
        }
        if let traffic = world.traffic {
            #expect((world.colors[traffic]?.ready ?? 0) > 0, "traffic on \(traffic) without ready pods", sourceLocation: sourceLocation)
        }
    }

    /// The single status write of a pass.
    mutating func write(_ decision: BlueGreenDecision, plan: RevisionPlan) {
        var next = plan.status
        next.blueGreen = decision.status
        var history = next.history ?? []
        for case .recordOutcome(let revision, let outcome) in decision.actions {
            if let i = history.firstIndex(where: { $0.revision == revision }) { history[i].outcome = outcome }
        }
        next.history = history
        if let rollback = decision.lastRollback { next.lastRollback = rollback }
        var handled = next.handledRequests ?? [:]
        if let token = decision.handledPromote { handled[RequestAnnotation.promote.statusKey] = token }
        if let token = decision.handledAbort { handled[RequestAnnotation.abort.statusKey] = token }
        next.handledRequests = handled.isEmpty ? nil : handled
        if let active = decision.status.activeRevision { next.stableRevision = active; next.currentRevision = active }
        status = next
    }

    /// Passes and ticks until nothing changes any more (timers aside).
    @discardableResult
    mutating func settle(maxPasses: Int = 40, sourceLocation: SourceLocation = #_sourceLocation) -> BlueGreenDecision? {
        var last: BlueGreenDecision?
        for _ in 0..<maxPasses {
            let before = (status, world.colors, world.jobs, world.traffic, world.existing)
            let decision = pass(sourceLocation: sourceLocation)
            world.tick()
            last = decision
            if before.0 == status && before.1 == world.colors && before.2 == world.jobs && before.3 == world.traffic && before.4 == world.existing {
                return decision
            }
        }
        Issue.record("did not settle in \(maxPasses) passes; step \(String(describing: step))", sourceLocation: sourceLocation)
        return last
    }

    func outcome(_ revision: Int64) -> Status.Outcome? { status.history?.first { $0.revision == revision }?.outcome }
    var allActions: [BlueGreenAction] { decisions.flatMap(\.actions) }
    var events: [PlannedEvent] { allActions.compactMap { if case .event(let e) = $0 { e } else { nil } } }
    func count(_ match: (BlueGreenAction) -> Bool) -> Int { allActions.filter(match).count }

    /// A first deployment of revision 1 on blue, settled.
    static func deployed(configure: (inout BlueGreenSim) -> Void = { _ in }) -> BlueGreenSim {
        var sim = BlueGreenSim()
        configure(&sim)
        sim.settle()
        return sim
    }
}

func isCreateJob(_ a: BlueGreenAction) -> Bool { if case .createSmokeJob = a { true } else { false } }
func isSwitch(_ a: BlueGreenAction) -> Bool { if case .switchTraffic = a { true } else { false } }

// MARK: - Scenarios

@Suite("BlueGreenStateMachine")
struct BlueGreenStateMachineTests {
    typealias Color = PynomalyDeploymentStatus.Color

    @Test func firstDeploymentGoesToBlueAfterSmokeTest() {
        var sim = BlueGreenSim()
        let first = sim.pass()
        #expect(first.status.step == "DeployingPreview")
        #expect(first.status.previewColor == .blue)
        #expect(first.actions.contains(.applyColor(.blue, revision: 1, templateHash: "h1", replicas: 3)), "first deployment goes at full size")
        #expect(!first.actions.contains(where: isSwitch))
        sim.world.tick()
        let second = sim.pass()
        #expect(second.actions.contains(.createSmokeJob(revision: 1, color: .blue)))
        #expect(!second.actions.contains(where: isSwitch), "no switch before the smoke test passed")
        sim.settle()
        #expect(sim.step == .idle)
        #expect(sim.active == (.blue, 1))
        #expect(sim.world.traffic == .blue)
        #expect(sim.world.jobsCreated == [1: 1])
        #expect(sim.outcome(1) == .succeeded)
        #expect(sim.count(isSwitch) == 1)
        #expect(sim.world.existing == [.blue], "green is never created on a first deployment")
    }

    @Test func autoPromotionRunsTheWholeRollout() {
        var sim = BlueGreenSim.deployed()
        sim.deploy("h2")
        let start = sim.pass()
        #expect(start.status.previewColor == .green)
        #expect(start.actions.contains(.applyColor(.green, revision: 2, templateHash: "h2", replicas: 1)), "preview at previewReplicas")
        sim.settle()
        #expect(sim.step == .switched)
        #expect(sim.active == (.green, 2))
        #expect(sim.world.traffic == .green)
        #expect(sim.world.colors[.blue]?.spec == 3, "old colour kept scaled for the scale-down delay")
        #expect(sim.world.colors[.green]?.spec == 3, "preview scaled to full size before the switch")
        #expect(sim.world.jobsCreated == [1: 1, 2: 1])
        #expect(sim.outcome(2) == .succeeded)

        sim.now += 299
        sim.settle()
        #expect(sim.step == .switched)
        #expect(sim.decisions.last?.requeueAfter == 1)
        sim.now += 1
        sim.settle()
        #expect(sim.step == .idle)
        #expect(sim.world.colors[.blue]?.spec == 0)
        #expect(sim.status.blueGreen?.previewRevision == 1, "the idle colour still carries revision 1")
        #expect(sim.switches.map(\.0) == [.blue, .green])
    }

    @Test func manualPromotionWaitsForToken() {
        var sim = BlueGreenSim.deployed { $0.settings.autoPromotion = false }
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .awaitingPromotion)
        #expect(sim.world.traffic == .blue)
        #expect(sim.world.colors[.green]?.spec == 1)
        #expect(sim.decisions.last?.hint.phase == .progressing)
        #expect(sim.decisions.last?.hint.message.contains("pynomaly.ai/promote") == true)

        sim.annotations[RequestAnnotation.promote.name] = "t1"
        let promoted = sim.pass()
        #expect(promoted.handledPromote == "t1")
        #expect(promoted.status.step == "ScalingUpPreview")
        #expect(promoted.actions.contains(.applyColor(.green, revision: 2, templateHash: "h2", replicas: 3)))
        #expect(!promoted.actions.contains(where: isSwitch), "no switch before the preview is full size")
        sim.world.tick()
        sim.settle()
        #expect(sim.step == .switched)
        #expect(sim.active == (.green, 2))
        #expect(sim.status.handledRequests?["promote"] == "t1")
    }

    /// A promote token given while the preview is still being tested waits for the test.
    @Test func earlyPromoteTokenWaitsForTheSmokeTest() {
        var sim = BlueGreenSim.deployed { $0.settings.autoPromotion = false }
        sim.deploy("h2")
        sim.world.holdJobs = true
        sim.annotations[RequestAnnotation.promote.name] = "early"
        sim.settle()
        #expect(sim.step == .smokeTesting)
        #expect(sim.world.traffic == .blue)
        #expect(sim.status.handledRequests?["promote"] == nil)
        sim.world.holdJobs = false
        sim.world.tick()
        sim.settle()
        #expect(sim.active == (.green, 2))
        #expect(sim.status.handledRequests?["promote"] == "early")
    }

    @Test func autoPromotionSecondsTimer() {
        var sim = BlueGreenSim.deployed { $0.settings.autoPromotionSeconds = 120 }
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .awaitingPromotion)
        #expect(sim.decisions.last?.requeueAfter == 120)
        sim.now += 119
        sim.settle()
        #expect(sim.step == .awaitingPromotion)
        #expect(sim.world.traffic == .blue)
        #expect(sim.decisions.last?.requeueAfter == 1)
        sim.now += 1
        sim.settle()
        #expect(sim.step == .switched)
        #expect(sim.world.traffic == .green)
    }

    @Test func failedSmokeTestAbortsWithoutSwitchAndNoRetry() {
        var sim = BlueGreenSim.deployed()
        sim.world.smokeResults[2] = .failed(reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit")
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .aborted)
        #expect(sim.world.traffic == .blue)
        #expect(sim.active == (.blue, 1))
        #expect(sim.world.colors[.green]?.spec == 0, "preview scaled down")
        #expect(sim.outcome(2) == .failed)
        #expect(sim.switches.count == 1)
        let warning = sim.events.first { $0.type == .warning }
        #expect(warning?.reason == "SmokeTestFailed")
        #expect(warning?.message.contains("BackoffLimitExceeded") == true)
        #expect(sim.decisions.last?.hint.phase == .degraded)
        #expect(sim.decisions.last?.hint.stalled == true)
        #expect(sim.status.lastRollback?.reason == "SmokeTestFailed")

        // Same generation: many passes later, no retry.
        let jobs = sim.world.jobsCreated
        for _ in 0..<5 { sim.pass(); sim.world.tick(); sim.now += 60 }
        #expect(sim.step == .aborted)
        #expect(sim.world.jobsCreated == jobs)
        #expect(sim.world.colors[.green]?.spec == 0)

        // A spec change (same template, new generation) retries: the failed Job is replaced once.
        sim.world.smokeResults[2] = nil
        sim.generation += 1
        sim.settle()
        #expect(sim.active == (.green, 2))
        #expect(sim.world.jobsCreated[2] == 2)
    }

    @Test func missedDeadlineAborts() {
        var sim = BlueGreenSim.deployed()
        sim.world.failingHashes = ["h2"]
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .aborted)
        #expect(sim.world.traffic == .blue)
        #expect(sim.world.jobsCreated[2] == nil, "no smoke test for a preview that never became available")
        #expect(sim.outcome(2) == .failed)
        #expect(sim.events.contains { $0.type == .warning && $0.reason == "ProgressDeadlineExceeded" })
        #expect(sim.world.colors[.green]?.spec == 0)
        // A new revision starts over.
        sim.deploy("h3")
        sim.settle()
        #expect(sim.active == (.green, 3))
    }

    @Test func abortBeforeSwitch() {
        var sim = BlueGreenSim.deployed { $0.settings.autoPromotion = false }
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .awaitingPromotion)
        sim.annotations[RequestAnnotation.abort.name] = "a1"
        let abort = sim.pass()
        #expect(abort.handledAbort == "a1")
        #expect(!abort.actions.contains(where: isSwitch), "abort never switches")
        #expect(abort.actions.contains(.scaleColor(.green, replicas: 0)))
        #expect(abort.actions.contains { if case .event(let e) = $0 { e.type == .warning } else { false } })
        sim.settle()
        #expect(sim.step == .aborted)
        #expect(sim.outcome(2) == .aborted)
        #expect(sim.world.traffic == .blue)
        // A promote after the abort does nothing.
        sim.annotations[RequestAnnotation.promote.name] = "p1"
        sim.settle()
        #expect(sim.step == .aborted)
        #expect(sim.world.traffic == .blue)
        #expect(sim.events.contains { $0.reason == "PromoteIgnored" })
    }

    @Test func abortDuringDeployAndDuringSmokeTest() {
        for holdAt in [BlueGreenStep.deployingPreview, .smokeTesting] {
            var sim = BlueGreenSim.deployed()
            sim.world.holdJobs = true
            sim.deploy("h2")
            sim.pass()
            if holdAt == .smokeTesting { sim.world.tick(); sim.pass() }
            #expect(sim.step == holdAt)
            sim.annotations[RequestAnnotation.abort.name] = "a"
            sim.settle()
            #expect(sim.step == .aborted)
            #expect(sim.world.traffic == .blue)
            #expect(sim.switches.count == 1)
        }
    }

    @Test func abortAfterSwitchIsInstantWhileOldColourScaled() {
        var sim = BlueGreenSim.deployed()
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .switched)
        sim.annotations[RequestAnnotation.abort.name] = "a1"
        let abort = sim.pass()
        #expect(abort.actions.first(where: isSwitch) == .switchTraffic(to: .blue), "flips back in the same pass")
        #expect(abort.actions.contains(.scaleColor(.green, replicas: 0)))
        let switchIndex = abort.actions.firstIndex(where: isSwitch) ?? 99
        let scaleIndex = abort.actions.firstIndex(of: .scaleColor(.green, replicas: 0)) ?? -1
        #expect(switchIndex < scaleIndex, "switch back before scaling the aborted colour down")
        sim.settle()
        #expect(sim.step == .aborted)
        #expect(sim.active == (.blue, 1))
        #expect(sim.outcome(2) == .aborted)
        #expect(sim.status.lastRollback?.fromRevision == 2)
        #expect(sim.status.lastRollback?.toRevision == 1)
        #expect(sim.decisions.last?.hint.phase == .degraded)
        // No retry of revision 2 in this generation.
        for _ in 0..<3 { sim.pass(); sim.world.tick() }
        #expect(sim.active == (.blue, 1))
        #expect(sim.world.colors[.green]?.spec == 0)
    }

    @Test func abortAfterSwitchScalesOldColourUpFirst() {
        var sim = BlueGreenSim.deployed()
        sim.deploy("h2")
        sim.settle()
        // Someone (or node loss) took blue below full size.
        sim.world.colors[.blue]?.spec = 1
        sim.world.colors[.blue]?.ready = 1
        sim.annotations[RequestAnnotation.abort.name] = "a1"
        let abort = sim.pass()
        #expect(!abort.actions.contains(where: isSwitch), "no flip to a colour that is not fully ready")
        #expect(abort.status.step == "SwitchingBack")
        #expect(abort.hint.phase == .rollingBack)
        #expect(abort.actions.contains(.applyColor(.blue, revision: 1, templateHash: "h1", replicas: 3)), "scale the old colour up first")
        let next = sim.pass()
        #expect(!next.actions.contains(where: isSwitch), "blue has 1 of 3 ready")
        #expect(sim.world.traffic == .green)
        sim.world.tick()
        sim.settle()
        #expect(sim.active == (.blue, 1))
        #expect(sim.world.traffic == .blue)
        #expect(sim.step == .aborted)
        #expect(sim.world.colors[.green]?.spec == 0)
    }

    @Test func rollbackAfterScaleDownScalesUpThenSwitches() {
        var sim = BlueGreenSim.deployed()
        sim.deploy("h2")
        sim.settle()
        sim.now += 300
        sim.settle()
        #expect(sim.step == .idle)
        #expect(sim.world.colors[.blue]?.spec == 0)
        let jobs = sim.world.jobsCreated
        sim.annotations[RequestAnnotation.rollbackTo.name] = "1"
        let start = sim.pass()
        #expect(start.status.step == "RollingBack")
        #expect(start.actions.contains(.applyColor(.blue, revision: 1, templateHash: "h1", replicas: 3)))
        #expect(!start.actions.contains(where: isSwitch))
        sim.world.tick()
        sim.settle()
        #expect(sim.active == (.blue, 1))
        #expect(sim.world.traffic == .blue)
        #expect(sim.world.jobsCreated == jobs, "a rollback runs no smoke test")
        #expect(sim.outcome(2) == .rolledBack)
        #expect(sim.step == .switched)
        sim.now += 300
        sim.settle()
        #expect(sim.step == .idle)
        #expect(sim.world.colors[.green]?.spec == 0)
        // Pinned for this generation; a spec change deploys the spec's revision again.
        sim.deploy("h3")
        sim.settle()
        #expect(sim.active == (.green, 3))
    }

    @Test func rollbackWithinScaleDownDelayIsInstant() {
        var sim = BlueGreenSim.deployed()
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .switched)
        sim.annotations[RequestAnnotation.rollbackTo.name] = "0"
        let rollback = sim.pass()
        #expect(rollback.actions.first(where: isSwitch) == .switchTraffic(to: .blue))
        #expect(!rollback.actions.contains { if case .applyColor(.blue, _, _, _) = $0 { true } else { false } })
        #expect(sim.active == (.blue, 1))
    }

    @Test func unknownRollbackRevisionChangesNothing() {
        var sim = BlueGreenSim.deployed()
        sim.annotations[RequestAnnotation.rollbackTo.name] = "9"
        sim.settle()
        #expect(sim.active == (.blue, 1))
        #expect(sim.step == .idle)
    }

    @Test func hpaReplicasSizeThePreviewBeforeTheSwitch() {
        var sim = BlueGreenSim.deployed { $0.autoscaled = true }
        sim.replicas = 7  // the HPA's current replicas
        sim.world.colors[.blue]?.spec = 7
        sim.world.tick()
        sim.deploy("h2")
        sim.settle()
        #expect(sim.active == (.green, 2))
        #expect(sim.world.colors[.green]?.spec == 7)
        // The active colour's count is the HPA's: the operator does not scale it.
        #expect(!sim.allActions.contains(.scaleColor(.blue, replicas: 3)))
        sim.now += 300
        sim.settle()
        #expect(sim.world.colors[.blue]?.spec == 0)
        #expect(sim.world.colors[.green]?.spec == 7)
    }

    @Test func noSmokeTestConfigured() {
        var sim = BlueGreenSim.deployed { $0.settings.smokeTest = nil }
        sim.deploy("h2")
        sim.settle()
        #expect(sim.active == (.green, 2))
        #expect(sim.world.jobsCreated.isEmpty)
        #expect(sim.count(isCreateJob) == 0)
    }

    @Test func newRevisionDuringPreviewSupersedesIt() {
        var sim = BlueGreenSim.deployed { $0.settings.autoPromotion = false }
        sim.deploy("h2")
        sim.settle()
        #expect(sim.step == .awaitingPromotion)
        sim.deploy("h3")
        sim.settle()
        #expect(sim.status.blueGreen?.previewRevision == 3)
        #expect(sim.world.colors[.green]?.hash == "h3")
        #expect(sim.world.traffic == .blue)
        // Back to the serving template: the preview is dropped.
        sim.deploy("h1")
        sim.settle()
        #expect(sim.step == .idle)
        #expect(sim.world.colors[.green]?.spec == 0)
        #expect(sim.active == (.blue, 1))
    }

    @Test func migrationFromRollingUpdate() {
        var sim = BlueGreenSim()
        // What a RollingUpdate pass left: revision 1 stable, served by the NAME Deployment.
        sim.status = PynomalyDeploymentStatus(currentRevision: 1, stableRevision: 1,
                                              history: [.init(revision: 1, image: "img:h1", templateHash: "h1", generation: 1, outcome: .succeeded)])
        sim.world.legacyDeployment = true
        sim.deploy("h2")
        let first = sim.pass()
        #expect(first.status.step == "Migrating")
        #expect(first.actions.contains(.applyColor(.blue, revision: 1, templateHash: "h1", replicas: 3)))
        #expect(!first.actions.contains(where: isSwitch))
        sim.world.tick()
        let switched = sim.pass()
        #expect(switched.actions.contains(.switchTraffic(to: .blue)))
        #expect(switched.actions.contains(.deleteRollingUpdateDeployment))
        #expect(switched.status.activeRevision == 1)
        #expect(sim.world.legacyDeployment == false)
        #expect(sim.world.jobsCreated[1] == nil, "the serving revision is not smoke-tested again")
        sim.settle()
        #expect(sim.active == (.green, 2))
        #expect(sim.world.jobsCreated == [2: 1])
    }

    @Test func failedFirstDeploymentIsFailedPhase() {
        var sim = BlueGreenSim()
        sim.world.smokeResults[1] = .failed(reason: "DeadlineExceeded", message: "Job was active longer than specified deadline")
        sim.settle()
        #expect(sim.step == .aborted)
        #expect(sim.world.traffic == nil)
        #expect(sim.decisions.last?.hint.phase == .failed)
        #expect(sim.world.colors[.blue]?.spec == 0)
        sim.world.smokeResults[1] = nil
        sim.generation += 1
        sim.settle()
        #expect(sim.active == (.blue, 1))
    }

    @Test func requestsWithNothingToDoAreConsumed() {
        var sim = BlueGreenSim.deployed()
        sim.annotations[RequestAnnotation.abort.name] = "a"
        sim.annotations[RequestAnnotation.promote.name] = "p"
        let d = sim.pass()
        #expect(d.handledAbort == "a")
        #expect(d.handledPromote == "p")
        #expect(!d.actions.contains(where: isSwitch))
        #expect(sim.step == .idle)
    }

    // MARK: Observations from live objects

    @Test func colorObservationFromDeployment() {
        var deployment = Deployment(metadata: ObjectMeta(name: "pyd-green", labels: [PynomalyLabels.templateHashKey: "h2"]),
                                    spec: DeploymentSpec(replicas: 3, selector: LabelSelector(matchLabels: [:]), template: PodTemplateSpec()))
        deployment.metadata.generation = 2
        deployment.status = DeploymentStatus(observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3)
        let ready = BlueGreenColorObservation(deployment: deployment)
        #expect(ready.isFullyReady(templateHash: "h2", replicas: 3))
        #expect(!ready.isFullyReady(templateHash: "h1", replicas: 3), "another revision")
        #expect(!ready.isFullyReady(templateHash: "h2", replicas: 5), "not full size")
        deployment.status?.observedGeneration = 1
        #expect(!BlueGreenColorObservation(deployment: deployment).isFullyReady(templateHash: "h2", replicas: 3), "status not observed yet")
        deployment.status?.observedGeneration = 2
        deployment.status?.availableReplicas = 2
        #expect(!BlueGreenColorObservation(deployment: deployment).isFullyReady(templateHash: "h2", replicas: 3))
        #expect(!BlueGreenColorObservation(deployment: nil).exists)
    }

    @Test func smokeJobStateFromJob() {
        var job = Job(metadata: ObjectMeta(name: "pyd-smoke-2", labels: [PynomalyLabels.colorKey: "green"]))
        #expect(BlueGreenSmokeJob(job: job) == BlueGreenSmokeJob(color: .green, state: .running))
        job.status = JobStatus(conditions: [Condition(type: "Complete", status: "True")])
        #expect(BlueGreenSmokeJob(job: job).state == .succeeded)
        job.status = JobStatus(conditions: [Condition(type: "Failed", status: "True", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline")])
        #expect(BlueGreenSmokeJob(job: job).state == .failed(reason: "DeadlineExceeded", message: "Job was active longer than specified deadline"))
    }

    // MARK: Restart at every step

    /// Every scenario again, once per pass with the operator crashing after that pass's actions
    /// and before its status write: the restarted operator re-runs from the old status against
    /// the changed world. The end state is the same, each revision gets exactly one smoke Job,
    /// and every switch goes to a fully ready colour (checked in `execute`).
    @Test(arguments: ["auto", "manual", "timer", "smokeFail", "deadline", "abortAfter", "rollback", "hpa"])
    func restartAtEveryStep(_ scenario: String) {
        let normal = Self.run(scenario, crashAt: [])
        #expect(normal.passCount > 5)
        #expect(normal.world.jobsCreated.values.allSatisfy { $0 == 1 }, "\(scenario)")
        for crash in 0..<normal.passCount {
            let crashing = Self.run(scenario, crashAt: [crash])
            let label = "\(scenario), crash after pass \(crash)"
            #expect(crashing.status.blueGreen == normal.status.blueGreen, "\(label)")
            #expect(crashing.status.history == normal.status.history, "\(label)")
            #expect(crashing.world.traffic == normal.world.traffic, "\(label)")
            #expect(crashing.world.colors == normal.world.colors, "\(label)")
            #expect(crashing.world.jobsCreated == normal.world.jobsCreated, "\(label): one smoke Job per revision")
            #expect(crashing.switches.map(\.0) == normal.switches.map(\.0), "\(label): same switches, none doubled")
            #expect(crashing.switches.map(\.1) == normal.switches.map(\.1), "\(label)")
        }
    }

    static func run(_ scenario: String, crashAt: Set<Int>) -> BlueGreenSim {
        var sim = BlueGreenSim()
        sim.crashAt = crashAt
        if scenario == "manual" { sim.settings.autoPromotion = false }
        if scenario == "timer" { sim.settings.autoPromotionSeconds = 30 }
        if scenario == "hpa" { sim.autoscaled = true; sim.replicas = 5 }
        sim.settle()
        switch scenario {
        case "smokeFail": sim.world.smokeResults[2] = .failed(reason: "BackoffLimitExceeded", message: "failed")
        case "deadline": sim.world.failingHashes = ["h2"]
        default: break
        }
        sim.deploy("h2")
        sim.settle()
        switch scenario {
        case "manual":
            sim.annotations[RequestAnnotation.promote.name] = "p"
            sim.settle()
        case "timer":
            sim.now += 30
            sim.settle()
        case "abortAfter":
            sim.annotations[RequestAnnotation.abort.name] = "a"
            sim.settle()
        case "rollback":
            sim.now += 300
            sim.settle()
            sim.annotations[RequestAnnotation.rollbackTo.name] = "1"
            sim.settle()
        default:
            break
        }
        sim.now += 300
        sim.settle()
        return sim
    }

    // MARK: Properties over every step

    /// From every step reachable in the scenarios, re-running the pass with its exact input gives
    /// the same decision, and a decision only switches to a colour the input shows fully ready.
    @Test func switchesOnlyToFullyReadyColoursFromAnyInput() {
        for scenario in ["auto", "manual", "abortAfter", "rollback", "hpa"] {
            var sim = Self.run(scenario, crashAt: [])
            _ = sim.pass()
            #expect(sim.switches.count >= 1)
        }
        // Every step with a preview half-ready never switches.
        let settings = BlueGreenSim().settings
        for step in BlueGreenStep.allCases {
            let status = PynomalyDeploymentStatus.BlueGreen(activeColor: .blue, previewColor: .green, step: step.rawValue, activeRevision: 1,
                                                            previewRevision: 2, smokeTestJob: "pyd-smoke-2",
                                                            promotedAt: "2030-01-01T00:00:00Z", scaleDownAt: "2099-01-01T00:00:00Z")
            let half = BlueGreenColorObservation(exists: true, templateHash: "h2", specReplicas: 3, readyReplicas: 2, availableReplicas: 2,
                                                 updatedReplicas: 3, rollout: .progressing("2 of 3"))
            let blue = BlueGreenColorObservation(exists: true, templateHash: "h1", specReplicas: 1, readyReplicas: 1, availableReplicas: 1,
                                                 updatedReplicas: 1, rollout: .complete)
            for pinned in [false, true] {
              for (promote, abort) in [(nil, nil), ("p", nil), (nil, "a")] as [(String?, String?)] {
                let input = BlueGreenInput(
                    name: "pyd", status: status, target: BlueGreenRevision(revision: pinned ? 1 : 2, templateHash: pinned ? "h1" : "h2", outcome: .progressing, pinned: pinned),
                    templateHashes: [1: "h1", 2: "h2"], generation: 2, settings: settings, desiredReplicas: 3,
                    blue: blue, green: half, smokeJobs: [2: BlueGreenSmokeJob(color: .green, state: .succeeded)],
                    promoteToken: promote, abortToken: abort, now: Date(timeIntervalSince1970: 1_900_000_000))
                let decision = BlueGreenStateMachine.step(input)
                #expect(!decision.actions.contains(where: isSwitch), "\(step) pinned=\(pinned) \(promote ?? "") \(abort ?? "") switched to a colour not fully ready")
                #expect(decision.status.activeColor == .blue, "\(step)")
                #expect(BlueGreenStateMachine.step(input) == decision)
              }
            }
        }
    }
}
