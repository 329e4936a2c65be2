#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// One revision of the app as an apps/v1 ControllerRevision `NAME-<templateHash>`; `data` holds the
/// pod template, the image and the config hash, so a rollback can re-apply it exactly.
public enum ControllerRevisionBuilder {
    /// - Parameters:
    ///   - image, configHash: what the revision's history entry says it runs, recorded beside the
    ///     template for `kubectl pynomaly history` and rollbacks.
    public static func build(_ ctx: BuildContext, revision: Int64, template: PodTemplateSpec, templateHash: String,
                             image: String, configHash: String?) -> ControllerRevision {
        build(ctx, revision: revision, encodedTemplate: PodTemplateBuilder.encode(template), templateHash: templateHash, image: image, configHash: configHash)
    }

    /// `build` with the template encoded already (`PodTemplateBuilder.encode`).
    public static func build(_ ctx: BuildContext, revision: Int64, encodedTemplate: JSONValue, templateHash: String,
                             image: String, configHash: String?) -> ControllerRevision {
        var data: JSONObject = [:]
        data["template"] = encodedTemplate
        data["image"] = .string(image)
        if let configHash { data["configHash"] = .string(configHash) }
        return ControllerRevision(
            metadata: ctx.metadata(name: name(ctx.name, templateHash: templateHash), extraLabels: [PynomalyLabels.templateHashKey: templateHash]),
            data: .object(data), revision: revision)
    }

    /// `NAME-<templateHash>`.
    public static func name(_ crName: String, templateHash: String) -> String { "\(crName)-\(templateHash)" }

    /// The pod template stored in a revision; nil when it is missing or malformed.
    public static func template(from revision: ControllerRevision) -> PodTemplateSpec? {
        guard let json = revision.data?["template"], case .object = json else { return nil }
        return try? json.decode(PodTemplateSpec.self)
    }

    /// The image stored in a revision.
    public static func image(from revision: ControllerRevision) -> String? { revision.data?["image"]?.stringValue }

    /// The config hash stored in a revision.
    public static func configHash(from revision: ControllerRevision) -> String? { revision.data?["configHash"]?.stringValue }
}
