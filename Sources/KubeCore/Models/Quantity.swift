#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// resource.Quantity kept as its string form (`500m`, `64Mi`, `1`), exactly as written, so a read-
/// modify-write never rewrites it. `value` gives the number for comparisons.
public struct Quantity: Codable, Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var string: String

    public init(_ string: String) { self.string = string }
    public init(stringLiteral value: String) { self.string = value }
    public init(integerLiteral value: Int) { self.string = String(value) }

    /// Manifests may carry bare numbers (`cpu: 1`, `cpu: 0.5`); the server always answers strings.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            string = s
        } else if let i = try? c.decode(Int64.self) {
            string = String(i)
        } else if let d = try? c.decode(Double.self) {
            string = "\(d)"
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a quantity string such as \"500m\" or \"1Gi\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(string)
    }

    public var description: String { string }

    static let binarySuffixes: [(String, Double)] = [
        ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
        ("Pi", 1_125_899_906_842_624), ("Ei", 1_152_921_504_606_846_976),
    ]
    static let decimalSuffixes: [(String, Double)] = [
        ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
    ]

    /// The numeric value (`500m` → 0.5, `1Gi` → 1073741824, `1e3` → 1000); nil when malformed.
    public var value: Double? {
        let s = string.trimmingWhitespace()
        guard !s.isEmpty else { return nil }
        for (suffix, factor) in Self.binarySuffixes where s.hasSuffix(suffix) {
            return Self.number(s.dropLast(suffix.count)).map { $0 * factor }
        }
        for (suffix, factor) in Self.decimalSuffixes where s.hasSuffix(suffix) {
            // `1E` is exa, but `1e3` is an exponent: only a trailing suffix letter counts here.
            return Self.number(s.dropLast(suffix.count)).map { $0 * factor }
        }
        return Self.number(Substring(s))
    }

    private static func number(_ s: Substring) -> Double? {
        guard !s.isEmpty,
              s.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
              let d = Double(s), d.isFinite else { return nil }
        return d
    }
}
