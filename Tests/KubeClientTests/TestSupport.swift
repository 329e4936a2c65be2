import Foundation
import KubeCore
import Synchronization
import XCTest

/// A transport answering from a script: the handler sees each request and its 1-based attempt number.
final class ScriptedTransport: KubeTransport, Sendable {
    typealias Handler = @Sendable (KubeRequest, Int) throws -> KubeResponse
    private let handler: Handler
    private let streamHandler: (@Sendable (KubeRequest, Int) throws -> KubeStreamResponse)?
    private let log = Mutex<[KubeRequest]>([])
    /// Claims to hold requests until their `notBefore` (it answers at once: the log shows what a
    /// rate limiter above handed down).
    let holdsRequestsUntilDue: Bool

    init(_ handler: @escaping Handler, stream: (@Sendable (KubeRequest, Int) throws -> KubeStreamResponse)? = nil,
         holdsRequestsUntilDue: Bool = false) {
        self.handler = handler
        self.streamHandler = stream
        self.holdsRequestsUntilDue = holdsRequestsUntilDue
    }

    var requests: [KubeRequest] { log.withLock { $0 } }
    var count: Int { log.withLock { $0.count } }

    func send(_ request: KubeRequest) async throws -> KubeResponse {
        let n = log.withLock { $0.append(request); return $0.count }
        return try handler(request, n)
    }

    func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        let n = log.withLock { $0.append(request); return $0.count }
        guard let streamHandler else { throw KubeError.invalidRequest("no stream handler") }
        return try streamHandler(request, n)
    }
}

/// A byte source over fixed chunks that records whether it was cancelled.
final class FixedChunks: ByteChunkSource, Sendable {
    private let state: Mutex<(chunks: [Data], cancelled: Bool)>
    init(_ chunks: [Data]) { state = Mutex((chunks, false)) }
    var cancelled: Bool { state.withLock { $0.cancelled } }
    func next() async throws -> Data? {
        state.withLock { s in
            if s.cancelled || s.chunks.isEmpty { return nil }
            return s.chunks.removeFirst()
        }
    }
    func cancel() { state.withLock { $0.cancelled = true } }
}

func json(_ v: JSONValue, status: Int = 200, headers: [(name: String, value: String)] = []) -> KubeResponse {
    KubeResponse(statusCode: status, headers: [(name: "Content-Type", value: "application/json")] + headers, body: v.serialized())
}

func statusBody(_ code: Int, reason: String, message: String, retryAfterSeconds: Int? = nil) -> JSONValue {
    var v: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                        "message": .string(message), "reason": .string(reason), "code": .int(Int64(code))]
    if let r = retryAfterSeconds { v["details"] = ["retryAfterSeconds": .int(Int64(r))] }
    return v
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubeclient-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// The message of a `KubeError.configuration`, or a failure.
func configurationMessage(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String? {
    do {
        try body()
        XCTFail("expected a configuration error", file: file, line: line)
        return nil
    } catch KubeError.configuration(let m) {
        return m
    } catch {
        XCTFail("expected a configuration error, got \(error)", file: file, line: line)
        return nil
    }
}


import CCurl

/// libcurl result codes the mapping tests use.
enum CURLcodeValue {
    case peerFailed, resolve, connect, timeout, gotNothing
    var curl: CURLcode {
        switch self {
        case .peerFailed: return CURLE_PEER_FAILED_VERIFICATION
        case .resolve: return CURLE_COULDNT_RESOLVE_HOST
        case .connect: return CURLE_COULDNT_CONNECT
        case .timeout: return CURLE_OPERATION_TIMEDOUT
        case .gotNothing: return CURLE_GOT_NOTHING
        }
    }
}
