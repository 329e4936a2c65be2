#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The Prometheus Operator objects for `spec.monitoring` (monitoring.coreos.com/v1): a ServiceMonitor
/// scraping the app's metrics port, and a PrometheusRule with the runbook's alert conditions. There are
/// no typed models for these kinds (their CRDs may not exist in a cluster), so they are built as JSON.
public enum MonitoringBuilder {
    public static let apiVersion = "monitoring.coreos.com/v1"
    public static let serviceMonitorType = ResourceType(group: "monitoring.coreos.com", version: "v1", resource: "servicemonitors",
                                                        kind: "ServiceMonitor", namespaced: true)
    public static let prometheusRuleType = ResourceType(group: "monitoring.coreos.com", version: "v1", resource: "prometheusrules",
                                                        kind: "PrometheusRule", namespaced: true)

    /// The runbook's thresholds.
    public enum Thresholds {
        public static let errorRateCritical = 0.05
        public static let errorRateWarning = 0.01
        public static let latencyP95Critical = 2.0
        public static let latencyP95Warning = 1.0
        public static let memoryOfLimit = 0.8
        public static let cpuOfLimit = 0.8
    }

    /// `NAME`, scraping the stable Service's `http` port at `spec.probes.metricsPath`; nil when not asked for.
    public static func serviceMonitor(_ ctx: BuildContext) -> JSONValue? {
        guard ctx.spec.monitoring.serviceMonitor else { return nil }
        let selector = JSONValue.object(ctx.selectorLabels.mapValues(JSONValue.string))
        return [
            "apiVersion": .string(apiVersion), "kind": "ServiceMonitor",
            "metadata": metadata(ctx),
            "spec": [
                "selector": ["matchLabels": selector],
                "namespaceSelector": ["matchNames": [.string(ctx.namespace)]],
                "endpoints": [["port": .string(PodTemplateBuilder.portName), "path": .string(ctx.spec.probes.metricsPath), "interval": "30s"]],
            ],
        ]
    }

    /// `NAME` with the runbook's alerts; nil when not asked for.
    public static func prometheusRule(_ ctx: BuildContext) -> JSONValue? {
        guard ctx.spec.monitoring.prometheusRule else { return nil }
        return [
            "apiVersion": .string(apiVersion), "kind": "PrometheusRule",
            "metadata": metadata(ctx),
            "spec": ["groups": [["name": .string("\(ctx.name).rules"), "rules": .array(rules(ctx))]]],
        ]
    }

    /// The alert rules. Selectors are built from the CR's namespace and name (label values validated
    /// by the API server), so no spec text reaches PromQL.
    static func rules(_ ctx: BuildContext) -> [JSONValue] {
        let scope = "namespace=\"\(ctx.namespace)\",job=\"\(ctx.name)\""
        let pods = "namespace=\"\(ctx.namespace)\",pod=~\"\(ctx.name)-.*\",container=\"\(PodTemplateBuilder.containerName)\""
        let errorRate = "sum(rate(http_requests_total{\(scope),status=~\"5..\"}[5m])) / sum(rate(http_requests_total{\(scope)}[5m]))"
        let p95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{\(scope)}[5m])))"
        let memory = "max(container_memory_working_set_bytes{\(pods)} / on(namespace, pod, container) "
            + "kube_pod_container_resource_limits{resource=\"memory\",\(pods)})"
        let cpu = "max(rate(container_cpu_usage_seconds_total{\(pods)}[5m]) / on(namespace, pod, container) "
            + "kube_pod_container_resource_limits{resource=\"cpu\",\(pods)})"
        func rule(_ alert: String, _ expr: String, for duration: String, _ severity: String, _ summary: String) -> JSONValue {
            [
                "alert": .string(alert), "expr": .string(expr), "for": .string(duration),
                "labels": ["severity": .string(severity), "pynomaly_deployment": .string(ctx.name)],
                "annotations": ["summary": .string(summary)],
            ]
        }
        let T = Thresholds.self
        return [
            rule("PynomalyHighErrorRate", "\(errorRate) > \(T.errorRateCritical)", for: "5m", "critical",
                 "\(ctx.namespace)/\(ctx.name): more than 5% of requests fail"),
            rule("PynomalyElevatedErrorRate", "\(errorRate) > \(T.errorRateWarning)", for: "10m", "warning",
                 "\(ctx.namespace)/\(ctx.name): more than 1% of requests fail"),
            rule("PynomalyHighLatency", "\(p95) > \(T.latencyP95Critical)", for: "5m", "critical",
                 "\(ctx.namespace)/\(ctx.name): p95 latency above 2 s"),
            rule("PynomalyElevatedLatency", "\(p95) > \(T.latencyP95Warning)", for: "10m", "warning",
                 "\(ctx.namespace)/\(ctx.name): p95 latency above 1 s"),
            rule("PynomalyAllPodsDown", "sum(up{\(scope)}) == 0 or absent(up{\(scope)})", for: "2m", "critical",
                 "\(ctx.namespace)/\(ctx.name): no pod answers its metrics endpoint"),
            rule("PynomalyHighMemory", "\(memory) > \(T.memoryOfLimit)", for: "10m", "warning",
                 "\(ctx.namespace)/\(ctx.name): a pod uses more than 80% of its memory limit"),
            rule("PynomalyHighCPU", "\(cpu) > \(T.cpuOfLimit)", for: "15m", "warning",
                 "\(ctx.namespace)/\(ctx.name): a pod uses more than 80% of its CPU limit"),
        ] + certificateRules(ctx, rule)
    }

    /// With `spec.ingress.tls`: the certificate's expiry from cert-manager's own metric (the
    /// Certificate that ingress-shim names after the Secret). The operator's `CertificateReady`
    /// says the same in the status; the alert reaches whoever is on call. cert-manager's metric
    /// carries the Certificate's namespace as `namespace`, or as `exported_namespace` when the
    /// scrape does not honour its labels: either matches.
    static func certificateRules(_ ctx: BuildContext, _ rule: (String, String, String, String, String) -> JSONValue) -> [JSONValue] {
        guard let ingress = ctx.spec.ingress, ingress.host != nil, let tls = ingress.tls else { return [] }
        let warnDays = tls.warnDays ?? CertificateStatus.defaultWarnDays
        let metric = "certmanager_certificate_expiration_timestamp_seconds"
        let expiry = "min(\(metric){namespace=\"\(ctx.namespace)\",name=\"\(tls.secretName)\"} "
            + "or \(metric){exported_namespace=\"\(ctx.namespace)\",name=\"\(tls.secretName)\"})"
        return [
            rule("PynomalyCertificateExpiringSoon", "\(expiry) - time() < \(Int(warnDays) * 86_400)", "1h", "warning",
                 "\(ctx.namespace)/\(ctx.name): the certificate in Secret \(tls.secretName) expires in fewer than \(warnDays) days"),
        ]
    }

    private static func metadata(_ ctx: BuildContext) -> JSONValue {
        (try? JSONValue(encoding: ctx.metadata(name: ctx.name))) ?? ["name": .string(ctx.name), "namespace": .string(ctx.namespace)]
    }
}
