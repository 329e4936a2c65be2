import CZlib

/// gzip (RFC 1952) of a text that is kept somewhere people may want to read it, such as an
/// annotation: `base64 -d | gunzip` recovers it with everyday tools. The header carries no name and
/// no time, so equal input gives equal output, and an apply of the same value compares equal.
public enum Gzip {
    /// zlib's window bits for a gzip wrapper (16 + the window's): any window when inflating.
    static let gzipWindowBits: Int32 = 31
    /// A 4 KB window and a small hash table when deflating: for texts of a few KB they compress as
    /// well as the defaults, and setting up the stream, most of a small call's cost, takes a third.
    static let deflateWindowBits: Int32 = 16 + 12
    static let deflateMemoryLevel: Int32 = 5

    /// The gzip stream of `bytes`; nil when zlib fails.
    public static func compress(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard czlib_deflate_init(&stream, 6, deflateWindowBits, deflateMemoryLevel) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))))
        let status = ZlibStream.run(&stream, input: bytes, output: &output) { deflate($0, Z_FINISH) }
        guard status == Z_STREAM_END else { return nil }
        return Array(output[..<(output.count - Int(stream.avail_out))])
    }

    /// The text of a single gzip stream; nil when `data` is not one, when its checksum or length
    /// does not match, or when it would inflate to more than `limit` bytes (the stream's trailer
    /// says how long its text is, so a hostile value cannot make this allocate more).
    public static func decompress(_ data: [UInt8], limit: Int) -> [UInt8]? {
        // A header of 10 bytes and a trailer of 8: CRC-32, then the length (mod 2^32), little-endian.
        guard data.count >= 18, data[0] == 0x1f, data[1] == 0x8b else { return nil }
        let tail = data.suffix(4)
        let length = tail.reversed().reduce(0) { $0 << 8 | Int($1) }
        guard length <= limit else { return nil }
        var stream = z_stream()
        guard czlib_inflate_init(&stream, gzipWindowBits) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        // One byte more than the trailer says, so a stream longer than its trailer claims is caught.
        var output = [UInt8](repeating: 0, count: length + 1)
        let status = ZlibStream.run(&stream, input: data, output: &output) { inflate($0, Z_FINISH) }
        guard status == Z_STREAM_END, stream.avail_in == 0, Int(stream.avail_out) == 1 else { return nil }
        output.removeLast()
        return output
    }
}

/// One zlib call over whole buffers, for the one-shot compressions here (no streaming needed).
enum ZlibStream {
    /// Points `stream` at the whole of `input` and `output` and runs `step` once.
    static func run(_ stream: inout z_stream, input: [UInt8], output: inout [UInt8],
                    _ step: (UnsafeMutablePointer<z_stream>) -> Int32) -> Int32 {
        input.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return step(&stream)
            }
        }
    }
}
