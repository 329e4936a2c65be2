#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// pynomaly.ai/v1alpha1 PynomalyDeployment: one resource for the Pynomaly runbook. It mirrors
/// crds/pynomaly.ai_pynomalydeployments.yaml field by field; docs/operator.md says what each part does.
public struct PynomalyDeployment: KubeResource, UnknownFieldPreserving, Hashable {
    public static let resourceType = ResourceType.pynomalyDeployments
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PynomalyDeploymentSpec
    public var status: PynomalyDeploymentStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: PynomalyDeploymentSpec, status: PynomalyDeploymentStatus? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// The desired state of a Pynomaly service. Optional fields are as written by the user (or defaulted
/// by the API server); `resolved()` gives the effective settings with every default filled in.
public struct PynomalyDeploymentSpec: Codable, Sendable, Hashable {
    /// Container image, e.g. `ghcr.io/elgerytme/pynomaly:v0.1.3`; a change is a new revision.
    public var image: String
    public var imagePullPolicy: ImagePullPolicy?
    public var imagePullSecrets: [LocalObjectReference]?
    /// An existing ServiceAccount for the app's pods, used as is (never created or changed); nil:
    /// the operator's own account `NAME` (`ServiceAccountBuilder`).
    public var serviceAccountName: String?
    /// Mount the account's API token into the pods. Pynomaly does not call the Kubernetes API, so
    /// the operator's own account mounts none unless asked.
    public var automountServiceAccountToken: Bool?
    /// Ignored while autoscaling is enabled (the HPA decides).
    public var replicas: Int32?
    public var port: Int32?
    /// core/v1 EnvVar list, passed through to the app container.
    public var env: [EnvVar]?
    /// App settings written to ConfigMap NAME-config; never secrets.
    public var config: [String: String]?
    public var database: Database?
    public var redis: Redis?
    public var resources: Resources?
    public var probes: Probes?
    public var pod: PodSettings?
    public var strategy: Strategy?
    public var progressDeadlineSeconds: Int32?
    public var revisionHistoryLimit: Int32?
    public var rollback: Rollback?
    public var paused: Bool?
    public var ingress: Ingress?
    public var autoscaling: Autoscaling?
    public var disruptionBudget: DisruptionBudget?
    public var backup: Backup?
    public var monitoring: Monitoring?
    public var analysis: Analysis?

    public init(image: String, imagePullPolicy: ImagePullPolicy? = nil, imagePullSecrets: [LocalObjectReference]? = nil,
                replicas: Int32? = nil, port: Int32? = nil, env: [EnvVar]? = nil, config: [String: String]? = nil,
                database: Database? = nil, redis: Redis? = nil, resources: Resources? = nil, probes: Probes? = nil,
                pod: PodSettings? = nil, strategy: Strategy? = nil, progressDeadlineSeconds: Int32? = nil,
                revisionHistoryLimit: Int32? = nil, rollback: Rollback? = nil, paused: Bool? = nil, ingress: Ingress? = nil,
                autoscaling: Autoscaling? = nil, disruptionBudget: DisruptionBudget? = nil, backup: Backup? = nil,
                monitoring: Monitoring? = nil, analysis: Analysis? = nil) {
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.imagePullSecrets = imagePullSecrets
        self.replicas = replicas
        self.port = port
        self.env = env
        self.config = config
        self.database = database
        self.redis = redis
        self.resources = resources
        self.probes = probes
        self.pod = pod
        self.strategy = strategy
        self.progressDeadlineSeconds = progressDeadlineSeconds
        self.revisionHistoryLimit = revisionHistoryLimit
        self.rollback = rollback
        self.paused = paused
        self.ingress = ingress
        self.autoscaling = autoscaling
        self.disruptionBudget = disruptionBudget
        self.backup = backup
        self.monitoring = monitoring
        self.analysis = analysis
    }

    /// core/v1 image pull policy.
    public enum ImagePullPolicy: String, Codable, Sendable, Hashable, CaseIterable {
        case always = "Always"
        case ifNotPresent = "IfNotPresent"
        case never = "Never"
    }

    /// A key of a Secret in the CR's namespace.
    public struct SecretKeyRef: Codable, Sendable, Hashable {
        public var name: String
        public var key: String
        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    /// PostgreSQL connection; the password comes from a Secret only.
    public struct Database: Codable, Sendable, Hashable {
        public var host: String
        public var port: Int32?
        public var name: String?
        public var user: String?
        public var passwordSecretRef: SecretKeyRef?
        public var sslMode: SSLMode?
        public var poolSize: Int32?
        public var maxOverflow: Int32?
        public var maintenance: Maintenance?

