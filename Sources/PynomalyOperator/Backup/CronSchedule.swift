#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A CronJob schedule, parsed as Kubernetes parses `spec.schedule` (robfig/cron v3's standard
/// parser): five fields `minute hour day-of-month month day-of-week`, or one of the macros
/// `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
///
/// Each field takes `*`, `?`, `a`, `a-b`, `*/n`, `a-b/n`, `a/n` (= `a-max/n`) and comma lists of
/// those; months also take `JAN`–`DEC` and days of the week `SUN`–`SAT` (any case). Sunday is 0:
/// Kubernetes rejects 7, so this does too. When both day fields are restricted (neither has a
/// `*` or `?` element, `*/1` included; `*/2` counts as restricted), a day matches when either
/// matches (Vixie cron, robfig). `@every` is refused: it has no fixed fire times to reason about.
///
/// Fire times are evaluated in `timeZone` with the Gregorian calendar, like the CronJob
/// controller: a fire time is every instant whose wall clock matches. A wall time skipped by a
/// DST change does not fire that day; a wall time repeated by one fires at both instants. The
/// search looks at most five years away, then gives up (`nil`).
public struct CronSchedule: Sendable, Hashable {
    /// The time zone the fields are read in.
    public let timeZone: TimeZoneRules
    let minutes: FieldSet
    let hours: FieldSet
    let daysOfMonth: FieldSet
    let months: FieldSet
    let daysOfWeek: FieldSet
    /// Whether a day field started with `*` or `?` (then both day fields must match).
    let daysOfMonthStar: Bool
    let daysOfWeekStar: Bool

    /// How far `nextFireTime` / `previousFireTime` look before giving up.
    static let searchYears = 5

    /// Parses `text` (a CronJob `spec.schedule`); the error names the field and why.
    public init(parsing text: String, timeZone: TimeZoneRules = .utc) throws(CronScheduleError) {
        self.timeZone = timeZone

        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw CronScheduleError(.schedule, "the schedule is empty") }
        // Kubernetes rejects any TZ in the schedule: the zone belongs in the CronJob's timeZone field.
        if trimmed.hasPrefix("TZ=") || trimmed.hasPrefix("CRON_TZ=") || trimmed.contains("TZ") {
            throw CronScheduleError(.schedule, "TZ= and CRON_TZ= are not accepted by Kubernetes; set the time zone in the timeZone field instead")
        }

