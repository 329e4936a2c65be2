import Foundation
import KubeCore

/// core/v1 and events.k8s.io/v1 Events are one stored object seen through two APIs (fixture 14).
/// Objects are stored in the core/v1 form; events.k8s.io/v1 reads and writes convert.
enum EventConversion {
    static func isEventsAPI(_ info: ResourceInfo) -> Bool { info.group == "events.k8s.io" && info.kind == "Event" }
    static func isCoreEvent(_ info: ResourceInfo) -> Bool { info.group.isEmpty && info.kind == "Event" }

    /// core field ← events.k8s.io field
    static let renames: [(core: String, events: String)] = [
        ("involvedObject", "regarding"), ("message", "note"), ("reportingComponent", "reportingController"),
        ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
    ]

    /// The stored (core) object as the resource `info` serves it.
    static func view(_ stored: JSONValue, _ info: ResourceInfo) -> JSONValue {
        if isCoreEvent(info) {
            var o = stored
            if o["eventTime"] == nil { o["eventTime"] = .null }
            if o["source"] == nil { o["source"] = .object([:]) }
            if o["firstTimestamp"] == nil { o["firstTimestamp"] = .null }
            if o["lastTimestamp"] == nil { o["lastTimestamp"] = .null }
            return o
        }
        guard isEventsAPI(info), case .object(var o) = stored else { return stored }
        for (core, events) in renames {
            let v = o.removeValue(forKey: core)
            if let v { o[events] = v }
        }
        if o["deprecatedSource"] == nil { o["deprecatedSource"] = .object([:]) }
        if o["deprecatedFirstTimestamp"] == nil { o["deprecatedFirstTimestamp"] = .null }
        if o["deprecatedLastTimestamp"] == nil { o["deprecatedLastTimestamp"] = .null }
        if o["deprecatedCount"]?.intValue == 0 { o["deprecatedCount"] = nil }
        if o["eventTime"] == nil { o["eventTime"] = .null }
        return .object(o)
    }

    /// An object written through `info` in the form that is stored.
    static func storable(_ object: JSONValue, _ info: ResourceInfo) -> JSONValue {
        guard isEventsAPI(info) || isCoreEvent(info), case .object(var o) = object else { return object }
        if isEventsAPI(info) {
            for (core, events) in renames {
                let v = o.removeValue(forKey: events)
                if let v { o[core] = v }
            }
            if o["source"]?.objectValue?.isEmpty == true { o["source"] = nil }
            o["apiVersion"] = "v1"
        }
        for key in ["eventTime", "firstTimestamp", "lastTimestamp"] where o[key]?.isNull == true { o[key] = nil }
        return .object(o)
    }

    /// events.k8s.io field selectors name core fields of the stored object.
    static func storedField(_ field: String) -> String {
        for (core, events) in renames {
            if field == events { return core }
            if field.hasPrefix(events + ".") { return core + field.dropFirst(events.count) }
        }
        return field
    }

    /// metav1.Time: whole seconds in UTC (fractions sent by a client are dropped; fixture 14).
    static func normalizeTimes(_ obj: inout JSONValue, fields: [String]) {
        for f in fields {
            guard let s = obj[f]?.stringValue, let d = parseRFC3339(s) else { continue }
            obj[f] = .string(Time.format(Date(timeIntervalSince1970: floor(d.timeIntervalSince1970))))
        }
    }

    static func parseRFC3339(_ s: String) -> Date? {
        if let d = Time.parse(s) { return d }
        // Offsets other than Z and fractions of any length.
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }

    static func validate(_ obj: JSONValue, info: ResourceInfo) -> [StatusCause] {
        var causes: [StatusCause] = []
        if isEventsAPI(info) {
            if obj["eventTime"] == nil || obj["eventTime"]?.isNull == true {
                causes.append(StatusCause(reason: "FieldValueRequired", message: "Required value", field: "eventTime"))
            }
        } else if isCoreEvent(info) {
            let ns = obj[path: ["metadata", "namespace"]]?.stringValue ?? ""
            if let ins = obj[path: ["involvedObject", "namespace"]]?.stringValue, !ins.isEmpty, ins != ns {
                causes.append(StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \"\(ins)\": does not match event.namespace",
                                          field: "involvedObject.namespace"))
            }
        }
        return causes
    }
}
