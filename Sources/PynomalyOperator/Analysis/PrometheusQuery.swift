#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// How to reach one Prometheus server, with the CA and token already read from their Secrets.
public struct PrometheusEndpoint: Sendable, Hashable {
    public var address: String
    public var caPEM: Data?
    public var bearerToken: String?
    public var timeoutSeconds: Double

    public init(address: String, caPEM: Data? = nil, bearerToken: String? = nil, timeoutSeconds: Double = 10) {
        self.address = address
        self.caPEM = caPEM
        self.bearerToken = bearerToken
        self.timeoutSeconds = timeoutSeconds
    }
}

/// Runs one instant query. The operator's implementation is `PrometheusHTTPClient` over the
/// project's libcurl transport; every failure is an outcome, never a thrown error, because each
/// one has a meaning for the run (inconclusive, or a spec problem).
public protocol PrometheusQuerying: Sendable {
    func query(_ promql: String, at time: Date, endpoint: PrometheusEndpoint) async -> AnalysisQueryOutcome
}

/// The Prometheus HTTP API's instant query (`GET /api/v1/query`) as a request value and the
/// answer as an outcome: pure.
public enum PrometheusAPI {
    /// The request (the address's path prefix is added by the transport).
    public static func queryRequest(_ promql: String, at time: Date, timeoutSeconds: Double) -> KubeRequest {
        KubeRequest(method: .get, path: "/api/v1/query",
                    query: [QueryItem("query", promql), QueryItem("time", fixedPoint(time.timeIntervalSince1970, digits: 3)),
                            QueryItem("timeout", "\(Int(max(1, timeoutSeconds)))s")],
                    timeout: timeoutSeconds)
    }

    /// Reads an answer: one number from a scalar or a one-series vector. No series or NaN is no
    /// data; several series is a query that does not aggregate (a spec problem); `bad_data` (HTTP
    /// 400) is a malformed query; every other error (5xx, `timeout`, `execution`, `unavailable`,
    /// a body that is not the API's) is Prometheus not answering.
    public static func outcome(statusCode: Int, body: Data) -> AnalysisQueryOutcome {
        guard let json = try? JSONValue(parsing: body), let status = json["status"]?.stringValue else {
            return .unavailable("HTTP \(statusCode), not a Prometheus API answer")
        }
        guard status == "success" else {
            let type = json["errorType"]?.stringValue ?? "error"
            let message = json["error"]?.stringValue ?? "HTTP \(statusCode)"
            if type == "bad_data" || statusCode == 400 { return .invalidQuery(message) }
            return .unavailable("\(type): \(message)")
        }
        let data = json["data"]
        switch data?["resultType"]?.stringValue {
        case "scalar":
            return sample(data?["result"])
        case "vector":
            let series = data?["result"]?.arrayValue ?? []
            if series.isEmpty { return .noData("the query returned no series") }
            if series.count > 1 {
                return .invalidQuery("the query returned \(series.count) series; it must give one number (aggregate it, e.g. with sum or max)")
            }
            return sample(series[0]["value"])
        case let other:
            return .invalidQuery("the query returned a \(other ?? "unknown") result; it must give one number (an instant vector or a scalar)")
        }
    }

    /// `[ <unix time>, "<value>" ]`.
    static func sample(_ pair: JSONValue?) -> AnalysisQueryOutcome {
        guard let text = pair?.arrayValue?.dropFirst().first?.stringValue else { return .unavailable("a sample without a value") }
        switch text {
        case "NaN": return .noData("NaN (no samples in the window, e.g. no requests)")
        case "+Inf", "Inf": return .value(.infinity)
        case "-Inf": return .value(-.infinity)
        default:
            guard let value = Double(text) else { return .unavailable("the value \"\(text)\" is not a number") }
            return .value(value)
        }
    }
}

/// Queries Prometheus through a `KubeTransport` made for its endpoint (libcurl in the operator),
/// keeping one per endpoint so connections are reused between measurements.
public actor PrometheusHTTPClient: PrometheusQuerying {
    public typealias TransportFactory = @Sendable (PrometheusEndpoint) throws -> any KubeTransport

    private let makeTransport: TransportFactory
    private var transports: [PrometheusEndpoint: any KubeTransport] = [:]
    /// Endpoints change rarely; the bound only stops a flapping spec from growing the cache.
    private let limit = 32

    public init(makeTransport: @escaping TransportFactory) {
        self.makeTransport = makeTransport
    }

    public func query(_ promql: String, at time: Date, endpoint: PrometheusEndpoint) async -> AnalysisQueryOutcome {
        let transport: any KubeTransport
        if let cached = transports[endpoint] {
            transport = cached
        } else {
            do {
                transport = try makeTransport(endpoint)
            } catch {
                return .unavailable("cannot reach \(endpoint.address): \(error)")
            }
            if transports.count >= limit { transports.removeAll() }
            transports[endpoint] = transport
        }
        do {
            let response = try await transport.send(PrometheusAPI.queryRequest(promql, at: time, timeoutSeconds: endpoint.timeoutSeconds))
            return PrometheusAPI.outcome(statusCode: response.statusCode, body: response.body)
        } catch {
            return .unavailable("\(endpoint.address): \(error)")
        }
    }
}
