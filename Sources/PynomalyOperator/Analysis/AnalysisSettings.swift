#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

extension ResolvedSpec {
    /// `spec.analysis` with every default filled in; nil on the ResolvedSpec when analysis is off.
    public struct Analysis: Sendable, Hashable {
        public var prometheus: Prometheus
        public var metrics: [Metric]
        public var inconclusiveLimit: Int32
        /// BlueGreen only.
        public var prePromotion: Bool
        public var postPromotion: Bool

        public struct Prometheus: Sendable, Hashable {
            public var address: String
            public var caSecretRef: PynomalyDeploymentSpec.SecretKeyRef?
            public var bearerTokenSecretRef: PynomalyDeploymentSpec.SecretKeyRef?
            public var timeoutSeconds: Int32
        }

        public struct Metric: Sendable, Hashable, Codable {
            public var name: String
            public var query: String
            public var condition: AnalysisCondition
            public var intervalSeconds: Int32
            public var count: Int32
            public var failureLimit: Int32
            /// Where the metric came from, for messages (`spec.analysis.metrics[2]`, or the default's name).
            public var field: String
        }

        /// The longest time a run needs: `count × intervalSeconds` of its slowest metric. A
        /// post-promotion run must fit in `scaleDownDelaySeconds`, so the old colour is still up when it fails.
        public var window: Int64 { metrics.map { Int64($0.intervalSeconds) * Int64($0.count) }.max() ?? 0 }

        /// Identifies the settings a run measures with: a run started under other settings is
        /// started again rather than judged by rules it was not measured against.
        public var configHash: String {
            (try? StableHash.hex(encoding: metrics)).map { "\($0)-\(inconclusiveLimit)" } ?? ""
        }
    }
}

/// A success condition: `min <= value <= max`, either bound optional (validation requires one).
public struct AnalysisCondition: Sendable, Hashable, Codable, CustomStringConvertible {
    public var min: Double?
    public var max: Double?

    public init(min: Double? = nil, max: Double? = nil) {
        self.min = min
        self.max = max
    }

    /// Whether a measured value passes. NaN never passes (no comparison holds for it).
    public func passes(_ value: Double) -> Bool {
        guard !value.isNaN else { return false }
        if let min, value < min { return false }
        if let max, value > max { return false }
        return true
    }

    /// `<= 0.01`, `>= 10`, `in [1, 2]`.
    public var description: String {
        switch (min, max) {
        case let (min?, max?): return "in [\(AnalysisFormat.number(min)), \(AnalysisFormat.number(max))]"
        case let (nil, max?): return "<= \(AnalysisFormat.number(max))"
        case let (min?, nil): return ">= \(AnalysisFormat.number(min))"
        case (nil, nil): return "any value"
        }
    }
}

