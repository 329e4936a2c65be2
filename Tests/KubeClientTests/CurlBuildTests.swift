import CCurl
import XCTest

/// The libcurl every binary links is the project's own build (scripts/build-libcurl.sh): HTTP and
/// HTTPS only, with OpenSSL, HTTP/2 and gzip. These tests read what the linked library reports
/// about itself, so a build against another libcurl (the system's, with every protocol and its
/// ~25 libraries) or a configuration that lost HTTP/2 or TLS fails here rather than in production.
final class CurlBuildTests: XCTestCase {
    private var info: curl_version_info_data {
        get throws {
            try XCTUnwrap(ccurl_version_info()?.pointee, "curl_version_info answered nothing")
        }
    }

    func testSpeaksOnlyHTTPAndHTTPS() throws {
        var protocols: [String] = []
        var cursor = try XCTUnwrap(try info.protocols)
        while let name = cursor.pointee {
            protocols.append(String(cString: name))
            cursor += 1
        }
        XCTAssertEqual(protocols.sorted(), ["http", "https"])
    }

    func testHasOpenSSLHTTP2AndGzipAndNoOptionalLibraries() throws {
        let features = try info.features
        XCTAssertNotEqual(features & CURL_VERSION_SSL, 0, "no TLS")
        XCTAssertNotEqual(features & CURL_VERSION_HTTP2, 0, "no HTTP/2: watches and requests would not share one connection")
        XCTAssertNotEqual(features & CURL_VERSION_LIBZ, 0, "no gzip for large list answers")
        XCTAssertNotEqual(features & CURL_VERSION_THREADSAFE, 0)
        XCTAssertEqual(features & (CURL_VERSION_IDN | CURL_VERSION_PSL | CURL_VERSION_BROTLI | CURL_VERSION_ZSTD | CURL_VERSION_GSSAPI), 0,
                       "built with optional libraries the operator does not use")
        let ssl = String(cString: try XCTUnwrap(try info.ssl_version))
        XCTAssertTrue(ssl.hasPrefix("OpenSSL/"), ssl)
        XCTAssertNil(try info.libssh_version, "built with SSH")
    }

    func testUsesTheDistributionsCABundleByDefault() throws {
        // Used when a kubeconfig names no certificate authority (a public CA signs the API server).
        XCTAssertEqual(try info.cainfo.map { String(cString: $0) }, "/etc/ssl/certs/ca-certificates.crt")
        XCTAssertEqual(try info.capath.map { String(cString: $0) }, "/etc/ssl/certs")
    }
}
