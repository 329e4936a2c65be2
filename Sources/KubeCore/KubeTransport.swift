#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An HTTP answer of the API server, error statuses included (they are not thrown here: turning
/// them into `KubeError.api` is the API client's job, so a transport stays a dumb pipe).
public struct KubeResponse: Sendable {
    public var statusCode: Int
    /// Header fields in arrival order; names as sent. Repeated fields (Warning) stay separate.
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(statusCode: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.statusCode = statusCode
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.equalsIgnoringASCIICase(name) }?.value
    }

    /// Every value of a header, case-insensitively (e.g. all `Warning` lines).
    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }
}

/// The body of a streaming answer (a watch), pulled chunk by chunk. A transport must apply
/// back-pressure: while the consumer does not call `next()`, it buffers a bounded amount and then
/// stops reading from the network, so a slow consumer never makes memory grow.
public protocol ByteChunkSource: Sendable {
    /// The next chunk of the body; nil at its end. Throws `KubeError.transport` when the stream breaks.
    func next() async throws -> Data?
    /// Stops the transfer; later `next()` calls return nil.
    func cancel()
}

/// A streaming answer: status and headers arrive first, the body is pulled from `body`.
public struct KubeStreamResponse: Sendable {
    public var statusCode: Int
    public var headers: [(name: String, value: String)]
    public var body: any ByteChunkSource

    public init(statusCode: Int, headers: [(name: String, value: String)], body: any ByteChunkSource) {
        self.statusCode = statusCode
        self.headers = headers
        self.body = body
    }
}

/// What executes requests. The libcurl transport (KubeClient) talks HTTPS to a real API server;
/// the test server offers an in-memory one, so the same client code runs against both.
public protocol KubeTransport: Sendable {
    /// Sends a request and reads the whole answer. Throws only when no answer arrived (`KubeError.transport`).
    func send(_ request: KubeRequest) async throws -> KubeResponse
    /// Sends a request whose answer is a stream (watch).
    func stream(_ request: KubeRequest) async throws -> KubeStreamResponse
    /// Whether the transport keeps a request with a `notBefore` until then by itself. A rate limiter
    /// above it then hands the request over at once instead of sleeping: a sleeping task costs a
    /// timer and two thread wake-ups per request, the transport's own poll timeout costs nothing.
    var holdsRequestsUntilDue: Bool { get }
}

extension KubeTransport {
    public var holdsRequestsUntilDue: Bool { false }
}