public enum AnalysisFormat {
    /// A short, exact-enough rendering of a measured value: `0.03`, `0.512`, `1.5e-05`.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return fourSignificantDigits(value)
    }

    /// `printf("%.4g")`: four significant digits, trailing zeros dropped, scientific notation (two
    /// exponent digits at least) when the exponent is below -4 or at least 4.
    public static func fourSignificantDigits(_ value: Double) -> String {
        guard value != 0 else { return "0" }
        // One scaling by an exact power of ten and round-half-even, as printf rounds; a value a
        // hair from a tie (9.9995) may still differ in the last digit, which a display can bear.
        func power(_ n: Int) -> Double { (0..<n).reduce(1.0) { value, _ in value * 10 } }
        let magnitude = abs(value)
        var exponent = 0
        while magnitude >= power(exponent + 1) { exponent += 1 }
        while magnitude < (exponent >= 0 ? power(exponent) : 1 / power(-exponent)) { exponent -= 1 }
        func scaled(_ e: Int) -> Double { e <= 3 ? (magnitude * power(3 - e)).rounded(.toNearestOrEven) : (magnitude / power(e - 3)).rounded(.toNearestOrEven) }
        var digits = scaled(exponent)
        if digits >= 10_000 { exponent += 1; digits = scaled(exponent) }
        let sign = value < 0 ? "-" : ""
        var text = String(Int(digits))
        if exponent < -4 || exponent >= 4 {
            text = String(text.prefix(1)) + "." + String(text.dropFirst())
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
            let magnitude = abs(exponent)
            return sign + text + "e" + (exponent < 0 ? "-" : "+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        if exponent >= 3 { return sign + text + String(repeating: "0", count: exponent - 3) }
        if exponent >= 0 {
            text = String(text.prefix(exponent + 1)) + "." + String(text.dropFirst(exponent + 1))
        } else {
            text = "0." + String(repeating: "0", count: -exponent - 1) + text
        }
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return sign + text
    }
}

/// The runbook's service-level objectives as analysis metrics, used when `spec.analysis` lists none.
/// The series are the usual ones of a Python HTTP app instrumented for Prometheus
/// (`http_requests_total{status}` and `http_request_duration_seconds_bucket`, the names the
/// PrometheusRule of `spec.monitoring` uses) scraped with `job` = the Service name, which the
/// ServiceMonitor gives them; memory comes from cAdvisor and kube-state-metrics.
public enum AnalysisDefaults {
    public static let intervalSeconds: Int32 = 60
    public static let count: Int32 = 5
    public static let failureLimit: Int32 = 0
    public static let inconclusiveLimit: Int32 = 1
    public static let timeoutSeconds: Int32 = 10
    public static let prePromotion = true
    public static let postPromotion = true

    public static let errorRatioQuery =
        #"sum(rate(http_requests_total{namespace="{{namespace}}",job="{{service}}",status=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="{{namespace}}",job="{{service}}"}[1m]))"#
    public static let latencyP95Query =
        #"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{{namespace}}",job="{{service}}"}[1m])))"#
    public static let memoryQuery =
        #"max(container_memory_working_set_bytes{namespace="{{namespace}}",pod=~"{{service}}-.*",container="pynomaly"} / on(namespace, pod, container) kube_pod_container_resource_limits{namespace="{{namespace}}",pod=~"{{service}}-.*",container="pynomaly",resource="memory"})"#

    /// Error ratio < 1 %, p95 latency < 0.5 s, and — when the container has a memory limit to
    /// compare with — memory < 80 % of it.
    public static func metrics(memoryLimited: Bool) -> [PynomalyDeploymentSpec.AnalysisMetric] {
        var metrics: [PynomalyDeploymentSpec.AnalysisMetric] = [
            .init(name: "error-ratio", query: errorRatioQuery, successCondition: .init(max: 0.01)),
            .init(name: "latency-p95", query: latencyP95Query, successCondition: .init(max: 0.5)),
        ]
        if memoryLimited {
            metrics.append(.init(name: "memory-of-limit", query: memoryQuery, successCondition: .init(max: 0.8)))
        }
        return metrics
    }
}

extension PynomalyDeploymentSpec {
    /// `spec.analysis` resolved; nil when absent or `enabled: false`, or without a Prometheus
    /// address (validation reports that).
    public func resolvedAnalysis() -> ResolvedSpec.Analysis? {
        guard let analysis, analysis.enabled ?? true, let prometheus = analysis.prometheus else { return nil }
        typealias D = AnalysisDefaults
        let listed = analysis.metrics ?? []
        let source = listed.isEmpty ? D.metrics(memoryLimited: resources?.limits?["memory"] != nil) : listed
        let metrics = source.enumerated().map { index, m in
            ResolvedSpec.Analysis.Metric(
                name: m.name, query: m.query, condition: AnalysisCondition(min: m.successCondition.min, max: m.successCondition.max),
                intervalSeconds: m.intervalSeconds ?? D.intervalSeconds, count: m.count ?? D.count, failureLimit: m.failureLimit ?? D.failureLimit,
                field: listed.isEmpty ? "default metric \(m.name)" : "spec.analysis.metrics[\(index)]")
        }
        return ResolvedSpec.Analysis(
            prometheus: .init(address: prometheus.address, caSecretRef: prometheus.caSecretRef, bearerTokenSecretRef: prometheus.bearerTokenSecretRef,
                              timeoutSeconds: prometheus.timeoutSeconds ?? D.timeoutSeconds),
            metrics: metrics, inconclusiveLimit: analysis.inconclusiveLimit ?? D.inconclusiveLimit,
            prePromotion: analysis.prePromotion ?? D.prePromotion, postPromotion: analysis.postPromotion ?? D.postPromotion)
    }
}
