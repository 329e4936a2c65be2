#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The effective settings of a PynomalyDeployment: every default of the CRD (crds/) filled in, so
/// builders and reconcilers never repeat a default. Optional blocks that are switched off
/// (`ingress.enabled: false`, `autoscaling.enabled: false`, `backup.enabled: false`) are nil here.
public struct ResolvedSpec: Sendable, Hashable {
    /// CRD defaults, in one place (a test holds them to crds/pynomaly.ai_pynomalydeployments.yaml).
    public enum Defaults {
        public static let imagePullPolicy = PynomalyDeploymentSpec.ImagePullPolicy.ifNotPresent
        public static let replicas: Int32 = 3
        public static let port: Int32 = 8000
        public static let databasePort: Int32 = 5432
        public static let databaseName = "pynomaly"
        public static let databaseUser = "pynomaly"
        public static let sslMode = PynomalyDeploymentSpec.SSLMode.prefer
        public static let poolSize: Int32 = 30
        public static let maxOverflow: Int32 = 50
        public static let timeZone = "Etc/UTC"
        public static let postgresImage = "postgres:16-alpine"
        public static let redisPort: Int32 = 6379
        public static let healthPath = "/health"
        public static let readyPath = "/ready"
        public static let metricsPath = "/metrics"
        public static let maxSurge: IntOrString = "25%"
        public static let maxUnavailable: IntOrString = 0
        public static let autoPromotion = true
        public static let autoPromotionSeconds: Int32 = 0
        public static let scaleDownDelaySeconds: Int32 = 300
        public static let smokeTestTimeoutSeconds: Int32 = 300
        public static let progressDeadlineSeconds: Int32 = 600
        public static let revisionHistoryLimit: Int32 = 10
        public static let rollbackOnFailure = true
        public static let ingressPath = "/"
        public static let ingressPathType = PynomalyDeploymentSpec.PathType.prefix
        public static let minReplicas: Int32 = 3
        public static let maxReplicas: Int32 = 20
        public static let targetCPUUtilizationPercentage: Int32 = 70
        public static let backupSchedule = "0 2 * * *"
        public static let retentionDays: Int32 = 7
    }

    public var image: String
    public var imagePullPolicy: PynomalyDeploymentSpec.ImagePullPolicy
    /// Names of the image pull Secrets.
    public var imagePullSecrets: [String]
    /// spec.replicas; the HPA decides instead when `autoscaling` is non-nil.
    public var replicas: Int32
    public var port: Int32
    public var env: [EnvVar]
    public var config: [String: String]
    public var database: Database?
    public var redis: Redis?
    public var resources: PynomalyDeploymentSpec.Resources
    public var probes: Probes
    public var pod: Pod
    public var strategy: Strategy
    public var progressDeadlineSeconds: Int32
    public var revisionHistoryLimit: Int32
    public var rollbackOnFailure: Bool
    public var paused: Bool
    public var ingress: Ingress?
    public var autoscaling: Autoscaling?
    public var disruptionBudget: PynomalyDeploymentSpec.DisruptionBudget?
    public var backup: Backup?
    public var monitoring: Monitoring
    /// `spec.analysis` (AnalysisSettings.swift); nil when off.
    public var analysis: Analysis? = nil

    public struct Database: Sendable, Hashable {
        public var host: String
        public var port: Int32
        public var name: String
        public var user: String
        public var passwordSecretRef: PynomalyDeploymentSpec.SecretKeyRef?
        public var sslMode: PynomalyDeploymentSpec.SSLMode
        public var poolSize: Int32
        public var maxOverflow: Int32
        public var maintenance: Maintenance?
    }

    public struct Maintenance: Sendable, Hashable {
        public var schedule: String
        public var timeZone: String
        public var image: String
        public var suspend: Bool
    }

    public struct Redis: Sendable, Hashable {
        public var host: String
        public var port: Int32
        public var passwordSecretRef: PynomalyDeploymentSpec.SecretKeyRef?
    }

