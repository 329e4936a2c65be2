#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Text helpers of the plugin's views: kubectl-style tables, ages and RFC 3339 times.
public enum PluginText {
    /// Columns padded to their widest cell and separated by three spaces, as `kubectl get` prints.
    public static func table(header: [String], rows: [[String]], indent: String = "") -> String {
        let all = [header] + rows
        let count = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: count)
        for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return all.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                let last = i == row.count - 1
                line += last ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 3)
            }
            // An empty last cell would leave the padding of the one before it.
            while line.hasSuffix(" ") { line.removeLast() }
            return indent + line
        }.joined(separator: "\n")
    }

    /// kubectl's short age: `45s`, `3m12s`, `25m`, `5h3m`, `20h`, `3d4h`, `12d`, `1y20d`.
    public static func age(from then: Date, to now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(then)))
        let minutes = seconds / 60, hours = seconds / 3600, days = seconds / 86400
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<600: return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s"
        case ..<10800: return "\(minutes)m"
        case ..<28800: return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m"
        case ..<172800: return "\(hours)h"
        case ..<691200: return hours % 24 == 0 ? "\(days)d" : "\(days)d\(hours % 24)h"
        case ..<(730 * 86400): return "\(days)d"
        default: return days % 365 == 0 ? "\(days / 365)y" : "\(days / 365)y\(days % 365)d"
        }
    }

    /// Parses an RFC 3339 time (`2026-11-27T03:04:05Z`, fractional seconds allowed).
    public static func parseTime(_ text: String) -> Date? {
        KubeTime.parse(text)
    }

    /// `TIME (AGE ago)`, or the text as it is when it is not a time.
    public static func timeWithAge(_ text: String, now: Date) -> String {
        guard let date = parseTime(text) else { return text }
        return "\(text) (\(age(from: date, to: now)) ago)"
    }
}
