import Foundation
import KubeCore

/// What every write shares. Every write goes decode → (patch) → defaulting/pruning → validation →
/// FieldManager → store: POST in APIServerCore+Create, PUT and the commit in +Update, PATCH in
/// +Patch, /scale in +Scale, CRDs in +CRDs; field paths in Engines/FieldPath.
extension APIServerCore {
    struct WriteOptions {
        var manager: String
        var dryRun: Bool
        var fieldValidation: String
        var force: Bool
        /// For PATCH: how kube-apiserver prints the patch in a strict-decoding error.
        var strictPatchValue: String? = nil
    }

    func writeOptions(_ req: APIRequest, optionsKind: String) throws -> WriteOptions {
        var causes: [StatusCause] = []
        let dry = req.query.filter { $0.name == "dryRun" }.map(\.value)
        if let bad = dry.first(where: { $0 != "All" }) {
            causes.append(StatusCause(reason: "FieldValueNotSupported", message: "Unsupported value: [\"\(bad)\"]: supported values: \"All\"", field: "dryRun"))
        }
        let fv = req.query("fieldValidation") ?? ""
        if !["", "Ignore", "Warn", "Strict"].contains(fv) {
            causes.append(StatusCause(reason: "FieldValueNotSupported",
                                      message: "Unsupported value: \"\(fv)\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"", field: "fieldValidation"))
        }
        if !causes.isEmpty { throw APIError.invalid(kind: optionsKind, group: "meta.k8s.io", name: "", causes: causes) }
        let ua = req.header("User-Agent") ?? "unknown"
        let derived = String(ua.split(separator: "/", maxSplits: 1).first ?? "unknown")
        var manager = req.query("fieldManager") ?? ""
        if manager.isEmpty { manager = derived.isEmpty ? "unknown" : derived }
        let force = req.query("force") == "true"
        return WriteOptions(manager: manager, dryRun: !dry.isEmpty, fieldValidation: fv.isEmpty ? "Warn" : fv, force: force)
    }

    func checkKind(_ obj: JSONValue, _ info: ResourceInfo) throws {
        guard case .object = obj else {
            throw APIError.badRequest("the object provided is unrecognized (must be of type \(info.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal \(obj.typeName) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")
        }
        let kind = obj["kind"]?.stringValue ?? ""
        let version = (obj["apiVersion"]?.stringValue ?? info.apiVersion).split(separator: "/").last.map(String.init) ?? info.version
        if kind.isEmpty {
            throw APIError.badRequest("Object 'Kind' is missing in '\(String(decoding: obj.serialized().prefix(200), as: UTF8.self))'")
        }
        if kind != info.kind {
            let internalGroup = info.group.isEmpty ? "core" : info.group.split(separator: ".").first.map(String.init) ?? info.group
            throw APIError.badRequest("\(kind) in version \"\(version)\" cannot be handled as a \(info.kind): converting (\(version).\(kind)) to (\(internalGroup).\(info.kind)): unknown conversion")
        }
    }

    /// Unknown fields (warn/strict/ignore), pruning and defaulting.
    func normalize(_ obj: inout JSONValue, info: ResourceInfo, opts: WriteOptions, warnings: inout [String], applied: Bool) throws {
        if !info.isCustom { try BuiltinDecoding.check(&obj, info: info) }
        // ObjectMeta's collections are omitempty: an empty list or map is no field at all.
        for key in ["finalizers", "labels", "annotations", "ownerReferences"] {
            if obj[path: ["metadata", key]]?.arrayValue?.isEmpty == true || obj[path: ["metadata", key]]?.objectValue?.isEmpty == true
                || obj[path: ["metadata", key]]?.isNull == true {
                obj[path: ["metadata", key]] = nil
            }
        }
        if EventConversion.isCoreEvent(info) { EventConversion.normalizeTimes(&obj, fields: ["firstTimestamp", "lastTimestamp"]) }
        if EventConversion.isEventsAPI(info) { EventConversion.normalizeTimes(&obj, fields: ["deprecatedFirstTimestamp", "deprecatedLastTimestamp"]) }
        if let schema = schema(for: info) {
            let unknown: [String]
            if info.isCustom {
                let r = ObjectValidation.defaultAndPrune(obj, schema: schema)
                obj = r.object
                unknown = r.unknownFields
            } else {
                // managedFields' fieldsV1 are free-form sets, never unknown fields.
                unknown = ObjectValidation.unknownFields(obj, schema: schema).filter { !$0.hasPrefix("metadata.managedFields") }
                for path in unknown { FieldPath.remove(path, from: &obj) }
            }
            if !unknown.isEmpty, !applied {
                switch opts.fieldValidation {
                case "Strict":
                    let list = unknown.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
                    if let patchValue = opts.strictPatchValue {
                        throw APIError.invalid(kind: "", group: "", name: "", causes: [
                            StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\(patchValue)\": strict decoding error: \(list)", field: "patch")])
                    }
                    throw APIError.badRequest("\(info.kind) in version \"\(info.version)\" cannot be handled as a \(info.kind): strict decoding error: \(list)")
                case "Ignore": break
                default: warnings.append(contentsOf: unknown.map { "unknown field \"\($0)\"" })
                }
            }
        }
        if !info.isCustom { BuiltinDefaults.apply(to: &obj, info: info) }
    }

    /// Schema validation (CRs), metadata validation and the built-in rules.
    func validate(_ obj: JSONValue, old: JSONValue?, info: ResourceInfo) throws {
        var causes = MetadataValidation.validate(obj, old: old, info: info)
        if info.isCustom, let schema = schema(for: info) {
            causes.append(contentsOf: ObjectValidation.validate(obj, schema: schema, oldObject: old))
        } else {
            causes.append(contentsOf: BuiltinValidation.validate(obj, old: old, info: info))
            causes.append(contentsOf: EventConversion.validate(obj, info: info))
        }
        if !causes.isEmpty {
            // events.k8s.io Events are validated as core Events, and say so.
            let group = EventConversion.isEventsAPI(info) ? "" : info.group
            throw APIError.invalid(kind: info.kind, group: group, name: obj[path: ["metadata", "name"]]?.stringValue ?? "", causes: causes)
        }
    }
}

/// The object changed between reading it and committing a write that carried no resourceVersion
/// precondition: the write is retried on the new object, as kube-apiserver does.
struct CommitRace: Error {}

extension APIServerCore {
    /// Runs a write, again while it loses commit races (bounded; then 409 as the real server would).
    func retryingCommitRaces(_ t: Target, _ write: () throws -> APIResponse) throws -> APIResponse {
        for _ in 0..<16 {
            do { return try write() } catch is CommitRace { continue }
        }
        throw APIError.conflict(t.info, t.name ?? "")
    }
}

extension APIServerCore {
    /// Whether an owner reference of `object` names no live object with that uid (same namespace,
    /// or cluster-scoped). An owner kind the server does not know counts as missing.
    func hasMissingOwner(_ object: JSONValue) -> Bool {
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        return state.withLock { st in
            refs.contains { ref in
                guard let kind = ref["kind"]?.stringValue, let name = ref["name"]?.stringValue, let uid = ref["uid"]?.stringValue,
                      let apiVersion = ref["apiVersion"]?.stringValue else { return true }
                let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
                guard let info = st.registry.resources.first(where: { $0.kind == kind && $0.group == group }) else { return true }
                let owner = st.store.get(info.storageKey, namespace: info.namespaced ? namespace : nil, name: name)
                return owner?[path: ["metadata", "uid"]]?.stringValue != uid
            }
        }
    }
}

