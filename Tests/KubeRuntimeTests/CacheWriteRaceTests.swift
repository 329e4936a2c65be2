import KubeCore
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import KubeRuntime

/// Read-your-writes against the watch: a write's answer must never put back an object the watch
/// already reported deleted, nor replace something newer.
final class CacheWriteRaceTests: XCTestCase {
    private let key = ObjectKey(namespace: "ns", name: "l0")

    private func ingress(_ name: String = "l0", uid: String, rv: Int) -> JSONValue {
        ["apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": ["name": .string(name), "namespace": "ns", "uid": .string(uid), "resourceVersion": .string(String(rv))]]
    }

    func testACreateAnswerAfterItsAddedAndDeletedIsNotStored() {
        var s = CacheStoreState()
        // The operator applies l0 (absent in the cache); its owner is deleted, the garbage collector
        // deletes l0, and the watch delivers both events before the apply's answer is handled.
        _ = s.apply(.upsert(ingress(uid: "u1", rv: 5)))
        _ = s.apply(.delete(ingress(uid: "u1", rv: 6)))
        XCTAssertFalse(s.storeWritten(ingress(uid: "u1", rv: 5), basedOn: nil), "the watch already reported u1 deleted")
        XCTAssertNil(s.object(key))
        XCTAssertEqual(s.tombstone(key, uid: "u1")?.resourceVersion, "6")
        // A new incarnation under the same name is stored as usual.
        XCTAssertTrue(s.storeWritten(ingress(uid: "u2", rv: 9), basedOn: nil))
    }

    func testAnObjectThatLeftARelistIsNotPutBack() {
        var s = CacheStoreState()
        _ = s.apply(.replaceAll([ingress(uid: "u1", rv: 5)], resourceVersion: "5"))
        _ = s.apply(.replaceAll([], resourceVersion: "8"))
        XCTAssertFalse(s.storeWritten(ingress(uid: "u1", rv: 7), basedOn: "5"))
        XCTAssertFalse(s.storeWritten(ingress(uid: "u1", rv: 5), basedOn: nil))
        XCTAssertNil(s.object(key))
    }

    func testARelistDuringTheRequestRefusesItsAnswer() {
        var s = CacheStoreState()
        // Never seen by this cache: created and deleted while the watch was broken.
        let basis = s.writeBasis(key)
        _ = s.apply(.replaceAll([], resourceVersion: "8"))
        XCTAssertFalse(s.storeWritten(ingress(uid: "u1", rv: 5), basis: basis), "the list may have dropped it")
        XCTAssertTrue(s.storeWritten(ingress(uid: "u2", rv: 9), basis: s.writeBasis(key)))
    }

    func testAWriteOfAnotherUIDDoesNotReplaceTheCachedOne() {
        var s = CacheStoreState()
        _ = s.apply(.upsert(ingress(uid: "u1", rv: 5)))
        XCTAssertFalse(s.storeWritten(ingress(uid: "u2", rv: 9), basedOn: "5"), "another incarnation: the watch decides")
        XCTAssertEqual(Self.uid(s.object(key)), "u1")
        XCTAssertTrue(s.storeWritten(ingress(uid: "u1", rv: 7), basedOn: "5"))
    }

    func testTheDeletionOfAnotherUIDKeepsTheNewerIncarnation() {
        var s = CacheStoreState()
        XCTAssertTrue(s.storeWritten(ingress(uid: "u2", rv: 9), basedOn: nil))
        XCTAssertEqual(s.apply(.delete(ingress(uid: "u1", rv: 6))), [], "u1's deletion is not u2's")
        XCTAssertEqual(Self.uid(s.object(key)), "u2")
        XCTAssertEqual(s.apply(.delete(ingress(uid: "u2", rv: 10))).count, 1)
        XCTAssertNil(s.object(key))
    }

    func testAnObjectBackInTheSelectionLosesItsTombstone() {
        var s = CacheStoreState()
        _ = s.apply(.upsert(ingress(uid: "u1", rv: 5)))
        _ = s.apply(.delete(ingress(uid: "u1", rv: 6)))  // left a label selection
        _ = s.apply(.upsert(ingress(uid: "u1", rv: 8)))  // back in it
        XCTAssertNil(s.tombstone(key, uid: "u1"))
        XCTAssertTrue(s.storeWritten(ingress(uid: "u1", rv: 9), basedOn: "8"))
    }

