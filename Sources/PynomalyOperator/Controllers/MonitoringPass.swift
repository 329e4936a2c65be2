#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// Whether the API server serves the Prometheus Operator's kinds, asked through discovery and kept
/// for `ttl` seconds: a cluster may install those CRDs at any time, and asking on every pass would
/// cost a request per reconcile.
public actor MonitoringDiscovery {
    public typealias Lookup = @Sendable (_ groupVersion: String) async throws -> [String]?
    private let lookup: Lookup
    private let ttl: Double
    private var cached: [String: (resources: Set<String>, at: Date)] = [:]

    public init(ttl: Double = 300, lookup: @escaping Lookup) {
        self.ttl = ttl
        self.lookup = lookup
    }

    /// A discovery over the client, or nil when the client cannot do discovery.
    public static func over(_ client: any Sendable, ttl: Double = 300) -> MonitoringDiscovery? {
        guard let discovery = client as? any KubernetesDiscovery else { return nil }
        return MonitoringDiscovery(ttl: ttl) { try await discovery.servedResources(groupVersion: $0) }
    }

    /// The resources monitoring.coreos.com/v1 serves (empty when the group is not served).
    public func servedResources(now: Date) async throws -> Set<String> {
        try await servedResources(groupVersion: MonitoringBuilder.apiVersion, now: now)
    }

    /// The resources `groupVersion` serves (empty when the group is not served), kept for `ttl`
    /// seconds per group version (cert-manager's kinds are asked about the same way).
    public func servedResources(groupVersion: String, now: Date) async throws -> Set<String> {
        if let held = cached[groupVersion], now.timeIntervalSince(held.at) < ttl { return held.resources }
        let resources = Set(try await lookup(groupVersion) ?? [])
        cached[groupVersion] = (resources, now)
        return resources
    }
}

/// `spec.monitoring`: the ServiceMonitor and PrometheusRule `NAME`, applied only when discovery says
/// their kinds are served; otherwise the Monitoring condition says what is missing. There is no
/// informer for these kinds (their CRDs may not exist when the operator starts), so a pass that
/// wants them reads them with a GET; a CR that never asked for monitoring costs nothing.
extension PynomalyDeploymentReconciler {
    /// Answers when to look again (the CRDs may be installed later), or nil.
    func reconcileMonitoring(_ ctx: BuildContext, status: inout PynomalyDeploymentStatus, now: Date, writer: ChildWriter) async throws -> Date? {
        let wanted: [(ResourceType, JSONValue?)] = [
            (MonitoringBuilder.serviceMonitorType, MonitoringBuilder.serviceMonitor(ctx)),
            (MonitoringBuilder.prometheusRuleType, MonitoringBuilder.prometheusRule(ctx)),
        ]
        let wantsAny = wanted.contains { $0.1 != nil }
        var conditions = status.conditions ?? []
        let hadAny = conditions.first(type: ConditionType.monitoring) != nil
        guard wantsAny || hadAny else { return nil }
        let generation = ctx.cr.metadata.generation ?? 0
        guard let discovery else {
            conditions.set(Condition(type: ConditionType.monitoring, status: "False", observedGeneration: generation, reason: "DiscoveryUnavailable",
                                     message: "the operator's client cannot ask the API server which kinds it serves; nothing was created"), now: now)
            status.conditions = conditions
            return nil
        }
        let served = try await discovery.servedResources(now: now)
        var applied: [String] = []
        var missing: [String] = []
        for (resource, body) in wanted {
            guard served.contains(resource.resource) else {
                if body != nil { missing.append(resource.kind) }
                continue
            }
            if let body {
                try await writer.apply(json: body, resource)
                applied.append(resource.kind)
            } else if hadAny {
                try await writer.deleteIfOwned(resource, name: ctx.name)
            }
        }

        if !wantsAny {
            conditions.removeAll { $0.type == ConditionType.monitoring }
            status.conditions = conditions.isEmpty ? nil : conditions
            return nil
        }
        let condition: Condition
        if missing.isEmpty {
            condition = Condition(type: ConditionType.monitoring, status: "True", observedGeneration: generation, reason: "Applied",
                                  message: "\(applied.joined(separator: " and ")) \(ctx.name) applied")
        } else {
            let done = applied.isEmpty ? "" : "; \(applied.joined(separator: " and ")) applied"
            condition = Condition(type: ConditionType.monitoring, status: "False", observedGeneration: generation, reason: "CRDsNotServed",
                                  message: "the API server does not serve \(MonitoringBuilder.apiVersion) \(missing.joined(separator: ", ")) "
                                      + "(install the Prometheus Operator's CRDs); nothing was created for \(missing.count == 1 ? "it" : "them")\(done)")
        }
        if conditions.first(type: ConditionType.monitoring)?.reason != condition.reason, condition.status == "False" {
            writer.record(PlannedEvent(.warning, "MonitoringUnavailable", condition.message ?? ""))
        }
        conditions.set(condition, now: now)
        status.conditions = conditions
        // Look again after the discovery cache expires: the CRDs may be installed meanwhile.
        return missing.isEmpty ? nil : now.addingTimeInterval(300)
    }
}
