#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// ConfigMap `NAME-config`: spec.config plus the database and Redis settings. Never a secret value:
/// passwords reach the pods through `secretKeyRef` only.
public enum ConfigMapBuilder {
    public static func build(_ ctx: BuildContext) -> ConfigMap {
        ConfigMap(metadata: ctx.metadata(name: ctx.configMapName), data: data(ctx.spec))
    }

    /// The ConfigMap data; the operator's settings win over same-named config keys (validation
    /// reports such keys).
    public static func data(_ spec: ResolvedSpec) -> [String: String] {
        var data = spec.config
        if let db = spec.database {
            data["DATABASE_HOST"] = db.host
            data["DATABASE_PORT"] = String(db.port)
            data["DATABASE_NAME"] = db.name
            data["DATABASE_USER"] = db.user
            data["DATABASE_SSLMODE"] = db.sslMode.rawValue
            data["DATABASE_POOL_SIZE"] = String(db.poolSize)
            data["DATABASE_MAX_OVERFLOW"] = String(db.maxOverflow)
        }
        if let redis = spec.redis {
            data["REDIS_HOST"] = redis.host
            data["REDIS_PORT"] = String(redis.port)
        }
        return data
    }

    /// Stable hash of a ConfigMap's data (FNV-1a 64 over sorted-key JSON, hex); put on the pod template
    /// so a config change rolls the pods.
    public static func configHash(of configMap: ConfigMap) -> String {
        configHash(of: configMap.data ?? [:])
    }

    /// Stable hash of ConfigMap data.
    public static func configHash(of data: [String: String]) -> String {
        StableHash.hex(of: .object(data.mapValues { .string($0) }))
    }
}
