#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

extension CurlTransport {
    /// A transport to an HTTP(S) service other than the API server (the Prometheus of
    /// `spec.analysis`): the same libcurl engine, with that service's CA, bearer token and timeout.
    public static func endpoint(address: String, caPEM: Data?, bearerToken: String?, timeout: Double) throws -> CurlTransport {
        let configuration = ClientConfiguration(
            server: address, tls: TLSConfiguration(certificateAuthorityPEM: caPEM),
            authentication: bearerToken.map { .bearerToken($0) } ?? .none,
            timeout: timeout, connectTimeout: min(max(timeout, 1), 10), source: "spec.analysis.prometheus")
        return try CurlTransport(configuration: configuration)
    }
}
