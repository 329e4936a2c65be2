import Foundation
import KubeCore

/// kube-apiserver's server-side Table printers for the built-in kinds kubectl shows (`kubectl get`,
/// `-o wide` = the priority-1 columns). The column definitions (names, types, descriptions,
/// priorities) are kube-apiserver v1.36's, kept in `Resources/table-columns.json`; the cells are
/// computed here with the printers' rules. Cell JSON types follow the real printers, not the
/// declared column types (integers in `string` columns, CronJob Suspend as the string "False"),
/// because kubectl shows whatever the server sends.
enum BuiltinTables {
    /// "group/resource" → column definitions.
    static let columns: [String: [JSONValue]] = {
        guard let url = Bundle.module.url(forResource: "table-columns", withExtension: "json", subdirectory: "Resources")
            ?? Bundle.module.url(forResource: "table-columns", withExtension: "json"),
              let data = try? Data(contentsOf: url), let doc = try? JSONValue(parsing: data), let map = doc.objectValue else { return [:] }
        return map.compactMapValues(\.arrayValue)
    }()

    struct Row {
        var cells: [JSONValue]
        /// Row conditions (a finished Pod's `Completed`), as the Pod printer sets them.
        var conditions: JSONValue?
    }

    static func key(_ info: ResourceInfo) -> String { "\(info.group)/\(info.resource)" }

    /// The columns and one row per object, or nil when the kind has no printer here.
    static func columnDefinitions(_ info: ResourceInfo) -> [JSONValue]? {
        info.isCustom ? nil : columns[key(info)]
    }

    static func row(_ o: JSONValue, info: ResourceInfo, now: Date) -> Row? {
        let name: JSONValue = .string(o[path: ["metadata", "name"]]?.stringValue ?? "")
        let age: JSONValue = .string(since(o[path: ["metadata", "creationTimestamp"]]?.stringValue, now: now))
        func int(_ path: [String]) -> Int64 { o[path: path]?.intValue ?? 0 }
        switch key(info) {
        case "apps/deployments":
            let (names, images) = containerCells(o[path: ["spec", "template", "spec", "containers"]])
            return Row(cells: [name, .string("\(int(["status", "readyReplicas"]))/\(int(["spec", "replicas"]))"), .int(int(["status", "updatedReplicas"])),
                               .int(int(["status", "availableReplicas"])), age, names, images, .string(selector(o[path: ["spec", "selector"]]))])
        case "apps/replicasets":
            let (names, images) = containerCells(o[path: ["spec", "template", "spec", "containers"]])
            return Row(cells: [name, .int(int(["spec", "replicas"])), .int(int(["status", "replicas"])), .int(int(["status", "readyReplicas"])), age,
                               names, images, .string(selector(o[path: ["spec", "selector"]]))])
        case "/pods": return pod(o, name: name, age: age, now: now)
        case "/services": return Row(cells: service(o, name: name, age: age))
        case "/configmaps":
            let count = (o["data"]?.objectValue?.count ?? 0) + (o["binaryData"]?.objectValue?.count ?? 0)
            return Row(cells: [name, .int(Int64(count)), age])
        case "/secrets":
            return Row(cells: [name, .string(o["type"]?.stringValue ?? ""), .int(Int64(o["data"]?.objectValue?.count ?? 0)), age])
        case "networking.k8s.io/ingresses": return Row(cells: ingress(o, name: name, age: age))
        case "autoscaling/horizontalpodautoscalers":
            let ref = "\(o[path: ["spec", "scaleTargetRef", "kind"]]?.stringValue ?? "")/\(o[path: ["spec", "scaleTargetRef", "name"]]?.stringValue ?? "")"
            let minPods = o[path: ["spec", "minReplicas"]]?.intValue.map { String($0) } ?? "<unset>"
            return Row(cells: [name, .string(ref), .string(hpaMetrics(o)), .string(minPods), .int(int(["spec", "maxReplicas"])),
                               .int(int(["status", "currentReplicas"])), age])
        case "policy/poddisruptionbudgets":
            func intOrString(_ v: JSONValue?) -> String {
                guard let v else { return "N/A" }
                return v.intValue.map { String($0) } ?? v.stringValue ?? "N/A"
            }
            return Row(cells: [name, .string(intOrString(o[path: ["spec", "minAvailable"]])), .string(intOrString(o[path: ["spec", "maxUnavailable"]])),
                               .int(int(["status", "disruptionsAllowed"])), age])
        case "batch/jobs": return Row(cells: job(o, name: name, age: age, now: now))
        case "batch/cronjobs":
            let spec = o["spec"] ?? [:]
            let suspend = spec["suspend"]?.boolValue.map { $0 ? "True" : "False" } ?? "<unset>"
            let last = o[path: ["status", "lastScheduleTime"]]?.stringValue.map { since($0, now: now) } ?? "<none>"
            let (names, images) = containerCells(spec[path: ["jobTemplate", "spec", "template", "spec", "containers"]])
            return Row(cells: [name, .string(spec["schedule"]?.stringValue ?? ""), .string(spec["timeZone"]?.stringValue ?? "<none>"), .string(suspend),
                               .int(Int64(o[path: ["status", "active"]]?.arrayValue?.count ?? 0)), .string(last), age, names, images,
                               .string(selector(spec[path: ["jobTemplate", "spec", "selector"]]))])
        case "apps/controllerrevisions":
            var controller = "<none>"
            if let ref = o[path: ["metadata", "ownerReferences"]]?.arrayValue?.first(where: { $0["controller"]?.boolValue == true }) {
                let apiVersion = ref["apiVersion"]?.stringValue ?? ""
                let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
                let kind = ref["kind"]?.stringValue ?? ""
                controller = (group.isEmpty ? kind : "\(kind).\(group)").lowercased() + "/" + (ref["name"]?.stringValue ?? "")
            }
            return Row(cells: [name, .string(controller), .int(int(["revision"])), age])
        case "coordination.k8s.io/leases":
            return Row(cells: [name, .string(o[path: ["spec", "holderIdentity"]]?.stringValue ?? ""), age])
        case "/events": return Row(cells: event(o, name: name, now: now))
        case "/namespaces": return Row(cells: [name, .string(o[path: ["status", "phase"]]?.stringValue ?? ""), age])
        case "/serviceaccounts": return Row(cells: [name, age])
        default: return nil
        }
    }