    public struct Probes: Sendable, Hashable {
        public var healthPath: String
        public var readyPath: String
        public var metricsPath: String
    }

    public struct Pod: Sendable, Hashable {
        public var labels: [String: String]
        public var annotations: [String: String]
        public var nodeSelector: [String: String]
        public var tolerations: [Toleration]
        public var affinity: JSONValue?
        public var topologySpreadConstraints: [JSONValue]
    }

    public struct Strategy: Sendable, Hashable {
        public var type: PynomalyDeploymentSpec.StrategyType
        /// Surge/unavailability of the (colour's) Deployment; 25% and 0 unless set.
        public var maxSurge: IntOrString
        public var maxUnavailable: IntOrString
        /// Non-nil exactly when `type` is BlueGreen.
        public var blueGreen: BlueGreen?
    }

    public struct BlueGreen: Sendable, Hashable {
        public var autoPromotion: Bool
        public var autoPromotionSeconds: Int32
        /// nil: the active replica count.
        public var previewReplicas: Int32?
        public var scaleDownDelaySeconds: Int32
        public var previewHost: String?
        public var smokeTest: SmokeTest?
    }

    public struct SmokeTest: Sendable, Hashable {
        public var image: String
        /// nil: the image's entrypoint.
        public var command: [String]?
        public var timeoutSeconds: Int32
    }

    public struct Ingress: Sendable, Hashable {
        public var className: String?
        /// Required by the CRD when enabled; validation reports it missing.
        public var host: String?
        public var path: String
        public var pathType: PynomalyDeploymentSpec.PathType
        public var annotations: [String: String]
        public var tls: PynomalyDeploymentSpec.IngressTLS?
    }

    public struct Autoscaling: Sendable, Hashable {
        public var minReplicas: Int32
        public var maxReplicas: Int32
        public var targetCPUUtilizationPercentage: Int32
        /// nil: no memory metric.
        public var targetMemoryUtilizationPercentage: Int32?
        public var behavior: JSONValue?
    }

    public struct Backup: Sendable, Hashable {
        public var schedule: String
        public var timeZone: String
        public var image: String
        public var retentionDays: Int32
        public var claim: PynomalyDeploymentSpec.BackupClaim
        public var suspend: Bool

        /// `schedule` read in `timeZone`; nil when either is invalid (validation refuses such a
        /// spec before anything is built from it).
        public func cronSchedule(timeZones: TimeZoneDatabase) -> CronSchedule? {
            guard let zone = try? timeZones.rules(for: timeZone) else { return nil }
            return try? CronSchedule(parsing: schedule, timeZone: zone)
        }
    }

    public struct Monitoring: Sendable, Hashable {
        public var serviceMonitor: Bool
        public var prometheusRule: Bool
    }
}

