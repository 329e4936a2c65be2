import OperatorTestSupport
import XCTest

@testable import KubeRuntime

final class WorkQueueStateTests: XCTestCase {
    func testDeduplicatesAndKeepsOrder() {
        var q = WorkQueueState<String>()
        q.add("a", now: 0)
        q.add("b", now: 0)
        q.add("a", now: 0)
        XCTAssertEqual(q.depth, 2)
        XCTAssertEqual(q.get(now: 0), "a")
        XCTAssertEqual(q.get(now: 0), "b")
        XCTAssertNil(q.get(now: 0))
        XCTAssertEqual(q.metrics(now: 0).addsTotal, 2, "a de-duplicated add is not counted")
    }

    func testAKeyInFlightIsNotHandedOutAgainButRunsAgainAfterDone() {
        var q = WorkQueueState<String>()
        q.add("a", now: 0)
        XCTAssertEqual(q.get(now: 0), "a")
        q.add("a", now: 1)
        q.add("a", now: 1)
        XCTAssertTrue(q.isDirty("a"))
        XCTAssertNil(q.get(now: 1), "never to two workers at once")
        XCTAssertTrue(q.done("a", now: 2), "added while in flight: queued again on done")
        XCTAssertEqual(q.get(now: 2), "a")
        XCTAssertFalse(q.done("a", now: 3))
        XCTAssertNil(q.get(now: 3), "runs once more, not once per add")
    }

    /// A resync queues every key at low priority; a change queued meanwhile goes first, and a
    /// change to a key already waiting at low priority moves that key forward (handed out once).
    func testLowPriorityKeysWaitBehindNormalOnesAndMoveForwardOnANormalAdd() {
        var q = WorkQueueState<String>()
        for key in ["r1", "r2", "r3", "r4"] { q.add(key, now: 0, lowPriority: true) }
        q.add("change", now: 1)
        q.add("r3", now: 1)
        q.add("r1", now: 1, lowPriority: true)
        XCTAssertEqual(q.depth, 5)
        var order: [String] = []
        while let key = q.get(now: 2) { order.append(key) }
        XCTAssertEqual(order, ["change", "r3", "r1", "r2", "r4"])
        XCTAssertEqual(q.depth, 0)
    }

    func testLongQueuesKeepTheirOrderAcrossCompaction() {
        var q = WorkQueueState<Int>()
        for key in 0..<300 { q.add(key, now: 0, lowPriority: true) }
        for key in 1000..<1300 { q.add(key, now: 0) }
        var order: [Int] = []
        while let key = q.get(now: 1) { order.append(key) }
        XCTAssertEqual(order, Array(1000..<1300) + Array(0..<300))
    }

    func testInFlightPriorityDecidesHowItIsQueuedAgain() {
        var q = WorkQueueState<String>()
        q.add("a", now: 0)
        q.add("b", now: 0)
        XCTAssertEqual(q.get(now: 0), "a")
        XCTAssertEqual(q.get(now: 0), "b")
        q.add("a", now: 1, lowPriority: true)
        q.add("b", now: 1, lowPriority: true)
        q.add("b", now: 1)
        q.add("n", now: 1)
        XCTAssertTrue(q.done("a", now: 2))
        XCTAssertTrue(q.done("b", now: 2))
        XCTAssertEqual(q.get(now: 2), "n")
        XCTAssertEqual(q.get(now: 2), "b", "a normal add while in flight queues it at normal priority")
        XCTAssertEqual(q.get(now: 2), "a")
        q.shutDown()
        XCTAssertEqual(q.depth, 0)
    }

    func testAddAfterWaitsUntilDueAndTheEarlierDelayWins() {
        var q = WorkQueueState<String>()
        q.addAfter("a", delay: 10, now: 0)
        q.addAfter("a", delay: 5, now: 0)
        q.addAfter("a", delay: 20, now: 0)
        XCTAssertEqual(q.nextDueTime, 5)
        XCTAssertNil(q.get(now: 4.9))
        XCTAssertEqual(q.get(now: 5), "a")
        XCTAssertEqual(q.waitingCount, 0)
        q.addAfter("b", delay: 0, now: 6)
        XCTAssertEqual(q.depth, 1, "no delay: queued at once")
    }

