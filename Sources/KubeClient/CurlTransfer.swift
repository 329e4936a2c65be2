import CCurl
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Synchronization

/// A request as plain values, ready for libcurl.
struct CurlRequestSpec: Sendable {
    var url: String
    var method: HTTPMethod
    /// Complete header lines, `Name: value`.
    var headers: [String]
    var body: Data?
    /// Whole-transfer timeout in seconds; nil for none (watches).
    var timeout: Double?
    var connectTimeout: Double
    var tls: TLSConfiguration
    /// `CURLOPT_CONNECT_TO` entry: the URL names the TLS server name, the connection goes to the real host.
    var connectTo: String?
    var proxy: String?
    var userAgent: String
    var isStream: Bool
    /// The engine starts the transfer no earlier than this (a rate limiter's reservation).
    var notBefore: ContinuousClock.Instant? = nil
}

/// One request in flight. Fields marked "engine thread" are touched only by the engine thread
/// (from `makeEasyHandle` until `releaseEasyHandle`, callbacks included); state shared with other
/// threads is behind `waiter`'s mutex, the `cancelled` atomic, or the stream buffer's mutex.
final class CurlTransfer: @unchecked Sendable {
    enum Waiter {
        case none
        case response(CheckedContinuation<KubeResponse, any Error>)
        case stream(CheckedContinuation<KubeStreamResponse, any Error>)
    }

    let spec: CurlRequestSpec
    let stream: CurlStreamBuffer?
    private let waiter = Mutex<Waiter>(.none)
    private let cancelled = Atomic<Bool>(false)
    let engine: CurlEngine
    /// Keeps the engine alive while this transfer (or its stream body) exists.
    private let lifetime: CurlEngineLifetime

    // Engine thread.
    private(set) var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var responseHeaders: [(name: String, value: String)] = []
    private var headersComplete = false
    private var body = Data()

    init(spec: CurlRequestSpec, lifetime: CurlEngineLifetime) {
        self.spec = spec
        self.engine = lifetime.engine
        self.lifetime = lifetime
        self.stream = spec.isStream ? CurlStreamBuffer(limit: lifetime.engine.options.streamBufferLimit) : nil
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
    }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    func setWaiter(_ w: Waiter) {
        waiter.withLock { $0 = w }
    }

    /// Asks the engine to stop this transfer (from any thread).
    func cancel() {
        cancelled.store(true, ordering: .releasing)
        engine.post(.cancel(self))
    }

    // MARK: - Engine thread

