import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

@Suite("ControllerLogic: RevisionPlan")
struct RevisionPlanLogicTests {
    typealias Status = PynomalyDeploymentStatus

    @Test func theFirstPassCreatesRevisionOne() {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        #expect(plan.target.revision == 1)
        #expect(plan.createdRevision)
        #expect(!plan.pinned)
        #expect(!plan.rolledBackNow)
        #expect(plan.status.history == [Status.HistoryEntry(revision: 1, image: "app:v1", configHash: "config", templateHash: "aaa",
                                                            generation: 1, createdAt: LogicFixture.now, outcome: .progressing)])
        #expect(plan.events == [PlannedEvent(.normal, "RevisionCreated", "revision 1: image app:v1")])
        #expect(plan.status.handledRequests == nil)
        #expect(plan.status.lastRollback == nil)
    }

    /// While a new revision's Deployment was written less than the settle window ago and it is still
    /// rolling out, the status waits (the passes in between plan the same revision again from the
    /// same status); anything else the status would record is written at once.
    @Test func onlyARevisionRollingWithinTheSettleWindowLeavesItsStatusToALaterPass() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        let plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb", image: "app:v2"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        let rolling = RolloutObservation.progressing("waiting for the Deployment controller to observe generation 2")
        #expect(plan.statusDeferral(rolloutStartedAgo: 0, rollout: rolling, old: old, settle: 1) == 1, "written by this pass: the whole window")
        #expect(plan.statusDeferral(rolloutStartedAgo: 0.75, rollout: rolling, old: old, settle: 1) == 0.25, "the rest of the window")
        #expect(plan.statusDeferral(rolloutStartedAgo: 1, rollout: rolling, old: old, settle: 1) == nil, "the window is over: progressing is written")
        #expect(plan.statusDeferral(rolloutStartedAgo: nil, rollout: rolling, old: old, settle: 1) == nil, "not written by this process")
        #expect(plan.statusDeferral(rolloutStartedAgo: -5, rollout: rolling, old: old, settle: 1) == nil, "a clock that went back")
        #expect(plan.statusDeferral(rolloutStartedAgo: 0.5, rollout: .complete, old: old, settle: 1) == nil)
        #expect(plan.statusDeferral(rolloutStartedAgo: 0.5, rollout: .failed(reason: "ProgressDeadlineExceeded", message: "m"), old: old, settle: 1) == nil)

        let next = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb", image: "app:v2"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        #expect(next == plan, "the next pass plans the same revision from the same status")

        let same = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        #expect(same.statusDeferral(rolloutStartedAgo: 0, rollout: rolling, old: old, settle: 1) == nil, "no new revision: a scale, say")

        let requested = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb", image: "app:v2"), rollbackRequest: "1@token",
                                          now: LogicFixture.now)
        #expect(requested.statusDeferral(rolloutStartedAgo: 0, rollout: rolling, old: old, settle: 1) == nil, "a handled request is recorded at once")
    }

    @Test func theSameTemplateReusesItsRevisionNumber() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        // A new generation (e.g. a replica change) with the same template is not a revision.
        let plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.revision == 1)
        #expect(!plan.createdRevision)
        #expect(!plan.pinned)
        #expect(plan.events.isEmpty)
        #expect(plan.status.history == old.history, "a succeeded revision stays as it was")
    }

    @Test func aTemplateSeenEarlierInHistoryReusesItsOldNumber() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .succeeded)], current: 2, stable: 2)
        let plan = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.revision == 1)
        #expect(!plan.createdRevision)
        #expect(plan.status.history?.count == 2)
    }

    @Test func aNewTemplateIsMaxPlusOneAndSupersedesOlderProgressingEntries() {
        let old = LogicFixture.status([LogicFixture.entry(2, "aaa", .succeeded), LogicFixture.entry(5, "bbb", .progressing, generation: 2)],
                                 current: 5, stable: 2)
        let plan = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.revision == 6, "max + 1, not count + 1")
        #expect(plan.createdRevision)
        #expect(plan.target.generation == 3)
        #expect(plan.target.createdAt == LogicFixture.later)
        #expect(plan.target.outcome == .progressing)
        let outcomes = plan.status.history?.map { "\($0.revision):\($0.outcome?.rawValue ?? "-")" }
        #expect(outcomes == ["2:Succeeded", "5:Superseded", "6:Progressing"])
        #expect(plan.events.map(\.reason) == ["RevisionCreated"])
    }

    @Test func aFailedRolloutWithAStableRevisionRollsBackAndPinsForThatGeneration() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        #expect(plan.target.revision == 2)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 2, now: LogicFixture.later)

        #expect(plan.rolledBackNow)
        #expect(plan.status.history?.last?.outcome == .rolledBack)
        #expect(plan.status.history?.first?.outcome == .succeeded)
        #expect(plan.status.lastRollback == Status.LastRollback(fromRevision: 2, toRevision: 1, reason: "ProgressDeadlineExceeded",
                                                               message: "deadline", at: LogicFixture.later, generation: 2, specTemplateHash: "bbb"))
        #expect(plan.status.stableRevision == 1)
        let warning = try #require(plan.events.first { $0.reason == "RolledBack" })
        #expect(warning.type == .warning)
        #expect(warning.message.contains("revision 2 failed"))
        #expect(warning.message.contains("rolling back to revision 1"))
        #expect(!plan.events.contains { $0.reason == "RolloutFailed" })

        // The next pass at the same generation deploys the stable revision, not the spec's.
        var next = RevisionPlan.plan(status: plan.status, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(next.pinned)
        #expect(next.target.revision == 1)
        #expect(next.target.templateHash == "aaa")
        #expect(!next.createdRevision)
        #expect(next.rollbackIsAutomatic)
        #expect(next.events.isEmpty)
        next.observe(.complete, rollbackOnFailure: true, generation: 2, now: LogicFixture.later)
        #expect(next.status.currentRevision == 1)
        #expect(next.status.stableRevision == 1)
        #expect(next.status.image == "registry/app:aaa")
        #expect(!next.rolledBackNow)
        #expect(next.status.history?.map(\.outcome) == [.succeeded, .rolledBack], "the failed revision is not retried")

        // Passes at rest stay pinned: no loop.
        let again = RevisionPlan.plan(status: next.status, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(again.pinned)
        #expect(again.target.revision == 1)
    }

    @Test func aNewGenerationUnpinsAndRetriesTheFailedTemplate() {
        var old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .rolledBack, generation: 2)],
                                 current: 1, stable: 1)
        old.lastRollback = Status.LastRollback(fromRevision: 2, toRevision: 1, reason: "ProgressDeadlineExceeded", message: "m",
                                               at: LogicFixture.now, generation: 2)
        let plan = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2, "the same template keeps its number")
        #expect(plan.target.outcome == .progressing)
        #expect(plan.target.generation == 3)
        #expect(!plan.createdRevision)
        #expect(!plan.rollbackIsAutomatic)

        // A different new template at the new generation is a new revision instead.
        let other = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!other.pinned)
        #expect(other.target.revision == 3)
        #expect(other.status.history?.map(\.outcome) == [.succeeded, .rolledBack, .progressing])
    }

    /// A change of the strategy, the replicas or anything else outside the pod template bumps the
    /// generation; it must not retry the template that was rolled back (or abandoned) from. Only a
    /// different template unpins.
    @Test func onlyADifferentTemplateUnpinsARollback() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 2, now: LogicFixture.later)
        for generation in Int64(3)...7 {
            let next = RevisionPlan.plan(status: plan.status, generation: generation, spec: LogicFixture.spec("bbb"), rollbackRequest: nil,
                                         now: LogicFixture.later)
            #expect(next.pinned, "generation \(generation): same template, still pinned")
            #expect(next.target.revision == 1)
            #expect(next.status.history?.last?.outcome == .rolledBack, "never retried behind the user's back")
        }
        let changed = RevisionPlan.plan(status: plan.status, generation: 8, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!changed.pinned)
        #expect(changed.target.revision == 3)
    }

    /// A restart token changes the spec's template hash but not what the spec asks to run: with the
    /// template identity given without the token, a restart keeps the rollback pinned.
    @Test func aRestartDoesNotUnpinARollback() {
        var old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .rolledBack, generation: 2)],
                                      current: 1, stable: 1)
        old.lastRollback = Status.LastRollback(fromRevision: 2, toRevision: 1, reason: "ProgressDeadlineExceeded", message: "m",
                                               at: LogicFixture.now, generation: 2, specTemplateHash: "bbb")
        let restarted = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb-restarted"), rollbackRequest: nil,
                                          now: LogicFixture.later, specTemplateKey: "bbb")
        #expect(restarted.pinned)
        #expect(restarted.target.revision == 1)
        #expect(!restarted.createdRevision)
    }

    /// History can name a revision whose ControllerRevision never existed (planned while a Secret was
    /// missing) or was deleted: a rollback to it is rejected, never pinned to something undeployable.
    @Test func aRollbackToARevisionWithoutItsControllerRevisionIsRejected() throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                     now: LogicFixture.later, knownRevisions: ["bbb"])
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2)
        #expect(plan.status.lastRollback == nil)
        let event = try #require(plan.events.first)
        #expect(event.reason == "RollbackRejected")
        #expect(event.message.contains("revision 1 has no ControllerRevision"), "\(event.message)")
        #expect(plan.status.handledRequests?["rollback-to"] == "1@t", "handled once, not retried on every pass")
        let accepted = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                         now: LogicFixture.later, knownRevisions: ["aaa", "bbb"])
        #expect(accepted.pinned)
    }

    @Test func aFailedRevisionIsNotRetriedAtTheGenerationItFailedIn() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .failed, generation: 4)], current: 1)
        let plan = RevisionPlan.plan(status: old, generation: 4, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.outcome == .failed)
        #expect(plan.target.generation == 4)
    }

    @Test func aFailureWithoutAStableRevisionFailsWithoutRollback() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 1, now: LogicFixture.later)
        #expect(!plan.rolledBackNow)
        #expect(plan.status.lastRollback == nil)
        #expect(plan.status.history?.map(\.outcome) == [.failed])
        #expect(plan.status.currentRevision == 1)
        let event = try #require(plan.events.first { $0.reason == "RolloutFailed" })
        #expect(event.type == .warning)
        #expect(event.message == "revision 1 failed (ProgressDeadlineExceeded: deadline)")

        // The same failure observed again is not reported twice.
        let eventCount = plan.events.count
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 1, now: LogicFixture.later)
        #expect(plan.events.count == eventCount)
    }

    @Test func aFailureWithRollbackDisabledFailsEvenWithAStableRevision() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed(), rollbackOnFailure: false, generation: 2, now: LogicFixture.later)
        #expect(!plan.rolledBackNow)
        #expect(plan.status.lastRollback == nil)
        #expect(plan.status.history?.map(\.outcome) == [.succeeded, .failed])
        #expect(plan.events.contains { $0.reason == "RolloutFailed" && $0.type == .warning })
        // Not pinned at the next pass: the failing template stays deployed.
        let next = RevisionPlan.plan(status: plan.status, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!next.pinned)
        #expect(next.target.revision == 2)
    }

    @Test func successMakesTheTargetStable() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        plan.observe(.progressing("0 of 3 replicas updated"), rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(plan.status.stableRevision == nil)
        #expect(plan.status.history?.first?.outcome == .progressing)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(plan.status.stableRevision == 1)
        #expect(plan.status.currentRevision == 1)
        #expect(plan.status.image == "app:v1")
        #expect(plan.status.history?.first?.outcome == .succeeded)
        let complete = try #require(plan.events.first { $0.reason == "RolloutComplete" })
        #expect(complete.type == .normal)
    }

    /// A revision created and complete in the same pass (its status write waited for the rollout)
    /// gets one Event; one whose creation a status already recorded gets its own RolloutComplete.
    @Test func aRevisionCompleteInThePassThatCreatedItGetsOneEvent() {
        var created = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                        now: LogicFixture.now)
        created.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(created.events == [PlannedEvent(.normal, "RolloutComplete", "revision 1 created and available (image app:v1)")])

        var rolling = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                        now: LogicFixture.now)
        rolling.observe(.progressing("1 of 3 updated"), rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(rolling.events.map(\.reason) == ["RevisionCreated"])

        var later = RevisionPlan.plan(status: rolling.status, generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                      now: LogicFixture.later)
        later.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.later)
        #expect(later.events == [PlannedEvent(.normal, "RolloutComplete", "revision 1 is available (image app:v1)")])

        var failed = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                       now: LogicFixture.now)
        failed.observe(.failed(reason: "ProgressDeadlineExceeded", message: "m"), rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(failed.events.map(\.reason) == ["RevisionCreated", "RolloutFailed"], "a failure keeps both")
    }

    // MARK: Rollback requests

    static let twoGood = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .succeeded, generation: 2)],
                                        current: 2, stable: 2)

    @Test func aRollbackRequestWithATokenPinsThatRevision() throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@abc",
                                     now: LogicFixture.later)
        #expect(plan.pinned)
        #expect(plan.target.revision == 1)
        #expect(!plan.rollbackIsAutomatic)
        #expect(plan.status.handledRequests == ["rollback-to": "1@abc"])
        let rollback = try #require(plan.status.lastRollback)
        #expect(rollback.fromRevision == 2)
        #expect(rollback.toRevision == 1)
        #expect(rollback.reason == "RollbackRequested")
        #expect(rollback.generation == 3)
        #expect(rollback.at == LogicFixture.later)
        #expect(plan.events == [PlannedEvent(.normal, "RollbackRequested", "rolling back from revision 2 to revision 1")])
    }

    @Test func aRollbackRequestWithoutATokenIsAccepted() {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1", now: LogicFixture.later)
        #expect(plan.pinned)
        #expect(plan.target.revision == 1)
        #expect(plan.status.handledRequests?["rollback-to"] == "1")
    }

    @Test func rollbackToZeroPicksTheLatestSuccessfulRevisionOtherThanTheCurrent() {
        let history = [LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .succeeded), LogicFixture.entry(3, "ccc", .failed),
                       LogicFixture.entry(4, "ddd", .succeeded)]
        // Current is 4: the previous successful is 2 (3 failed).
        let fromFour = RevisionPlan.plan(status: LogicFixture.status(history, current: 4, stable: 4), generation: 5, spec: LogicFixture.spec("ddd"),
                                         rollbackRequest: "0@x", now: LogicFixture.later)
        #expect(fromFour.pinned)
        #expect(fromFour.target.revision == 2)
        // Current is 2 (an earlier rollback): the latest successful other than 2 is 4.
        let fromTwo = RevisionPlan.plan(status: LogicFixture.status(history, current: 2, stable: 2), generation: 5, spec: LogicFixture.spec("ddd"),
                                        rollbackRequest: "0@y", now: LogicFixture.later)
        #expect(fromTwo.target.revision == 4)
    }

    @Test func rollbackToZeroWithoutAnEarlierSuccessIsRejected() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        let plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("aaa"), rollbackRequest: "0", now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.status.lastRollback == nil)
        let event = try #require(plan.events.first)
        #expect(event.type == .warning)
        #expect(event.reason == "RollbackRejected")
        #expect(event.message.contains("no earlier successful revision"))
        #expect(plan.status.handledRequests?["rollback-to"] == "0", "handled: not retried on every pass")
    }

    @Test func aRollbackToAnUnknownRevisionIsRejectedAndChangesNothing() throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "9@t",
                                     now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2)
        #expect(plan.status.lastRollback == nil)
        #expect(plan.status.history == Self.twoGood.history)
        #expect(plan.events == [PlannedEvent(.warning, "RollbackRejected", "revision 9 is not in history (revisions: 1, 2)")])
        #expect(plan.status.handledRequests?["rollback-to"] == "9@t")
    }

    @Test(arguments: ["abc", "-1", "1@", "1.5", "", "  ", "@tok", "٣"])
    func aMalformedRollbackRequestIsRejected(_ value: String) throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: value,
                                     now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2)
        #expect(plan.status.lastRollback == nil)
        let event = try #require(plan.events.first)
        #expect(event.type == .warning)
        #expect(event.reason == "RollbackRejected")
        #expect(event.message.hasPrefix("pynomaly.ai/rollback-to"))
        #expect(!event.message.hasPrefix("pynomaly.ai/rollback-to: pynomaly.ai/rollback-to"), "the annotation is named once")
        #expect(plan.events.count == 1)
    }

    @Test func theSameRollbackValueIsHandledOnce() {
        let first = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                      now: LogicFixture.now)
        #expect(first.events.map(\.reason) == ["RollbackRequested"])

        // The annotation is still there at the next pass: no second request, the pin holds.
        let second = RevisionPlan.plan(status: first.status, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                       now: LogicFixture.later)
        #expect(second.events.isEmpty)
        #expect(second.pinned)
        #expect(second.status.lastRollback == first.status.lastRollback, "the first request's record is kept")

        // A spec change releases the pin; the old value does not pin again.
        let changed = RevisionPlan.plan(status: second.status, generation: 4, spec: LogicFixture.spec("ccc"), rollbackRequest: "1@t",
                                        now: LogicFixture.later)
        #expect(!changed.pinned)
        #expect(changed.target.revision == 3)
        #expect(changed.events.map(\.reason) == ["RevisionCreated"])

        // A new token is a new request.
        let renewed = RevisionPlan.plan(status: changed.status, generation: 4, spec: LogicFixture.spec("ccc"), rollbackRequest: "1@u",
                                        now: LogicFixture.later)
        #expect(renewed.pinned)
        #expect(renewed.target.revision == 1)
        #expect(renewed.status.handledRequests?["rollback-to"] == "1@u")
    }

    @Test func aRejectedValueIsNotReportedAgain() {
        let first = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "garbage",
                                      now: LogicFixture.now)
        #expect(first.events.count == 1)
        let second = RevisionPlan.plan(status: first.status, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "garbage",
                                       now: LogicFixture.later)
        #expect(second.events.isEmpty)
    }

    // MARK: Pruning

    static func fiveRevisions(current: Int64, stable: Int64) -> Status {
        LogicFixture.status((1...5).map { LogicFixture.entry($0, "t\($0)", .succeeded) }, current: current, stable: stable)
    }

    @Test func pruneDropsTheOldestBeyondTheLimitButKeepsTargetAndStable() {
        let old = Self.fiveRevisions(current: 5, stable: 3)
        var plan = RevisionPlan.plan(status: old, generation: 9, spec: LogicFixture.spec("t5"), rollbackRequest: nil, now: LogicFixture.later)
        plan.status.stableRevision = 3
        plan.prune(limit: 2)
        #expect(plan.status.history?.map(\.revision) == [3, 5])
        #expect(plan.pruned.map(\.revision) == [1, 2, 4])
    }

    @Test func pruneKeepsAnOldStableRevision() {
        var plan = RevisionPlan.plan(status: Self.fiveRevisions(current: 5, stable: 1), generation: 9, spec: LogicFixture.spec("t5"),
                                     rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 3)
        #expect(plan.status.history?.map(\.revision) == [1, 4, 5])
        #expect(plan.pruned.map(\.revision) == [2, 3])
    }

    @Test func pruneWithinTheLimitDropsNothingAndSortsByRevision() {
        let shuffled = LogicFixture.status([LogicFixture.entry(3, "c", .succeeded), LogicFixture.entry(1, "a", .succeeded), LogicFixture.entry(2, "b", .succeeded)],
                                      current: 3, stable: 3)
        var plan = RevisionPlan.plan(status: shuffled, generation: 9, spec: LogicFixture.spec("c"), rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 3)
        #expect(plan.pruned.isEmpty)
        #expect(plan.status.history?.map(\.revision) == [1, 2, 3])
    }

    @Test func aZeroLimitStillKeepsTargetAndStable() {
        var plan = RevisionPlan.plan(status: Self.fiveRevisions(current: 5, stable: 2), generation: 9, spec: LogicFixture.spec("t5"),
                                     rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 0)
        #expect(plan.status.history?.map(\.revision) == [2, 5])
        #expect(plan.pruned.map(\.revision) == [1, 3, 4])
    }

    @Test func revisionNumbersKeepIncreasingAfterPruning() {
        var plan = RevisionPlan.plan(status: Self.fiveRevisions(current: 5, stable: 5), generation: 9, spec: LogicFixture.spec("t5"),
                                     rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 1)
        #expect(plan.status.history?.map(\.revision) == [5])
        let next = RevisionPlan.plan(status: plan.status, generation: 10, spec: LogicFixture.spec("new"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(next.target.revision == 6)
        // A template whose entry was pruned comes back as a new revision.
        let back = RevisionPlan.plan(status: plan.status, generation: 10, spec: LogicFixture.spec("t1"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(back.target.revision == 6)
        #expect(back.createdRevision)
    }
}