    func testForgottenTombstonesRefuseWritesThatOverlappedThem() {
        var s = CacheStoreState(tombstoneCapacity: 2)
        let basis = s.writeBasis(key)
        _ = s.apply(.upsert(ingress(uid: "u1", rv: 5)))
        _ = s.apply(.delete(ingress(uid: "u1", rv: 6)))
        for (i, name) in ["x", "y"].enumerated() {
            _ = s.apply(.upsert(ingress(name, uid: "u-\(name)", rv: 10 + 2 * i)))
            _ = s.apply(.delete(ingress(name, uid: "u-\(name)", rv: 11 + 2 * i)))
        }
        XCTAssertNil(s.tombstone(key, uid: "u1"), "forgotten for room")
        XCTAssertFalse(s.storeWritten(ingress(uid: "u1", rv: 5), basis: basis), "cannot be checked any more: refused")
        XCTAssertTrue(s.storeWritten(ingress(uid: "u3", rv: 20), basis: s.writeBasis(key)), "a write based after it is fine")
    }

    func testTheInformerPassesTheBasisThrough() {
        let informer = Informer(client: ScriptedClient(.init()), resource: .ingresses, options: InformerOptions(namespace: "ns"))
        informer.store.apply(.upsert(ingress(uid: "u1", rv: 5)))
        informer.store.apply(.delete(ingress(uid: "u1", rv: 6)))
        XCTAssertFalse(informer.storeWritten(ingress(uid: "u1", rv: 5), basedOn: nil))
        let basis = informer.writeBasis(namespace: "ns", name: "l0")
        informer.store.apply(.replaceAll([], resourceVersion: "9"))
        XCTAssertFalse(informer.storeWritten(ingress(uid: "u7", rv: 7), basis: basis))
        XCTAssertTrue(informer.storeWritten(ingress(uid: "u8", rv: 10), basis: informer.writeBasis(namespace: "ns", name: "l0")))
        XCTAssertEqual(informer.store.count, 1)
        // A status write based on the object read at the start of a pass.
        let statusBasis = informer.writeBasis(basedOn: "10")
        XCTAssertEqual(statusBasis.resourceVersion, "10")
        informer.store.apply(.replaceAll([ingress(uid: "u8", rv: 10)], resourceVersion: "11"))
        XCTAssertFalse(informer.storeWritten(ingress(uid: "u8", rv: 12), basis: statusBasis), "a re-list came in between")
        XCTAssertTrue(informer.storeWritten(ingress(uid: "u8", rv: 12), basis: informer.writeBasis(basedOn: "10")))
    }

    // MARK: - Randomized interleavings

    func testRandomWriteAndWatchInterleavingsKeepTheInvariant() {
        var stored = 0, refused = 0
        for seed in UInt64(1)...300 {
            let outcome = RaceModel.run(seed: seed, steps: 400, relists: true, tombstoneCapacity: seed % 3 == 0 ? 2 : 4096,
                                        selection: seed % 2 == 0)
            if let failure = outcome.failure { return XCTFail("seed \(seed): \(failure)") }
            stored += outcome.stored
            refused += outcome.refused
        }
        XCTAssertGreaterThan(stored, 100, "the runs exercise stored writes")
        XCTAssertGreaterThan(refused, 100, "and refused ones")
    }

    /// Callers that give only a resourceVersion are safe as long as no re-list happens during a write.
    func testRandomInterleavingsWithoutABasisSequenceKeepTheInvariantWithoutRelists() {
        for seed in UInt64(1)...300 {
            let outcome = RaceModel.run(seed: seed, steps: 400, relists: false, tombstoneCapacity: 4096, basisSequence: false,
                                        selection: seed % 2 == 0)
            if let failure = outcome.failure { return XCTFail("seed \(seed): \(failure)") }
        }
    }

    static func uid(_ object: JSONValue?) -> String? { object?[path: ["metadata", "uid"]]?.stringValue }
}

/// A model API server with two names, someone else changing and deleting objects, the operator
/// writing (basis read, request committed, answer stored: three separate steps), a watch delivering
/// the history in order with any lag, and re-lists. With `selection`, the informer watches a label
/// selector: someone else's changes may drop the label (the watch says DELETED) or add it back
/// (ADDED); the operator's writes always set it. After every step the cache must hold, for each
/// name, what the watch conveyed so far or a version committed after it, never anything older
/// (in particular never an object whose deletion the watch delivered); after draining, exactly the
/// server's selected objects.
private struct RaceModel {
    struct Version: Equatable { var uid: String; var rv: Int; var selected = true }
    enum Event { case put(String, Version), delete(String, Version) }
    struct Write { var name: String; var basis: WriteBasis; var create: Bool; var answer: Version? = nil; var committed = false }

