import Foundation
import KubeCore

/// ObjectMeta validation every kind gets (name rules, ownerReferences, finalizers while deleting).
enum MetadataValidation {
    static func validate(_ obj: JSONValue, old: JSONValue?, info: ResourceInfo) -> [StatusCause] {
        var causes: [StatusCause] = []
        let name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
        if old == nil, !name.isEmpty {
            let problem: String?
            if info.isCustom || !info.nameIsLabel {
                problem = info.kind == "CustomResourceDefinition" ? nil : NameValidation.dnsSubdomainProblem(name)
            } else {
                problem = NameValidation.dnsLabelProblem(name)
            }
            if let problem {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": \(problem)", field: "metadata.name"))
            }
        }
        let refs = obj[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        for r in refs {
            if (r["uid"]?.stringValue ?? "").isEmpty {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\": must not be empty", field: "metadata.ownerReferences.uid"))
            }
            if (r["apiVersion"]?.stringValue ?? "").isEmpty {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\": version must not be empty", field: "metadata.ownerReferences.apiVersion"))
            }
            if (r["kind"]?.stringValue ?? "").isEmpty {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\": kind must not be empty", field: "metadata.ownerReferences.kind"))
            }
            if (r["name"]?.stringValue ?? "").isEmpty {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\": name must not be empty", field: "metadata.ownerReferences.name"))
            }
        }
        let controllers = refs.filter { $0["controller"]?.boolValue == true }
        if controllers.count > 1 {
            let names = controllers.map { "\($0["kind"]?.stringValue ?? "")/\($0["name"]?.stringValue ?? "")" }.joined(separator: " and ")
            let rendered = "[" + refs.map(goOwnerRef).joined(separator: ",") + "]"
            causes.append(StatusCause(reason: "FieldValueInvalid",
                                      message: "Invalid value: \(rendered): Only one reference can have Controller set to true. Found \"true\" in references for \(names)",
                                      field: "metadata.ownerReferences"))
        }
        if let old, old[path: ["metadata", "deletionTimestamp"]] != nil {
            let before = Set(old[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let added = (obj[path: ["metadata", "finalizers"]]?.arrayValue?.compactMap(\.stringValue) ?? []).filter { !before.contains($0) }
            if !added.isEmpty {
                let list = "[]string{" + added.map { "\"\($0)\"" }.joined(separator: ", ") + "}"
                let cause = StatusCause(reason: "FieldValueForbidden",
                                        message: "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers \(list)",
                                        field: "metadata.finalizers")
                // kube-apiserver runs this check twice (generic and strategy update validation) and reports it twice.
                causes.append(contentsOf: [cause, cause])
            }
        }
        return causes
    }

    /// An ownerReference as Go's json.Marshal of the struct renders it (field order of the struct).
    static func goOwnerRef(_ r: JSONValue) -> String {
        var parts: [String] = []
        for k in ["apiVersion", "kind", "name", "uid"] { parts.append("\"\(k)\":\(JSONValue.string(r[k]?.stringValue ?? "").serializedString())") }
        for k in ["controller", "blockOwnerDeletion"] { if let b = r[k]?.boolValue { parts.append("\"\(k)\":\(b)") } }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

/// The built-in validation rules that matter for the operator's builders (a subset of
/// kube-apiserver's; fixture 18 lists what the real server rejects).
enum BuiltinValidation {
    static func validate(_ obj: JSONValue, old: JSONValue?, info: ResourceInfo) -> [StatusCause] {
        var causes: [StatusCause] = []
        switch (info.group, info.kind) {
        case ("", "ConfigMap"), ("", "Secret"):
            for field in ["data", "binaryData"] {
                for key in (obj[field]?.objectValue ?? [:]).keys.sorted() where !validConfigKey(key) {
                    causes.append(StatusCause(reason: "FieldValueInvalid",
                                              message: "Invalid value: \"\(key)\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                                              field: "\(field)[\(key)]"))
                }
            }
        case ("apps", "Deployment"):
            if let r = obj[path: ["spec", "replicas"]]?.intValue, r < 0 {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(r): must be greater than or equal to 0", field: "spec.replicas"))
            }
            let selector = obj[path: ["spec", "selector"]]
            let matchLabels = selector?["matchLabels"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            let labelsValue = obj[path: ["spec", "template", "metadata", "labels"]]
            let labels = labelsValue?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            if selector == nil {
                causes.append(StatusCause(reason: "FieldValueRequired", message: "Required value", field: "spec.selector"))
            }
            if selector == nil || matchLabels.isEmpty && (selector?["matchExpressions"]?.arrayValue ?? []).isEmpty
                || !matchLabels.allSatisfy({ labels[$0.key] == $0.value }) {
                // An empty map is a nil map in Go and prints as null.
                let rendered = (labelsValue?.objectValue?.isEmpty ?? true) ? "null" : (labelsValue?.serializedString() ?? "null")
                causes.append(StatusCause(reason: "FieldValueInvalid",
                                          message: "Invalid value: \(rendered): `selector` does not match template `labels`",
                                          field: "spec.template.metadata.labels"))
            }
            if (obj[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []).isEmpty {
                causes.append(StatusCause(reason: "FieldValueRequired", message: "Required value", field: "spec.template.spec.containers"))
            }
            causes.append(contentsOf: podSpec(obj[path: ["spec", "template", "spec"]], path: "spec.template.spec"))
            if let old, old[path: ["spec", "selector"]] != selector {
                let rendered = selector?.serializedString() ?? "null"
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(rendered): field is immutable", field: "spec.selector"))
            }
        case ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job"):
            causes.append(contentsOf: podSpec(obj[path: ["spec", "template", "spec"]], path: "spec.template.spec"))
        case ("autoscaling", "HorizontalPodAutoscaler"):
            causes.append(contentsOf: hpa(obj))
        case ("batch", "CronJob"):
            causes.append(contentsOf: cronJob(obj))
        case ("networking.k8s.io", "Ingress"):
            causes.append(contentsOf: ingress(obj))
        case ("policy", "PodDisruptionBudget"):
            if let spec = obj["spec"], spec["minAvailable"] != nil, spec["maxUnavailable"] != nil {
                var parts = ["\"MinAvailable\":\(spec["minAvailable"]?.serializedString() ?? "null")",
                             "\"Selector\":\(spec["selector"]?.serializedString() ?? "null")",
                             "\"MaxUnavailable\":\(spec["maxUnavailable"]?.serializedString() ?? "null")"]
                parts.append("\"UnhealthyPodEvictionPolicy\":\(spec["unhealthyPodEvictionPolicy"]?.serializedString() ?? "null")")
                causes.append(StatusCause(reason: "FieldValueInvalid",
                                          message: "Invalid value: {\(parts.joined(separator: ","))}: minAvailable and maxUnavailable cannot be both set", field: "spec"))
            }
        case ("", "Service"):
            causes.append(contentsOf: servicePorts(obj))
        case ("coordination.k8s.io", "Lease"):
            if let d = obj[path: ["spec", "leaseDurationSeconds"]]?.intValue, d <= 0 {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(d): must be greater than 0", field: "spec.leaseDurationSeconds"))
            }
        default:
            break
        }
        return causes
    }

    static func invalid(_ field: String, _ value: String, _ detail: String) -> StatusCause {
        StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(value): \(detail)", field: field)
    }

    static func required(_ field: String, _ detail: String? = nil) -> StatusCause {
        StatusCause(reason: "FieldValueRequired", message: detail.map { "Required value: \($0)" } ?? "Required value", field: field)
    }

    /// Container names, images and requests ≤ limits.
    static func podSpec(_ spec: JSONValue?, path: String) -> [StatusCause] {
        guard let spec else { return [] }
        var causes: [StatusCause] = []
        for (i, c) in (spec["containers"]?.arrayValue ?? []).enumerated() {
            let p = "\(path).containers[\(i)]"
            let name = c["name"]?.stringValue ?? ""
            if name.isEmpty {
                causes.append(required("\(p).name"))
            } else if let problem = NameValidation.dnsLabelProblem(name) {
                causes.append(invalid("\(p).name", "\"\(name)\"", problem))
            }
            if (c["image"]?.stringValue ?? "").isEmpty { causes.append(required("\(p).image")) }
            let limits = c[path: ["resources", "limits"]]?.objectValue ?? [:]
            for (res, req) in (c[path: ["resources", "requests"]]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let lim = limits[res], let r = Quantity.value(req.stringValue ?? req.serializedString()),
                      let l = Quantity.value(lim.stringValue ?? lim.serializedString()), r > l else { continue }
                causes.append(invalid("\(p).resources.requests", "\"\(req.stringValue ?? req.serializedString())\"",
                                      "must be less than or equal to \(res) limit of \(lim.stringValue ?? lim.serializedString())"))
            }
        }
        return causes
    }

    static func hpa(_ obj: JSONValue) -> [StatusCause] {
        var causes: [StatusCause] = []
        let minR = obj[path: ["spec", "minReplicas"]]?.intValue ?? 1
        if let maxR = obj[path: ["spec", "maxReplicas"]]?.intValue, maxR < minR {
            causes.append(invalid("spec.maxReplicas", String(maxR), "must be greater than or equal to `minReplicas`"))
        }
        let sources = ["Resource": "resource", "Pods": "pods", "Object": "object", "External": "external", "ContainerResource": "containerResource"]
        for (i, m) in (obj[path: ["spec", "metrics"]]?.arrayValue ?? []).enumerated() {
            let p = "spec.metrics[\(i)]"
            guard let type = m["type"]?.stringValue, let key = sources[type] else {
                causes.append(invalid("\(p).type", "\"\(m["type"]?.stringValue ?? "")\"", "must be one of Resource, Pods, Object, External, ContainerResource"))
                continue
            }
            guard let source = m[key] else {
                causes.append(required("\(p).\(key)", "must populate information for the given metric source"))
                continue
            }
            let target = source["target"] ?? [:]
            let tp = "\(p).\(key).target"
            switch target["type"]?.stringValue ?? "" {
            case "Utilization", "Value", "AverageValue":
                if let u = target["averageUtilization"]?.intValue, u <= 0 {
                    causes.append(invalid("\(tp).averageUtilization", String(u), "must be greater than 0"))
                }
                if target["averageUtilization"] == nil, target["averageValue"] == nil, target["value"] == nil {
                    causes.append(required("\(tp).averageUtilization", "must set either a target raw value or a target utilization"))
                }
            default:
                causes.append(invalid("\(tp).type", "\"\(target["type"]?.stringValue ?? "")\"", "must be either Utilization, Value, or AverageValue"))
            }
        }
        return causes
    }

    static func cronJob(_ obj: JSONValue) -> [StatusCause] {
        var causes: [StatusCause] = []
        let schedule = obj[path: ["spec", "schedule"]]?.stringValue ?? ""
        if schedule.isEmpty {
            causes.append(required("spec.schedule"))
        } else if schedule.hasPrefix("TZ=") || schedule.hasPrefix("CRON_TZ=") {
            causes.append(invalid("spec.schedule", "\"\(schedule)\"", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
        } else if !schedule.hasPrefix("@") {
            let fields = schedule.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count != 5 {
                causes.append(invalid("spec.schedule", "\"\(schedule)\"", "expected exactly 5 fields, found \(fields.count): [\(fields.joined(separator: " "))]"))
            }
        }
        if let tz = obj[path: ["spec", "timeZone"]]?.stringValue, TimeZone(identifier: tz) == nil {
            causes.append(invalid("spec.timeZone", "\"\(tz)\"", "unknown time zone \(tz)"))
        }
        let restart = obj[path: ["spec", "jobTemplate", "spec", "template", "spec", "restartPolicy"]]?.stringValue ?? ""
        if restart != "OnFailure", restart != "Never" {
            causes.append(required("spec.jobTemplate.spec.template.spec.restartPolicy", "valid values: \"OnFailure\", \"Never\""))
        }
        causes.append(contentsOf: podSpec(obj[path: ["spec", "jobTemplate", "spec", "template", "spec"]], path: "spec.jobTemplate.spec.template.spec"))
        return causes
    }

    static func ingress(_ obj: JSONValue) -> [StatusCause] {
        var causes: [StatusCause] = []
        for (i, rule) in (obj[path: ["spec", "rules"]]?.arrayValue ?? []).enumerated() {
            if let host = rule["host"]?.stringValue, !host.isEmpty {
                let bare = host.hasPrefix("*.") ? String(host.dropFirst(2)) : host
                if let problem = NameValidation.dnsSubdomainProblem(bare) {
                    causes.append(invalid("spec.rules[\(i)].host", "\"\(host)\"", problem))
                }
            }
            for (j, path) in (rule[path: ["http", "paths"]]?.arrayValue ?? []).enumerated() {
                let p = "spec.rules[\(i)].http.paths[\(j)]"
                switch path["pathType"]?.stringValue {
                case nil: causes.append(required("\(p).pathType", "pathType must be specified"))
                case "Exact", "Prefix", "ImplementationSpecific": break
                case let other?:
                    causes.append(StatusCause(reason: "FieldValueNotSupported",
                                              message: "Unsupported value: \"\(other)\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
                                              field: "\(p).pathType"))
                }
                if let port = path[path: ["backend", "service", "port"]], port["name"] != nil, port["number"] != nil {
                    causes.append(invalid("\(p).backend", "\"\"", "cannot set both port name & port number"))
                }
            }
        }
        return causes
    }

    static func servicePorts(_ obj: JSONValue) -> [StatusCause] {
        var causes: [StatusCause] = []
        let ports = obj[path: ["spec", "ports"]]?.arrayValue ?? []
        var seen: [String] = []
        for (i, port) in ports.enumerated() {
            let p = "spec.ports[\(i)]"
            if ports.count > 1, (port["name"]?.stringValue ?? "").isEmpty { causes.append(required("\(p).name")) }
            if let tp = port["targetPort"]?.stringValue, tp.count > 15 {
                causes.append(invalid("\(p).targetPort", "\"\(tp)\"", "must be no more than 15 characters"))
            }
            let key = "\(port["port"]?.intValue ?? 0)/\(port["protocol"]?.stringValue ?? "TCP")"
            if seen.contains(key) {
                // Validation sees targetPort before it is defaulted from port (fixture 18).
                let target = port["targetPort"].flatMap { $0 == port["port"] ? nil : ($0.intValue.map(String.init) ?? $0.serializedString()) } ?? "0"
                let rendered = "{\"Name\":\(JSONValue.string(port["name"]?.stringValue ?? "").serializedString()),\"Protocol\":\"\(port["protocol"]?.stringValue ?? "TCP")\",\"AppProtocol\":null,\"Port\":\(port["port"]?.intValue ?? 0),\"TargetPort\":\(target),\"NodePort\":\(port["nodePort"]?.intValue ?? 0)}"
                causes.append(StatusCause(reason: "FieldValueDuplicate", message: "Duplicate value: \(rendered)", field: p))
            }
            seen.append(key)
        }
        return causes
    }

    static func validConfigKey(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 253 && key != "." && key != ".." && key.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
    }
}

/// Checks the Go decoder of kube-apiserver makes before anything else (400 BadRequest): value
/// types of string maps and the MicroTime format (exactly 6 fractional digits; offsets become UTC).
enum BuiltinDecoding {
    static func check(_ obj: inout JSONValue, info: ResourceInfo) throws {
        let prefix = "\(info.kind) in version \"\(info.version)\" cannot be handled as a \(info.kind): "
        switch (info.group, info.kind) {
        case ("", "ConfigMap"), ("", "Secret"):
            for field in ["data", "stringData", "binaryData"] {
                for (_, v) in obj[field]?.objectValue ?? [:] where v.stringValue == nil && !v.isNull {
                    let goType = v.typeName == "integer" || v.typeName == "number" ? "number" : v.typeName == "boolean" ? "bool" : v.typeName
                    throw APIError.badRequest(prefix + "json: cannot unmarshal \(goType) into Go struct field \(info.kind).\(field) of type \(field == "data" && info.kind == "Secret" ? "[]uint8" : "string")")
                }
            }
            if info.kind == "Secret" {
                for (_, v) in obj["data"]?.objectValue ?? [:] {
                    if let s = v.stringValue, Data(base64Encoded: s) == nil {
                        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                        let index = s.firstIndex { !alphabet.contains($0) }.map { s.distance(from: s.startIndex, to: $0) } ?? s.count
                        throw APIError.badRequest(prefix + "illegal base64 data at input byte \(index)")
                    }
                }
            }
        case ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job"), ("", "Pod"), ("batch", "CronJob"):
            // Resource quantities must parse (Go's resource.Quantity decoding).
            try checkQuantities(obj, prefix: prefix)
        case ("coordination.k8s.io", "Lease"):
            for f in ["acquireTime", "renewTime"] {
                if let s = obj[path: ["spec", f]]?.stringValue {
                    obj[path: ["spec", f]] = .string(try microTime(s, prefix: prefix))
                }
            }
        case ("", "Event"), ("events.k8s.io", "Event"):
            if let s = obj["eventTime"]?.stringValue { obj["eventTime"] = .string(try microTime(s, prefix: prefix)) }
        default:
            break
        }
    }

    static func checkQuantities(_ v: JSONValue, prefix: String) throws {
        switch v {
        case .object(let o):
            for (k, child) in o {
                if k == "requests" || k == "limits", let q = child.objectValue {
                    for (_, value) in q where value.stringValue.map({ Quantity.value($0) == nil }) ?? false {
                        throw APIError.badRequest(prefix + "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
                    }
                } else {
                    try checkQuantities(child, prefix: prefix)
                }
            }
        case .array(let a): for e in a { try checkQuantities(e, prefix: prefix) }
        default: break
        }
    }

    /// Parses a MicroTime as Go's time.Parse with "2006-01-02T15:04:05.000000Z07:00" does and renders it in UTC.
    static func microTime(_ s: String, prefix: String) throws -> String {
        let layout = "2006-01-02T15:04:05.000000Z07:00"
        let chars = Array(s)
        func fail(_ rest: String, _ want: String) -> APIError {
            APIError.badRequest(prefix + "parsing time \"\(s)\" as \"\(layout)\": cannot parse \"\(rest)\" as \"\(want)\"")
        }
        func digits(_ r: Range<Int>) -> Bool { r.upperBound <= chars.count && chars[r].allSatisfy(\.isNumber) }
        guard digits(0..<4), chars.count > 4, chars[4] == "-", digits(5..<7), chars.count > 7, chars[7] == "-", digits(8..<10) else {
            throw fail(s, "2006")
        }
        guard chars.count > 10, chars[10] == "T" else { throw fail(String(chars[10...]), "T") }
        guard digits(11..<13), chars.count > 13, chars[13] == ":", digits(14..<16), chars.count > 16, chars[16] == ":", digits(17..<19) else {
            throw fail(String(chars[min(11, chars.count)...]), "15")
        }
        let rest19 = String(chars[19...])
        guard chars.count > 19, chars[19] == "." else { throw fail(rest19, ".000000") }
        var i = 20
        while i < chars.count, chars[i].isNumber { i += 1 }
        if i - 20 < 6 { throw fail(rest19, ".000000") }
        if i - 20 > 6 { throw fail(String(chars[26...]), "Z07:00") }
        let zone = String(chars[26...])
        var offset = 0
        if zone != "Z" {
            let z = Array(zone)
            guard z.count == 6, z[0] == "+" || z[0] == "-", z[1].isNumber, z[2].isNumber, z[3] == ":", z[4].isNumber, z[5].isNumber,
                  let h = Int(String(z[1...2])), let m = Int(String(z[4...5])) else { throw fail(zone, "Z07:00") }
            offset = (h * 60 + m) * 60 * (z[0] == "-" ? -1 : 1)
        }
        guard let base = Time.parse(String(chars[0..<19]) + "Z") else { throw fail(s, layout) }
        let utc = base.addingTimeInterval(Double(-offset))
        return String(Time.format(utc).dropLast()) + "." + String(chars[20..<26]) + "Z"
    }
}

/// Kubernetes resource quantities ("500m", "1Gi", "2", "1e3") as numbers, for comparisons.
enum Quantity {
    static let suffixes: [String: Double] = [
        "": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
        "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824, "Ti": 1_099_511_627_776, "Pi": 1_125_899_906_842_624, "Ei": 1_152_921_504_606_846_976,
    ]

    static func value(_ s: String) -> Double? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard let end = t.firstIndex(where: { !("0"..."9").contains($0) && $0 != "." && $0 != "+" && $0 != "-" }) ?? Optional(t.endIndex) else { return nil }
        let number = String(t[..<end]), suffix = String(t[end...])
        guard let n = Double(number) else { return nil }
        if let m = suffixes[suffix] { return n * m }
        if suffix.hasPrefix("e") || suffix.hasPrefix("E"), let exp = Double(suffix.dropFirst()) { return n * pow(10, exp) }
        return nil
    }
}
