#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// A `KubeTransport` decorator that exports client-go's REST client metrics: every request is
/// counted in `rest_client_requests_total{code,method,host}` and timed in
/// `rest_client_request_duration_seconds{verb,host}`. A request that got no answer counts with
/// code `<error>` (as client-go). A stream (watch) counts when its status and headers arrive;
/// its duration is the time to those headers, not the life of the stream.
public struct MetricsTransport: KubeTransport {
    public let base: any KubeTransport
    public let metrics: RuntimeMetrics
    /// The `host` label: the API server's `host:port` (client-go uses the URL's host).
    public let host: String
    private let clock: any RuntimeClock

    public init(_ base: any KubeTransport, metrics: RuntimeMetrics, host: String, clock: any RuntimeClock = SystemClock()) {
        self.base = base
        self.metrics = metrics
        self.host = host
        self.clock = clock
    }

    public var holdsRequestsUntilDue: Bool { base.holdsRequestsUntilDue }

    public func send(_ request: KubeRequest) async throws -> KubeResponse {
        try await measured(request, statusCode: \.statusCode) { try await base.send(request) }
    }

    /// A watch is counted when its headers arrive; its duration is the time to the headers.
    public func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        try await measured(request, statusCode: \.statusCode) { try await base.stream(request) }
    }

    private func measured<Response>(_ request: KubeRequest, statusCode: (Response) -> Int,
                                    _ operation: () async throws -> Response) async throws -> Response {
        // A request held back for its rate-limit token is timed from when it may leave, as
        // client-go times it after the limiter's wait.
        var started = clock.now
        if let due = request.notBefore {
            let held = ContinuousClock.now.duration(to: due)
            if held > .zero { started += held.secondsValue }
        }
        do {
            let response = try await operation()
            record(request, code: String(statusCode(response)), started: started)
            return response
        } catch {
            record(request, code: "<error>", started: started)
            throw error
        }
    }

    private func record(_ request: KubeRequest, code: String, started: Double) {
        metrics.recordRequest(code: code, method: request.method.rawValue, host: host, seconds: max(0, clock.now - started))
    }
}