    var rng: SplitMix64
    let names = ["a", "b"]
    var revision = 0
    var uids = 0
    var server: [String: Version] = [:]
    var history: [Event] = []
    /// Events conveyed to the cache: by the watch, or as a list snapshot.
    var position = 0
    /// The revision of the last conveyed point.
    var conveyedRevision = 0
    var conveyed: [String: Version] = [:]
    /// A list served but not yet applied: (snapshot, history position, revision).
    var pendingList: ([String: Version], Int, Int)? = nil
    var writes: [Write] = []
    var cache: CacheStoreState
    let relists: Bool
    let basisSequence: Bool
    let selection: Bool
    /// Names the watch stream considers inside the selection (what it last said about them).
    var inSelection: Set<String> = []
    var stored = 0, refused = 0

    struct Outcome { var failure: String?; var stored: Int; var refused: Int }

    static func run(seed: UInt64, steps: Int, relists: Bool, tombstoneCapacity: Int, basisSequence: Bool = true,
                    selection: Bool = false) -> Outcome {
        var model = RaceModel(rng: SplitMix64(seed: seed), cache: CacheStoreState(tombstoneCapacity: tombstoneCapacity),
                              relists: relists, basisSequence: basisSequence, selection: selection)
        for step in 0..<steps {
            model.step()
            if let failure = model.check() { return Outcome(failure: "step \(step): \(failure)", stored: model.stored, refused: model.refused) }
        }
        // Drain: commit and answer every write, deliver every event.
        while !model.writes.isEmpty || model.position < model.history.count || model.pendingList != nil {
            if let list = model.pendingList { model.applyList(list) }
            else if let i = model.writes.indices.first { model.advance(write: i) }
            else { model.deliver() }
            if let failure = model.check() { return Outcome(failure: "draining: \(failure)", stored: model.stored, refused: model.refused) }
        }
        let cached = model.names.reduce(into: [String: Version]()) { $0[$1] = model.cached($1) }
        if cached != model.server.filter({ $0.value.selected }) { return Outcome(failure: "after draining the cache holds \(cached), the server \(model.server)", stored: model.stored, refused: model.refused) }
        return Outcome(failure: nil, stored: model.stored, refused: model.refused)
    }

    func object(_ name: String, _ v: Version) -> JSONValue {
        var metadata: JSONValue = ["name": .string(name), "namespace": "ns", "uid": .string(v.uid), "resourceVersion": .string(String(v.rv))]
        if v.selected { metadata["labels"] = ["selected": "yes"] }
        return ["metadata": metadata]
    }

