import KubeCore

/// Where a Deployment's rollout stands, read from its status the way `kubectl rollout status` does.
public enum RolloutObservation: Sendable, Hashable {
    /// Still rolling (or the Deployment controller has not seen the latest spec): why, for the message.
    case progressing(String)
    /// Every replica updated and available.
    case complete
    /// `Progressing=False` with `ProgressDeadlineExceeded`: the new pods never became available.
    case failed(reason: String, message: String)

    public init(deployment: Deployment) {
        let generation = deployment.metadata.generation ?? 0
        guard let status = deployment.status, (status.observedGeneration ?? 0) >= generation else {
            self = .progressing("waiting for the Deployment controller to observe generation \(generation)")
            return
        }
        if let progressing = status.conditions?.first(type: "Progressing"), progressing.isFalse,
           progressing.reason == "ProgressDeadlineExceeded" {
            self = .failed(reason: "ProgressDeadlineExceeded", message: progressing.message ?? "the rollout missed its progress deadline")
            return
        }
        let want = deployment.spec?.replicas ?? 1
        let updated = status.updatedReplicas ?? 0
        let total = status.replicas ?? 0
        let available = status.availableReplicas ?? 0
        if updated < want {
            self = .progressing("\(updated) of \(want) replicas updated")
        } else if total > updated {
            self = .progressing("\(total - updated) old replicas pending termination")
        } else if available < updated {
            self = .progressing("\(available) of \(updated) updated replicas available")
        } else {
            self = .complete
        }
    }

    public var isComplete: Bool { self == .complete }
}

/// Why pods are not running, summarised for the status message ("2/3 pods ImagePullBackOff").
public enum PodProblems {
    /// Waiting reasons that mean a pod will not start without help.
    static let reportable: Set<String> = [
        "ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
        "InvalidImageName", "RunContainerError",
    ]

    /// The most common problem among `pods`, e.g. "2/3 pods ImagePullBackOff"; nil when none.
    public static func summary(of pods: [Pod]) -> String? {
        guard !pods.isEmpty else { return nil }
        var counts: [String: Int] = [:]
        for pod in pods {
            var reasons = Set<String>()
            for status in (pod.status?.initContainerStatuses ?? []) + (pod.status?.containerStatuses ?? []) {
                if let reason = status.state?.waiting?.reason, reportable.contains(reason) { reasons.insert(reason) }
                if let reason = status.state?.terminated?.reason, reason == "OOMKilled" || reason == "Error" { reasons.insert(reason) }
            }
            if reasons.isEmpty, pod.status?.phase == "Pending",
               let scheduled = pod.status?.conditions?.first(type: "PodScheduled"), scheduled.isFalse {
                reasons.insert(scheduled.reason ?? "Unschedulable")
            }
            for reason in reasons { counts[reason, default: 0] += 1 }
        }
        guard let worst = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) else { return nil }
        return "\(worst.value)/\(pods.count) pods \(worst.key)"
    }
}