    // MARK: Per-kind printers

    static func pod(_ o: JSONValue, name: JSONValue, age: JSONValue, now: Date) -> Row {
        let status = o["status"] ?? [:]
        let containers = o[path: ["spec", "containers"]]?.arrayValue ?? []
        var reason = status["reason"]?.stringValue ?? ""
        if reason.isEmpty { reason = status["phase"]?.stringValue ?? "" }
        let conditions = status["conditions"]?.arrayValue ?? []
        if conditions.contains(where: { $0["type"]?.stringValue == "PodScheduled" && $0["reason"]?.stringValue == "SchedulingGated" }) {
            reason = "SchedulingGated"
        }
        var restarts: Int64 = 0
        var ready = 0
        var lastRestart: Date?
        var hasRunning = false
        for c in (status["containerStatuses"]?.arrayValue ?? []).reversed() {
            restarts += c["restartCount"]?.intValue ?? 0
            if let finished = c[path: ["lastState", "terminated", "finishedAt"]]?.stringValue.flatMap(Time.parse), lastRestart.map({ $0 < finished }) ?? true {
                lastRestart = finished
            }
            let state = c["state"] ?? [:]
            if let waiting = state[path: ["waiting", "reason"]]?.stringValue, !waiting.isEmpty {
                reason = waiting
            } else if let terminated = state["terminated"] {
                if let r = terminated["reason"]?.stringValue, !r.isEmpty {
                    reason = r
                } else if let signal = terminated["signal"]?.intValue, signal != 0 {
                    reason = "Signal:\(signal)"
                } else {
                    reason = "ExitCode:\(terminated["exitCode"]?.intValue ?? 0)"
                }
            } else if c["ready"]?.boolValue == true, state["running"] != nil {
                hasRunning = true
                ready += 1
            }
        }
        if reason == "Completed", hasRunning {
            let podReady = conditions.contains { $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" }
            reason = podReady ? "Running" : "NotReady"
        }
        let phase = status["phase"]?.stringValue ?? ""
        if o[path: ["metadata", "deletionTimestamp"]] != nil {
            if status["reason"]?.stringValue == "NodeLost" {
                reason = "Unknown"
            } else if phase != "Succeeded" && phase != "Failed" {
                reason = "Terminating"
            }
        }
        var restartText = String(restarts)
        if restarts != 0, let lastRestart { restartText = "\(restarts) (\(humanDuration(now.timeIntervalSince(lastRestart))) ago)" }
        let ip = status["podIPs"]?.arrayValue?.first?["ip"]?.stringValue ?? ""
        let node = o[path: ["spec", "nodeName"]]?.stringValue ?? ""
        let nominated = status["nominatedNodeName"]?.stringValue ?? ""
        var gates = "<none>"
        if let g = o[path: ["spec", "readinessGates"]]?.arrayValue, !g.isEmpty {
            let passed = g.filter { gate in
                conditions.first { $0["type"] == gate["conditionType"] }?["status"]?.stringValue == "True"
            }.count
            gates = "\(passed)/\(g.count)"
        }
        let rowConditions: JSONValue?
        switch phase {
        case "Succeeded": rowConditions = [["type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."]]
        case "Failed": rowConditions = [["type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."]]
        default: rowConditions = nil
        }
        return Row(cells: [name, .string("\(ready)/\(containers.count)"), .string(reason), .string(restartText), age,
                           .string(ip.isEmpty ? "<none>" : ip), .string(node.isEmpty ? "<none>" : node),
                           .string(nominated.isEmpty ? "<none>" : nominated), .string(gates)],
                   conditions: rowConditions)
    }

    static func service(_ o: JSONValue, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let spec = o["spec"] ?? [:]
        let type = spec["type"]?.stringValue ?? ""
        let clusterIP = spec["clusterIPs"]?.arrayValue?.first?.stringValue ?? "<none>"
        let externalIPs = spec["externalIPs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let external: String
        switch type {
        case "ClusterIP", "NodePort": external = externalIPs.isEmpty ? "<none>" : externalIPs.joined(separator: ",")
        case "LoadBalancer":
            let lb = loadBalancerAddresses(o[path: ["status", "loadBalancer"]])
            if !externalIPs.isEmpty {
                external = ((lb.isEmpty ? [] : [lb]) + externalIPs).joined(separator: ",")
            } else {
                external = lb.isEmpty ? "<pending>" : lb
            }
        case "ExternalName": external = spec["externalName"]?.stringValue ?? ""
        default: external = "<unknown>"
        }
        let ports = (spec["ports"]?.arrayValue ?? []).map { p -> String in
            let proto = p["protocol"]?.stringValue ?? "TCP"
            let port = p["port"]?.intValue ?? 0
            if let node = p["nodePort"]?.intValue, node > 0 { return "\(port):\(node)/\(proto)" }
            return "\(port)/\(proto)"
        }.joined(separator: ",")
        let selector = (spec["selector"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? "")" }
        return [name, .string(type), .string(clusterIP), .string(external), .string(ports.isEmpty ? "<none>" : ports), age,
                .string(selector.isEmpty ? "<none>" : selector.joined(separator: ","))]
    }

    static func loadBalancerAddresses(_ lb: JSONValue?) -> String {
        (lb?["ingress"]?.arrayValue ?? []).compactMap { i -> String? in
            if let ip = i["ip"]?.stringValue, !ip.isEmpty { return ip }
            if let h = i["hostname"]?.stringValue, !h.isEmpty { return h }
            return nil
        }.joined(separator: ",")
    }

    static func ingress(_ o: JSONValue, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let spec = o["spec"] ?? [:]
        let rules = spec["rules"]?.arrayValue ?? []
        let hostsShown = rules.prefix(3).compactMap { r -> String? in
            let h = r["host"]?.stringValue ?? ""
            return h.isEmpty ? nil : h
        }
        var hosts = hostsShown.isEmpty ? "*" : hostsShown.joined(separator: ",")
        if rules.count > 3, !hostsShown.isEmpty { hosts += " + \(rules.count - 3) more..." }
        let ports = (spec["tls"]?.arrayValue ?? []).isEmpty ? "80" : "80, 443"
        return [name, .string(spec["ingressClassName"]?.stringValue ?? "<none>"), .string(hosts),
                .string(loadBalancerAddresses(o[path: ["status", "loadBalancer"]])), .string(ports), age]
    }

    static func job(_ o: JSONValue, name: JSONValue, age: JSONValue, now: Date) -> [JSONValue] {
        let spec = o["spec"] ?? [:], status = o["status"] ?? [:]
        let succeeded = status["succeeded"]?.intValue ?? 0
        let completions: String
        if let c = spec["completions"]?.intValue {
            completions = "\(succeeded)/\(c)"
        } else if let p = spec["parallelism"]?.intValue, p > 1 {
            completions = "\(succeeded)/1 of \(p)"
        } else {
            completions = "\(succeeded)/1"
        }
        var duration = ""
        if let start = status["startTime"]?.stringValue.flatMap(Time.parse) {
            let end = status["completionTime"]?.stringValue.flatMap(Time.parse) ?? now
            duration = humanDuration(end.timeIntervalSince(start))
        }
        let conditions = status["conditions"]?.arrayValue ?? []
        func has(_ type: String) -> Bool { conditions.contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" } }
        let state: String
        if has("Complete") { state = "Complete" }
        else if has("Failed") { state = "Failed" }
        else if o[path: ["metadata", "deletionTimestamp"]] != nil { state = "Terminating" }
        else if has("Suspended") { state = "Suspended" }
        else if has("FailureTarget") { state = "FailureTarget" }
        else if has("SuccessCriteriaMet") { state = "SuccessCriteriaMet" }
        else { state = "Running" }
        let (names, images) = containerCells(spec[path: ["template", "spec", "containers"]])
        return [name, .string(state), .string(completions), .string(duration), age, names, images, .string(selector(spec["selector"]))]
    }

    static func event(_ o: JSONValue, name: JSONValue, now: Date) -> [JSONValue] {
        var first = since(o["firstTimestamp"]?.stringValue, now: now)
        if o["firstTimestamp"]?.stringValue == nil { first = since(o["eventTime"]?.stringValue, now: now) }
        var last = o["lastTimestamp"]?.stringValue == nil ? first : since(o["lastTimestamp"]?.stringValue, now: now)
        var count = o["count"]?.intValue ?? 0
        if let series = o["series"], series.objectValue != nil {
            last = since(series["lastObservedTime"]?.stringValue, now: now)
            count = series["count"]?.intValue ?? 0
        } else if count == 0 {
            count = 1
        }
        let involved = o["involvedObject"] ?? [:]
        let kind = (involved["kind"]?.stringValue ?? "").lowercased()
        let target = (involved["name"]?.stringValue ?? "").isEmpty ? kind : "\(kind)/\(involved["name"]?.stringValue ?? "")"
        func firstNonEmpty(_ a: String?, _ b: String?) -> String { (a ?? "").isEmpty ? (b ?? "") : (a ?? "") }
        let component = firstNonEmpty(o[path: ["source", "component"]]?.stringValue, o["reportingComponent"]?.stringValue)
        let instance = firstNonEmpty(o[path: ["source", "host"]]?.stringValue, o["reportingInstance"]?.stringValue)
        let source = instance.isEmpty ? component : "\(component), \(instance)"
        return [.string(last), .string(o["type"]?.stringValue ?? ""), .string(o["reason"]?.stringValue ?? ""), .string(target),
                .string(involved["fieldPath"]?.stringValue ?? ""), .string(source),
                .string((o["message"]?.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)), .string(first), .int(count), name]
    }

    /// TARGETS of an HPA: up to two metrics as "current/target", then "+ N more...".
    static func hpaMetrics(_ o: JSONValue) -> String {
        let specs = o[path: ["spec", "metrics"]]?.arrayValue ?? []
        if specs.isEmpty { return "<none>" }
        let current = o[path: ["status", "currentMetrics"]]?.arrayValue ?? []
        func quantity(_ v: JSONValue?) -> String? { v?.stringValue ?? v?.intValue.map { String($0) } }
        var list: [String] = []
        for spec in specs {
            let type = spec["type"]?.stringValue ?? ""
            switch type {
            case "Resource", "ContainerResource":
                let field = type == "Resource" ? "resource" : "containerResource"
                let m = spec[field] ?? [:]
                let resource = m["name"]?.stringValue ?? ""
                let status = current.first { $0["type"]?.stringValue == type && $0[path: [field, "name"]]?.stringValue == resource }?[field]
                if let avg = quantity(m[path: ["target", "averageValue"]]) {
                    list.append("\(resource): \(quantity(status?[path: ["current", "averageValue"]]) ?? "<unknown>")/\(avg)")
                } else {
                    let cur = status?[path: ["current", "averageUtilization"]]?.intValue.map { "\($0)%" } ?? "<unknown>"
                    let target = m[path: ["target", "averageUtilization"]]?.intValue.map { "\($0)%" } ?? "<auto>"
                    list.append("\(resource): \(cur)/\(target)")
                }
            case "Pods":
                let status = current.first { $0["type"]?.stringValue == "Pods" }
                list.append("\(quantity(status?[path: ["pods", "current", "averageValue"]]) ?? "<unknown>")/\(quantity(spec[path: ["pods", "target", "averageValue"]]) ?? "")")
            case "Object", "External":
                let field = type == "Object" ? "object" : "external"
                let status = current.first { $0["type"]?.stringValue == type }
                if let value = quantity(spec[path: [field, "target", "value"]]) {
                    list.append("\(quantity(status?[path: [field, "current", "value"]]) ?? "<unknown>")/\(value)")
                } else {
                    let avg = quantity(spec[path: [field, "target", "averageValue"]]) ?? ""
                    list.append("\(quantity(status?[path: [field, "current", "averageValue"]]) ?? "<unknown>")/\(avg) (avg)")
                }
            default: list.append("<unknown type>")
            }
        }
        if list.count > 2 { return list.prefix(2).joined(separator: ", ") + " + \(list.count - 2) more..." }
        return list.joined(separator: ", ")
    }

    // MARK: Shared cells

    static func containerCells(_ containers: JSONValue?) -> (JSONValue, JSONValue) {
        let list = containers?.arrayValue ?? []
        return (.string(list.compactMap { $0["name"]?.stringValue }.joined(separator: ",")),
                .string(list.compactMap { $0["image"]?.stringValue }.joined(separator: ",")))
    }

    /// A label selector as labels.Selector prints it (requirements sorted by key); "<none>" when empty.
    static func selector(_ sel: JSONValue?) -> String {
        guard let sel else { return "<none>" }
        var parts: [(String, String)] = []
        for (k, v) in sel["matchLabels"]?.objectValue ?? [:] { parts.append((k, "\(k)=\(v.stringValue ?? "")")) }
        for e in sel["matchExpressions"]?.arrayValue ?? [] {
            let key = e["key"]?.stringValue ?? ""
            let values = (e["values"]?.arrayValue?.compactMap(\.stringValue) ?? []).sorted()
            switch e["operator"]?.stringValue ?? "" {
            case "In": parts.append((key, "\(key) in (\(values.joined(separator: ",")))"))
            case "NotIn": parts.append((key, "\(key) notin (\(values.joined(separator: ",")))"))
            case "Exists": parts.append((key, key))
            case "DoesNotExist": parts.append((key, "!\(key)"))
            default: break
            }
        }
        let text = parts.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: ",")
        return text.isEmpty ? "<none>" : text
    }

    /// translateTimestampSince: the age of a timestamp, "<unknown>" without one.
    static func since(_ timestamp: String?, now: Date) -> String {
        guard let timestamp, let d = Time.parse(timestamp) else { return "<unknown>" }
        return humanDuration(now.timeIntervalSince(d))
    }

    /// apimachinery's HumanDuration: "0s", "5m", "3h2m", "4d", "2y3d"; a time more than a
    /// second in the future is "<invalid>".
    static func humanDuration(_ interval: Double) -> String {
        let seconds = Int(interval.rounded(.towardZero))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = seconds / 3600
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let days = (hours / 24) % 365
            return days == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(days)d"
        }
        return "\(hours / 24 / 365)y"
    }
}