extension PynomalyDeploymentSpec {
    /// The effective settings with every default filled in.
    public func resolved() -> ResolvedSpec {
        typealias D = ResolvedSpec.Defaults
        let strategyType = strategy?.type ?? .rollingUpdate
        let blueGreen: ResolvedSpec.BlueGreen? = strategyType == .blueGreen
            ? ResolvedSpec.BlueGreen(
                autoPromotion: strategy?.blueGreen?.autoPromotion ?? D.autoPromotion,
                autoPromotionSeconds: strategy?.blueGreen?.autoPromotionSeconds ?? D.autoPromotionSeconds,
                previewReplicas: strategy?.blueGreen?.previewReplicas,
                scaleDownDelaySeconds: strategy?.blueGreen?.scaleDownDelaySeconds ?? D.scaleDownDelaySeconds,
                previewHost: strategy?.blueGreen?.previewHost,
                smokeTest: strategy?.blueGreen?.smokeTest.map {
                    ResolvedSpec.SmokeTest(image: $0.image, command: $0.command, timeoutSeconds: $0.timeoutSeconds ?? D.smokeTestTimeoutSeconds)
                })
            : nil
        var resolved = ResolvedSpec(
            image: image,
            imagePullPolicy: imagePullPolicy ?? D.imagePullPolicy,
            imagePullSecrets: (imagePullSecrets ?? []).compactMap(\.name),
            replicas: replicas ?? D.replicas,
            port: port ?? D.port,
            env: env ?? [],
            config: config ?? [:],
            database: database.map { db in
                ResolvedSpec.Database(
                    host: db.host, port: db.port ?? D.databasePort, name: db.name ?? D.databaseName, user: db.user ?? D.databaseUser,
                    passwordSecretRef: db.passwordSecretRef, sslMode: db.sslMode ?? D.sslMode, poolSize: db.poolSize ?? D.poolSize,
                    maxOverflow: db.maxOverflow ?? D.maxOverflow,
                    maintenance: db.maintenance.map {
                        ResolvedSpec.Maintenance(schedule: $0.schedule, timeZone: $0.timeZone ?? D.timeZone, image: $0.image ?? D.postgresImage,
                                                 suspend: $0.suspend ?? false)
                    })
            },
            redis: redis.map { ResolvedSpec.Redis(host: $0.host, port: $0.port ?? D.redisPort, passwordSecretRef: $0.passwordSecretRef) },
            resources: resources ?? Resources(),
            probes: ResolvedSpec.Probes(
                healthPath: probes?.healthPath ?? D.healthPath, readyPath: probes?.readyPath ?? D.readyPath,
                metricsPath: probes?.metricsPath ?? D.metricsPath),
            pod: ResolvedSpec.Pod(
                labels: pod?.labels ?? [:], annotations: pod?.annotations ?? [:], nodeSelector: pod?.nodeSelector ?? [:],
                tolerations: pod?.tolerations ?? [], affinity: pod?.affinity, topologySpreadConstraints: pod?.topologySpreadConstraints ?? []),
            strategy: ResolvedSpec.Strategy(
                type: strategyType,
                maxSurge: strategy?.rollingUpdate?.maxSurge ?? D.maxSurge,
                maxUnavailable: strategy?.rollingUpdate?.maxUnavailable ?? D.maxUnavailable,
                blueGreen: blueGreen),
            progressDeadlineSeconds: progressDeadlineSeconds ?? D.progressDeadlineSeconds,
            revisionHistoryLimit: revisionHistoryLimit ?? D.revisionHistoryLimit,
            rollbackOnFailure: rollback?.onFailure ?? D.rollbackOnFailure,
            paused: paused ?? false,
            ingress: ingress.flatMap { ing in
                guard ing.enabled ?? true else { return nil }
                return ResolvedSpec.Ingress(
                    className: ing.className, host: ing.host, path: ing.path ?? D.ingressPath, pathType: ing.pathType ?? D.ingressPathType,
                    annotations: ing.annotations ?? [:], tls: ing.tls)
            },
            autoscaling: autoscaling.flatMap { a in
                guard a.enabled ?? true else { return nil }
                return ResolvedSpec.Autoscaling(
                    minReplicas: a.minReplicas ?? D.minReplicas, maxReplicas: a.maxReplicas ?? D.maxReplicas,
                    targetCPUUtilizationPercentage: a.targetCPUUtilizationPercentage ?? D.targetCPUUtilizationPercentage,
                    targetMemoryUtilizationPercentage: a.targetMemoryUtilizationPercentage, behavior: a.behavior)
            },
            disruptionBudget: disruptionBudget,
            backup: backup.flatMap { b in
                guard b.enabled ?? true else { return nil }
                let schedule = b.schedule ?? D.backupSchedule, timeZone = b.timeZone ?? D.timeZone
                return ResolvedSpec.Backup(
                    schedule: schedule, timeZone: timeZone, image: b.image ?? D.postgresImage,
                    retentionDays: b.retentionDays ?? D.retentionDays, claim: b.storage.persistentVolumeClaim, suspend: b.suspend ?? false)
            },
            monitoring: ResolvedSpec.Monitoring(
                serviceMonitor: monitoring?.serviceMonitor ?? false, prometheusRule: monitoring?.prometheusRule ?? false))
        resolved.analysis = resolvedAnalysis()
        return resolved
    }
}
