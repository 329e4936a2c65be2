import Foundation
import KubeCore

/// The simulated job and cronjob controllers. Jobs run no Pods: a Job is active for
/// `jobDuration`, then Complete, or Failed when a test said so (`failJobs`), when its template
/// uses a failing image, or when `activeDeadlineSeconds` passed first. CronJobs fire only when a
/// test asks (`fireCronJob`); their status follows their Jobs.
extension ControllerSimulator {
    func reconcileJobs(_ w: SimulationWriter, now: Date) -> Date? {
        guard let info = w.info("batch", "v1", "jobs") else { return nil }
        let (duration, rules) = memory.withLock { ($0.settings.jobDuration, $0.jobRules) }
        let nowText = Time.format(now)
        var next: Date?
        var live: Set<String> = []
        for job in w.visit(.job, info) {
            let uid = job[path: ["metadata", "uid"]]?.stringValue ?? ""
            let ns = job[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let name = job[path: ["metadata", "name"]]?.stringValue ?? ""
            live.insert(uid)
            if Self.jobFinished(job) != nil || job[path: ["spec", "suspend"]]?.boolValue == true { continue }
            let started = memory.withLock { m -> Date in
                let s = m.jobStarts[uid] ?? now
                m.jobStarts[uid] = s
                return s
            }
            var status = job["status"]?.objectValue ?? [:]
            status["startTime"] = status["startTime"] ?? .string(Time.format(started))
            status["ready"] = 0
            status["terminating"] = 0
            status["uncountedTerminatedPods"] = [:]
            let previous = job[path: ["status", "conditions"]]?.arrayValue ?? []
            let images = (job[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }
            var failure = rules.first { $0.match.matches(namespace: ns, name: name) }.map { (reason: $0.reason, message: $0.message) }
            if failure == nil, images.contains(where: { failureReason(image: $0) != nil }) {
                failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
            }
            let finishAt = started.addingTimeInterval(duration)
            let deadlineAt = job[path: ["spec", "activeDeadlineSeconds"]]?.intValue.map { started.addingTimeInterval(Double($0)) }
            if let deadlineAt, deadlineAt <= finishAt, now >= deadlineAt {
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
            }
            if now < finishAt && failure?.reason != "DeadlineExceeded" {
                status["active"] = 1
                let at = deadlineAt.map { min($0, finishAt) } ?? finishAt
                next = next.map { min($0, at) } ?? at
                queue.withLock { $0.schedule(.job, "\(ns)/\(name)", at: at) }
            } else if let failure {
                status["active"] = nil
                status["failed"] = 1
                status["conditions"] = [
                    SimConditions.make("FailureTarget", "True", reason: failure.reason, message: failure.message, previous: previous, now: nowText, probeTime: true),
                    SimConditions.make("Failed", "True", reason: failure.reason, message: failure.message, previous: previous, now: nowText, probeTime: true),
                ]
            } else {
                let completions = job[path: ["spec", "completions"]]?.intValue ?? 1
                let message = "Reached expected number of succeeded pods"
                status["active"] = nil
                status["succeeded"] = .int(completions)
                status["completionTime"] = .string(nowText)
                status["conditions"] = [
                    SimConditions.make("SuccessCriteriaMet", "True", reason: "CompletionsReached", message: message, previous: previous, now: nowText, probeTime: true),
                    SimConditions.make("Complete", "True", reason: "CompletionsReached", message: message, previous: previous, now: nowText, probeTime: true),
                ]
            }
            w.writeStatus(info, job, .object(status))
        }
        // As for Pods: removals are forgotten as they commit, a full pass drops the rest.
        if w.full { memory.withLock { m in m.jobStarts = m.jobStarts.filter { live.contains($0.key) } } }
        return next
    }

    /// "Complete" or "Failed" when the Job has finished.
    static func jobFinished(_ job: JSONValue) -> String? {
        for c in job[path: ["status", "conditions"]]?.arrayValue ?? [] where c["status"]?.stringValue == "True" {
            if let t = c["type"]?.stringValue, t == "Complete" || t == "Failed" { return t }
        }
        return nil
    }

    /// Drops finished Jobs from each CronJob's `status.active` and records `lastSuccessfulTime`.
    func reconcileCronJobs(_ w: SimulationWriter) {
        guard let info = w.info("batch", "v1", "cronjobs"), let jobInfo = w.info("batch", "v1", "jobs") else { return }
        for cron in w.visit(.cronJob, info) {
            let uid = cron[path: ["metadata", "uid"]]?.stringValue ?? ""
            let ns = cron[path: ["metadata", "namespace"]]?.stringValue
            let owned = w.dependents(of: uid, in: jobInfo.storageKey, namespace: ns)
            var status = cron["status"]?.objectValue ?? [:]
            let active = (status["active"]?.arrayValue ?? []).filter { ref in
                owned.contains { $0[path: ["metadata", "uid"]] == ref["uid"] && Self.jobFinished($0) == nil }
            }
            status["active"] = active.isEmpty ? nil : .array(active)
            var last = status["lastSuccessfulTime"]?.stringValue
            for job in owned where Self.jobFinished(job) == "Complete" {
                if let t = job[path: ["status", "completionTime"]]?.stringValue, last.map({ t > $0 }) ?? true { last = t }
            }
            status["lastSuccessfulTime"] = last.map(JSONValue.string)
            w.writeStatus(info, cron, .object(status))
        }
    }

    /// Runs a CronJob now, as its schedule would at `time`: creates Job `NAME-<minutes since the
    /// epoch>` from the jobTemplate (owned by the CronJob, manager kube-controller-manager) and
    /// records it in `status.active` and `status.lastScheduleTime`. Returns the Job's name.
    /// Works whether or not the simulation is enabled (the Job only completes when it is).
    @discardableResult
    public func fireCronJob(namespace: String, name: String, at time: Date = Date()) throws(SimulationError) -> String {
        guard let core else { throw .serverGone }
        let w = SimulationWriter(core: core, simulator: self)
        guard let info = w.info("batch", "v1", "cronjobs"), let jobInfo = w.info("batch", "v1", "jobs"),
              let cron = w.get(info, namespace: namespace, name: name) else {
            throw .cronJobNotFound(namespace: namespace, name: name)
        }
        let minutes = Int64(time.timeIntervalSince1970 / 60)
        let scheduled = Date(timeIntervalSince1970: Double(minutes * 60))
        let jobName = "\(name)-\(minutes)"
        var metadata = cron[path: ["spec", "jobTemplate", "metadata"]]?.objectValue ?? [:]
        var annotations = metadata["annotations"]?.objectValue ?? [:]
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = .string(Time.format(scheduled))
        metadata["annotations"] = .object(annotations)
        metadata["name"] = .string(jobName)
        metadata["namespace"] = .string(namespace)
        metadata["ownerReferences"] = [SimConditions.ownerReference(apiVersion: "batch/v1", kind: "CronJob", of: cron)]
        let job: JSONValue = ["apiVersion": "batch/v1", "kind": "Job", "metadata": .object(metadata),
                              "spec": cron[path: ["spec", "jobTemplate", "spec"]] ?? [:]]
        let created: JSONValue
        do {
            created = try w.createOrThrow(jobInfo, job)
        } catch let e as APIError {
            throw .rejected(e.status["message"]?.stringValue ?? "HTTP \(e.code)")
        } catch {
            throw .rejected("\(error)")
        }
        let ref: JSONValue = ["apiVersion": "batch/v1", "kind": "Job", "name": .string(jobName), "namespace": .string(namespace),
                              "uid": created[path: ["metadata", "uid"]] ?? "", "resourceVersion": created[path: ["metadata", "resourceVersion"]] ?? ""]
        // The simulation may write the CronJob's status at the same time: retry on conflict.
        for _ in 0..<20 {
            guard let current = w.get(info, namespace: namespace, name: name) else { throw .cronJobNotFound(namespace: namespace, name: name) }
            var status = current["status"]?.objectValue ?? [:]
            status["active"] = .array((status["active"]?.arrayValue ?? []) + [ref])
            status["lastScheduleTime"] = .string(Time.format(scheduled))
            var new = current
            new["status"] = .object(status)
            let t = APIServerCore.Target(info: info, namespace: namespace, name: name, subresource: "status", verb: "update", watchPath: false)
            do {
                _ = try core.finishUpdate(old: current, new: new, t: t, opts: w.options, applied: false, precondition: nil)
                noteWrite()
                return jobName
            } catch let e as APIError where e.code == 409 {
                continue
            } catch is CommitRace {
                continue
            } catch let e as APIError {
                throw .rejected(e.status["message"]?.stringValue ?? "HTTP \(e.code)")
            } catch {
                throw .rejected("\(error)")
            }
        }
        throw .rejected("conflicts kept the CronJob's status from being written")
    }
}
