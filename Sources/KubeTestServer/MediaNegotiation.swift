import Foundation
import KubeCore

/// How a resource read is shown, as the client asked in its Accept header.
enum Rendering: Equatable, Sendable {
    case object
    case table(version: String)
    /// `as=PartialObjectMetadata`: one object's metadata (GET, and each watch event).
    case partialMetadata(version: String)
    /// `as=PartialObjectMetadataList`: a list of metadata (LIST).
    case partialMetadataList(version: String)
}

/// kube-apiserver's output negotiation for resource requests: the first acceptable media range
/// (by q, then specificity) wins; `as`/`g`/`v` ask for a server-side conversion, which is
/// acceptable only to `meta.k8s.io` v1/v1beta1 Table (JSON or YAML) and PartialObjectMetadata[List].
/// A range that asks for anything else is skipped, so `,application/json` after it is the
/// fallback; nothing acceptable is 406.
enum MediaNegotiation {
    static let notAcceptableMessage =
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"

    static let served: [(type: String, subtype: String)] = [
        ("application", "json"), ("application", "yaml"), ("application", "vnd.kubernetes.protobuf"),
    ]

    struct MediaRange: Equatable {
        var type: String
        var subtype: String
        var params: [String: String]
        var q: Double
    }

    /// Parses an Accept header; ranges ordered by q (highest first), then concrete before wildcard,
    /// keeping the header's order otherwise.
    static func parse(_ header: String) -> [MediaRange] {
        var ranges: [MediaRange] = []
        for clause in header.split(separator: ",") {
            let parts = clause.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let media = parts.first, !media.isEmpty else { continue }
            let ts = media.split(separator: "/", maxSplits: 1).map { String($0).lowercased() }
            let type = ts.first ?? "*"
            let subtype = ts.count > 1 ? ts[1] : "*"
            var params: [String: String] = [:]
            var q = 1.0
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { continue }
                if kv[0] == "q" { q = Double(kv[1]) ?? 1 } else { params[kv[0]] = kv[1] }
            }
            ranges.append(MediaRange(type: type, subtype: subtype, params: params, q: q))
        }
        func rank(_ r: MediaRange) -> Int { (r.type == "*" ? 2 : 0) + (r.subtype == "*" ? 1 : 0) }
        return ranges.enumerated().sorted { a, b in
            if a.element.q != b.element.q { return a.element.q > b.element.q }
            if rank(a.element) != rank(b.element) { return rank(a.element) < rank(b.element) }
            return a.offset < b.offset
        }.map(\.element)
    }

    static func negotiate(_ header: String?) throws(APIError) -> Rendering {
        guard let header, !header.trimmingCharacters(in: .whitespaces).isEmpty else { return .object }
        for range in parse(header) {
            for s in served where (range.type == s.type || range.type == "*") && (range.subtype == s.subtype || range.subtype == "*") {
                if let r = rendering(range, subtype: range.subtype == "*" ? s.subtype : range.subtype) { return r }
            }
        }
        throw APIError(code: 406, reason: StatusReason.notAcceptable, message: notAcceptableMessage)
    }

    /// What one media range asks for, or nil when the server cannot serve it that way.
    static func rendering(_ range: MediaRange, subtype: String) -> Rendering? {
        let kind = range.params["as"], group = range.params["g"], version = range.params["v"]
        if kind == nil && group == nil && version == nil { return .object }
        guard group == "meta.k8s.io", let version, version == "v1" || version == "v1beta1" else { return nil }
        switch kind {
        case "Table": return subtype == "json" || subtype == "yaml" ? .table(version: version) : nil
        case "PartialObjectMetadata": return .partialMetadata(version: version)
        case "PartialObjectMetadataList": return .partialMetadataList(version: version)
        default: return nil
        }
    }

    /// The Go type kube-apiserver names in its 406 for the wrong metadata form, e.g. `*core.Secret`.
    static func goTypeName(_ info: ResourceInfo, list: Bool) -> String {
        if info.isCustom { return list ? "*unstructured.UnstructuredList" : "*unstructured.Unstructured" }
        let package: String
        switch info.group {
        case "", "events.k8s.io": package = "core"
        default: package = String(info.group.split(separator: ".").first ?? "")
        }
        let kind = info.resource == "events" ? "Event" : info.kind
        return "*\(package).\(kind)\(list ? "List" : "")"
    }

    static func wrongForm(_ info: ResourceInfo, askedList: Bool) -> APIError {
        let message = askedList
            ? "you requested PartialObjectMetadataList, but the requested object is not a list (\(goTypeName(info, list: false)))"
            : "you requested PartialObjectMetadata, but the requested object is a list (\(goTypeName(info, list: true)))"
        return APIError(code: 406, reason: StatusReason.notAcceptable, message: message)
    }
}
