import CZlib
import KubeCore
import Synchronization
import XCTest

@testable import KubeRuntime

final class CacheStoreTests: XCTestCase {
    func testReplaceAllReportsAddsUpdatesAndDeletesOfWhatVanished() {
        var s = CacheStoreState()
        XCTAssertEqual(s.apply(.replaceAll([configMap("a"), configMap("b")], resourceVersion: "5")),
                       [.added(configMap("a")), .added(configMap("b"))])
        let changes = s.apply(.replaceAll([configMap("b", rv: "6"), configMap("c")], resourceVersion: "9"))
        XCTAssertEqual(changes, [.updated(old: configMap("b"), new: configMap("b", rv: "6")), .added(configMap("c")), .deleted(configMap("a"))])
        XCTAssertEqual(Set(s.objects.keys), [ObjectKey(namespace: "ns", name: "b"), ObjectKey(namespace: "ns", name: "c")])
        XCTAssertEqual(s.resourceVersion, "9")
        XCTAssertEqual(s.apply(.replaceAll([configMap("b", rv: "6"), configMap("c")], resourceVersion: "10")), [],
                       "an unchanged re-list is not a change")
    }

    /// Once enough objects are held, texts are deflated against a dictionary; every object reads
    /// back as it was stored, before and after, and changes are told apart as before.
    func testObjectsReadBackTheSameOnceTheCacheDeflatesThem() throws {
        func object(_ i: Int, rv: String = "1") -> JSONValue {
            configMap("app-\(i)", rv: rv, labels: ["app.kubernetes.io/name": "pynomaly", "app.kubernetes.io/instance": "app-\(i)"],
                      data: ["settings.yaml": String(repeating: "detector: isolation-forest\nthreshold: 0.\(i)\n", count: 4)],
                      owner: ("PynomalyDeployment", "pynomaly.ai/v1alpha1", "app-\(i)", "uid-owner-\(i)", true))
        }
        let store = CacheStore(indexes: [.controllerOwnerUID])
        for i in 0..<(CacheStoreState.dictionaryAfterObjects - 1) { store.apply(.upsert(object(i))) }
        XCTAssertEqual(store.get(namespace: "ns", name: "app-0"), object(0))

        store.apply(.upsert(object(7)))
        store.apply(.upsert(object(8)))
        for i in 0...8 { XCTAssertEqual(store.get(namespace: "ns", name: "app-\(i)"), object(i), "object \(i)") }
        XCTAssertEqual(try store.byIndex(CacheIndex.controllerOwnerUID.name, value: "uid-owner-3"), [object(3)])
        XCTAssertEqual(store.list().count, 9)
        XCTAssertEqual(store.apply(.upsert(object(4, rv: "2"))), [.updated(old: object(4), new: object(4, rv: "2"))])
        XCTAssertEqual(store.apply(.delete(object(5, rv: "3"))), [.deleted(object(5, rv: "3"))])

        var state = CacheStoreState(youngBytesLimit: 0)
        _ = state.apply(.replaceAll((0..<12).map { object($0) }, resourceVersion: "10"))
        let compression = try XCTUnwrap(state.compression, "a dictionary is picked from the listed objects")
        let held = try XCTUnwrap(state.storedText(ObjectKey(namespace: "ns", name: "app-11")))
        XCTAssertNotNil(held.plainLength, "the texts are held deflated")
        XCTAssertLessThan(held.bytes.count * 3, object(11).compactText().count, "against the dictionary a text shrinks several times")
        XCTAssertEqual(held.plain(compression), object(11).compactText())
        XCTAssertEqual(state.apply(.replaceAll((0..<12).map { object($0) }, resourceVersion: "11")), [], "an unchanged re-list is not a change")
        XCTAssertEqual(state.apply(.replaceAll((0..<12).map { object($0, rv: $0 == 2 ? "5" : "1") }, resourceVersion: "12")),
                       [.updated(old: object(2), new: object(2, rv: "5"))])
    }