        let fields: [String]
        if text.hasPrefix("@") {
            fields = try Self.expand(macro: text)
        } else {
            fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
            guard fields.count == 5 else {
                let hint = fields.count == 6 ? " (a seconds field is not supported)" : ""
                throw CronScheduleError(.schedule, "expected exactly 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)\(hint)")
            }
        }
        let minute = try Self.parseField(fields[0], .minute)
        let hour = try Self.parseField(fields[1], .hour)
        let dayOfMonth = try Self.parseField(fields[2], .dayOfMonth)
        let month = try Self.parseField(fields[3], .month)
        let dayOfWeek = try Self.parseField(fields[4], .dayOfWeek)
        minutes = minute.set
        hours = hour.set
        daysOfMonth = dayOfMonth.set
        months = month.set
        daysOfWeek = dayOfWeek.set
        daysOfMonthStar = dayOfMonth.star
        daysOfWeekStar = dayOfWeek.star
    }

    /// Whether `text` is a schedule Kubernetes accepts (and this type understands).
    public static func isValid(_ text: String) -> Bool {
        (try? CronSchedule(parsing: text)) != nil
    }

    /// The first fire time strictly after `date`, or nil when none is within five years.
    public func nextFireTime(after date: Date) -> Date? {
        // Fire times fall on whole minutes (the CronJob controller has no seconds field).
        var t = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let lastYear = WallClock(timeZone, t).year + Self.searchYears
        for _ in 0..<Self.maxSteps {
            let c = WallClock(timeZone, t)
            if c.year > lastYear { return nil }
            let next: Date?
            if !months.contains(c.month) {
                next = startOfMonth(year: c.month == 12 ? c.year + 1 : c.year, month: c.month == 12 ? 1 : c.month + 1)
            } else if !dayMatches(c) {
                next = startOfNextDay(t)
            } else if !hours.contains(c.hour) {
                next = t.addingTimeInterval(Double(-c.minute * 60 - c.second + 3600))
            } else if !minutes.contains(c.minute) {
                if let m = minutes.first(after: c.minute) {
                    next = t.addingTimeInterval(Double((m - c.minute) * 60 - c.second))
                } else {
                    next = t.addingTimeInterval(Double(-c.minute * 60 - c.second + 3600))
                }
            } else {
                return t
            }
            // Every step moves forward; the guard only protects against a calendar surprise.
            guard let next, next > t else { t = t.addingTimeInterval(60); continue }
            t = next
        }
        return nil
    }

    /// The latest fire time at or before `date`, or nil when none is within five years.
    public func previousFireTime(atOrBefore date: Date) -> Date? {
        var t = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60)
        let firstYear = WallClock(timeZone, t).year - Self.searchYears
        for _ in 0..<Self.maxSteps {
            let c = WallClock(timeZone, t)
            if c.year < firstYear { return nil }
            let previous: Date?
            if !months.contains(c.month) {
                previous = startOfMonth(year: c.year, month: c.month).addingTimeInterval(-60)
            } else if !dayMatches(c) {
                previous = startOfDay(t).addingTimeInterval(-60)
            } else if !hours.contains(c.hour) {
                previous = t.addingTimeInterval(Double(-c.minute * 60 - c.second - 60))
            } else if !minutes.contains(c.minute) {
                if let m = minutes.last(before: c.minute) {
                    previous = t.addingTimeInterval(Double(-(c.minute - m) * 60 - c.second))
                } else {
                    previous = t.addingTimeInterval(Double(-c.minute * 60 - c.second - 60))
                }
            } else {
                return t
            }
            guard let previous, previous < t else { t = t.addingTimeInterval(-60); continue }
            t = previous
        }
        return nil
    }

    // MARK: - Evaluation

    /// Upper bound on search steps (five years of month and day steps plus the hours and
    /// minutes of a few days is far below it); guarantees termination whatever the calendar does.
    static let maxSteps = 20_000

    /// Vixie/robfig: with a `*` in either day field both must match, else either.
    func dayMatches(_ c: WallClock) -> Bool {
        let dom = daysOfMonth.contains(c.day)
        let dow = daysOfWeek.contains(c.weekday)
        return daysOfMonthStar || daysOfWeekStar ? dom && dow : dom || dow
    }

    /// The first instant of day 1 of the month (midnight, or the first wall time after a gap).
    func startOfMonth(year: Int, month: Int) -> Date { start(ofDay: CivilDate(year: year, month: month, day: 1).days) }

    /// The first instant of the day `t` falls on in the schedule's zone.
    func startOfDay(_ t: Date) -> Date { start(ofDay: WallClock(timeZone, t).days) }

    func startOfNextDay(_ t: Date) -> Date { start(ofDay: WallClock(timeZone, t).days + 1) }

    /// The first instant of a local day (days since 1970-01-01): its midnight, or the end of a gap.
    func start(ofDay days: Int) -> Date { Date(timeIntervalSince1970: Double(timeZone.instant(forLocal: Int64(days) * 86_400))) }

    /// An instant's wall clock in the schedule's zone; weekday 0 = Sunday.
    struct WallClock {
        var year, month, day, hour, minute, second, weekday: Int
        /// The local day as days since 1970-01-01.
        var days: Int

        init(_ zone: TimeZoneRules, _ date: Date) {
            let local = zone.local(Int64(date.timeIntervalSince1970.rounded(.down)))
            days = Int(floorDivide(local, 86_400))
            let secondOfDay = Int(local - Int64(days) * 86_400)
            let civil = CivilDate(days: days)
            year = civil.year
            month = civil.month
            day = civil.day
            hour = secondOfDay / 3600
            minute = secondOfDay % 3600 / 60
            second = secondOfDay % 60
            weekday = CivilDate.weekday(ofDays: days)
        }
    }

    // MARK: - Parsing

    static func expand(macro: String) throws(CronScheduleError) -> [String] {
        // robfig matches macros exactly (case-sensitive, nothing after them).
        switch macro {
        case "@yearly", "@annually": return ["0", "0", "1", "1", "*"]
        case "@monthly": return ["0", "0", "1", "*", "*"]
        case "@weekly": return ["0", "0", "*", "*", "0"]
        case "@daily", "@midnight": return ["0", "0", "*", "*", "*"]
        case "@hourly": return ["0", "*", "*", "*", "*"]
        default:
            if macro.hasPrefix("@every") {
                throw CronScheduleError(.schedule, "@every has no fixed fire times and is not supported; use a 5-field schedule")
            }
            throw CronScheduleError(.schedule, "unknown macro \"\(macro)\"; expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly")
        }
    }

    static func parseField(_ text: String, _ field: CronScheduleError.Field) throws(CronScheduleError) -> (set: FieldSet, star: Bool) {
        var set = FieldSet()
        var star = false
        // Not omittingEmptySubsequences: "1,,2" or a trailing comma is a mistake, not "nothing".
        for element in text.split(separator: ",", omittingEmptySubsequences: false) {
            let part = try parseElement(String(element), field)
            set.bits |= part.set.bits
            star = star || part.star
        }
        return (set, star)
    }

    /// One list element: `*`, `?`, `a`, `a-b`, each optionally `/step`.
    static func parseElement(_ text: String, _ field: CronScheduleError.Field) throws(CronScheduleError) -> (set: FieldSet, star: Bool) {
        guard !text.isEmpty else { throw CronScheduleError(field, "empty list element") }
        let bounds = field.bounds
        let rangeAndStep = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard rangeAndStep.count <= 2 else { throw CronScheduleError(field, "too many slashes in \"\(text)\"") }
        let rangeText = rangeAndStep[0]
        var start: Int
        var end: Int
        var star = false
        if rangeText == "*" || rangeText == "?" {
            start = bounds.lowerBound
            end = bounds.upperBound
            star = true
        } else {
            let lowAndHigh = rangeText.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard lowAndHigh.count <= 2 else { throw CronScheduleError(field, "too many hyphens in \"\(text)\"") }
            start = try value(lowAndHigh[0], field, in: text)
            end = lowAndHigh.count == 2 ? try value(lowAndHigh[1], field, in: text) : start
            // "a/n" means "a-max/n".
            if lowAndHigh.count == 1, rangeAndStep.count == 2 { end = bounds.upperBound }
        }
        var step = 1
        if rangeAndStep.count == 2 {
            guard let n = Int(rangeAndStep[1]), rangeAndStep[1].allSatisfy(\.isASCIIDigit) else {
                throw CronScheduleError(field, "step \"\(rangeAndStep[1])\" is not a number in \"\(text)\"")
            }
            guard n > 0 else { throw CronScheduleError(field, "step must be a positive number in \"\(text)\"") }
            step = n
            // robfig: "*/n" with n > 1 is a restriction, not a star (matters for the day OR rule).
            if n > 1 { star = false }
        }
        guard start >= bounds.lowerBound else {
            throw CronScheduleError(field, "\(start) is below the minimum \(bounds.lowerBound) in \"\(text)\"")
        }
        guard end <= bounds.upperBound else {
            let hint = field == .dayOfWeek && end == 7 ? " (Kubernetes does not accept 7 for Sunday; use 0 or SUN)" : ""
            throw CronScheduleError(field, "\(end) is above the maximum \(bounds.upperBound) in \"\(text)\"\(hint)")
        }
        guard start <= end else { throw CronScheduleError(field, "range start \(start) is after its end \(end) in \"\(text)\"") }
        var set = FieldSet()
        for v in stride(from: start, through: end, by: step) { set.insert(v) }
        return (set, star)
    }

    /// A number, or a month / weekday name where the field has names.
    static func value(_ text: String, _ field: CronScheduleError.Field, in element: String) throws(CronScheduleError) -> Int {
        if let names = field.names, let index = names.firstIndex(of: text.lowercased()) {
            return field.bounds.lowerBound + index
        }
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit), let n = Int(text) else {
            let expected = field.names.map { ", or a name \($0.first ?? "")–\($0.last ?? "")" } ?? ""
            throw CronScheduleError(field, "\"\(text)\" is not a number\(expected) in \"\(element)\"")
        }
        return n
    }
}

