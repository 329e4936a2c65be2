import KubeCore
import XCTest

@testable import KubeRuntime

final class WatcherStateMachineTests: XCTestCase {
    private func machine(healthyAfter: Double = 120) -> WatcherStateMachine {
        WatcherStateMachine(labelSelector: "app=x",
                            configuration: WatcherConfiguration(pageSize: 2, backoff: ExponentialBackoff(initial: 1, maximum: 30, factor: 2, jitter: 0.5),
                                                                healthyAfter: healthyAfter, watchTimeoutSeconds: 60))
    }

    private func page(_ items: [JSONValue], rv: String = "10", continue token: String? = nil) -> ObjectList<JSONValue> {
        ObjectList(metadata: ListMeta(resourceVersion: rv, continue: token), items: items)
    }

    /// Drives a machine through a complete two-page list.
    private func synced(_ m: inout WatcherStateMachine) {
        _ = m.start()
        _ = m.listPage(page([configMap("a")], continue: "tok"))
        _ = m.listPage(page([configMap("b")], rv: "10"))
    }

    func testPaginatedListThenWatchFromTheListsResourceVersion() {
        var m = machine()
        XCTAssertFalse(m.hasSynced)
        XCTAssertEqual(m.start(), [.list(ListOptions(labelSelector: "app=x", limit: 2))])
        XCTAssertEqual(m.listPage(page([configMap("a"), configMap("b")], rv: "", continue: "tok1")),
                       [.list(ListOptions(labelSelector: "app=x", limit: 2, continue: "tok1"))])
        XCTAssertFalse(m.hasSynced, "not synced before the last page")
        let actions = m.listPage(page([configMap("c")], rv: "42"))
        XCTAssertEqual(actions, [
            .apply(.replaceAll([configMap("a"), configMap("b"), configMap("c")], resourceVersion: "42")),
            .watch(ListOptions(labelSelector: "app=x", resourceVersion: "42", timeoutSeconds: 60, allowWatchBookmarks: true)),
        ])
        XCTAssertTrue(m.hasSynced)
        XCTAssertEqual(m.state, .watching(resourceVersion: "42"))
        XCTAssertEqual(m.listCount, 1)
    }

    func testWatchEventsBecomeCacheOperationsAndBookmarksAdvanceTheResourceVersion() {
        var m = machine()
        synced(&m)
        m.watchOpened(now: 0)
        XCTAssertEqual(m.watchEvent(WatchEvent(type: .added, object: configMap("c", rv: "11")), now: 1), [.apply(.upsert(configMap("c", rv: "11")))])
        XCTAssertEqual(m.watchEvent(WatchEvent(type: .modified, object: configMap("c", rv: "12")), now: 1), [.apply(.upsert(configMap("c", rv: "12")))])
        XCTAssertEqual(m.watchEvent(WatchEvent(type: .deleted, object: configMap("a", rv: "13")), now: 1), [.apply(.delete(configMap("a", rv: "13")))])
        let bookmark: JSONValue = ["kind": "ConfigMap", "apiVersion": "v1", "metadata": ["resourceVersion": "20"]]
        XCTAssertEqual(m.watchEvent(WatchEvent(type: .bookmark, object: bookmark), now: 2), [])
        XCTAssertEqual(m.resourceVersion, "20")
        // A healthy stream that ends reconnects at once from the bookmark's resourceVersion.
        XCTAssertEqual(m.watchEnded(now: 3, random: 0),
                       [.watch(ListOptions(labelSelector: "app=x", resourceVersion: "20", timeoutSeconds: 60, allowWatchBookmarks: true))])
    }

    func testGoneOnWatchRelistsAtOnceAndStaysSynced() {
        var m = machine()
        synced(&m)
        m.watchOpened(now: 0)
        XCTAssertEqual(m.watchFailed(goneError, now: 1, random: 0), [.list(ListOptions(labelSelector: "app=x", limit: 2))])
        XCTAssertEqual(m.state, .listing(continueToken: nil))
        XCTAssertTrue(m.hasSynced, "a re-list does not make the cache unsynced")
        let actions = m.listPage(page([configMap("b", rv: "30")], rv: "31"))
        XCTAssertEqual(actions.first, .apply(.replaceAll([configMap("b", rv: "30")], resourceVersion: "31")))
        XCTAssertEqual(m.listCount, 2)
    }

