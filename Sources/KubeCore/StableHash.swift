#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A stable, dependency-free content hash: FNV-1a 64-bit over canonical JSON (object keys sorted,
/// as `JSONValue.compactText()` writes them), as lower-case hex. Not cryptographic: it only detects
/// change (config hash, pod-template hash, a cached object's content), and must give the same
/// answer in every process and release.
public enum StableHash {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// FNV-1a 64 of the bytes.
    public static func fnv1a64<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        // Contiguous bytes (the usual case) are read through a pointer: iterating `Data` or a
        // generic sequence costs several times the hash itself.
        if let hash = bytes.withContiguousStorageIfAvailable({ fnv1a64(buffer: $0) }) { return hash }
        var hash = offsetBasis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* prime
        }
        return hash
    }

    static func fnv1a64(buffer: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash = offsetBasis
        for byte in buffer {
            hash ^= UInt64(byte)
            hash = hash &* prime
        }
        return hash
    }

    /// 16 hex digits of the FNV-1a 64 hash of the canonical JSON of `value`.
    public static func hex(of value: JSONValue) -> String {
        let digits = String(fnv1a64(value.compactText()), radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// 16 hex digits of the hash of an Encodable value's canonical JSON.
    public static func hex<T: Encodable>(encoding value: T) throws -> String {
        hex(of: try JSONValue(encoding: value))
    }
}
