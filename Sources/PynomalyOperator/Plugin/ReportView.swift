#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// `kubectl pynomaly report NAME`: the weekly check of a PynomalyDeployment in one view, from its
/// status and a few reads (pods, HPA, backup CronJob, Events). Each check is OK, WARN (look at it)
/// or FAIL (act on it); the command exits 1 when any check fails.
public struct PluginReport: Sendable, Hashable {
    public enum Level: String, Sendable, Hashable {
        case ok = "OK"
        case warn = "WARN"
        case fail = "FAIL"
    }

    public struct Check: Sendable, Hashable {
        public var name: String
        public var level: Level
        public var summary: String
        /// Further lines (events, conditions), each shown indented.
        public var details: [String]
        /// The values behind the summary, for `-o json`.
        public var data: JSONValue

        public init(_ name: String, _ level: Level, _ summary: String, details: [String] = [], data: JSONValue = .object([:])) {
            self.name = name
            self.level = level
            self.summary = summary
            self.details = details
            self.data = data
        }
    }

    public var name: String
    public var namespace: String
    public var checks: [Check]

    /// Whether any check failed (the command's exit 1).
    public var failed: Bool { checks.contains { $0.level == .fail } }

    /// What the plugin read besides the CR.
    public struct Reads: Sendable {
        /// The pods of the deployment (by `status.selector`).
        public var pods: [JSONValue]
        /// The HPA `NAME`, when autoscaling is on and it exists.
        public var hpa: JSONValue?
        /// The CronJob `NAME-backup`, when it exists.
        public var backupCronJob: JSONValue?
        /// The namespace's Events (filtered here to this CR's Warnings).
        public var events: [JSONValue]

        public init(pods: [JSONValue] = [], hpa: JSONValue? = nil, backupCronJob: JSONValue? = nil, events: [JSONValue] = []) {
            self.pods = pods
            self.hpa = hpa
            self.backupCronJob = backupCronJob
            self.events = events
        }
    }

    /// Days left below which a certificate fails the check when the spec sets no `warnDays`.
    public static let defaultWarnDays: Int64 = 14