    func testErrorLineMidStreamIsGoneAndRelists() throws {
        // The server answers a watch from a compacted resourceVersion with an ERROR line; the
        // decoder turns it into `KubeError.api` with 410, which the machine treats as Gone.
        let line = Data(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (10)","reason":"Expired","code":410}}"#.utf8)
        var decoded: (any Error)?
        XCTAssertThrowsError(try WatchLineDecoder.decode(line)) { decoded = $0 }
        var m = machine()
        synced(&m)
        m.watchOpened(now: 0)
        let error = try XCTUnwrap(decoded)
        XCTAssertEqual(m.watchFailed(error, now: 1, random: 0), [.list(ListOptions(labelSelector: "app=x", limit: 2))])
    }

    func testFailedWatchesBackOffExponentiallyWithJitterUpToTheCap() {
        var m = machine()
        synced(&m)
        var delays: [Double] = []
        for _ in 0..<8 {
            let actions = m.watchFailed(serverError, now: 0, random: 0)
            guard case .sleep(let d)? = actions.first else { return XCTFail("expected a sleep, got \(actions)") }
            delays.append(d)
            XCTAssertEqual(m.backoffElapsed(),
                           [.watch(ListOptions(labelSelector: "app=x", resourceVersion: "10", timeoutSeconds: 60, allowWatchBookmarks: true))],
                           "after the backoff it watches again from the same resourceVersion, without a re-list")
        }
        XCTAssertEqual(delays, [1, 2, 4, 8, 16, 30, 30, 30])
        // Jitter only lengthens a delay, by at most its configured fraction, and never past the cap.
        var jittered = machine()
        synced(&jittered)
        guard case .sleep(let d)? = jittered.watchFailed(serverError, now: 0, random: 0.999).first else { return XCTFail() }
        XCTAssertEqual(d, 1.4995, accuracy: 1e-9)
    }

    func testBackoffResetsAfterAHealthyPeriod() {
        var m = machine(healthyAfter: 60)
        synced(&m)
        for _ in 0..<4 {
            _ = m.watchFailed(serverError, now: 0, random: 0)
            _ = m.backoffElapsed()
        }
        XCTAssertEqual(m.backoffAttempts, 4)
        // A stream that stayed up for the healthy period resets the backoff, even without events.
        m.watchOpened(now: 100)
        XCTAssertEqual(m.watchFailed(serverError, now: 161, random: 0), [.sleep(1)])
        _ = m.backoffElapsed()
        // One that failed quickly and delivered nothing does not.
        m.watchOpened(now: 200)
        XCTAssertEqual(m.watchFailed(serverError, now: 201, random: 0), [.sleep(2)])
        _ = m.backoffElapsed()
        // One that delivered an event made progress: reset too.
        m.watchOpened(now: 300)
        _ = m.watchEvent(WatchEvent(type: .added, object: configMap("z", rv: "50")), now: 300)
        XCTAssertEqual(m.watchFailed(serverError, now: 300.5, random: 0), [.sleep(1)])
    }

    func testAStreamThatEndsEarlyWithoutEventsBacksOff() {
        var m = machine()
        synced(&m)
        m.watchOpened(now: 0)
        XCTAssertEqual(m.watchEnded(now: 0.1, random: 0), [.sleep(1)])
        XCTAssertEqual(m.state, .backingOff(relist: false, resourceVersion: "10"))
    }

    func testFailedListBacksOffThenListsFromTheStart() {
        var m = machine()
        _ = m.start()
        _ = m.listPage(page([configMap("a")], continue: "tok"))
        XCTAssertEqual(m.listFailed(serverError, now: 0, random: 0), [.sleep(1)])
        XCTAssertEqual(m.backoffElapsed(), [.list(ListOptions(labelSelector: "app=x", limit: 2))])
        // The items of the abandoned attempt are not carried into the next list.
        let actions = m.listPage(page([configMap("b")], rv: "7"))
        XCTAssertEqual(actions.first, .apply(.replaceAll([configMap("b")], resourceVersion: "7")))
        XCTAssertFalse(actions.contains(.apply(.replaceAll([configMap("a"), configMap("b")], resourceVersion: "7"))))
    }

    func testExpiredContinueTokenRestartsTheListAtOnce() {
        var m = machine()
        _ = m.start()
        _ = m.listPage(page([configMap("a")], continue: "tok"))
        XCTAssertEqual(m.listFailed(goneError, now: 0, random: 0), [.list(ListOptions(labelSelector: "app=x", limit: 2))])
        XCTAssertEqual(m.backoffAttempts, 0)
    }

    func testEventsOutsideTheirStateAreIgnored() {
        var m = machine()
        XCTAssertEqual(m.watchEvent(WatchEvent(type: .added, object: configMap("a")), now: 0), [])
        XCTAssertEqual(m.backoffElapsed(), [])
        _ = m.start()
        XCTAssertEqual(m.start(), [], "start twice does nothing")
        m.stop()
        XCTAssertEqual(m.listPage(page([configMap("a")])), [])
        XCTAssertEqual(m.state, .stopped)
    }
}

final class BackoffAndTokenBucketTests: XCTestCase {
    func testExponentialBackoffGrowsCapsAndResets() {
        var b = ExponentialBackoff(initial: 0.5, maximum: 4, factor: 2, jitter: 0)
        XCTAssertEqual((0..<6).map { _ in b.next(random: 0.7) }, [0.5, 1, 2, 4, 4, 4])
        b.reset()
        XCTAssertEqual(b.next(random: 0), 0.5)
        var long = ExponentialBackoff(initial: 1, maximum: 30, factor: 2, jitter: 0)
        for _ in 0..<10_000 { _ = long.next(random: 0) }
        XCTAssertEqual(long.next(random: 0), 30, "a long outage neither overflows nor exceeds the cap")
    }

    func testTokenBucketBurstThenRate() {
        var bucket = TokenBucket(rate: 10, burst: 100)
        let first = (0..<100).map { _ in bucket.reserve(now: 0) }
        XCTAssertEqual(first, Array(repeating: 0, count: 100))
        XCTAssertEqual(bucket.reserve(now: 0), 0.1, accuracy: 1e-9)
        XCTAssertEqual(bucket.reserve(now: 0), 0.2, accuracy: 1e-9)
        // Debt (-2 tokens) is paid back at 10 per second: at 0.1 s one token came back.
        XCTAssertEqual(bucket.reserve(now: 0.1), 0.2, accuracy: 1e-9)
        XCTAssertEqual(bucket.reserve(now: 10), 0, "refilled to the burst")
        var limited = TokenBucket(rate: 1, burst: 2)
        XCTAssertTrue(limited.tryTake(now: 0))
        XCTAssertTrue(limited.tryTake(now: 0))
        XCTAssertFalse(limited.tryTake(now: 0.5))
        XCTAssertEqual(limited.timeUntilAvailable(now: 0.5), 0.5, accuracy: 1e-9)
        XCTAssertTrue(limited.tryTake(now: 1))
    }
}