    func testPerItemExponentialBackoffFrom5msTo1000sAndForget() {
        var q = WorkQueueState<String>()
        // Spread the failures in time so the token bucket never limits them.
        var delays: [Double] = []
        for i in 0..<20 { delays.append(q.rateLimitedDelay("a", now: Double(i) * 1000)) }
        let expected = (0..<20).map { min(0.005 * pow(2, Double($0)), 1000) }
        for (d, e) in zip(delays, expected) { XCTAssertEqual(d, e, accuracy: 1e-9) }
        XCTAssertEqual(delays.last, 1000)
        XCTAssertEqual(q.numRequeues("a"), 20)
        q.forget("a")
        XCTAssertEqual(q.numRequeues("a"), 0)
        XCTAssertEqual(q.rateLimitedDelay("a", now: 1e6), 0.005, accuracy: 1e-12)
    }

    func testARetryAfterIsAFloorThatKeepsTheBackoffGrowing() {
        var q = WorkQueueState<String>()
        // A server's Retry-After of 2 s: the first retries wait 2 s, and the count keeps growing, so
        // once the backoff passes the floor it takes over instead of starting again at 5 ms.
        var delays: [Double] = []
        for i in 0..<12 { delays.append(q.addRateLimited("a", now: Double(i) * 1000, atLeast: 2)) }
        XCTAssertEqual(Array(delays.prefix(9)), Array(repeating: 2, count: 9))
        XCTAssertEqual(delays[9], 0.005 * 512, accuracy: 1e-9)
        XCTAssertEqual(delays[11], 0.005 * 2048, accuracy: 1e-9)
        XCTAssertEqual(q.numRequeues("a"), 12)
    }

    func testOverallTokenBucketLimitsRetriesOfManyKeys() {
        var q = WorkQueueState<Int>(configuration: WorkQueueConfiguration(qps: 10, burst: 100))
        let delays = (0..<103).map { q.addRateLimited($0, now: 0) }
        XCTAssertEqual(Set(delays.prefix(100)), [0.005], "within the burst only the item backoff applies")
        XCTAssertEqual(delays[100], 0.1, accuracy: 1e-9)
        XCTAssertEqual(delays[101], 0.2, accuracy: 1e-9)
        XCTAssertEqual(delays[102], 0.3, accuracy: 1e-9)
        XCTAssertEqual(q.metrics(now: 0).retriesTotal, 103)
        XCTAssertEqual(q.metrics(now: 0).waiting, 103)
        XCTAssertEqual(q.promoteDue(now: 0.005), 100)
        XCTAssertEqual(q.promoteDue(now: 0.3), 3)
    }

    func testShutDownStopsHandingOutWorkButInFlightCanFinish() {
        var q = WorkQueueState<String>()
        q.add("a", now: 0)
        q.add("b", now: 0)
        XCTAssertEqual(q.get(now: 0), "a")
        q.shutDown()
        XCTAssertNil(q.get(now: 0))
        XCTAssertFalse(q.add("c", now: 0))
        q.add("a", now: 0)
        XCTAssertFalse(q.done("a", now: 1), "not re-queued after shutdown")
        XCTAssertTrue(q.inFlight.isEmpty)
    }

    func testMetricsTimings() {
        var q = WorkQueueState<String>()
        q.add("a", now: 0)
        q.add("b", now: 1)
        _ = q.get(now: 2)  // a waited 2 s
        _ = q.get(now: 4)  // b waited 3 s
        var m = q.metrics(now: 10)
        XCTAssertEqual(m.queueLatencySum, 5)
        XCTAssertEqual(m.queueLatencyCount, 2)
        XCTAssertEqual(m.inFlight, 2)
        XCTAssertEqual(m.unfinishedWorkSeconds, 8 + 6)
        XCTAssertEqual(m.longestRunningProcessorSeconds, 8)
        q.done("a", now: 10)
        m = q.metrics(now: 10)
        XCTAssertEqual(m.workDurationSum, 8)
        XCTAssertEqual(m.workDurationCount, 1)
        XCTAssertEqual(m.longestRunningProcessorSeconds, 6)
        XCTAssertEqual(m.depth, 0)
    }
}

