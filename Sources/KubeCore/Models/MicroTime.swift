#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits
/// (`2030-01-02T03:04:05.000001Z`). The API server refuses any other precision with a 400, so a
/// value made from a `Date` is always written that way; a value read keeps its text unchanged.
public struct MicroTime: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The text as read or formatted.
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// Formats `date` in UTC with microsecond precision (truncated, as Go's time.Format does).
    public init(_ date: Date) { self.rawValue = KubeTime.format(date, fractionalDigits: 6) }

    /// The current time.
    public static func now() -> MicroTime { MicroTime(Date()) }

    /// The instant, or nil when the text is not RFC 3339.
    public var date: Date? { KubeTime.parse(rawValue) }

    public init(from decoder: Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public var description: String { rawValue }
}

/// RFC 3339 timestamps as the API server writes them. Pure arithmetic (no DateFormatter), so it is
/// safe from any thread and independent of the locale.
public enum KubeTime {
    /// `2030-01-02T03:04:05Z` (metav1.Time: second precision), or with `fractionalDigits` digits.
    public static func format(_ date: Date, fractionalDigits: Int = 0) -> String {
        let t = date.timeIntervalSince1970
        // A Date cannot hold exact microseconds (a Double near 2e9 s resolves ~0.2 µs), so fractional
        // digits round to the nearest unit; whole seconds truncate as Go's time.Format does.
        var seconds: Int64
        var scaled: Int64 = 0
        if fractionalDigits > 0 {
            var unit: Int64 = 1
            for _ in 0..<fractionalDigits { unit *= 10 }
            let total = Int64((t * Double(unit)).rounded())
            seconds = total / unit
            scaled = total % unit
            if scaled < 0 { scaled += unit; seconds -= 1 }
        } else {
            seconds = Int64(t.rounded(.down))
        }
        var days = seconds / 86_400
        var secOfDay = seconds % 86_400
        if secOfDay < 0 { secOfDay += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        var s = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T" + pad(secOfDay / 3600, 2) + ":" + pad(secOfDay % 3600 / 60, 2) + ":" + pad(secOfDay % 60, 2)
        if fractionalDigits > 0 { s += "." + pad(scaled, fractionalDigits) }
        return s + "Z"
    }

    /// Parses RFC 3339 (`T` or `t`, `Z` or a `±hh:mm` offset, any number of fractional digits).
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int64? {
            guard at + n <= b.count else { return nil }
            var v: Int64 = 0
            for i in at..<(at + n) {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
                v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2),
              b[7] == UInt8(ascii: "-"), let day = digits(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
              let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale = 0.1
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) {
                fraction += Double(b[i] - UInt8(ascii: "0")) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset: Int64 = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    // Howard Hinnant's civil-from-days algorithms (proleptic Gregorian calendar).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