    /// Configures `spare` (a handle `curl_easy_reset` returned to its defaults) or a new handle.
    func makeEasyHandle(reusing spare: UnsafeMutableRawPointer? = nil) throws -> UnsafeMutableRawPointer {
        guard let h = spare ?? curl_easy_init() else {
            throw TransportError(kind: .other, detail: "curl_easy_init failed", url: spec.url)
        }
        easy = h
        func check(_ rc: CURLcode, _ what: String) throws {
            guard rc == CURLE_OK else {
                throw TransportError(kind: .other, detail: "setting \(what): \(String(cString: curl_easy_strerror(rc)))", url: spec.url)
            }
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(ccurl_easy_setopt_string(h, CURLOPT_URL, spec.url), "URL")
        try check(ccurl_easy_setopt_long(h, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try check(ccurl_easy_setopt_ptr(h, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        try check(ccurl_easy_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        // HTTP/2 when the server offers it over TLS, and wait for a multiplexable connection
        // rather than opening a new one.
        try check(ccurl_easy_setopt_long(h, CURLOPT_HTTP_VERSION, ccurl_http_version_2tls()), "HTTP_VERSION")
        try check(ccurl_easy_setopt_long(h, CURLOPT_PIPEWAIT, 1), "PIPEWAIT")
        try check(ccurl_easy_setopt_string(h, CURLOPT_ACCEPT_ENCODING, ""), "ACCEPT_ENCODING")
        try check(ccurl_easy_setopt_string(h, CURLOPT_USERAGENT, spec.userAgent), "USERAGENT")

        // Method and body.
        switch spec.method {
        case .get:
            try check(ccurl_easy_setopt_long(h, CURLOPT_HTTPGET, 1), "HTTPGET")
        case .post:
            try check(ccurl_easy_setopt_long(h, CURLOPT_POST, 1), "POST")
        default:
            try check(ccurl_easy_setopt_string(h, CURLOPT_CUSTOMREQUEST, spec.method.rawValue), "CUSTOMREQUEST")
        }
        if spec.method != .get, spec.body != nil || spec.method == .post {
            let bytes = spec.body ?? Data()
            try check(ccurl_easy_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count)), "POSTFIELDSIZE")
            try bytes.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies, so the Data need not outlive this call; never pass NULL.
                var empty: UInt8 = 0
                let p = raw.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) } ?? withUnsafeMutablePointer(to: &empty) { UnsafeMutableRawPointer($0) }
                try check(ccurl_easy_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, p), "COPYPOSTFIELDS")
            }
        }

        // Headers. An empty "Expect:" stops curl from waiting for 100-continue on large bodies.
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for line in spec.headers + ["Expect:"] {
            guard let next = curl_slist_append(list, line) else {
                curl_slist_free_all(list)
                throw TransportError(kind: .other, detail: "curl_slist_append failed", url: spec.url)
            }
            list = next
        }
        headerList = list
        try check(ccurl_easy_setopt_slist(h, CURLOPT_HTTPHEADER, list), "HTTPHEADER")

        // Timeouts: none for streams, whose liveness TCP keepalive watches instead.
        if let t = spec.timeout, t > 0 {
            try check(ccurl_easy_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(t * 1000)), "TIMEOUT_MS")
        }
        try check(ccurl_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(max(spec.connectTimeout, 0.001) * 1000)), "CONNECTTIMEOUT_MS")
        try check(ccurl_easy_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1), "TCP_KEEPALIVE")
        try check(ccurl_easy_setopt_long(h, CURLOPT_TCP_KEEPIDLE, 30), "TCP_KEEPIDLE")
        try check(ccurl_easy_setopt_long(h, CURLOPT_TCP_KEEPINTVL, 10), "TCP_KEEPINTVL")

        if let proxy = spec.proxy {
            try check(ccurl_easy_setopt_string(h, CURLOPT_PROXY, proxy), "PROXY")
        }
        if let connectTo = spec.connectTo {
            guard let ct = curl_slist_append(nil, connectTo) else {
                throw TransportError(kind: .other, detail: "curl_slist_append failed", url: spec.url)
            }
            // libcurl copies nothing here: keep the list alive with the header list.
            connectToList = ct
            try check(ccurl_easy_setopt_slist(h, CURLOPT_CONNECT_TO, ct), "CONNECT_TO")
        }

        try configureTLS(h, check: check)

        try check(ccurl_easy_setopt_write_cb(h) { ptr, size, count, userdata in
            guard let userdata else { return 0 }
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
            return t.onBody(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }, "WRITEFUNCTION")
        try check(ccurl_easy_setopt_ptr(h, CURLOPT_WRITEDATA, me), "WRITEDATA")
        try check(ccurl_easy_setopt_header_cb(h) { ptr, size, count, userdata in
            guard let userdata else { return 0 }
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
            return t.onHeader(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }, "HEADERFUNCTION")
        try check(ccurl_easy_setopt_ptr(h, CURLOPT_HEADERDATA, me), "HEADERDATA")
        return h
    }

    private var connectToList: UnsafeMutablePointer<curl_slist>?

    private func configureTLS(_ h: UnsafeMutableRawPointer, check: (CURLcode, String) throws -> Void) throws {
        let tls = spec.tls
        try check(ccurl_easy_setopt_long(h, CURLOPT_SSL_VERIFYPEER, tls.insecureSkipVerify ? 0 : 1), "SSL_VERIFYPEER")
        try check(ccurl_easy_setopt_long(h, CURLOPT_SSL_VERIFYHOST, tls.insecureSkipVerify ? 0 : 2), "SSL_VERIFYHOST")
        if let ca = tls.certificateAuthorityPEM {
            // Trust exactly the cluster's CA, as kubectl does: no system bundle besides it.
            try check(ccurl_easy_setopt_string(h, CURLOPT_CAINFO, nil), "CAINFO")
            try check(ccurl_easy_setopt_string(h, CURLOPT_CAPATH, nil), "CAPATH")
            try setBlob(h, CURLOPT_CAINFO_BLOB, ca, "CAINFO_BLOB", check: check)
        }
        if let cert = tls.clientCertificatePEM, let key = tls.clientKeyPEM {
            try setBlob(h, CURLOPT_SSLCERT_BLOB, cert, "SSLCERT_BLOB", check: check)
            try check(ccurl_easy_setopt_string(h, CURLOPT_SSLCERTTYPE, "PEM"), "SSLCERTTYPE")
            try setBlob(h, CURLOPT_SSLKEY_BLOB, key, "SSLKEY_BLOB", check: check)
            try check(ccurl_easy_setopt_string(h, CURLOPT_SSLKEYTYPE, "PEM"), "SSLKEYTYPE")
        }
    }

    private func setBlob(_ h: UnsafeMutableRawPointer, _ option: CURLoption, _ data: Data, _ what: String,
                         check: (CURLcode, String) throws -> Void) throws {
        var bytes = [UInt8](data)
        try bytes.withUnsafeMutableBytes { raw in
            // CURL_BLOB_COPY: libcurl keeps its own copy, the buffer need not outlive the call.
            var blob = curl_blob(data: raw.baseAddress, len: raw.count, flags: UInt32(CURL_BLOB_COPY))
            try withUnsafeMutablePointer(to: &blob) { try check(ccurl_easy_setopt_ptr(h, option, $0), what) }
        }
    }

    /// Lets go of the easy handle (out of the multi handle already) and frees what only this
    /// transfer used. `keep`: the handle is reset to its defaults (no option, callback or copy of
    /// this transfer's stays) and answered, for another transfer; else it is cleaned up.
    func releaseEasyHandle(keep: Bool) -> UnsafeMutableRawPointer? {
        let h = easy
        easy = nil
        if let h {
            if keep { curl_easy_reset(h) } else { curl_easy_cleanup(h) }
        }
        // Only now: the handle pointed at these lists until it was reset or cleaned up.
        if let l = headerList { curl_slist_free_all(l) }
        headerList = nil
        if let l = connectToList { curl_slist_free_all(l) }
        connectToList = nil
        return keep ? h : nil
    }

    private func onHeader(_ bytes: UnsafeRawBufferPointer) -> Int {
        // Strip CR LF as bytes: in Swift "\r\n" is one Character, so String suffix checks miss it.
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        if end >= 5, bytes[0..<5].elementsEqual("HTTP/".utf8) {
            // A new header block (after a 1xx answer, a new one starts).
            responseHeaders.removeAll()
            headersComplete = false
            return bytes.count
        }
        if end == 0 {
            let code = statusCode()
            if (100..<200).contains(code) { return bytes.count }
            headersComplete = true
            if stream != nil { deliverStreamHead(code: code) }
            return bytes.count
        }
        // Name and value are cut and trimmed as bytes: HTTP field names are ASCII and the
        // whitespace around a value is spaces and tabs (RFC 9110 §5.5), and every answer has a
        // dozen headers, so this runs thousands of times a second.
        if let colon = bytes[0..<end].firstIndex(of: UInt8(ascii: ":")) {
            responseHeaders.append((name: Self.trimmedText(bytes, 0..<colon), value: Self.trimmedText(bytes, (colon + 1)..<end)))
        }
        return bytes.count
    }

    /// The bytes of `range` without the spaces and tabs around them, as text.
    private static func trimmedText(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 { upper -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lower..<upper]), as: UTF8.self)
    }

    private func onBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let stream else {
            body.append(contentsOf: bytes)
            return bytes.count
        }
        return stream.write(bytes, engine: engine)
    }

    private func statusCode() -> Int {
        guard let h = easy else { return 0 }
        var code: Int = 0
        _ = ccurl_easy_getinfo_long(h, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    private func takeWaiter() -> Waiter {
        waiter.withLock { w in
            defer { w = .none }
            return w
        }
    }

    private func deliverStreamHead(code: Int) {
        guard case .stream(let c) = takeWaiter() else { return }
        c.resume(returning: KubeStreamResponse(statusCode: code, headers: responseHeaders,
                                               body: CurlStreamBody(transfer: self)))
    }

    /// The transfer ended (engine thread); returns how many new connections it opened.
    func complete(result: CURLcode) -> Int {
        var connects: Int = 0
        if let h = easy { _ = ccurl_easy_getinfo_long(h, CURLINFO_NUM_CONNECTS, &connects) }
        guard result == CURLE_OK else {
            if isCancelled {
                fail(TransportError(kind: .cancelled, detail: "", url: spec.url))
            } else {
                let message = String(cString: errorBuffer)
                fail(CurlErrorMapping.transportError(code: result, message: message, url: spec.url))
            }
            return connects
        }
        let code = statusCode()
        switch takeWaiter() {
        case .response(let c):
            c.resume(returning: KubeResponse(statusCode: code, headers: responseHeaders, body: body))
        case .stream(let c):
            // A body-less answer: the head was never delivered by the header callback.
            c.resume(returning: KubeStreamResponse(statusCode: code, headers: responseHeaders,
                                                   body: CurlStreamBody(transfer: self)))
            stream?.finish(error: nil)
        case .none:
            stream?.finish(error: nil)
        }
        return connects
    }

    /// Ends the transfer with an error, whichever side is waiting (any thread; resumes once).
    func fail(_ error: TransportError) {
        switch takeWaiter() {
        case .response(let c): c.resume(throwing: KubeError.transport(error))
        case .stream(let c): c.resume(throwing: KubeError.transport(error))
        case .none: stream?.finish(error: error)
        }
    }
}