final class WorkQueueActorTests: XCTestCase {
    func testGetWaitsForAnAddAndDelayedAddsFollowTheClock() async throws {
        let clock = ManualClock()
        let queue = WorkQueue<String>(clock: clock)
        let getter = Task { await queue.get() }
        await queue.addAfter("a", delay: 5)
        // The timer is armed on the clock; nothing is handed out before 5 s.
        try await waitUntil("the delayed add arms a timer") { clock.sleeperCount == 1 }
        clock.advance(by: 4.9)
        XCTAssertEqual(clock.sleeperCount, 1)
        clock.advance(by: 0.1)
        let got = await getter.value
        XCTAssertEqual(got, "a")
        let inFlight = await queue.inFlight
        XCTAssertEqual(inFlight, ["a"])
    }

    func testRateLimitedRetryComesBackAfterItsBackoff() async throws {
        let clock = ManualClock()
        let queue = WorkQueue<String>(clock: clock)
        await queue.add("a")
        let first = await queue.get()
        XCTAssertEqual(first, "a")
        let delay = await queue.addRateLimited("a")
        XCTAssertEqual(delay, 0.005, accuracy: 1e-12)
        await queue.done("a")
        let depth = await queue.depth
        XCTAssertEqual(depth, 0, "the retry waits for its backoff")
        let getter = Task { await queue.get() }
        try await waitUntil("the retry timer is armed") { clock.sleeperCount == 1 }
        clock.advance(by: 0.005)
        let second = await getter.value
        XCTAssertEqual(second, "a")
        let requeues = await queue.numRequeues("a")
        XCTAssertEqual(requeues, 1)
    }

    func testShutDownWithDrainWaitsForInFlightWorkAndWakesWaitingWorkers() async throws {
        let queue = WorkQueue<String>(clock: ManualClock())
        await queue.add("a")
        let key = await queue.get()
        XCTAssertEqual(key, "a")
        let idle = Task { await queue.get() }
        let drained = Task {
            await queue.shutDown(drain: true)
            return true
        }
        let idleResult = await idle.value
        XCTAssertNil(idleResult, "a waiting worker is told to exit")
        // The drain waits for "a", which only `done` can finish.
        try await waitUntil("the queue is shutting down") { await queue.isShuttingDown }
        let inFlight = await queue.inFlight
        XCTAssertEqual(inFlight, ["a"])
        await queue.done("a")
        let finished = await drained.value
        XCTAssertTrue(finished)
        let after = await queue.get()
        XCTAssertNil(after)
    }

    func testCancelledGetReturnsNil() async throws {
        let queue = WorkQueue<String>(clock: ManualClock())
        let getter = Task { await queue.get() }
        getter.cancel()
        let result = await getter.value
        XCTAssertNil(result)
        // The queue still works for others.
        await queue.add("a")
        let next = await queue.get()
        XCTAssertEqual(next, "a")
    }

    func testWorkersNeverShareAKey() async throws {
        let queue = WorkQueue<Int>(clock: SystemClock())
        let probe = ConcurrencyProbe()
        let adder = Task {
            for round in 0..<200 { await queue.add(round % 7) }
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    while let key = await queue.get() {
                        probe.willReconcile(ObjectKey(namespace: nil, name: "\(key)"), controller: "t")
                        await Task.yield()
                        probe.didReconcile(ObjectKey(namespace: nil, name: "\(key)"), controller: "t", result: .done, seconds: 0)
                        await queue.done(key)
                    }
                }
            }
            await adder.value
            try? await waitUntil("the queue is drained") {
                let (depth, inFlight) = (await queue.depth, await queue.inFlight)
                return depth == 0 && inFlight.isEmpty
            }
            await queue.shutDown(drain: true)
        }
        XCTAssertEqual(probe.maxConcurrentPerKey, 1)
        XCTAssertTrue(probe.overlappingKeys.isEmpty)
        XCTAssertEqual(Set(probe.reconcileCounts.keys.map(\.name)), Set((0..<7).map(String.init)))
    }
}
