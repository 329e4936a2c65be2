#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// pynomaly.ai/v1alpha1 PynomalyRestore: one disaster-recovery run of a PynomalyDeployment's database
/// (crds/pynomaly.ai_pynomalyrestores.yaml). Its spec is immutable.
public struct PynomalyRestore: KubeResource, UnknownFieldPreserving, Hashable {
    public static let resourceType = ResourceType.pynomalyRestores
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PynomalyRestoreSpec
    public var status: PynomalyRestoreStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, spec: PynomalyRestoreSpec, status: PynomalyRestoreStatus? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// What to restore: exactly one of `backupFile` or `latest: true`.
public struct PynomalyRestoreSpec: Codable, Sendable, Hashable {
    /// PynomalyDeployment in the same namespace.
    public var deploymentName: String
    public var backupFile: String?
    public var latest: Bool?
    /// Back up the current database first (default true).
    public var emergencyBackup: Bool?

    public init(deploymentName: String, backupFile: String? = nil, latest: Bool? = nil, emergencyBackup: Bool? = nil) {
        self.deploymentName = deploymentName
        self.backupFile = backupFile
        self.latest = latest
        self.emergencyBackup = emergencyBackup
    }

    /// `emergencyBackup` with its CRD default applied.
    public var resolvedEmergencyBackup: Bool { emergencyBackup ?? true }
}

/// Progress of a restore.
public struct PynomalyRestoreStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int64?
    public var phase: Phase?
    public var message: String?
    public var conditions: [Condition]?
    public var startedAt: String?
    public var completedAt: String?
    public var emergencyBackupFile: String?
    public var restoredFile: String?
    public var originalReplicas: Int32?
    /// What the restore was bound to when it started; nil before it started.
    public var target: Target?
    public var jobs: Jobs?

    public init(observedGeneration: Int64? = nil, phase: Phase? = nil, message: String? = nil, conditions: [Condition]? = nil,
                startedAt: String? = nil, completedAt: String? = nil, emergencyBackupFile: String? = nil, restoredFile: String? = nil,
                originalReplicas: Int32? = nil, target: Target? = nil, jobs: Jobs? = nil) {
        self.observedGeneration = observedGeneration
        self.phase = phase
        self.message = message
        self.conditions = conditions
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.emergencyBackupFile = emergencyBackupFile
        self.restoredFile = restoredFile
        self.originalReplicas = originalReplicas
        self.target = target
        self.jobs = jobs
    }

    /// The exact deployment and database a restore acts on. A PynomalyDeployment deleted and created
    /// again under the same name, or pointed at another database, is not what was backed up: the
    /// restore must not run `pg_restore --clean` against it.
    public struct Target: Codable, Sendable, Hashable {
        public var deploymentUID: String?
        public var host: String?
        public var port: Int32?
        public var database: String?
        public var user: String?

        public init(deploymentUID: String?, host: String?, port: Int32?, database: String?, user: String?) {
            self.deploymentUID = deploymentUID
            self.host = host
            self.port = port
            self.database = database
            self.user = user
        }

        /// The target of `deployment` as it is now; nil database fields when it has no database.
        public init(of deployment: PynomalyDeployment) {
            let database = deployment.spec.resolved().database
            self.init(deploymentUID: deployment.metadata.uid, host: database?.host, port: database?.port,
                      database: database?.name, user: database?.user)
        }

        /// What differs between the bound target and `current`, for the status message.
        public func differences(from current: Target) -> [String] {
            var changes: [String] = []
            if deploymentUID != current.deploymentUID { changes.append("the PynomalyDeployment was deleted and created again (uid \(deploymentUID ?? "?") → \(current.deploymentUID ?? "?"))") }
            if host != current.host { changes.append("spec.database.host \(host ?? "none") → \(current.host ?? "none")") }
            if port != current.port { changes.append("spec.database.port \(port.map(String.init) ?? "none") → \(current.port.map(String.init) ?? "none")") }
            if database != current.database { changes.append("spec.database.name \(database ?? "none") → \(current.database ?? "none")") }
            if user != current.user { changes.append("spec.database.user \(user ?? "none") → \(current.user ?? "none")") }
            return changes
        }
    }

    /// Current step; `succeeded` and `failed` are final.
    public enum Phase: String, Codable, Sendable, Hashable, CaseIterable {
        case pending = "Pending"
        case scalingDown = "ScalingDown"
        case emergencyBackup = "EmergencyBackup"
        case restoring = "Restoring"
        case scalingUp = "ScalingUp"
        case succeeded = "Succeeded"
        case failed = "Failed"

        public var isFinal: Bool { self == .succeeded || self == .failed }
    }

    /// Names of the Jobs the restore ran.
    public struct Jobs: Codable, Sendable, Hashable {
        public var emergencyBackup: String?
        public var restore: String?
        public init(emergencyBackup: String? = nil, restore: String? = nil) {
            self.emergencyBackup = emergencyBackup
            self.restore = restore
        }
    }
}
