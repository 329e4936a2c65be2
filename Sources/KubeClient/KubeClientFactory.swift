#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Wires a client: libcurl transport (TLS, credentials), rate limit, retries, API client.
/// - Parameters:
///   - retryPolicy: nil disables retries.
///   - warningHandler: receives `Warning` header texts.
public func makeKubeClient(configuration: ClientConfiguration, retryPolicy: RetryPolicy? = RetryPolicy(),
                           warningHandler: (@Sendable (String) -> Void)? = nil) throws -> KubeAPIClient {
    try makeKubeClientWithTransport(configuration: configuration, retryPolicy: retryPolicy, warningHandler: warningHandler).client
}

/// Like `makeKubeClient`, also answering the libcurl transport (for its statistics).
/// `instrument` wraps the libcurl transport below the rate limit and the retries, so that it sees
/// every attempt (e.g. a metrics layer counting `rest_client_requests_total`).
public func makeKubeClientWithTransport(configuration: ClientConfiguration, retryPolicy: RetryPolicy? = RetryPolicy(),
                                        warningHandler: (@Sendable (String) -> Void)? = nil,
                                        instrument: ((any KubeTransport) -> any KubeTransport)? = nil) throws -> (client: KubeAPIClient, transport: CurlTransport) {
    let curl = try CurlTransport(configuration: configuration)
    var transport: any KubeTransport = instrument?(curl) ?? curl
    if configuration.qps > 0 {
        transport = RateLimitedTransport(transport, qps: configuration.qps, burst: configuration.burst)
    }
    if let retryPolicy {
        transport = RetryingTransport(transport, policy: retryPolicy)
    }
    return (KubeAPIClient(transport: transport, defaultNamespace: configuration.namespace, warningHandler: warningHandler), curl)
}
