#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Synchronization

/// The `type` of a core/v1 Event.
public enum EventType: String, Sendable, Hashable {
    case normal = "Normal"
    case warning = "Warning"
}

/// Tunables of the event recorder.
public struct EventRecorderConfiguration: Sendable, Hashable {
    /// `source.component` and `reportingComponent` (e.g. `pynomaly-operator`).
    public var component: String
    /// `reportingInstance` (e.g. the pod name).
    public var instance: String
    /// Events waiting to be written; beyond this `record` drops (and counts) them.
    public var queueBound: Int
    /// Per involved object: API writes allowed at once and refilled per second (client-go's spam
    /// filter: 25 and one per 5 minutes). Repeats over the limit are still counted and written
    /// together once a token is free, so counts are never lost, only delayed.
    public var perObjectBurst: Int
    public var perObjectQPS: Double
    /// How often repeats held back by the rate limit are looked at again.
    public var flushInterval: Double
    /// Distinct (object, type, reason, message) entries remembered for aggregation.
    public var maxAggregationEntries: Int

    public init(component: String, instance: String = "", queueBound: Int = 1000, perObjectBurst: Int = 25,
                perObjectQPS: Double = 1.0 / 300, flushInterval: Double = 1, maxAggregationEntries: Int = 4096) {
        self.component = component
        self.instance = instance
        self.queueBound = max(1, queueBound)
        self.perObjectBurst = perObjectBurst
        self.perObjectQPS = perObjectQPS
        self.flushInterval = flushInterval
        self.maxAggregationEntries = max(1, maxAggregationEntries)
    }
}

/// Counters of the recorder.
public struct EventRecorderStats: Sendable, Hashable {
    public var recorded = 0
    /// Dropped because the queue was full.
    public var dropped = 0
    public var created = 0
    public var patched = 0
    /// Repeats held back by the per-object rate limit (written later, aggregated).
    public var deferred = 0
    public var failed = 0
}

/// Records core/v1 Events about objects without ever blocking the caller: `record` only puts the
/// event in a bounded queue; `run` writes them. Repeats of one (object, type, reason, message)
/// become one Event whose `count` and `lastTimestamp` are PATCHed (as client-go does), and API
/// writes are rate-limited per object.
public final class EventRecorder: Sendable {
    private enum Item: Sendable {
        case event(involved: JSONValue, namespace: String, objectName: String, type: EventType, reason: String, message: String, at: Date)
        case flush
    }

    private struct Entry: Sendable {
        var eventName: String
        var namespace: String
        var involved: JSONValue
        var type: EventType
        var reason: String
        var message: String
        var count: Int
        var firstTimestamp: Date
        var lastTimestamp: Date
        /// The count the API has (0: not created yet).
        var writtenCount: Int
        var lastUse: UInt64
        var objectKey: String
    }

    public let configuration: EventRecorderConfiguration
    private let client: any KubernetesWriter
    private let clock: any RuntimeClock
    private let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    private let counters = Mutex(EventRecorderStats())
    /// Events recorded but not yet handled by the write loop, and repeats held back by the rate limit.
    private let backlog = Mutex((queued: 0, held: 0))

