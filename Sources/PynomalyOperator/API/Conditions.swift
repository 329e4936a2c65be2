#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Condition types of PynomalyDeployment and PynomalyRestore. Ready, Reconciling and Stalled follow
/// kstatus, so Argo CD, Flux and `kubectl wait --for=condition=Ready` understand them.
public enum ConditionType {
    public static let ready = "Ready"
    public static let reconciling = "Reconciling"
    public static let stalled = "Stalled"
    public static let available = "Available"
    public static let progressing = "Progressing"
    public static let rolledBack = "RolledBack"
    public static let backupHealthy = "BackupHealthy"
    public static let restoreInProgress = "RestoreInProgress"
    public static let invalidSpec = "InvalidSpec"
    /// `spec.monitoring`: the ServiceMonitor/PrometheusRule applied, or why not (their CRDs not served).
    public static let monitoring = "Monitoring"
    /// `spec.analysis`: the current run's verdict (Unknown while it measures).
    public static let analysisHealthy = "AnalysisHealthy"
    /// Present (False) only while the API server does not serve PynomalyRestores: restores cannot
    /// run until their CRD is installed. Removed once they are served.
    public static let restoresAvailable = "RestoresAvailable"
    /// `spec.ingress.tls`: the TLS Secret's certificate judged (`CertificateVerdict.Reason`).
    public static let certificateReady = "CertificateReady"
}

extension [Condition] {
    /// Stalled=True for `reason`, and Reconciling=False: kstatus reads Stalled only when
    /// Reconciling is not True.
    mutating func markStalled(reason: String, message: String, generation: Int64, now: Date) {
        set(Condition(type: ConditionType.stalled, status: "True", observedGeneration: generation, reason: reason, message: message), now: now)
        set(Condition(type: ConditionType.reconciling, status: "False", observedGeneration: generation, reason: reason, message: ""), now: now)
    }
}

/// Condition reasons (CamelCase) used by the operator.
public enum ConditionReason {
    public static let rolloutComplete = "RolloutComplete"
    public static let rolloutInProgress = "RolloutInProgress"
    public static let invalidSpec = "InvalidSpec"
    public static let progressDeadlineExceeded = "ProgressDeadlineExceeded"
    public static let smokeTestFailed = "SmokeTestFailed"
    public static let rolledBack = "RolledBack"
    public static let paused = "Paused"
    public static let awaitingPromotion = "AwaitingPromotion"
    public static let aborted = "Aborted"
    public static let minimumReplicasAvailable = "MinimumReplicasAvailable"
    public static let minimumReplicasUnavailable = "MinimumReplicasUnavailable"
    public static let backupSucceeded = "BackupSucceeded"
    public static let backupFailed = "BackupFailed"
    public static let backupOverdue = "BackupOverdue"
    public static let backupSuspended = "Suspended"
    public static let noBackupYet = "NoBackupYet"
    public static let restoreRunning = "RestoreRunning"
    public static let reconcileError = "ReconcileError"
    /// RestoresAvailable=False: the PynomalyRestore CRD is not installed.
    public static let crdNotInstalled = "CRDNotInstalled"
}
