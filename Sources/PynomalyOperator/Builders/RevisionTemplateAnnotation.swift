#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// The pod template of the revision the rolling Deployment `NAME` runs, exactly as the operator
/// built it, kept on that Deployment as the annotation `pynomaly.ai/revision-template` (gzip, then
/// base64; `base64 -d | gunzip` shows it). The revision's ControllerRevision is written only when
/// the revision is left behind, from this copy: a new CR's first revision then costs no write of
/// its own, since the Deployment is written anyway. The Deployment's `spec.template` could not
/// serve: the API server defaults it and anyone may edit it, and a rollback must deploy exactly
/// what was built. A copy is trusted only when its hash is the revision's (the revision's name
/// is that hash), so an edited or truncated annotation is refused, never deployed.
public enum RevisionTemplateAnnotation {
    public static let key = "pynomaly.ai/revision-template"
    /// Far above any pod template (a few KB), and below the API server's 256 KiB for all of an
    /// object's annotations: what a value may inflate to before it is refused.
    static let inflatedLimit = 256 * 1024

    /// The annotation's value for a revision's template (`PodTemplateBuilder.encode`).
    public static func value(of encodedTemplate: JSONValue) -> String {
        // gzip of a few KB cannot fail short of memory; an empty value reads as unreadable, so the
        // revision would be reported as not kept rather than kept wrong.
        guard let zipped = Gzip.compress(encodedTemplate.compactText()) else { return "" }
        return Data(zipped).base64EncodedString()
    }

    /// A template read from the annotation, decoded once.
    public struct Kept: Sendable, Equatable {
        /// `PodTemplateBuilder.templateHash` of `encoded`: the revision the copy is of.
        public var hash: String
        /// The template as JSON, as it was built (what a ControllerRevision stores).
        public var encoded: JSONValue
        public var template: PodTemplateSpec
    }

    /// What a Deployment's annotation holds.
    public enum Reading: Sendable, Equatable {
        /// No annotation (a Deployment written before revisions were kept this way, or a colour's).
        case absent
        /// An annotation that is not a template this operator wrote: the cause, for an Event.
        case unreadable(String)
        case template(Kept)
    }

    /// Reads the annotation of `deployment` (a Deployment as JSON) and checks it against its own hash.
    public static func read(_ deployment: JSONValue) -> Reading {
        guard let value = deployment[path: ["metadata", "annotations", key]] else { return .absent }
        guard let text = value.stringValue, let data = Data(base64Encoded: text) else {
            return .unreadable("annotation \(key) is not base64")
        }
        guard let bytes = Gzip.decompress([UInt8](data), limit: inflatedLimit) else {
            return .unreadable("annotation \(key) is not a gzip stream of at most \(inflatedLimit) bytes")
        }
        guard let encoded = try? JSONValue(parsingText: bytes), case .object = encoded else {
            return .unreadable("annotation \(key) does not hold a JSON object")
        }
        guard let template = try? encoded.decode(PodTemplateSpec.self) else {
            return .unreadable("annotation \(key) does not hold a pod template")
        }
        return .template(Kept(hash: PodTemplateBuilder.templateHash(encoded: encoded), encoded: encoded, template: template))
    }

    /// The template of revision `hash`, when the annotation holds exactly it.
    public static func template(in deployment: JSONValue, hash: String) -> Kept? {
        guard case .template(let kept) = read(deployment), kept.hash == hash else { return nil }
        return kept
    }
}
