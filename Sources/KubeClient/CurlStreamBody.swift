import CCurl
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Synchronization

/// The bounded buffer between libcurl's write callback (engine thread) and a stream's consumer.
/// When it holds more than `limit` bytes the callback answers `CURL_WRITEFUNC_PAUSE`, so libcurl
/// stops reading the socket; the consumer's `next()` drains it and asks the engine to resume.
final class CurlStreamBuffer: Sendable {
    private struct State {
        var chunks: [Data] = []
        var bytes = 0
        var paused = false
        var finished = false
        var error: (any Error)?
        /// The consumer stopped the stream: the callback aborts the transfer.
        var consumerCancelled = false
        var waiter: CheckedContinuation<Data?, any Error>?
    }

    let limit: Int
    private let state = Mutex(State())
    private let highWater = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Bytes held now.
    var bufferedBytes: Int { state.withLock { $0.bytes } }
    /// The most bytes ever held.
    var highWaterMark: Int { highWater.load(ordering: .relaxed) }

    /// Write callback (engine thread): hands the chunk to a waiting consumer, buffers it, or pauses.
    func write(_ bytes: UnsafeRawBufferPointer, engine: CurlEngine) -> Int {
        enum Outcome { case deliver(CheckedContinuation<Data?, any Error>), buffered(Int), pause, abort }
        let outcome = state.withLock { s -> Outcome in
            if s.consumerCancelled { return .abort }
            if let w = s.waiter {
                s.waiter = nil
                return .deliver(w)
            }
            // Always accept into an empty buffer, so a chunk larger than the limit cannot stall the stream.
            if s.bytes > 0, s.bytes + bytes.count > limit {
                s.paused = true
                return .pause
            }
            s.chunks.append(Data(bytes))
            s.bytes += bytes.count
            return .buffered(s.bytes)
        }
        switch outcome {
        case .deliver(let w):
            w.resume(returning: Data(bytes))
            return bytes.count
        case .buffered(let total):
            if total > highWater.load(ordering: .relaxed) { highWater.store(total, ordering: .relaxed) }
            engine.recordStreamBuffer(bytes: total, paused: false)
            return bytes.count
        case .pause:
            engine.recordStreamBuffer(bytes: 0, paused: true)
            return ccurl_writefunc_pause()
        case .abort:
            return 0
        }
    }

    /// The transfer ended (engine thread, or a shut-down engine).
    func finish(error: (any Error)?) {
        let w = state.withLock { s -> CheckedContinuation<Data?, any Error>? in
            if !s.finished {
                s.finished = true
                s.error = error.map { KubeError.transport($0 as? TransportError ?? TransportError(kind: .other, detail: "\($0)")) }
            }
            defer { s.waiter = nil }
            return s.waiter
        }
        guard let w else { return }
        if let e = state.withLock({ $0.error }) { w.resume(throwing: e) } else { w.resume(returning: nil) }
    }

    enum Take {
        case data(Data, unpause: Bool)
        case end((any Error)?)
        case waiting
    }

    /// Takes everything buffered, or registers `continuation` to get the next chunk.
    func take(orWait continuation: CheckedContinuation<Data?, any Error>) -> Take {
        state.withLock { s in
            if !s.chunks.isEmpty {
                var all = Data(capacity: s.bytes)
                for c in s.chunks { all.append(c) }
                s.chunks.removeAll(keepingCapacity: true)
                s.bytes = 0
                let unpause = s.paused
                s.paused = false
                return .data(all, unpause: unpause)
            }
            if s.finished || s.consumerCancelled { return .end(s.error) }
            if Task.isCancelled {
                s.finished = true
                s.error = CancellationError()
                return .end(s.error)
            }
            s.waiter = continuation
            return .waiting
        }
    }

    /// The consumer stops: buffered data is dropped and a pending `next()` ends (nil, or `error`).
    func stopByConsumer(error: (any Error)?) {
        let w = state.withLock { s -> CheckedContinuation<Data?, any Error>? in
            s.consumerCancelled = true
            if !s.finished {
                s.finished = true
                s.error = error
            }
            s.chunks.removeAll()
            s.bytes = 0
            defer { s.waiter = nil }
            return s.waiter
        }
        if let error { w?.resume(throwing: error) } else { w?.resume(returning: nil) }
    }

    var isStopped: Bool { state.withLock { $0.consumerCancelled || ($0.finished && $0.chunks.isEmpty) } }
}

/// The body of a streaming answer over libcurl. Dropping it cancels the transfer.
final class CurlStreamBody: ByteChunkSource {
    private let transfer: CurlTransfer

    init(transfer: CurlTransfer) { self.transfer = transfer }

    deinit {
        if let buffer = transfer.stream, !buffer.isStopped {
            buffer.stopByConsumer(error: nil)
            transfer.cancel()
        }
    }

    func next() async throws -> Data? {
        guard let buffer = transfer.stream else { return nil }
        let transfer = self.transfer
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Data?, any Error>) in
                switch buffer.take(orWait: c) {
                case .data(let d, let unpause):
                    // libcurl must be unpaused on its own thread.
                    if unpause { transfer.engine.post(.unpause(transfer)) }
                    c.resume(returning: d)
                case .end(let e):
                    if let e { c.resume(throwing: e) } else { c.resume(returning: nil) }
                case .waiting:
                    break
                }
            }
        } onCancel: {
            buffer.stopByConsumer(error: CancellationError())
            transfer.cancel()
        }
    }

    func cancel() {
        transfer.stream?.stopByConsumer(error: nil)
        transfer.cancel()
    }

    /// Bytes waiting for the consumer now, and the most ever waiting.
    var bufferedBytes: Int { transfer.stream?.bufferedBytes ?? 0 }
    var highWaterMark: Int { transfer.stream?.highWaterMark ?? 0 }
}