    public init(client: any KubernetesWriter, configuration: EventRecorderConfiguration, clock: any RuntimeClock = SystemClock()) {
        self.client = client
        self.configuration = configuration
        self.clock = clock
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingOldest(configuration.queueBound))
    }

    public var stats: EventRecorderStats { counters.withLock { $0 } }

    /// Nothing recorded is waiting to be written (tests and benchmarks wait for this before counting writes).
    public var isIdle: Bool { backlog.withLock { $0.queued == 0 && $0.held == 0 } }

    /// Records an Event about `object` (any kind: its apiVersion, kind and metadata name it).
    /// Returns at once; false when the event was dropped (queue full or object without a name).
    @discardableResult
    public func record(_ object: JSONValue, type: EventType, reason: String, message: String) -> Bool {
        guard let name = object[path: ["metadata", "name"]]?.stringValue, !name.isEmpty else {
            counters.withLock { $0.dropped += 1 }
            return false
        }
        var involved: JSONObject = ["name": .string(name)]
        for key in ["apiVersion", "kind"] { involved[key] = object[key] }
        for key in ["namespace", "uid", "resourceVersion"] { involved[key] = object[path: ["metadata", key]] }
        // Events of cluster-scoped objects live in `default`, as client-go puts them.
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let item = Item.event(involved: .object(involved), namespace: namespace, objectName: name, type: type,
                              reason: reason, message: message, at: clock.wallTime)
        backlog.withLock { $0.queued += 1 }
        switch continuation.yield(item) {
        case .enqueued:
            counters.withLock { $0.recorded += 1 }
            return true
        default:
            backlog.withLock { $0.queued -= 1 }
            counters.withLock { $0.dropped += 1 }
            return false
        }
    }

    /// Writes queued events until cancelled (call once).
    public func run() async {
        let interval = configuration.flushInterval
        let (clock, continuation) = (clock, continuation)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    do { try await clock.sleep(for: interval) } catch { return }
                    continuation.yield(.flush)
                }
            }
            group.addTask { await self.writeLoop() }
            await group.next()
            group.cancelAll()
        }
    }

    private func writeLoop() async {
        var entries: [String: Entry] = [:]
        var buckets: [String: TokenBucket] = [:]
        var pending = Set<String>()
        var use: UInt64 = 0
        var iterator = stream.makeAsyncIterator()
        loop: while let item = await iterator.next() {
            if Task.isCancelled { break loop }
            switch item {
            case .flush:
                for key in pending.sorted() {
                    guard var entry = entries[key] else { pending.remove(key); continue }
                    guard buckets[entry.objectKey, default: newBucket()].tryTake(now: clock.now) else { continue }
                    pending.remove(key)
                    await write(&entry)
                    entries[key] = entry
                }
            case .event(let involved, let namespace, let objectName, let type, let reason, let message, let at):
                use += 1
                let objectKey = "\(involved["uid"]?.stringValue ?? "")/\(namespace)/\(involved["kind"]?.stringValue ?? "")/\(objectName)"
                let key = "\(objectKey)\u{0}\(type.rawValue)\u{0}\(reason)\u{0}\(message)"
                var entry = entries[key] ?? Entry(
                    eventName: Self.eventName(objectName: objectName, at: at), namespace: namespace, involved: involved,
                    type: type, reason: reason, message: message, count: 0, firstTimestamp: at, lastTimestamp: at,
                    writtenCount: 0, lastUse: use, objectKey: objectKey)
                entry.count += 1
                entry.lastTimestamp = at
                entry.lastUse = use
                entry.involved = involved
                if buckets[objectKey, default: newBucket()].tryTake(now: clock.now) {
                    pending.remove(key)
                    await write(&entry)
                } else {
                    counters.withLock { $0.deferred += 1 }
                    pending.insert(key)
                }
                entries[key] = entry
                if entries.count > configuration.maxAggregationEntries {
                    // Forget the least recently used half; its next repeat starts a new Event.
                    let keep = entries.sorted { $0.value.lastUse > $1.value.lastUse }.prefix(configuration.maxAggregationEntries / 2)
                    entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
                    pending = pending.filter { entries[$0] != nil }
                }
                if buckets.count > configuration.maxAggregationEntries {
                    buckets = buckets.filter { bucket in entries.values.contains { $0.objectKey == bucket.key } }
                }
                backlog.withLock { $0.queued -= 1 }
            }
            let held = pending.count
            backlog.withLock { $0.held = held }
        }
        // Stopping: write the repeats the rate limit held back, so their counts are not lost. In a
        // task of its own, as the cancellation that stops us would abort the writes.
        let held = pending.sorted().compactMap { entries[$0] }
        guard !held.isEmpty else { return }
        await Task {
            for var entry in held { await self.write(&entry) }
        }.value
    }

    private func newBucket() -> TokenBucket {
        TokenBucket(rate: configuration.perObjectQPS, burst: configuration.perObjectBurst)
    }

    /// Creates the Event, or PATCHes its count when it exists (creating it anew when it was deleted).
    private func write(_ entry: inout Entry) async {
        guard entry.count != entry.writtenCount else { return }
        if entry.writtenCount > 0 {
            let patch: JSONValue = ["count": .int(Int64(entry.count)), "lastTimestamp": .string(KubeTime.format(entry.lastTimestamp))]
            do {
                _ = try await client.patch(.events, namespace: entry.namespace, name: entry.eventName, type: .strategicMerge,
                                           body: patch.serialized(), subresource: nil, options: WriteOptions())
                entry.writtenCount = entry.count
                counters.withLock { $0.patched += 1 }
                return
            } catch let error as KubeError where error.isNotFound {
                // Expired (events have a TTL): start a new Event carrying the count.
                entry.eventName = Self.eventName(objectName: entry.involved["name"]?.stringValue ?? "object", at: clock.wallTime)
            } catch {
                counters.withLock { $0.failed += 1 }
                return
            }
        }
        do {
            // Nothing reads the created Event: its answer is left unparsed.
            _ = try await client.create(.events, namespace: entry.namespace, object: body(of: entry), options: WriteOptions(), keepingAnswerIf: { false })
            entry.writtenCount = entry.count
            counters.withLock { $0.created += 1 }
        } catch {
            counters.withLock { $0.failed += 1 }
        }
    }

    private func body(of entry: Entry) -> JSONValue {
        var event: JSONObject = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(entry.eventName), "namespace": .string(entry.namespace)],
            "involvedObject": entry.involved,
            "reason": .string(entry.reason),
            "message": .string(entry.message),
            "type": .string(entry.type.rawValue),
            "source": ["component": .string(configuration.component)],
            "firstTimestamp": .string(KubeTime.format(entry.firstTimestamp)),
            "lastTimestamp": .string(KubeTime.format(entry.lastTimestamp)),
            "count": .int(Int64(entry.count)),
            "reportingComponent": .string(configuration.component),
        ]
        if !configuration.instance.isEmpty { event["reportingInstance"] = .string(configuration.instance) }
        return .object(event)
    }

    /// `NAME.<hex nanoseconds>`, as client-go names Events.
    static func eventName(objectName: String, at date: Date) -> String {
        let nanos = UInt64(max(0, date.timeIntervalSince1970 * 1e9))
        return "\(objectName).\(String(nanos, radix: 16))"
    }
}
