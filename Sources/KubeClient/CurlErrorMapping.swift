import CCurl
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Turns libcurl's result codes and error text into `TransportError` kinds that name the cause.
enum CurlErrorMapping {
    static func transportError(code: CURLcode, message: String, url: String?) -> TransportError {
        let text = message.isEmpty ? String(cString: curl_easy_strerror(code)) : message
        return TransportError(kind: kind(code: code, message: text), detail: text, url: url)
    }

    static func kind(code: CURLcode, message: String) -> TransportError.Kind {
        let m = message.lowercased()
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CACERT_BADFILE:
            // OpenSSL's verify messages, as libcurl passes them on.
            if m.contains("unable to get local issuer certificate") || m.contains("self-signed certificate")
                || m.contains("self signed certificate") || m.contains("unable to verify the first certificate")
                || m.contains("unable to get issuer certificate") || m.contains("certificate signature failure")
            {
                return .tlsUnknownCA
            }
            if m.contains("no alternative certificate subject name matches") || m.contains("does not match target host name")
                || m.contains("subject name does not match") || m.contains("hostname mismatch")
            {
                return .tlsNameMismatch
            }
            if m.contains("certificate has expired") || m.contains("certificate is not yet valid") {
                return .tlsExpired
            }
            if m.contains("alert") && (m.contains("certificate required") || m.contains("bad certificate")) {
                return .tlsClientCertificate
            }
            return .tls
        case CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER:
            return code == CURLE_SSL_CERTPROBLEM ? .tlsClientCertificate : .tls
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .dns
        case CURLE_COULDNT_CONNECT:
            return .connect
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_ABORTED_BY_CALLBACK:
            return .cancelled
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            return .connectionClosed
        default:
            if m.contains("certificate") { return .tls }
            return .other
        }
    }
}
