import CZlib

/// Raw deflate of a cached object's compact text against a preset dictionary: a typical object of
/// the same kind. Objects of one kind share most of their text (field names, labels, owner
/// references, the pod template), which plain deflate of a 3 KB object cannot exploit: with the
/// dictionary a cached CR or Deployment takes 200–400 bytes instead of 3–4 KB (about 2.2× smaller
/// without one).
///
/// Every call works on a stream of its own, so any thread may call it and the cache's value type
/// holds no mutable C state. The stream is a copy of one made once with the dictionary already
/// loaded (`PrimedDeflate`): loading a 4 KB dictionary into a fresh stream cost as much as a
/// fifth of compressing a Deployment, and a cache compresses every object it stores. Level 1 and
/// a 4 KB window keep a call to a few microseconds.
struct TextCompression: Sendable, Equatable {
    let dictionary: [UInt8]
    /// A stream with `dictionary` loaded, copied by each `compress`; nil when zlib could not make
    /// one (then each call loads the dictionary itself).
    private let primed: PrimedDeflate?

    /// zlib's window: the dictionary is used up to this size (its tail).
    static let windowBits: Int32 = 12
    static let windowSize = 1 << 12
    static let level: Int32 = 1
    // 5 compressed the operator's kinds as well as 6 (and the CRs better), with half the hash table
    // to set up and copy.
    static let memoryLevel: Int32 = 5

    init(dictionary: [UInt8]) {
        self.dictionary = dictionary.count > Self.windowSize ? Array(dictionary.suffix(Self.windowSize)) : dictionary
        primed = PrimedDeflate(dictionary: self.dictionary)
    }

    static func == (a: TextCompression, b: TextCompression) -> Bool { a.dictionary == b.dictionary }

    /// The deflated text; nil when zlib fails (the caller keeps the text as it is).
    func compress(_ text: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        if let primed {
            guard deflateCopy(&stream, primed.stream) == Z_OK else { return nil }
        } else {
            guard Self.start(&stream, dictionary: dictionary) else { return nil }
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(text.count))))
        let status = ZlibStream.run(&stream, input: text, output: &output) { deflate($0, Z_FINISH) }
        guard status == Z_STREAM_END else { return nil }
        // A copy of the used part: shrinking in place would keep deflateBound's whole capacity.
        return Array(output[..<(output.count - Int(stream.avail_out))])
    }

    /// Sets `stream` up for a raw deflate against `dictionary`; false when zlib refuses.
    static func start(_ stream: UnsafeMutablePointer<z_stream>, dictionary: [UInt8]) -> Bool {
        guard czlib_deflate_init(stream, level, -windowBits, memoryLevel) == Z_OK else { return false }
        let status = dictionary.withUnsafeBufferPointer { deflateSetDictionary(stream, $0.baseAddress, UInt32($0.count)) }
        guard status == Z_OK else {
            deflateEnd(stream)
            return false
        }
        return true
    }

    /// The text `compress` made of `length` bytes; nil when the data does not inflate to exactly
    /// that (never for what `compress` made with this dictionary).
    func decompress(_ data: [UInt8], length: Int) -> [UInt8]? {
        var stream = z_stream()
        guard czlib_inflate_init(&stream, -Self.windowBits) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        let dictionaryStatus = dictionary.withUnsafeBufferPointer { inflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count)) }
        guard dictionaryStatus == Z_OK else { return nil }
        var output = [UInt8](repeating: 0, count: length)
        let status = ZlibStream.run(&stream, input: data, output: &output) { inflate($0, Z_FINISH) }
        guard status == Z_STREAM_END, stream.avail_out == 0 else { return nil }
        return output
    }
}

/// A deflate stream with a dictionary loaded and no input yet, kept only to be copied
/// (`deflateCopy` reads it and writes nothing to it, so threads may copy it at the same time).
/// It lives at a fixed address, as zlib's state points back at its stream.
final class PrimedDeflate: @unchecked Sendable {
    let stream: UnsafeMutablePointer<z_stream>

    init?(dictionary: [UInt8]) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard TextCompression.start(stream, dictionary: dictionary) else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
        self.stream = stream
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }
}