        public init(host: String, port: Int32? = nil, name: String? = nil, user: String? = nil, passwordSecretRef: SecretKeyRef? = nil,
                    sslMode: SSLMode? = nil, poolSize: Int32? = nil, maxOverflow: Int32? = nil, maintenance: Maintenance? = nil) {
            self.host = host
            self.port = port
            self.name = name
            self.user = user
            self.passwordSecretRef = passwordSecretRef
            self.sslMode = sslMode
            self.poolSize = poolSize
            self.maxOverflow = maxOverflow
            self.maintenance = maintenance
        }
    }

    /// libpq `sslmode`.
    public enum SSLMode: String, Codable, Sendable, Hashable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// Scheduled `vacuumdb --analyze` (CronJob NAME-db-maintenance).
    public struct Maintenance: Codable, Sendable, Hashable {
        public var schedule: String
        public var timeZone: String?
        public var image: String?
        public var suspend: Bool?
        public init(schedule: String, timeZone: String? = nil, image: String? = nil, suspend: Bool? = nil) {
            self.schedule = schedule
            self.timeZone = timeZone
            self.image = image
            self.suspend = suspend
        }
    }

    /// Redis connection.
    public struct Redis: Codable, Sendable, Hashable {
        public var host: String
        public var port: Int32?
        public var passwordSecretRef: SecretKeyRef?
        public init(host: String, port: Int32? = nil, passwordSecretRef: SecretKeyRef? = nil) {
            self.host = host
            self.port = port
            self.passwordSecretRef = passwordSecretRef
        }
    }

    /// core/v1 ResourceRequirements without claims.
    public struct Resources: Codable, Sendable, Hashable {
        public var requests: [String: Quantity]?
        public var limits: [String: Quantity]?
        public init(requests: [String: Quantity]? = nil, limits: [String: Quantity]? = nil) {
            self.requests = requests
            self.limits = limits
        }
    }

    /// HTTP paths of the app's endpoints.
    public struct Probes: Codable, Sendable, Hashable {
        public var healthPath: String?
        public var readyPath: String?
        public var metricsPath: String?
        public init(healthPath: String? = nil, readyPath: String? = nil, metricsPath: String? = nil) {
            self.healthPath = healthPath
            self.readyPath = readyPath
            self.metricsPath = metricsPath
        }
    }

    /// Extra pod metadata and scheduling; the core/v1 blocks are passed through.
    public struct PodSettings: Codable, Sendable, Hashable {
        public var labels: [String: String]?
        public var annotations: [String: String]?
        public var nodeSelector: [String: String]?
        public var tolerations: [Toleration]?
        public var affinity: JSONValue?
        public var topologySpreadConstraints: [JSONValue]?
        public init(labels: [String: String]? = nil, annotations: [String: String]? = nil, nodeSelector: [String: String]? = nil,
                    tolerations: [Toleration]? = nil, affinity: JSONValue? = nil, topologySpreadConstraints: [JSONValue]? = nil) {
            self.labels = labels
            self.annotations = annotations
            self.nodeSelector = nodeSelector
            self.tolerations = tolerations
            self.affinity = affinity
            self.topologySpreadConstraints = topologySpreadConstraints
        }
    }

    /// How a new revision replaces the running one.
    public struct Strategy: Codable, Sendable, Hashable {
        public var type: StrategyType?
        public var rollingUpdate: RollingUpdate?
        public var blueGreen: BlueGreen?
        public init(type: StrategyType? = nil, rollingUpdate: RollingUpdate? = nil, blueGreen: BlueGreen? = nil) {
            self.type = type
            self.rollingUpdate = rollingUpdate
            self.blueGreen = blueGreen
        }
    }

    public enum StrategyType: String, Codable, Sendable, Hashable, CaseIterable {
        case rollingUpdate = "RollingUpdate"
        case blueGreen = "BlueGreen"
    }

    public struct RollingUpdate: Codable, Sendable, Hashable {
        public var maxSurge: IntOrString?
        public var maxUnavailable: IntOrString?
        public init(maxSurge: IntOrString? = nil, maxUnavailable: IntOrString? = nil) {
            self.maxSurge = maxSurge
            self.maxUnavailable = maxUnavailable
        }
    }

