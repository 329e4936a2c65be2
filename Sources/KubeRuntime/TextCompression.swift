import CZlib

/// Raw deflate of a cached object's compact text against a preset dictionary: a typical object of
/// the same kind. Objects of one kind share most of their text (field names, labels, owner
/// references, the pod template), which plain deflate of a 3 KB object cannot exploit: with the
/// dictionary a cached CR or Deployment takes 200–400 bytes instead of 3–4 KB (about 2.2× smaller
/// without one).
///
/// Stateless: every call sets up its own zlib stream (about 50 KB, freed at once), so any thread may
/// call it and the cache's value type holds no C state. Level 1 and a 4 KB window keep a call to a
/// few microseconds.
struct TextCompression: Sendable, Equatable {
    let dictionary: [UInt8]

    /// zlib's window: the dictionary is used up to this size (its tail).
    static let windowBits: Int32 = 12
    static let windowSize = 1 << 12

    init(dictionary: [UInt8]) {
        self.dictionary = dictionary.count > Self.windowSize ? Array(dictionary.suffix(Self.windowSize)) : dictionary
    }

    /// The deflated text; nil when zlib fails (the caller keeps the text as it is).
    func compress(_ text: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard czlib_deflate_init(&stream, 1, -Self.windowBits, 6) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let dictionaryStatus = dictionary.withUnsafeBufferPointer { deflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count)) }
        guard dictionaryStatus == Z_OK else { return nil }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(text.count))))
        let status = ZlibStream.run(&stream, input: text, output: &output) { deflate($0, Z_FINISH) }
        guard status == Z_STREAM_END else { return nil }
        // A copy of the used part: shrinking in place would keep deflateBound's whole capacity.
        return Array(output[..<(output.count - Int(stream.avail_out))])
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
