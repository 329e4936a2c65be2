#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The observed state of a PynomalyDeployment, written by the operator only. Times are RFC 3339
/// strings as the API server stores them (see `KubeTime`).
public struct PynomalyDeploymentStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int64?
    public var phase: Phase?
    public var message: String?
    /// metav1.Condition list keyed by type (see `ConditionType`).
    public var conditions: [Condition]?
    public var replicas: Int32?
    public var readyReplicas: Int32?
    public var updatedReplicas: Int32?
    public var availableReplicas: Int32?
    /// Pod label selector as a string, for the scale subresource and the HPA.
    public var selector: String?
    /// Image serving traffic now.
    public var image: String?
    public var currentRevision: Int64?
    /// Last revision that rolled out successfully (the automatic rollback target).
    public var stableRevision: Int64?
    /// Recent revisions, newest last.
    public var history: [HistoryEntry]?
    public var blueGreen: BlueGreen?
    public var lastRollback: LastRollback?
    public var backup: Backup?
    /// Last handled token per request (`RequestAnnotation.statusKey`).
    public var handledRequests: [String: String]?
    /// The last tokens handled per request, oldest first and at most
    /// `RequestAnnotation.handledTokenLimit` each: an annotation set back to an earlier token (a
    /// GitOps revert) is not a new request.
    public var handledTokens: [String: [String]]?
    public var restore: Restore?
    /// The current (or last) metric analysis run.
    public var analysis: AnalysisRun?
    /// `spec.ingress.tls`: what the TLS Secret's certificate says (no certificate bytes).
    public var tls: TLS?

    public init(observedGeneration: Int64? = nil, phase: Phase? = nil, message: String? = nil, conditions: [Condition]? = nil,
                replicas: Int32? = nil, readyReplicas: Int32? = nil, updatedReplicas: Int32? = nil, availableReplicas: Int32? = nil,
                selector: String? = nil, image: String? = nil, currentRevision: Int64? = nil, stableRevision: Int64? = nil,
                history: [HistoryEntry]? = nil, blueGreen: BlueGreen? = nil, lastRollback: LastRollback? = nil, backup: Backup? = nil,
                handledRequests: [String: String]? = nil, handledTokens: [String: [String]]? = nil, restore: Restore? = nil,
                analysis: AnalysisRun? = nil) {
        self.observedGeneration = observedGeneration
        self.phase = phase
        self.message = message
        self.conditions = conditions
        self.replicas = replicas
        self.readyReplicas = readyReplicas
        self.updatedReplicas = updatedReplicas
        self.availableReplicas = availableReplicas
        self.selector = selector
        self.image = image
        self.currentRevision = currentRevision
        self.stableRevision = stableRevision
        self.history = history
        self.blueGreen = blueGreen
        self.lastRollback = lastRollback
        self.backup = backup
        self.handledRequests = handledRequests
        self.handledTokens = handledTokens
        self.restore = restore
        self.analysis = analysis
    }

    /// Summary of the state; the conditions carry the details.
    public enum Phase: String, Codable, Sendable, Hashable, CaseIterable {
        case healthy = "Healthy"
        case progressing = "Progressing"
        case paused = "Paused"
        case degraded = "Degraded"
        case failed = "Failed"
        case rollingBack = "RollingBack"
    }

    /// How the rollout of a revision ended.
    public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable {
        case progressing = "Progressing"
        case succeeded = "Succeeded"
        case failed = "Failed"
        case rolledBack = "RolledBack"
        case aborted = "Aborted"
        case superseded = "Superseded"
    }

    /// One revision in `status.history`.
    public struct HistoryEntry: Codable, Sendable, Hashable {
        public var revision: Int64
        public var image: String?
        /// Hash of config, env and referenced Secret/ConfigMap content.
        public var configHash: String?
        /// Hash of the pod template; the ControllerRevision is NAME-templateHash.
        public var templateHash: String?
        /// metadata.generation of the CR that produced this revision.
        public var generation: Int64?
        public var createdAt: String?
        public var outcome: Outcome?

        public init(revision: Int64, image: String? = nil, configHash: String? = nil, templateHash: String? = nil, generation: Int64? = nil,
                    createdAt: String? = nil, outcome: Outcome? = nil) {
            self.revision = revision
            self.image = image
            self.configHash = configHash
            self.templateHash = templateHash
            self.generation = generation
            self.createdAt = createdAt
            self.outcome = outcome
        }
    }

    public enum Color: String, Codable, Sendable, Hashable, CaseIterable {
        case blue, green

        /// The other colour.
        public var other: Color { self == .blue ? .green : .blue }
    }

    /// Blue-green state machine; the operator resumes from it after a restart.
    public struct BlueGreen: Codable, Sendable, Hashable {
        public var activeColor: Color?
        public var previewColor: Color?
        /// A `BlueGreenStep`: Idle, DeployingPreview, SmokeTesting, PrePromotionAnalysis, AwaitingPromotion, … Aborted.
        public var step: String?
        public var activeRevision: Int64?
        public var previewRevision: Int64?
        public var smokeTestJob: String?
        public var promotedAt: String?
        public var scaleDownAt: String?

        public init(activeColor: Color? = nil, previewColor: Color? = nil, step: String? = nil, activeRevision: Int64? = nil,
                    previewRevision: Int64? = nil, smokeTestJob: String? = nil, promotedAt: String? = nil, scaleDownAt: String? = nil) {
            self.activeColor = activeColor
            self.previewColor = previewColor
            self.step = step
            self.activeRevision = activeRevision
            self.previewRevision = previewRevision
            self.smokeTestJob = smokeTestJob
            self.promotedAt = promotedAt
            self.scaleDownAt = scaleDownAt
        }
    }

    /// The most recent rollback, automatic or requested.
    public struct LastRollback: Codable, Sendable, Hashable {
        public var fromRevision: Int64?
        public var toRevision: Int64?
        /// e.g. ProgressDeadlineExceeded, SmokeTestFailed, Requested.
        public var reason: String?
        public var message: String?
        public var at: String?
        /// The CR generation whose rollout was rolled back, or whose rollback was requested.
        public var generation: Int64?
        /// The identity of the spec's pod template when the rollback happened (its hash without the
        /// restart token): the rollback holds until the spec asks for another template. Other spec
        /// changes (replicas, the strategy, ...) bump the generation but never retry a revision that
        /// failed or was abandoned.
        public var specTemplateHash: String?

        public init(fromRevision: Int64? = nil, toRevision: Int64? = nil, reason: String? = nil, message: String? = nil, at: String? = nil,
                    generation: Int64? = nil, specTemplateHash: String? = nil) {
            self.fromRevision = fromRevision
            self.toRevision = toRevision
            self.reason = reason
            self.message = message
            self.at = at
            self.generation = generation
            self.specTemplateHash = specTemplateHash
        }

        /// Whether this rollback still pins its target: the spec still asks for the template it was
        /// recorded against (a record without that identity falls back to its generation).
        public func holds(specTemplateHash current: String, generation current_generation: Int64) -> Bool {
            if let specTemplateHash { return specTemplateHash == current }
            return generation == current_generation
        }
    }

    /// The TLS Secret's leaf certificate as the operator last read it. `daysLeft` is whole days
    /// until `notAfter` at the time of the pass (negative once expired).
    public struct TLS: Codable, Sendable, Hashable {
        public var secretName: String
        public var notBefore: String?
        public var notAfter: String?
        public var daysLeft: Int64?
        /// The Ingress hosts the certificate's DNS names cover.
        public var hostsCovered: [String]?
        /// The Secret version judged: its Warning Event is given once.
        public var secretResourceVersion: String?

        public init(secretName: String, notBefore: String? = nil, notAfter: String? = nil, daysLeft: Int64? = nil,
                    hostsCovered: [String]? = nil, secretResourceVersion: String? = nil) {
            self.secretName = secretName
            self.notBefore = notBefore
            self.notAfter = notAfter
            self.daysLeft = daysLeft
            self.hostsCovered = hostsCovered
            self.secretResourceVersion = secretResourceVersion
        }
    }

    /// State of scheduled and on-demand backups.
    public struct Backup: Codable, Sendable, Hashable {
        public var lastScheduleTime: String?
        public var lastSuccessfulTime: String?
        public var lastFailedTime: String?
        public var lastJob: String?
        /// The Job's Failed reason and message of the most recent failed backup.
        public var lastFailureReason: String?
        public var lastFailureMessage: String?
        public init(lastScheduleTime: String? = nil, lastSuccessfulTime: String? = nil, lastFailedTime: String? = nil, lastJob: String? = nil,
                    lastFailureReason: String? = nil, lastFailureMessage: String? = nil) {
            self.lastScheduleTime = lastScheduleTime
            self.lastSuccessfulTime = lastSuccessfulTime
            self.lastFailedTime = lastFailedTime
            self.lastJob = lastJob
            self.lastFailureReason = lastFailureReason
            self.lastFailureMessage = lastFailureMessage
        }
    }

    /// The PynomalyRestore holding the deployment at zero replicas.
    public struct Restore: Codable, Sendable, Hashable {
        public var name: String?
        public var phase: String?
        public var originalReplicas: Int32?
        public var startedAt: String?
        public init(name: String? = nil, phase: String? = nil, originalReplicas: Int32? = nil, startedAt: String? = nil) {
            self.name = name
            self.phase = phase
            self.originalReplicas = originalReplicas
            self.startedAt = startedAt
        }
    }

    /// One analysis run: where it runs, its measurements so far and its result. The run is resumed
    /// from here after a restart (`AnalysisRunMachine`).
    public struct AnalysisRun: Codable, Sendable, Hashable {
        /// PrePromotion, PostPromotion or Bake.
        public var stage: String?
        public var revision: Int64?
        /// The colour analysed (BlueGreen).
        public var color: Color?
        /// Running, Successful, Failed, Inconclusive, Skipped, Aborted, Error.
        public var phase: String?
        public var startedAt: String?
        public var finishedAt: String?
        public var message: String?
        /// Hash of the analysis settings the run measures with; other settings start a new run.
        public var configHash: String?
        /// Inconclusive measurements of all metrics.
        public var inconclusive: Int32?
        public var metrics: [AnalysisMetricRun]?

        public init(stage: String? = nil, revision: Int64? = nil, color: Color? = nil, phase: String? = nil, startedAt: String? = nil,
                    finishedAt: String? = nil, message: String? = nil, configHash: String? = nil, inconclusive: Int32? = nil,
                    metrics: [AnalysisMetricRun]? = nil) {
            self.stage = stage
            self.revision = revision
            self.color = color
            self.phase = phase
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.message = message
            self.configHash = configHash
            self.inconclusive = inconclusive
            self.metrics = metrics
        }
    }

    /// One metric of a run: counts of the whole run, and its latest measurements (bounded).
    public struct AnalysisMetricRun: Codable, Sendable, Hashable {
        public var name: String
        public var measured: Int32?
        public var successful: Int32?
        public var failed: Int32?
        public var inconclusive: Int32?
        public var lastMeasuredAt: String?
        /// The newest `AnalysisRunMachine.keptMeasurements`, oldest first.
        public var measurements: [AnalysisMeasurement]?

        public init(name: String, measured: Int32? = nil, successful: Int32? = nil, failed: Int32? = nil, inconclusive: Int32? = nil,
                    lastMeasuredAt: String? = nil, measurements: [AnalysisMeasurement]? = nil) {
            self.name = name
            self.measured = measured
            self.successful = successful
            self.failed = failed
            self.inconclusive = inconclusive
            self.lastMeasuredAt = lastMeasuredAt
            self.measurements = measurements
        }
    }

    public struct AnalysisMeasurement: Codable, Sendable, Hashable {
        public var at: String
        /// nil when there was no number (inconclusive).
        public var value: Double?
        /// Successful, Failed or Inconclusive.
        public var phase: String
        public var message: String?

        public init(at: String, value: Double? = nil, phase: String, message: String? = nil) {
            self.at = at
            self.value = value
            self.phase = phase
            self.message = message
        }
    }
}