    func cached(_ name: String) -> Version? {
        guard let o = cache.object(ObjectKey(namespace: "ns", name: name)),
              let uid = o[path: ["metadata", "uid"]]?.stringValue,
              let rv = o[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ Int($0) }) else { return nil }
        return Version(uid: uid, rv: rv, selected: o[path: ["metadata", "labels", "selected"]] != nil)
    }

    mutating func commit(_ name: String, _ version: Version?) {
        if let version { server[name] = version; history.append(.put(name, version)) }
        else if let old = server[name] {
            revision += 1
            server[name] = nil
            history.append(.delete(name, Version(uid: old.uid, rv: revision)))
        }
    }

    mutating func newVersion(of name: String, create: Bool) -> Version {
        revision += 1
        if !create, let current = server[name] { return Version(uid: current.uid, rv: revision) }
        uids += 1
        return Version(uid: "u\(uids)", rv: revision)
    }

    mutating func step() {
        let name = names[Int.random(in: 0..<names.count, using: &rng)]
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<12:  // someone else creates or updates, and may drop the label
            var version = newVersion(of: name, create: false)
            version.selected = !selection || Int.random(in: 0..<10, using: &rng) < 6
            commit(name, version)
        case 12..<24:  // someone else (or the garbage collector) deletes
            commit(name, nil)
        case 24..<40:  // the operator reads its basis and decides to write
            let key = ObjectKey(namespace: "ns", name: name)
            var basis = cache.writeBasis(key)
            if !basisSequence { basis.sequence = nil }
            writes.append(Write(name: name, basis: basis, create: basis.resourceVersion == nil))
        case 40..<60 where !writes.isEmpty:
            advance(write: Int.random(in: 0..<writes.count, using: &rng))
        case 60..<64 where relists && pendingList == nil:  // a re-list is served...
            pendingList = (server.filter { $0.value.selected }, history.count, revision)
        case 64..<70:  // ...and applied later
            if let list = pendingList { applyList(list) } else { deliver() }
        default:
            deliver()
        }
    }

    /// Commits a write (create: refused when the name exists; else server-side apply: creates or
    /// updates), or stores the answer of a committed one.
    mutating func advance(write i: Int) {
        var write = writes[i]
        if !write.committed {
            write.committed = true
            if write.create && server[write.name] != nil { writes.remove(at: i); return }  // AlreadyExists
            let version = newVersion(of: write.name, create: write.create)
            commit(write.name, version)
            write.answer = version
            writes[i] = write
            return
        }
        writes.remove(at: i)
        guard let answer = write.answer else { return }
        if cache.storeWritten(object(write.name, answer), basis: write.basis) { stored += 1 } else { refused += 1 }
    }

    mutating func deliver() {
        guard pendingList == nil, position < history.count else { return }
        let event = history[position]
        position += 1
        // A watch with a label selector says ADDED/MODIFIED for objects in it, DELETED when one
        // leaves it (or is deleted while in it), and nothing about objects outside it.
        switch event {
        case .put(let name, let v) where v.selected:
            _ = cache.apply(.upsert(object(name, v)))
            conveyed[name] = v
            inSelection.insert(name)
            conveyedRevision = v.rv
        case .put(let name, let v), .delete(let name, let v):
            if inSelection.remove(name) != nil { _ = cache.apply(.delete(object(name, v))) }
            conveyed[name] = nil
            conveyedRevision = v.rv
        }
    }

    mutating func applyList(_ list: ([String: Version], Int, Int)) {
        let (snapshot, at, rev) = list
        _ = cache.apply(.replaceAll(snapshot.sorted { $0.key < $1.key }.map { object($0.key, $0.value) }, resourceVersion: String(rev)))
        conveyed = snapshot
        inSelection = Set(snapshot.keys)
        position = at
        conveyedRevision = rev
        pendingList = nil
    }

    /// For each name: the cache holds what the watch conveyed, or a version committed after it.
    func check() -> String? {
        for name in names {
            let held = cached(name)
            if held == conveyed[name] { continue }
            guard let held else { return "\(name): the cache lost \(conveyed[name].map { "\($0)" } ?? "-")" }
            if held.rv <= conveyedRevision {
                return "\(name): the cache holds \(held) although the watch conveyed \(conveyed[name].map { "\($0)" } ?? "its deletion") at revision \(conveyedRevision)"
            }
        }
        return nil
    }
}

/// The same race through a real watch: the create's answer is handled only after the informer saw
/// the object's ADDED and DELETED.
final class InformerWriteRaceServerTests: XCTestCase {
    func testALateCreateAnswerDoesNotResurrectADeletedObject() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let informer = Informer(client: client, resource: .configMaps,
                                options: InformerOptions(namespace: "default", transform: .fullWhenLabelled(labelKey: "owner", labelValue: "us"),
                                                         watcher: fastWatcher))
        let run = Task { await informer.run() }
        defer { run.cancel() }
        let synced = await informer.waitForSync()
        XCTAssertTrue(synced)

        let basis = informer.writeBasis(namespace: "default", name: "l0")
        var body = configMap("l0", namespace: "default", labels: ["owner": "us"])
        body[path: ["metadata", "resourceVersion"]] = nil
        body[path: ["metadata", "uid"]] = nil
        let answer = try await client.create(.configMaps, namespace: "default", object: body)
        try await waitUntil("the watch delivered the ADDED") { informer.store.get(namespace: "default", name: "l0") != nil }
        _ = try await client.delete(.configMaps, namespace: "default", name: "l0")
        try await waitUntil("the watch delivered the DELETED") { informer.store.get(namespace: "default", name: "l0") == nil }

        XCTAssertFalse(informer.storeWritten(answer, basedOn: nil))
        XCTAssertFalse(informer.storeWritten(answer, basis: basis))
        XCTAssertNil(informer.store.get(namespace: "default", name: "l0"), "a deleted object stays deleted")
        try await server.stop()
    }
}