    /// A text is deflated once it ages out of the young ones, not when it arrives: a version
    /// replaced while young is never deflated, and every object reads back as stored throughout.
    func testTextsAreDeflatedOnlyOnceTheyAgeOut() throws {
        func object(_ i: Int, rv: String = "1") -> JSONValue {
            configMap("app-\(i)", rv: rv, labels: ["app.kubernetes.io/name": "pynomaly", "app.kubernetes.io/instance": "app-\(i)"],
                      data: ["settings.yaml": String(repeating: "detector: isolation-forest\nthreshold: 0.\(i)\n", count: 4)])
        }
        let size = object(10).compactText().count
        var s = CacheStoreState(youngBytesLimit: 3 * size)
        for i in 0..<12 { _ = s.apply(.upsert(object(i))) }
        XCTAssertNotNil(s.compression)
        XCTAssertLessThanOrEqual(s.youngBytes, 3 * size)
        XCTAssertNotNil(s.storedText(ObjectKey(namespace: "ns", name: "app-0"))?.plainLength, "the oldest text aged out and is deflated")
        XCTAssertNil(s.storedText(ObjectKey(namespace: "ns", name: "app-11"))?.plainLength, "the newest text is held plain")
        let deflated = s.deflations
        XCTAssertEqual(deflated, 12 - 3)

        // Versions of a young object replace each other without being deflated.
        for rv in 2...6 { _ = s.apply(.upsert(object(11, rv: String(rv)))) }
        XCTAssertEqual(s.deflations, deflated)
        XCTAssertLessThanOrEqual(s.youngBytes, 3 * size)
        for i in 0..<11 { XCTAssertEqual(s.object(ObjectKey(namespace: "ns", name: "app-\(i)")), object(i), "object \(i)") }
        XCTAssertEqual(s.object(ObjectKey(namespace: "ns", name: "app-11")), object(11, rv: "6"))

        // A deleted young text no longer counts; a re-list compares plain texts, deflated or not.
        let before = s.youngBytes
        XCTAssertEqual(s.apply(.delete(object(11, rv: "7"))), [.deleted(object(11, rv: "7"))])
        XCTAssertEqual(s.youngBytes, before - object(11, rv: "6").compactText().count)
        let listed = (0..<11).map { object($0) }
        XCTAssertEqual(s.apply(.replaceAll(listed, resourceVersion: "20")), [], "an unchanged re-list is not a change")
        XCTAssertEqual(s.apply(.replaceAll((0..<11).map { $0 == 0 ? object(0, rv: "9") : object($0) }, resourceVersion: "21")),
                       [.updated(old: object(0), new: object(0, rv: "9"))])
        XCTAssertEqual(s.objects.count, 11)
    }