    public struct BlueGreen: Codable, Sendable, Hashable {
        public var autoPromotion: Bool?
        public var autoPromotionSeconds: Int32?
        /// nil: the active replica count.
        public var previewReplicas: Int32?
        public var scaleDownDelaySeconds: Int32?
        public var previewHost: String?
        public var smokeTest: SmokeTest?
        public init(autoPromotion: Bool? = nil, autoPromotionSeconds: Int32? = nil, previewReplicas: Int32? = nil,
                    scaleDownDelaySeconds: Int32? = nil, previewHost: String? = nil, smokeTest: SmokeTest? = nil) {
            self.autoPromotion = autoPromotion
            self.autoPromotionSeconds = autoPromotionSeconds
            self.previewReplicas = previewReplicas
            self.scaleDownDelaySeconds = scaleDownDelaySeconds
            self.previewHost = previewHost
            self.smokeTest = smokeTest
        }
    }

    /// Job run against the preview (env PREVIEW_URL) before promotion.
    public struct SmokeTest: Codable, Sendable, Hashable {
        public var image: String
        public var command: [String]?
        public var timeoutSeconds: Int32?
        public init(image: String, command: [String]? = nil, timeoutSeconds: Int32? = nil) {
            self.image = image
            self.command = command
            self.timeoutSeconds = timeoutSeconds
        }
    }

    public struct Rollback: Codable, Sendable, Hashable {
        public var onFailure: Bool?
        public init(onFailure: Bool? = nil) { self.onFailure = onFailure }
    }

    /// Ingress NAME in front of the stable Service.
    public struct Ingress: Codable, Sendable, Hashable {
        public var enabled: Bool?
        public var className: String?
        public var host: String?
        public var path: String?
        public var pathType: PathType?
        public var annotations: [String: String]?
        public var tls: IngressTLS?
        public init(enabled: Bool? = nil, className: String? = nil, host: String? = nil, path: String? = nil, pathType: PathType? = nil,
                    annotations: [String: String]? = nil, tls: IngressTLS? = nil) {
            self.enabled = enabled
            self.className = className
            self.host = host
            self.path = path
            self.pathType = pathType
            self.annotations = annotations
            self.tls = tls
        }
    }

    public enum PathType: String, Codable, Sendable, Hashable, CaseIterable {
        case prefix = "Prefix"
        case exact = "Exact"
        case implementationSpecific = "ImplementationSpecific"
    }

    public struct IngressTLS: Codable, Sendable, Hashable {
        public var secretName: String
        /// cert-manager ClusterIssuer (annotation `cert-manager.io/cluster-issuer`).
        public var clusterIssuer: String?
        /// Fewer whole days than this before the certificate expires give a Warning Event and
        /// `CertificateReady` reason `ExpiringSoon` (default `CertificateStatus.defaultWarnDays`).
        public var warnDays: Int32?
        public init(secretName: String, clusterIssuer: String? = nil, warnDays: Int32? = nil) {
            self.secretName = secretName
            self.clusterIssuer = clusterIssuer
            self.warnDays = warnDays
        }
    }

    /// HorizontalPodAutoscaler NAME.
    public struct Autoscaling: Codable, Sendable, Hashable {
        public var enabled: Bool?
        public var minReplicas: Int32?
        public var maxReplicas: Int32?
        public var targetCPUUtilizationPercentage: Int32?
        public var targetMemoryUtilizationPercentage: Int32?
        /// autoscaling/v2 HorizontalPodAutoscalerBehavior, passed through.
        public var behavior: JSONValue?
        public init(enabled: Bool? = nil, minReplicas: Int32? = nil, maxReplicas: Int32? = nil, targetCPUUtilizationPercentage: Int32? = nil,
                    targetMemoryUtilizationPercentage: Int32? = nil, behavior: JSONValue? = nil) {
            self.enabled = enabled
            self.minReplicas = minReplicas
            self.maxReplicas = maxReplicas
            self.targetCPUUtilizationPercentage = targetCPUUtilizationPercentage
            self.targetMemoryUtilizationPercentage = targetMemoryUtilizationPercentage
            self.behavior = behavior
        }
    }

    /// PodDisruptionBudget NAME: exactly one of the two.
    public struct DisruptionBudget: Codable, Sendable, Hashable {
        public var minAvailable: IntOrString?
        public var maxUnavailable: IntOrString?
        public init(minAvailable: IntOrString? = nil, maxUnavailable: IntOrString? = nil) {
            self.minAvailable = minAvailable
            self.maxUnavailable = maxUnavailable
        }
    }

    /// Scheduled pg_dump backups (CronJob NAME-backup).
    public struct Backup: Codable, Sendable, Hashable {
        public var enabled: Bool?
        public var schedule: String?
        public var timeZone: String?
        public var image: String?
        public var retentionDays: Int32?
        public var storage: BackupStorage
        public var suspend: Bool?
        public init(enabled: Bool? = nil, schedule: String? = nil, timeZone: String? = nil, image: String? = nil, retentionDays: Int32? = nil,
                    storage: BackupStorage, suspend: Bool? = nil) {
            self.enabled = enabled
            self.schedule = schedule
            self.timeZone = timeZone
            self.image = image
            self.retentionDays = retentionDays
            self.storage = storage
            self.suspend = suspend
        }
    }

