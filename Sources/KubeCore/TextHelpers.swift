// String operations the operator needs that live in full Foundation only (CharacterSet, String(format:),
// case-insensitive compare). The shipped binaries link FoundationEssentials alone, which carries no ICU
// and saves several MiB of resident memory, so these are written here over ASCII/Unicode scalars.

extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines (Unicode `White_Space`).
    public func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) ?? first
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }

    /// ASCII case-insensitive equality: HTTP header names and media types are ASCII by definition.
    public func equalsIgnoringASCIICase<Other: StringProtocol>(_ other: Other) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { asciiLower($0) == asciiLower($1) }
    }

    /// The text padded with spaces on the right to `width` characters (never truncated), for columns.
    public func paddedRight(to width: Int) -> String {
        let text = String(self)
        return text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

@inline(__always)
private func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5A) ? byte + 0x20 : byte
}

/// Percent-encoding of RFC 3986: every byte outside the unreserved set (ALPHA / DIGIT / "-" / "." /
/// "_" / "~") as `%XX` of its UTF-8 encoding. Used for query names and values.
public func percentEncodeUnreserved(_ text: String) -> String {
    var out = [UInt8]()
    out.reserveCapacity(text.utf8.count)
    let hex = Array("0123456789ABCDEF".utf8)
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(byte)
        default:
            out.append(UInt8(ascii: "%"))
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Fixed-point decimal text of a non-negative or negative `Double` with `digits` fraction digits
/// (what `String(format: "%.3f")` printed), for log fields and durations.
public func fixedPoint(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<max(0, digits) { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9.0e15 else { return String(value) }
    let whole = Int64(scaled)
    let factor = Int64(scale)
    let integerPart = whole / factor
    var fraction = String(whole % factor)
    if digits > 0 { fraction = String(repeating: "0", count: digits - fraction.count) + fraction }
    let sign = value < 0 && whole != 0 ? "-" : ""
    return digits > 0 ? "\(sign)\(integerPart).\(fraction)" : "\(sign)\(integerPart)"
}

/// An integer as decimal text, zero-padded on the left to `width` digits (`%02d` and friends).
public func zeroPadded(_ value: Int, width: Int) -> String {
    let digits = String(abs(value))
    let padded = digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    return value < 0 ? "-" + padded : padded
}