    func testTextCompressionRoundTripsAndRefusesAnotherDictionary() {
        let compression = TextCompression(dictionary: Array(#"{"metadata":{"labels":{"app.kubernetes.io/name":"pynomaly"}}}"#.utf8))
        let text = Array(#"{"metadata":{"labels":{"app.kubernetes.io/name":"pynomaly"},"name":"a"},"data":{"k":"v"}}"#.utf8)
        guard let deflated = compression.compress(text) else { return XCTFail("zlib failed") }
        XCTAssertLessThan(deflated.count, text.count / 2)
        XCTAssertEqual(compression.decompress(deflated, length: text.count), text)
        XCTAssertNil(compression.decompress(deflated, length: text.count + 1), "a length that does not match is refused")
        XCTAssertNotEqual(TextCompression(dictionary: Array("something else entirely".utf8)).decompress(deflated, length: text.count), text)
        let long = [UInt8](repeating: 65, count: 10_000)
        XCTAssertEqual(TextCompression(dictionary: long).dictionary.count, 4096, "the dictionary is the tail that fits zlib's window")
    }

    /// A copy of the primed stream deflates exactly as a stream that loads the dictionary itself,
    /// from many threads at once (the primed stream is only read).
    func testPrimedCompressionMatchesLoadingTheDictionaryEachTime() async {
        let dictionary = Array(String(repeating: #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"x"}}}"#, count: 40).utf8)
        let compression = TextCompression(dictionary: dictionary)
        let texts = (0..<64).map { Array(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web-\#($0)","labels":{"app":"x"}}}"#.utf8) }
        func loadingEachTime(_ text: [UInt8]) -> [UInt8]? {
            var stream = z_stream()
            guard TextCompression.start(&stream, dictionary: compression.dictionary) else { return nil }
            defer { deflateEnd(&stream) }
            var output = [UInt8](repeating: 0, count: 4096)
            guard ZlibStream.run(&stream, input: text, output: &output, { deflate($0, Z_FINISH) }) == Z_STREAM_END else { return nil }
            return Array(output[..<(output.count - Int(stream.avail_out))])
        }
        let results = await withTaskGroup(of: (Int, [UInt8]?).self) { group in
            for (index, text) in texts.enumerated() { group.addTask { (index, compression.compress(text)) } }
            var all: [Int: [UInt8]?] = [:]
            for await (index, deflated) in group { all[index] = deflated }
            return all
        }
        for (index, text) in texts.enumerated() {
            let deflated = results[index] ?? nil
            XCTAssertNotNil(deflated)
            XCTAssertEqual(deflated, loadingEachTime(text), "text \(index)")
            XCTAssertEqual(deflated.flatMap { compression.decompress($0, length: text.count) }, text)
        }
    }

    func testUpsertAndDelete() {
        let store = CacheStore()
        XCTAssertEqual(store.apply(.upsert(configMap("a"))), [.added(configMap("a"))])
        XCTAssertEqual(store.apply(.upsert(configMap("a", rv: "2"))), [.updated(old: configMap("a"), new: configMap("a", rv: "2"))])
        XCTAssertEqual(store.get(namespace: "ns", name: "a"), configMap("a", rv: "2"))
        XCTAssertEqual(store.apply(.delete(configMap("a", rv: "3"))), [.deleted(configMap("a", rv: "3"))])
        XCTAssertEqual(store.apply(.delete(configMap("a", rv: "3"))), [], "deleting what is not there is no change")
        XCTAssertEqual(store.count, 0)
    }

    func testSecondaryIndexesFollowChanges() throws {
        let store = CacheStore(indexes: [.controllerOwnerUID, .label("app"), .namespace])
        store.apply(.upsert(configMap("a", labels: ["app": "web"], owner: ("PynomalyDeployment", "pynomaly.ai/v1alpha1", "p", "uid-p", true))))
        store.apply(.upsert(configMap("b", labels: ["app": "web"], owner: ("PynomalyDeployment", "pynomaly.ai/v1alpha1", "p", "uid-p", false))))
        store.apply(.upsert(configMap("c", namespace: "other", labels: ["app": "db"])))
        XCTAssertEqual(try store.byIndex("controller-owner-uid", value: "uid-p").compactMap(ObjectKey.init(object:)),
                       [ObjectKey(namespace: "ns", name: "a")], "only controller references count")
        XCTAssertEqual(try store.byIndex("label:app", value: "web").count, 2)
        XCTAssertEqual(try store.keys(index: "label:app", value: "web"), [ObjectKey(namespace: "ns", name: "a"), ObjectKey(namespace: "ns", name: "b")])
        XCTAssertThrowsError(try store.keys(index: "label:tier", value: "x"))
        // Relabelled: moves between index values.
        store.apply(.upsert(configMap("b", rv: "2", labels: ["app": "db"])))
        XCTAssertEqual(try store.byIndex("label:app", value: "web").compactMap(ObjectKey.init(object:)), [ObjectKey(namespace: "ns", name: "a")])
        XCTAssertEqual(try store.byIndex("label:app", value: "db").count, 2)
        store.apply(.delete(configMap("a")))
        XCTAssertEqual(try store.byIndex("controller-owner-uid", value: "uid-p"), [])
        XCTAssertEqual(try store.byIndex("namespace", value: "other").count, 1)
        XCTAssertThrowsError(try store.byIndex("label:tier", value: "x")) { error in
            XCTAssertTrue(String(describing: error).contains("label:tier"), "the error names the missing index")
        }
        XCTAssertEqual(store.list(namespace: "ns").count, 1)
    }

    /// A view is made from every version stored (a status-only change included), read without
    /// the object, and goes with it.
    func testAViewIsKeptBesideEachObject() {
        let store = CacheStore(indexes: [.controllerOwnerUID], view: CacheView { object in
            ["name": object[path: ["metadata", "name"]] ?? .null, "ready": object[path: ["status", "readyReplicas"]] ?? .null]
        })
        XCTAssertTrue(store.keepsView)
        let key = ObjectKey(namespace: "ns", name: "app")
        var deployment: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": ["name": "app", "namespace": "ns", "generation": 1, "resourceVersion": "1", "uid": "u"],
                                     "spec": ["replicas": 2]]
        store.apply(.upsert(deployment))
        XCTAssertEqual(store.view(key), ["name": "app", "ready": nil])
        deployment[path: ["metadata", "resourceVersion"]] = "2"
        deployment["status"] = ["readyReplicas": 2]
        store.apply(.upsert(deployment))
        XCTAssertEqual(store.view(key), ["name": "app", "ready": 2], "a status-only change makes a new view")
        XCTAssertTrue(store.storeWritten({ var d = deployment; d[path: ["metadata", "resourceVersion"]] = "3"; d["status"] = ["readyReplicas": 1]; return d }(),
                                         basis: store.writeBasis(key)))
        XCTAssertEqual(store.view(key), ["name": "app", "ready": 1], "so does a write's answer")
        store.apply(.delete(deployment))
        XCTAssertNil(store.view(key))
        XCTAssertFalse(CacheStore().keepsView)
        XCTAssertNil(CacheStore().view(key))
    }

    func testAnAnswerTheWatchIsPastNeedNotBeParsed() {
        let key = ObjectKey(namespace: "ns", name: "a")
        var s = CacheStoreState()
        _ = s.apply(.upsert(configMap("a", rv: "1")))
        let basis = s.writeBasis(key)
        XCTAssertTrue(s.mayStoreWritten(key, basis: basis))
        // The watch delivers the write (or anything newer) before its answer arrives.
        _ = s.apply(.upsert(configMap("a", rv: "2")))
        XCTAssertFalse(s.mayStoreWritten(key, basis: basis))
        XCTAssertFalse(s.storeWritten(configMap("a", rv: "2"), basis: basis), "what mayStoreWritten rules out is refused")
        // A re-list during the request rules the answer out too.
        let later = s.writeBasis(key)
        _ = s.apply(.replaceAll([configMap("a", rv: "2")], resourceVersion: "9"))
        XCTAssertFalse(s.mayStoreWritten(key, basis: later))
        XCTAssertTrue(s.mayStoreWritten(ObjectKey(namespace: "ns", name: "new"), basis: WriteBasis(resourceVersion: nil)), "a create of an absent object")
    }

    func testTheWatchEventOfAnOwnWriteIsReportedWithoutStoringItAgain() {
        let key = ObjectKey(namespace: "ns", name: "a")
        var s = CacheStoreState(indexes: [.label("app")])
        _ = s.apply(.upsert(configMap("a", namespace: "ns", rv: "1", labels: ["app": "x"])))
        // The answer of a write the operator made, based on version 1.
        let written = configMap("a", namespace: "ns", rv: "2", labels: ["app": "y"], data: ["k": "v"])
        XCTAssertTrue(s.storeWritten(written, basedOn: "1"))
        let text = s.storedText(key)
        // Its watch event: the handlers hear of it; the cache holds that version already.
        let changes = s.apply(.upsert(written))
        XCTAssertEqual(changes, [.updated(old: written, new: written)])
        XCTAssertEqual(s.storedText(key), text)
        XCTAssertEqual(s.keys(index: CacheIndex.label("app").name, value: "y"), [key])
        XCTAssertEqual(s.keys(index: CacheIndex.label("app").name, value: "x"), [])
        // A later version is stored as usual.
        let later = configMap("a", namespace: "ns", rv: "3", labels: ["app": "z"])
        XCTAssertEqual(s.apply(.upsert(later)), [.updated(old: written, new: later)])
        XCTAssertEqual(s.object(key), later)
    }

    func testTheSpecStampMovesWithEverythingButTheStatus() {
        func deployment(rv: String, generation: Int64?, labels: [String: JSONValue] = ["app": "web"], ready: Int64 = 0) -> JSONValue {
            var metadata: [String: JSONValue] = ["name": "d", "namespace": "ns", "resourceVersion": .string(rv), "labels": .object(labels),
                                                 "managedFields": .array([.object(["manager": .string("m\(rv)")])])]
            if let generation { metadata["generation"] = .int(generation) }
            return .object(["metadata": .object(metadata), "spec": .object(["replicas": 2]), "status": .object(["readyReplicas": .int(ready)])])
        }
        let key = ObjectKey(namespace: "ns", name: "d")
        var s = CacheStoreState()
        _ = s.apply(.upsert(deployment(rv: "1", generation: 1)))
        let first = s.specStamp(key)
        XCTAssertNotNil(first)
        // A controller's status write: new resourceVersion and managedFields, same generation.
        _ = s.apply(.upsert(deployment(rv: "2", generation: 1, ready: 2)))
        XCTAssertEqual(s.specStamp(key), first)
        // A spec change bumps the generation; a label edit does not, but changes the metadata.
        _ = s.apply(.upsert(deployment(rv: "3", generation: 2, ready: 2)))
        let second = s.specStamp(key)
        XCTAssertNotEqual(second, first)
        _ = s.apply(.upsert(deployment(rv: "4", generation: 2, labels: ["app": "other"], ready: 2)))
        XCTAssertNotEqual(s.specStamp(key), second)
        // Without a generation every resourceVersion counts.
        _ = s.apply(.upsert(deployment(rv: "5", generation: nil)))
        let third = s.specStamp(key)
        _ = s.apply(.upsert(deployment(rv: "6", generation: nil, ready: 2)))
        XCTAssertNotEqual(s.specStamp(key), third)
        _ = s.apply(.delete(deployment(rv: "7", generation: nil)))
        XCTAssertNil(s.specStamp(key))
    }

    /// A status change of a kind with a generation (same generation and metadata) is stored without
    /// parsing the object held before: every index reads only stamped paths, and the handlers get the
    /// new object in the old one's place, which maps to the same keys. Anything else reports the
    /// object held before.
    func testAStatusChangeReportsTheNewObjectInTheOldOnesPlace() {
        func deployment(rv: String, generation: Int64?, owner: String = "u1", ready: Int64 = 0) -> JSONValue {
            var metadata: [String: JSONValue] = ["name": "d", "namespace": "ns", "resourceVersion": .string(rv),
                                                 "ownerReferences": [["controller": true, "uid": .string(owner)]]]
            if let generation { metadata["generation"] = .int(generation) }
            return .object(["metadata": .object(metadata), "spec": ["replicas": 2], "status": ["readyReplicas": .int(ready)]])
        }
        var s = CacheStoreState(indexes: [.controllerOwnerUID, .namespace])
        _ = s.apply(.upsert(deployment(rv: "1", generation: 1)))
        let ready = deployment(rv: "2", generation: 1, ready: 2)
        XCTAssertEqual(s.apply(.upsert(ready)), [.updated(old: ready, new: ready)])
        XCTAssertEqual(s.object(ObjectKey(namespace: "ns", name: "d")), ready)
        XCTAssertEqual(s.keys(index: CacheIndex.controllerOwnerUID.name, value: "u1"), [ObjectKey(namespace: "ns", name: "d")])

        // A new owner (metadata): the object held before, and the index follows.
        let moved = deployment(rv: "3", generation: 1, owner: "u2", ready: 2)
        XCTAssertEqual(s.apply(.upsert(moved)), [.updated(old: ready, new: moved)])
        XCTAssertEqual(s.keys(index: CacheIndex.controllerOwnerUID.name, value: "u1"), [])
        XCTAssertEqual(s.keys(index: CacheIndex.controllerOwnerUID.name, value: "u2"), [ObjectKey(namespace: "ns", name: "d")])
        // A spec change (new generation), and any change of a kind without a generation: the same.
        let respec = deployment(rv: "4", generation: 2, owner: "u2", ready: 2)
        XCTAssertEqual(s.apply(.upsert(respec)), [.updated(old: moved, new: respec)])
        let plain = deployment(rv: "5", generation: nil, owner: "u2", ready: 2)
        XCTAssertEqual(s.apply(.upsert(plain)), [.updated(old: respec, new: plain)])
        let plainReady = deployment(rv: "6", generation: nil, owner: "u2", ready: 3)
        XCTAssertEqual(s.apply(.upsert(plainReady)), [.updated(old: plain, new: plainReady)])

        // An index that reads the status (or everything) needs the object held before.
        let byReady = CacheIndex(name: "ready", dependsOn: [["status", "readyReplicas"]]) { [String($0[path: ["status", "readyReplicas"]]?.intValue ?? -1)] }
        var t = CacheStoreState(indexes: [byReady])
        let first = deployment(rv: "1", generation: 1)
        _ = t.apply(.upsert(first))
        XCTAssertEqual(t.apply(.upsert(ready)), [.updated(old: first, new: ready)])
        XCTAssertEqual(t.keys(index: "ready", value: "2"), [ObjectKey(namespace: "ns", name: "d")])
        XCTAssertEqual(t.keys(index: "ready", value: "0"), [])
    }

    func testAnUpdateThatLeavesAnIndexsInputsAloneDoesNotDeriveItAgain() {
        let derivations = Mutex(0)
        let byApp = CacheIndex(name: "app", dependsOn: [["metadata", "labels", "app"]]) { object in
            derivations.withLock { $0 += 1 }
            return object[path: ["metadata", "labels", "app"]]?.stringValue.map { [$0] } ?? []
        }
        var s = CacheStoreState(indexes: [byApp])
        _ = s.apply(.upsert(configMap("a", labels: ["app": "web"])))
        XCTAssertEqual(derivations.withLock { $0 }, 1)
        // A new resourceVersion (a status write, say): the label is the same, nothing is derived.
        _ = s.apply(.upsert(configMap("a", rv: "2", labels: ["app": "web"])))
        XCTAssertEqual(derivations.withLock { $0 }, 1)
        XCTAssertEqual(s.keys(index: "app", value: "web"), [ObjectKey(namespace: "ns", name: "a")])
        // The label changes: the old value is dropped and the new one derived.
        _ = s.apply(.upsert(configMap("a", rv: "3", labels: ["app": "db"])))
        XCTAssertEqual(derivations.withLock { $0 }, 3, "the old object's values, then the new one's")
        XCTAssertEqual(s.keys(index: "app", value: "web"), [])
        XCTAssertEqual(s.keys(index: "app", value: "db"), [ObjectKey(namespace: "ns", name: "a")])
        // The resourceVersion is read without parsing the object, and follows every change.
        XCTAssertEqual(s.resourceVersion(ObjectKey(namespace: "ns", name: "a")), "3")
        XCTAssertEqual(s.writeBasis(ObjectKey(namespace: "ns", name: "a")).resourceVersion, "3")
        XCTAssertTrue(s.contains(ObjectKey(namespace: "ns", name: "a")))
        _ = s.apply(.delete(configMap("a", rv: "4")))
        XCTAssertFalse(s.contains(ObjectKey(namespace: "ns", name: "a")))
        XCTAssertNil(s.resourceVersion(ObjectKey(namespace: "ns", name: "a")))
        XCTAssertEqual(s.keys(index: "app", value: "db"), [])
    }

    func testAWriteIsStoredOnlyOverWhatItWasBasedOn() {
        var s = CacheStoreState(indexes: [.label("app")])
        XCTAssertTrue(s.storeWritten(configMap("new", rv: "7", labels: ["app": "web"]), basedOn: nil), "created: absent before")
        XCTAssertEqual(s.keys(index: "label:app", value: "web"), [ObjectKey(namespace: "ns", name: "new")], "indexes follow")
        XCTAssertFalse(s.storeWritten(configMap("new", rv: "9"), basedOn: nil), "a create never replaces what is cached")
        XCTAssertTrue(s.storeWritten(configMap("new", rv: "8"), basedOn: "7"))
        XCTAssertEqual(s.objects[ObjectKey(namespace: "ns", name: "new")], configMap("new", rv: "8"))
        XCTAssertEqual(s.keys(index: "label:app", value: "web"), [])
        // The watch delivered something newer than the write's base: the cache keeps it.
        _ = s.apply(.upsert(configMap("new", rv: "12")))
        XCTAssertFalse(s.storeWritten(configMap("new", rv: "11"), basedOn: "8"))
        XCTAssertEqual(s.objects[ObjectKey(namespace: "ns", name: "new")], configMap("new", rv: "12"))
        XCTAssertFalse(s.storeWritten(["kind": "ConfigMap"], basedOn: nil), "no name, nothing stored")
    }

    func testInformerStoresOnlyWritesThatBelongInIt() {
        let client = ScriptedClient(.init())
        let informer = Informer(client: client, resource: .configMaps, options: InformerOptions(
            namespace: "ns", labelSelector: "app.kubernetes.io/managed-by=pynomaly-operator"))
        let ours = ["app.kubernetes.io/managed-by": "pynomaly-operator"]
        var answer = configMap("a", labels: ours)
        answer[path: ["metadata", "managedFields"]] = [["manager": "pynomaly-operator"]]
        answer["apiVersion"] = nil
        XCTAssertTrue(informer.storeWritten(answer, basedOn: nil))
        let cached = informer.store.get(namespace: "ns", name: "a")
        XCTAssertNil(cached?[path: ["metadata", "managedFields"]], "the informer's transform applies")
        XCTAssertEqual(cached?["apiVersion"], "v1", "type meta is filled in")
        XCTAssertFalse(informer.storeWritten(configMap("b"), basedOn: nil), "outside the label selector")
        XCTAssertFalse(informer.storeWritten(configMap("c", namespace: "other", labels: ours), basedOn: nil), "another namespace")
        XCTAssertEqual(informer.store.count, 1)
        let filtered = Informer(client: client, resource: .configMaps, options: InformerOptions(fieldSelector: "metadata.name=a"))
        XCTAssertFalse(filtered.storeWritten(configMap("a"), basedOn: nil), "field selectors are not evaluated here")
    }

    func testFullWhenLabelledKeepsOwnObjectsAndStubsTheRest() {
        let transform = ObjectTransform.fullWhenLabelled(labelKey: "app.kubernetes.io/managed-by", labelValue: "pynomaly-operator")
        var ours = configMap("ours", labels: ["app.kubernetes.io/managed-by": "pynomaly-operator"], data: ["k": "v"])
        ours[path: ["metadata", "managedFields"]] = [["manager": "x"]]
        var expected = ours
        expected[path: ["metadata", "managedFields"]] = nil
        XCTAssertEqual(transform.apply(ours), expected)
        let theirs = configMap("theirs", labels: ["app": "other"], data: ["secret-ish": "value"],
                               owner: ("CronJob", "batch/v1", "nightly", "uid-n", true))
        let stub = transform.apply(theirs)
        XCTAssertEqual(stub["data"], nil, "someone else's content is not kept")
        XCTAssertEqual(stub[path: ["metadata", "labels"]], nil)
        XCTAssertEqual(stub[path: ["metadata", "name"]], "theirs")
        XCTAssertEqual(stub[path: ["metadata", "uid"]], "uid-theirs")
        XCTAssertEqual(stub[path: ["metadata", "ownerReferences"]]?[0]?["uid"], "uid-n")
        XCTAssertEqual(stub["kind"], "ConfigMap")
    }

    func testMetadataOnlyKeepsNoDataButNoticesChanges() {
        var secret: JSONValue = ["apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                 "metadata": ["name": "db", "namespace": "ns", "resourceVersion": "4",
                                              "managedFields": [["manager": "kubectl"]]],
                                 "data": ["password": "c2VjcmV0"]]
        let kept = ObjectTransform.metadataOnly.apply(secret)
        XCTAssertNil(kept["data"])
        XCTAssertNil(kept["type"])
        XCTAssertNil(kept[path: ["metadata", "managedFields"]])
        XCTAssertEqual(kept[path: ["metadata", "name"]], "db")
        XCTAssertEqual(kept["kind"], "Secret")
        XCTAssertFalse(kept.serializedString().contains("c2VjcmV0"), "the secret value is not in memory")
        let hash = kept[ObjectTransform.contentHashKey]?.stringValue
        XCTAssertEqual(hash?.count, 16)
        secret["data"] = ["password": "b3RoZXI="]
        XCTAssertNotEqual(ObjectTransform.metadataOnly.apply(secret)[ObjectTransform.contentHashKey]?.stringValue, hash)
        XCTAssertEqual(ObjectTransform.stripManagedFields.apply(secret)[path: ["metadata", "managedFields"]], nil)
        XCTAssertEqual(ObjectTransform.stripManagedFields.apply(secret)["data"], secret["data"])
    }

    func testTypeMetaIsFilledInForListItems() {
        var item = configMap("a")
        item["kind"] = nil
        item["apiVersion"] = nil
        guard case .upsert(let filled) = CacheOperation.upsert(item).withTypeMeta(of: .configMaps) else { return XCTFail() }
        XCTAssertEqual(filled, configMap("a"))
    }

    func testObjectKey() {
        XCTAssertEqual(ObjectKey(parsing: "ns/a"), ObjectKey(namespace: "ns", name: "a"))
        XCTAssertEqual(ObjectKey(parsing: "a"), ObjectKey(namespace: nil, name: "a"))
        XCTAssertNil(ObjectKey(parsing: "a/b/c"))
        XCTAssertNil(ObjectKey(parsing: "ns/"))
        XCTAssertEqual(ObjectKey(namespace: "", name: "a").description, "a")
        XCTAssertNil(ObjectKey(object: ["metadata": ["namespace": "x"]]))
    }
}

final class ControllerMappingTests: XCTestCase {
    func testOwnedObjectsMapToTheirControllerOwnerOfThePrimaryKind() {
        let pyd = ResourceType.pynomalyDeployments
        let owned = configMap("web-config", owner: ("PynomalyDeployment", "pynomaly.ai/v1beta1", "web", "u1", true))
        XCTAssertEqual(Controller.controllerOwnerKeys(of: owned, ownerType: pyd), [ObjectKey(namespace: "ns", name: "web")],
                       "any version of the primary's group")
        let otherGroup = configMap("x", owner: ("PynomalyDeployment", "example.com/v1alpha1", "web", "u1", true))
        XCTAssertEqual(Controller.controllerOwnerKeys(of: otherGroup, ownerType: pyd), [])
        let otherKind = configMap("x", owner: ("Deployment", "apps/v1", "web", "u1", true))
        XCTAssertEqual(Controller.controllerOwnerKeys(of: otherKind, ownerType: pyd), [])
        let notController = configMap("x", owner: ("PynomalyDeployment", "pynomaly.ai/v1alpha1", "web", "u1", false))
        XCTAssertEqual(Controller.controllerOwnerKeys(of: notController, ownerType: pyd), [])
        let coreOwner = configMap("x", owner: ("ConfigMap", "v1", "source", "u2", true))
        XCTAssertEqual(Controller.controllerOwnerKeys(of: coreOwner, ownerType: .configMaps), [ObjectKey(namespace: "ns", name: "source")])
    }

    func testReconcileResultFromErrors() {
        let throttled = KubeError.api(Status(message: "slow down", reason: "TooManyRequests", code: 429), httpCode: 429, retryAfter: 3)
        guard case .retry(_, let atLeast) = ReconcileResult.failed(throttled) else { return XCTFail("a Retry-After is a retry, not a reset") }
        XCTAssertEqual(atLeast, 3)
        guard case .error(let message) = ReconcileResult.failed(serverError) else { return XCTFail() }
        XCTAssertTrue(message.contains("boom"))
    }
}