    public struct BackupStorage: Codable, Sendable, Hashable {
        public var persistentVolumeClaim: BackupClaim
        public init(persistentVolumeClaim: BackupClaim) { self.persistentVolumeClaim = persistentVolumeClaim }
    }

    /// An existing claim (`claimName`) or one the operator creates (`size`, `storageClassName`).
    public struct BackupClaim: Codable, Sendable, Hashable {
        public var claimName: String?
        public var size: Quantity?
        public var storageClassName: String?
        public init(claimName: String? = nil, size: Quantity? = nil, storageClassName: String? = nil) {
            self.claimName = claimName
            self.size = size
            self.storageClassName = storageClassName
        }
    }

    public struct Monitoring: Codable, Sendable, Hashable {
        public var serviceMonitor: Bool?
        public var prometheusRule: Bool?
        public init(serviceMonitor: Bool? = nil, prometheusRule: Bool? = nil) {
            self.serviceMonitor = serviceMonitor
            self.prometheusRule = prometheusRule
        }
    }

    /// Metric analysis against Prometheus: BlueGreen before and after the switch, RollingUpdate in a
    /// bake window after the rollout (see AnalysisRunMachine).
    public struct Analysis: Codable, Sendable, Hashable {
        public var enabled: Bool?
        public var prometheus: PrometheusServer?
        /// Empty or absent: the runbook's defaults (`AnalysisDefaults`).
        public var metrics: [AnalysisMetric]?
        /// Inconclusive measurements (Prometheus unreachable, a query error, no data) a run tolerates in all.
        public var inconclusiveLimit: Int32?
        /// BlueGreen: analyse the preview colour after the smoke test, before the switch.
        public var prePromotion: Bool?
        /// BlueGreen: analyse the active colour after the switch, while the old colour is still scaled up.
        public var postPromotion: Bool?

        public init(enabled: Bool? = nil, prometheus: PrometheusServer? = nil, metrics: [AnalysisMetric]? = nil, inconclusiveLimit: Int32? = nil,
                    prePromotion: Bool? = nil, postPromotion: Bool? = nil) {
            self.enabled = enabled
            self.prometheus = prometheus
            self.metrics = metrics
            self.inconclusiveLimit = inconclusiveLimit
            self.prePromotion = prePromotion
            self.postPromotion = postPromotion
        }
    }

    /// Where the Prometheus HTTP API is, and how to reach it.
    public struct PrometheusServer: Codable, Sendable, Hashable {
        /// http(s) URL of the server, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept).
        public var address: String
        /// PEM CA bundle that signed the server's certificate.
        public var caSecretRef: SecretKeyRef?
        /// Bearer token sent as `Authorization: Bearer`.
        public var bearerTokenSecretRef: SecretKeyRef?
        public var timeoutSeconds: Int32?

        public init(address: String, caSecretRef: SecretKeyRef? = nil, bearerTokenSecretRef: SecretKeyRef? = nil, timeoutSeconds: Int32? = nil) {
            self.address = address
            self.caSecretRef = caSecretRef
            self.bearerTokenSecretRef = bearerTokenSecretRef
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// One measured metric: a PromQL template that yields one number, and when that number passes.
    public struct AnalysisMetric: Codable, Sendable, Hashable {
        public var name: String
        /// PromQL with `{{namespace}}`, `{{service}}`, `{{color}}`, `{{revision}}` inside double-quoted strings.
        public var query: String
        public var successCondition: SuccessCondition
        public var intervalSeconds: Int32?
        /// Measurements per run.
        public var count: Int32?
        /// Failed measurements a run tolerates; one more fails it.
        public var failureLimit: Int32?

        public init(name: String, query: String, successCondition: SuccessCondition, intervalSeconds: Int32? = nil, count: Int32? = nil,
                    failureLimit: Int32? = nil) {
            self.name = name
            self.query = query
            self.successCondition = successCondition
            self.intervalSeconds = intervalSeconds
            self.count = count
            self.failureLimit = failureLimit
        }
    }

    /// A measurement passes when `min <= value <= max` (either bound may be absent, not both).
    public struct SuccessCondition: Codable, Sendable, Hashable {
        public var max: Double?
        public var min: Double?
        public init(max: Double? = nil, min: Double? = nil) {
            self.max = max
            self.min = min
        }
    }
}
