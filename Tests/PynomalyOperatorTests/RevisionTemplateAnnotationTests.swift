import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

/// The copy of a revision's template that the rolling Deployment carries until the revision is left
/// behind: it must read back as exactly the template built (same hash), and anything else in the
/// annotation must be refused, never taken for a template.
@Suite("Revision template annotation")
struct RevisionTemplateAnnotationTests {
    static func built() throws -> (encoded: JSONValue, hash: String) {
        let ctx = try BuilderTests.context()
        let identified = PodTemplateBuilder.identified(ctx, configHash: BuilderTests.configHash(ctx))
        return (identified.encoded, identified.hash)
    }

    static func deployment(annotation: JSONValue?) -> JSONValue {
        var object: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "pynomaly", "namespace": "default"]]
        if let annotation { object[path: ["metadata", "annotations", RevisionTemplateAnnotation.key]] = annotation }
        return object
    }

    @Test func aTemplateReadsBackWithTheRevisionsHash() throws {
        let (encoded, hash) = try Self.built()
        let value = RevisionTemplateAnnotation.value(of: encoded)
        #expect(RevisionTemplateAnnotation.value(of: encoded) == value, "the same template gives the same value, so an apply compares equal")
        #expect(value.count < encoded.compactText().count, "gzip keeps the annotation smaller than the template (\(value.count) bytes)")
        let read = RevisionTemplateAnnotation.read(Self.deployment(annotation: .string(value)))
        guard case .template(let kept) = read else { Issue.record("the template reads back: \(read)"); return }
        #expect(kept.hash == hash && kept.encoded == encoded)
        let found = try #require(RevisionTemplateAnnotation.template(in: Self.deployment(annotation: .string(value)), hash: hash))
        #expect(PodTemplateBuilder.templateHash(found.template) == hash)
        #expect(RevisionTemplateAnnotation.template(in: Self.deployment(annotation: .string(value)), hash: "0123456789") == nil)
    }

    @Test func anythingButAWrittenTemplateIsRefused() throws {
        let (encoded, hash) = try Self.built()
        #expect(RevisionTemplateAnnotation.read(Self.deployment(annotation: nil)) == .absent)
        let bad: [(JSONValue, String)] = [
            (.string("not base64!"), "not base64"),
            (.int(5), "not base64"),
            (.string(Data("plain text".utf8).base64EncodedString()), "not a gzip stream"),
            (.string(Data(Gzip.compress(Array("[1,2]".utf8)) ?? []).base64EncodedString()), "does not hold a JSON object"),
            (.string(Data(Gzip.compress(Array(#"{"spec":{"containers":"x"}}"#.utf8)) ?? []).base64EncodedString()), "does not hold a pod template"),
        ]
        for (value, cause) in bad {
            guard case .unreadable(let message) = RevisionTemplateAnnotation.read(Self.deployment(annotation: value)) else {
                Issue.record("\(value) was not refused"); continue
            }
            #expect(message.contains(cause), "\(message)")
            #expect(message.contains(RevisionTemplateAnnotation.key))
        }
        // A template edited by hand reads as another revision: its hash is not the revision's.
        var edited = encoded
        edited[path: ["spec", "containers"]] = [["name": "pynomaly", "image": "evil/image:1"]]
        let read = RevisionTemplateAnnotation.read(Self.deployment(annotation: .string(RevisionTemplateAnnotation.value(of: edited))))
        guard case .template(let other) = read else { Issue.record("an edited template still parses: \(read)"); return }
        #expect(other.hash != hash)
        #expect(RevisionTemplateAnnotation.template(in: Self.deployment(annotation: .string(RevisionTemplateAnnotation.value(of: edited))), hash: hash) == nil)
    }
}

/// gzip as `base64 -d | gunzip` reads it, and refusals of what is not one stream of a sane size.
@Suite("Gzip")
struct GzipTests {
    @Test func roundTripsAndIsDeterministic() throws {
        let text = Array(String(repeating: "pynomaly ", count: 500).utf8)
        let zipped = try #require(Gzip.compress(text))
        #expect(zipped.starts(with: [0x1f, 0x8b]))
        #expect(Gzip.compress(text) == zipped)
        #expect(Gzip.decompress(zipped, limit: text.count) == text)
        #expect(Gzip.decompress(try #require(Gzip.compress([])), limit: 0) == [])
    }

    @Test func refusesWhatIsNotOneStreamWithinTheLimit() throws {
        let text = Array(String(repeating: "abc", count: 1000).utf8)
        let zipped = try #require(Gzip.compress(text))
        #expect(Gzip.decompress(zipped, limit: text.count - 1) == nil, "over the limit")
        #expect(Gzip.decompress(Array(zipped.dropLast(3)), limit: 1 << 20) == nil, "truncated")
        var lyingLength = zipped
        lyingLength[lyingLength.count - 4] &-= 1
        #expect(Gzip.decompress(lyingLength, limit: 1 << 20) == nil, "a trailer that understates the length")
        var corrupt = zipped
        corrupt[12] ^= 0xff
        #expect(Gzip.decompress(corrupt, limit: 1 << 20) == nil, "corrupt data")
        #expect(Gzip.decompress(zipped + zipped, limit: 1 << 20) == nil, "two streams")
        #expect(Gzip.decompress([0x1f, 0x8b], limit: 10) == nil)
    }
}
