#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// intstr.IntOrString: a port number or name, or a count or percentage (`maxSurge: 25%`).
public enum IntOrString: Codable, Sendable, Hashable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init(integerLiteral value: Int) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an integer or a string")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }

    /// The absolute value against `total`: an int as is, `"N%"` as N percent of total, rounded up or
    /// down (as `intstr.GetScaledValueFromIntOrPercent`). Throws on a string that is not a percentage.
    public func scaledValue(total: Int, roundUp: Bool) throws -> Int {
        switch self {
        case .int(let i): return i
        case .string(let s):
            guard s.hasSuffix("%"), let percent = Int(s.dropLast()) else {
                throw KubeError.invalidRequest("invalid value for IntOrString: invalid type: string is not a percentage: \"\(s)\"")
            }
            let product = percent * total
            if roundUp { return Int((Double(product) / 100).rounded(.up)) }
            return product / 100
        }
    }
}