/// Why a schedule was rejected: the field and the reason.
public struct CronScheduleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The part of the schedule at fault (`schedule` for the whole text).
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case schedule
        case minute
        case hour
        case dayOfMonth = "day-of-month"
        case month
        case dayOfWeek = "day-of-week"

        var bounds: ClosedRange<Int> {
            switch self {
            case .schedule, .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...6
            }
        }

        var names: [String]? {
            switch self {
            case .month: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            case .dayOfWeek: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            default: nil
            }
        }
    }

    public var field: Field
    public var reason: String

    public init(_ field: Field, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String {
        field == .schedule ? reason : "\(field.rawValue) field: \(reason)"
    }
}

/// The values a field allows, as bits (all fields fit in 0...63).
struct FieldSet: Sendable, Hashable {
    var bits: UInt64 = 0

    mutating func insert(_ value: Int) { bits |= 1 << UInt64(value) }

    func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

    /// The smallest allowed value greater than `value`.
    func first(after value: Int) -> Int? {
        guard value < 63 else { return nil }
        let above = bits & (UInt64.max << UInt64(value + 1))
        return above == 0 ? nil : above.trailingZeroBitCount
    }

    /// The largest allowed value smaller than `value`.
    func last(before value: Int) -> Int? {
        guard value > 0 else { return nil }
        let below = bits & ((1 << UInt64(min(value, 63))) - 1)
        return below == 0 ? nil : 63 - below.leadingZeroBitCount
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