    /// Builds the report; `eventLimit` is how many of the newest Warning Events are listed. The
    /// backup schedule is read in its zone from `timeZones`.
    public static func build(_ cr: JSONValue, reads: Reads, eventLimit: Int = 5, now: Date = Date(), timeZones: TimeZoneDatabase = .system) -> PluginReport {
        let name = cr[path: ["metadata", "name"]]?.stringValue ?? ""
        let namespace = cr[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let checks = [
            revisionCheck(cr), replicaCheck(cr, pods: reads.pods), rolloutCheck(cr), autoscalingCheck(cr, hpa: reads.hpa),
            backupCheck(cr, cronJob: reads.backupCronJob, now: now, timeZones: timeZones), certificateCheck(cr, now: now),
            eventsCheck(cr, events: reads.events, limit: eventLimit, now: now), conditionsCheck(cr),
        ]
        return PluginReport(name: name, namespace: namespace, checks: checks)
    }

    // MARK: Checks

    static func revisionCheck(_ cr: JSONValue) -> Check {
        let status = cr["status"]
        let specImage = cr[path: ["spec", "image"]]?.stringValue
        guard let status, status.objectValue?.isEmpty == false else {
            return Check("revision", .fail, "not yet reconciled: the operator has written no status", data: ["image": specImage.map(JSONValue.string) ?? .null])
        }
        let image = status["image"]?.stringValue ?? specImage ?? "?"
        let current = status["currentRevision"]?.intValue, stable = status["stableRevision"]?.intValue
        var summary = "image \(image), revision \(current.map(String.init) ?? "none")"
        if let stable, stable != current { summary += " (stable \(stable))" }
        var level = Level.ok
        if let specImage, specImage != image {
            summary += "; the spec asks for \(specImage)"
            level = .warn
        }
        let generation = cr[path: ["metadata", "generation"]]?.intValue, observed = status["observedGeneration"]?.intValue
        if let generation, let observed, observed < generation {
            summary += "; the operator has not caught up with generation \(generation) (observed \(observed))"
            level = .warn
        }
        return Check("revision", level, summary, data: [
            "image": .string(image), "specImage": specImage.map(JSONValue.string) ?? .null,
            "currentRevision": current.map(JSONValue.int) ?? .null, "stableRevision": stable.map(JSONValue.int) ?? .null,
        ])
    }

    static func desiredReplicas(_ cr: JSONValue) -> Int64 {
        if cr[path: ["spec", "autoscaling", "enabled"]]?.boolValue == true {
            return cr[path: ["status", "replicas"]]?.intValue ?? cr[path: ["spec", "autoscaling", "minReplicas"]]?.intValue ?? 1
        }
        // The CRD's default.
        return cr[path: ["spec", "replicas"]]?.intValue ?? 3
    }

    static func replicaCheck(_ cr: JSONValue, pods allPods: [JSONValue]) -> Check {
        // The selector also matches the Job pods (smoke tests, backups), which carry a component label; the app's pods do not.
        let pods = allPods.filter { $0[path: ["metadata", "labels", PynomalyLabels.componentKey]] == nil }
        let ready = cr[path: ["status", "readyReplicas"]]?.intValue ?? 0
        let desired = desiredReplicas(cr)
        var restarts: Int64 = 0
        var restartedPods: [String] = []
        for pod in pods {
            let count = (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reduce(Int64(0)) { $0 + ($1["restartCount"]?.intValue ?? 0) }
            restarts += count
            if count > 0 { restartedPods.append("\(pod[path: ["metadata", "name"]]?.stringValue ?? "?"): \(counted(count, "restart"))") }
        }
        let paused = cr[path: ["spec", "paused"]]?.boolValue == true
        let level: Level = ready < desired ? (paused ? .warn : .fail) : (restarts > 0 ? .warn : .ok)
        let summary = "\(ready)/\(desired) ready, \(counted(pods.count, "pod")), \(counted(restarts, "container restart"))" + (paused ? " (paused)" : "")
        return Check("pods", level, summary, details: restartedPods.sorted(), data: [
            "ready": .int(ready), "desired": .int(desired), "pods": .int(Int64(pods.count)), "restarts": .int(restarts),
        ])
    }

    static func rolloutCheck(_ cr: JSONValue) -> Check {
        let history = cr[path: ["status", "history"]]?.arrayValue ?? []
        guard let last = history.max(by: { ($0["revision"]?.intValue ?? 0) < ($1["revision"]?.intValue ?? 0) }) else {
            return Check("rollout", .warn, "no rollout recorded yet")
        }
        let revision = last["revision"]?.intValue ?? 0
        let outcome = last["outcome"]?.stringValue ?? "Unknown"
        var summary = "revision \(revision) (\(last["image"]?.stringValue ?? "?")): \(outcome)"
        if let created = last["createdAt"]?.stringValue { summary += ", created \(created)" }
        let level: Level
        switch outcome {
        case "Succeeded": level = .ok
        case "Progressing", "Superseded": level = .warn
        default: level = .fail
        }
        var details: [String] = []
        if let rollback = cr[path: ["status", "lastRollback"]], rollback.objectValue?.isEmpty == false, level != .ok {
            details.append("last rollback: \(rollback["fromRevision"]?.intValue.map(String.init) ?? "?") -> \(rollback["toRevision"]?.intValue.map(String.init) ?? "?")"
                           + (rollback["reason"]?.stringValue.map { " (\($0))" } ?? "") + (rollback["message"]?.stringValue.map { ": \($0)" } ?? ""))
        }
        return Check("rollout", level, summary, details: details, data: ["revision": .int(revision), "outcome": .string(outcome)])
    }

    static func autoscalingCheck(_ cr: JSONValue, hpa: JSONValue?) -> Check {
        guard cr[path: ["spec", "autoscaling", "enabled"]]?.boolValue == true else {
            return Check("autoscaling", .ok, "not enabled", data: ["enabled": false])
        }
        guard let hpa else { return Check("autoscaling", .fail, "enabled, but the HorizontalPodAutoscaler does not exist", data: ["enabled": true]) }
        let current = hpa[path: ["status", "currentReplicas"]]?.intValue
        let desired = hpa[path: ["status", "desiredReplicas"]]?.intValue
        let min = hpa[path: ["spec", "minReplicas"]]?.intValue ?? 1
        let max = hpa[path: ["spec", "maxReplicas"]]?.intValue
        func text(_ value: Int64?) -> String { value.map(String.init) ?? "?" }
        var summary = "current \(text(current)), desired \(text(desired)), min \(min), max \(text(max))"
        var level = Level.ok
        if let max, let desired, desired >= max {
            summary += ": at its maximum, it cannot scale further"
            level = .warn
        }
        return Check("autoscaling", level, summary, data: [
            "enabled": true, "currentReplicas": current.map(JSONValue.int) ?? .null, "desiredReplicas": desired.map(JSONValue.int) ?? .null,
            "minReplicas": .int(min), "maxReplicas": max.map(JSONValue.int) ?? .null,
        ])
    }

    /// The last successful backup against the schedule: FAIL when the last finished run failed or
    /// nothing succeeded within two schedule periods (the operator's `BackupOverdue` rule), WARN
    /// while suspended or before the first backup.
    static func backupCheck(_ cr: JSONValue, cronJob: JSONValue?, now: Date, timeZones: TimeZoneDatabase) -> Check {
        // Read as JSON with the operator's defaults, so a field this plugin does not know never hides the check.
        let spec = cr[path: ["spec", "backup"]]
        guard let spec, spec.objectValue != nil, spec["enabled"]?.boolValue != false,
              let database = cr[path: ["spec", "database"]], database.objectValue != nil else {
            return Check("backup", .ok, "not configured", data: ["enabled": false])
        }
        let backup = (schedule: spec["schedule"]?.stringValue ?? ResolvedSpec.Defaults.backupSchedule,
                      timeZone: spec["timeZone"]?.stringValue ?? ResolvedSpec.Defaults.timeZone,
                      suspend: spec["suspend"]?.boolValue == true)
        let status = cr[path: ["status", "backup"]]
        let lastSuccess = status?["lastSuccessfulTime"]?.stringValue.flatMap(PluginText.parseTime)
        let lastFailure = status?["lastFailedTime"]?.stringValue.flatMap(PluginText.parseTime)
        let schedule = (try? timeZones.rules(for: backup.timeZone)).flatMap { try? CronSchedule(parsing: backup.schedule, timeZone: $0) }
        var data: JSONObject = ["enabled": true, "schedule": .string(backup.schedule),
                                "lastSuccessfulTime": status?["lastSuccessfulTime"] ?? .null]
        if let lastSuccess { data["ageSeconds"] = .int(Int64(now.timeIntervalSince(lastSuccess))) }
        let last = lastSuccess.map { "last success \(KubeTime.format($0)) (\(PluginText.age(from: $0, to: now)) ago)" } ?? "no successful backup yet"
        var summary = "\(last), schedule \"\(backup.schedule)\" \(backup.timeZone)"
        if let next = schedule?.nextFireTime(after: now) { summary += ", next \(KubeTime.format(next))" }
        func done(_ level: Level, _ verdict: String) -> Check {
            data["verdict"] = .string(verdict)
            return Check("backup", level, summary + ": " + verdict, data: .object(data))
        }
        if let lastFailure, lastSuccess.map({ lastFailure > $0 }) ?? true {
            let reason = status?["lastFailureReason"]?.stringValue.map { " (\($0))" } ?? ""
            return done(.fail, "the last run failed at \(KubeTime.format(lastFailure))\(reason)")
        }
        if backup.suspend { return done(.warn, "suspended by spec.backup.suspend") }
        if let schedule, let f1 = schedule.previousFireTime(atOrBefore: now), let f2 = schedule.previousFireTime(atOrBefore: f1.addingTimeInterval(-1)) {
            // A CronJob younger than two periods has not had its chance yet.
            let created = cronJob?[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap(PluginText.parseTime)
            if let created, created < f2, lastSuccess.map({ $0 < f2 }) ?? true {
                return done(.fail, "overdue: nothing succeeded within two schedule periods (since \(KubeTime.format(f2)))")
            }
        }
        if lastSuccess == nil { return done(.warn, "no backup has run yet") }
        return done(.ok, "within schedule")
    }

    /// `status.tls` when the operator reports one (`notAfter`, `daysLeft`, `secret`): FAIL when
    /// expired or fewer than `spec.ingress.tls.warnDays` (default 14) days are left.
    static func certificateCheck(_ cr: JSONValue, now: Date) -> Check {
        guard let tls = cr[path: ["status", "tls"]], tls.objectValue?.isEmpty == false else {
            return Check("certificate", .ok, "no TLS", data: ["tls": false])
        }
        let notAfter = tls["notAfter"]?.stringValue
        let daysLeft = tls["daysLeft"]?.intValue
            ?? notAfter.flatMap(PluginText.parseTime).map { Int64(($0.timeIntervalSince(now) / 86400).rounded(.down)) }
        let warnDays = cr[path: ["spec", "ingress", "tls", "warnDays"]]?.intValue ?? defaultWarnDays
        let secret = tls["secret"]?.stringValue ?? tls["secretName"]?.stringValue
        var summary = (secret.map { "Secret \($0): " } ?? "")
        let level: Level
        if let daysLeft {
            summary += "\(daysLeft) days left" + (notAfter.map { " (notAfter \($0))" } ?? "")
            if daysLeft < 0 || (notAfter.flatMap(PluginText.parseTime).map { $0 <= now } ?? false) {
                level = .fail
                summary += ": expired"
            } else if daysLeft < warnDays {
                level = .fail
                summary += ": fewer than \(warnDays) days"
            } else {
                level = .ok
            }
        } else {
            level = .warn
            summary += "status.tls has no notAfter or daysLeft"
        }
        return Check("certificate", level, summary, data: [
            "tls": true, "notAfter": notAfter.map(JSONValue.string) ?? .null, "daysLeft": daysLeft.map(JSONValue.int) ?? .null,
            "warnDays": .int(warnDays),
        ])
    }

    /// The newest `limit` Warning Events about this CR; WARN when there are any.
    static func eventsCheck(_ cr: JSONValue, events: [JSONValue], limit: Int, now: Date) -> Check {
        let name = cr[path: ["metadata", "name"]]?.stringValue
        let uid = cr[path: ["metadata", "uid"]]?.stringValue
        func time(_ event: JSONValue) -> String {
            event["lastTimestamp"]?.stringValue ?? event["eventTime"]?.stringValue ?? event["firstTimestamp"]?.stringValue
                ?? event[path: ["metadata", "creationTimestamp"]]?.stringValue ?? ""
        }
        let warnings = events.filter { event in
            let involved = event["involvedObject"] ?? event["regarding"]
            return event["type"]?.stringValue == "Warning" && involved?["kind"]?.stringValue == "PynomalyDeployment"
                && involved?["name"]?.stringValue == name && (uid == nil || involved?["uid"]?.stringValue.map { $0 == uid } ?? true)
        }.sorted { (PluginText.parseTime(time($0)) ?? .distantPast) > (PluginText.parseTime(time($1)) ?? .distantPast) }
        let shown = Array(warnings.prefix(max(0, limit)))
        let details = shown.map { event -> String in
            let when = PluginText.parseTime(time(event)).map { "\(PluginText.age(from: $0, to: now)) ago" } ?? "-"
            let count = event["count"]?.intValue.flatMap { $0 > 1 ? " (x\($0))" : nil } ?? ""
            return "\(when) \(event["reason"]?.stringValue ?? "?")\(count): \(event["message"]?.stringValue ?? event["note"]?.stringValue ?? "")"
        }
        let summary = warnings.isEmpty ? "no Warning Events" : counted(warnings.count, "Warning Event") + (shown.count < warnings.count ? ", the newest \(shown.count):" : ":")
        let data = JSONValue.array(shown.map { event in
            ["reason": event["reason"] ?? .null, "message": event["message"] ?? event["note"] ?? .null, "time": .string(time(event)),
             "count": event["count"] ?? .null]
        })
        return Check("events", warnings.isEmpty ? .ok : .warn, summary, details: details, data: ["warnings": .int(Int64(warnings.count)), "shown": data])
    }

    /// Conditions whose True means trouble; for every other condition False means trouble.
    static let abnormalWhenTrue: Set<String> = [ConditionType.stalled, ConditionType.reconciling, ConditionType.rolledBack, ConditionType.restoreInProgress]

    /// The operator's conditions that are not healthy: FAIL for False (or a True problem
    /// condition), WARN for Unknown and for Reconciling (work in progress).
    static func conditionsCheck(_ cr: JSONValue) -> Check {
        let conditions = cr[path: ["status", "conditions"]]?.arrayValue ?? []
        var level = Level.ok
        var details: [String] = []
        var unhealthy: [JSONValue] = []
        for condition in conditions {
            guard let type = condition["type"]?.stringValue else { continue }
            let value = condition["status"]?.stringValue ?? "Unknown"
            let bad: Level?
            if Self.abnormalWhenTrue.contains(type) {
                bad = value == "True" ? (type == ConditionType.reconciling ? .warn : .fail) : nil
            } else {
                bad = value == "True" ? nil : (value == "False" ? .fail : .warn)
            }
            guard let bad else { continue }
            if bad == .fail || level == .ok { level = bad }
            let reason = condition["reason"]?.stringValue ?? ""
            let message = condition["message"]?.stringValue ?? ""
            details.append("\(type)=\(value)" + (reason.isEmpty ? "" : " \(reason)") + (message.isEmpty ? "" : ": \(message)"))
            unhealthy.append(["type": .string(type), "status": .string(value), "reason": .string(reason), "message": .string(message)])
        }
        if conditions.isEmpty { return Check("conditions", .warn, "no conditions (not yet reconciled)", data: ["unhealthy": []]) }
        let summary = unhealthy.isEmpty ? "all \(conditions.count) conditions healthy" : "\(unhealthy.count) of \(conditions.count) conditions not healthy:"
        return Check("conditions", level, summary, details: details, data: ["unhealthy": .array(unhealthy)])
    }

    /// `1 pod`, `3 pods`.
    static func counted<N: BinaryInteger>(_ count: N, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

    // MARK: Output

    public func text() -> String {
        var lines = ["Report for pynomalydeployment \(name) in \(namespace): " + (failed ? "FAIL" : checks.contains { $0.level == .warn } ? "WARN" : "OK")]
        let width = (checks.map(\.name.count).max() ?? 0) + 1
        for check in checks {
            lines.append("\(check.level.rawValue.paddedRight(to: 5)) \((check.name + ":").paddedRight(to: width)) \(check.summary)")
            for detail in check.details { lines.append("      \(String(repeating: " ", count: width)) \(detail)") }
        }
        return lines.joined(separator: "\n")
    }

    public func json() -> JSONValue {
        [
            "name": .string(name), "namespace": .string(namespace),
            "result": .string(failed ? Level.fail.rawValue : checks.contains { $0.level == .warn } ? Level.warn.rawValue : Level.ok.rawValue),
            "checks": .array(checks.map { check in
                ["name": .string(check.name), "status": .string(check.level.rawValue), "summary": .string(check.summary),
                 "details": .array(check.details.map(JSONValue.string)), "data": check.data]
            }),
        ]
    }
}
