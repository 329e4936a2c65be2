import Foundation
import KubeCore
import PynomalyOperator
import Testing

/// CronSchedule: the CronJob schedule syntax Kubernetes accepts (robfig/cron v3 standard parser)
/// and its fire times in a time zone. 2030-01-01 is a Tuesday; Europe/Berlin switches to summer
/// time on 2030-03-31 (02:00 → 03:00) and back on 2030-10-27 (03:00 → 02:00); America/New_York on
/// 2030-03-10 and 2030-11-03.
@Suite("CronSchedule")
struct CronScheduleTests {
    /// The zone as the operator reads it (the system's tz database).
    static func zone(_ identifier: String) throws -> TimeZoneRules { try TimeZoneDatabase.system.rules(for: identifier) }

    /// The zone as Foundation's ICU knows it: the oracle's, independent of `TimeZoneRules`.
    static func oracleZone(_ identifier: String) throws -> TimeZone { try #require(TimeZone(identifier: identifier)) }

    static func date(_ text: String) throws -> Date { try #require(KubeTime.parse(text)) }

    static func schedule(_ text: String, _ zone: String = "UTC") throws -> CronSchedule {
        try CronSchedule(parsing: text, timeZone: Self.zone(zone))
    }

    /// The next `count` fire times after `start`, as UTC RFC 3339.
    static func fires(_ text: String, _ zone: String = "UTC", after start: String, count: Int = 4) throws -> [String] {
        let s = try schedule(text, zone)
        var t = try date(start)
        var out: [String] = []
        for _ in 0..<count {
            guard let next = s.nextFireTime(after: t) else { break }
            out.append(KubeTime.format(next))
            t = next
        }
        return out
    }

    /// The error a schedule is rejected with.
    static func error(_ text: String) -> CronScheduleError? {
        do {
            _ = try CronSchedule(parsing: text, timeZone: .utc)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Syntax

    @Test func everyMinuteFiresStrictlyAfter() throws {
        #expect(try Self.fires("* * * * *", after: "2030-01-01T00:00:30Z", count: 2) == ["2030-01-01T00:01:00Z", "2030-01-01T00:02:00Z"])
        #expect(try Self.fires("* * * * *", after: "2030-01-01T00:01:00Z", count: 1) == ["2030-01-01T00:02:00Z"])
        let s = try Self.schedule("* * * * *")
        #expect(s.previousFireTime(atOrBefore: try Self.date("2030-01-01T00:01:00Z")) == (try Self.date("2030-01-01T00:01:00Z")))
        #expect(s.previousFireTime(atOrBefore: try Self.date("2030-01-01T00:01:59Z")) == (try Self.date("2030-01-01T00:01:00Z")))
    }

    @Test func fixedTimeOncePerDay() throws {
        #expect(try Self.fires("30 2 * * *", after: "2030-01-01T02:30:00Z", count: 3)
            == ["2030-01-02T02:30:00Z", "2030-01-03T02:30:00Z", "2030-01-04T02:30:00Z"])
        #expect(try Self.fires("30 2 * * *", after: "2030-01-01T02:29:59Z", count: 1) == ["2030-01-01T02:30:00Z"])
    }

    @Test func listsRangesAndSteps() throws {
        #expect(try Self.fires("0,15,45 * * * *", after: "2030-01-01T00:00:00Z") ==
            ["2030-01-01T00:15:00Z", "2030-01-01T00:45:00Z", "2030-01-01T01:00:00Z", "2030-01-01T01:15:00Z"])
        #expect(try Self.fires("10-12 * * * *", after: "2030-01-01T00:00:00Z") ==
            ["2030-01-01T00:10:00Z", "2030-01-01T00:11:00Z", "2030-01-01T00:12:00Z", "2030-01-01T01:10:00Z"])
        #expect(try Self.fires("*/20 * * * *", after: "2030-01-01T00:00:00Z") ==
            ["2030-01-01T00:20:00Z", "2030-01-01T00:40:00Z", "2030-01-01T01:00:00Z", "2030-01-01T01:20:00Z"])
        #expect(try Self.fires("5-50/15 * * * *", after: "2030-01-01T00:00:00Z", count: 5) ==
            ["2030-01-01T00:05:00Z", "2030-01-01T00:20:00Z", "2030-01-01T00:35:00Z", "2030-01-01T00:50:00Z", "2030-01-01T01:05:00Z"])
        // "a/n" is "a-max/n".
        #expect(try Self.fires("50/5 * * * *", after: "2030-01-01T00:00:00Z", count: 3) ==
            ["2030-01-01T00:50:00Z", "2030-01-01T00:55:00Z", "2030-01-01T01:50:00Z"])
        #expect(try Self.fires("0 */6 * * *", after: "2030-01-01T00:00:00Z", count: 3) ==
            ["2030-01-01T06:00:00Z", "2030-01-01T12:00:00Z", "2030-01-01T18:00:00Z"])
        #expect(try Self.fires("0 0 1,15 */3 *", after: "2030-01-01T00:00:00Z", count: 4) ==
            ["2030-01-15T00:00:00Z", "2030-04-01T00:00:00Z", "2030-04-15T00:00:00Z", "2030-07-01T00:00:00Z"])
        // A step wider than the range keeps its first value (Kubernetes accepts "*/61": hourly).
        #expect(try Self.schedule("*/61 * * * *") == (try Self.schedule("0 * * * *")))
        // Mixed list of a range with a step and single values; extra whitespace between fields.
        #expect(try Self.fires("1-3/2,59  23\t* * *", after: "2030-01-01T00:00:00Z", count: 4) ==
            ["2030-01-01T23:01:00Z", "2030-01-01T23:03:00Z", "2030-01-01T23:59:00Z", "2030-01-02T23:01:00Z"])
    }

    @Test func questionMarkIsAStar() throws {
        #expect(try Self.schedule("0 0 ? * ?") == (try Self.schedule("0 0 * * *")))
        #expect(try Self.fires("0 0 ? * 1", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-07T00:00:00Z", "2030-01-14T00:00:00Z"])
    }

    @Test func monthAndDayNamesInAnyCase() throws {
        #expect(try Self.fires("0 0 1 jan,JUL *", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-07-01T00:00:00Z", "2031-01-01T00:00:00Z"])
        #expect(try Self.schedule("0 0 1 Mar-May *") == (try Self.schedule("0 0 1 3-5 *")))
        // Saturday noon → Monday 09:00 for weekdays.
        #expect(try Self.fires("0 9 * * MON-fri", after: "2030-01-05T12:00:00Z", count: 2) == ["2030-01-07T09:00:00Z", "2030-01-08T09:00:00Z"])
        #expect(try Self.schedule("0 9 * * Sun,sat") == (try Self.schedule("0 9 * * 0,6")))
        #expect(try Self.schedule("0 9 * * mon-FRI/2") == (try Self.schedule("0 9 * * 1,3,5")))
    }

    @Test func sundayIsZeroAndSevenIsRejectedLikeKubernetes() throws {
        #expect(try Self.fires("0 0 * * 0", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-06T00:00:00Z", "2030-01-13T00:00:00Z"])
        let error = try #require(Self.error("0 0 * * 7"))
        #expect(error.field == .dayOfWeek)
        #expect(error.description.contains("use 0 or SUN"))
        #expect(Self.error("0 0 * * 5-7")?.field == .dayOfWeek)
    }

    @Test func macros() throws {
        #expect(try Self.schedule("@yearly") == (try Self.schedule("0 0 1 1 *")))
        #expect(try Self.schedule("@annually") == (try Self.schedule("0 0 1 1 *")))
        #expect(try Self.schedule("@monthly") == (try Self.schedule("0 0 1 * *")))
        #expect(try Self.schedule("@weekly") == (try Self.schedule("0 0 * * 0")))
        #expect(try Self.schedule("@daily") == (try Self.schedule("0 0 * * *")))
        #expect(try Self.schedule("@midnight") == (try Self.schedule("0 0 * * *")))
        #expect(try Self.schedule("@hourly") == (try Self.schedule("0 * * * *")))
        #expect(try Self.fires("@yearly", after: "2030-03-01T00:00:00Z", count: 1) == ["2031-01-01T00:00:00Z"])
        #expect(try Self.fires("@monthly", after: "2030-03-01T00:00:00Z", count: 1) == ["2030-04-01T00:00:00Z"])
        #expect(try Self.fires("@weekly", after: "2030-01-01T00:00:00Z", count: 1) == ["2030-01-06T00:00:00Z"])
        #expect(try Self.fires("@daily", after: "2030-01-01T00:00:00Z", count: 1) == ["2030-01-02T00:00:00Z"])
        #expect(try Self.fires("@hourly", after: "2030-01-01T00:00:00Z", count: 1) == ["2030-01-01T01:00:00Z"])
        // robfig matches macros exactly.
        #expect(Self.error("@Daily")?.field == .schedule)
        #expect(Self.error("@fortnightly")?.description.contains("unknown macro") == true)
        #expect(Self.error("@every 1h")?.description.contains("@every") == true)
    }

    /// Vixie/robfig: both day fields restricted → either matches; a `*` (or `?`, or `*/1`) in
    /// either → both must match.
    @Test func dayOfMonthOrDayOfWeek() throws {
        // The 13th (a Sunday in January 2030) or any Friday.
        #expect(try Self.fires("0 0 13 * 5", after: "2030-01-01T00:00:00Z", count: 4) ==
            ["2030-01-04T00:00:00Z", "2030-01-11T00:00:00Z", "2030-01-13T00:00:00Z", "2030-01-18T00:00:00Z"])
        #expect(try Self.fires("0 0 13 * *", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-13T00:00:00Z", "2030-02-13T00:00:00Z"])
        #expect(try Self.fires("0 0 * * 5", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-04T00:00:00Z", "2030-01-11T00:00:00Z"])
        #expect(try Self.fires("0 0 ? * 5", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-04T00:00:00Z", "2030-01-11T00:00:00Z"])
        #expect(try Self.fires("0 0 */1 * 5", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-04T00:00:00Z", "2030-01-11T00:00:00Z"])
        // "*/2" is a restriction (odd days), so OR: the 3rd, Friday the 4th, the 5th.
        #expect(try Self.fires("0 0 */2 * 5", after: "2030-01-02T00:00:00Z", count: 3) ==
            ["2030-01-03T00:00:00Z", "2030-01-04T00:00:00Z", "2030-01-05T00:00:00Z"])
        // Friday the 13th is not "13th AND Friday": the first match is the 1st of the month.
        #expect(try Self.fires("0 0 1 * 5", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-01-04T00:00:00Z", "2030-01-11T00:00:00Z"])
    }

    // MARK: - Errors

    @Test(arguments: [
        ("60 * * * *", CronScheduleError.Field.minute),
        ("* 24 * * *", .hour),
        ("* * 0 * *", .dayOfMonth),
        ("* * 32 * *", .dayOfMonth),
        ("* * * 0 *", .month),
        ("* * * 13 *", .month),
        ("* * * * 8", .dayOfWeek),
        ("*/0 * * * *", .minute),
        ("* 0-24/0 * * *", .hour),
        ("5-3 * * * *", .minute),
        ("* * * DEC-JAN *", .month),
        ("foo * * * *", .minute),
        ("JAN * * * *", .minute),
        ("* * * * JAN", .dayOfWeek),
        ("* * * MON *", .month),
        ("1,,2 * * * *", .minute),
        ("1, * * * *", .minute),
        ("1-2-3 * * * *", .minute),
        ("1/2/3 * * * *", .minute),
        ("-1 * * * *", .minute),
        ("*/x * * * *", .minute),
        ("*/-1 * * * *", .minute),
        ("* * 1.5 * *", .dayOfMonth),
        ("", .schedule),
        ("   ", .schedule),
        ("0 0 * *", .schedule),
        ("0 0 0 * * *", .schedule),
        ("TZ=UTC 0 0 * * *", .schedule),
        ("CRON_TZ=Europe/Berlin 0 0 * * *", .schedule),
        ("@every 5m", .schedule),
    ])
    func rejectsWithTheField(text: String, field: CronScheduleError.Field) throws {
        let error = try #require(Self.error(text), "\"\(text)\" must be rejected")
        #expect(error.field == field, "\"\(text)\": \(error)")
        if field != .schedule { #expect(error.description.hasPrefix("\(field.rawValue) field: ")) }
        #expect(!CronSchedule.isValid(text))
    }

    @Test func errorMessagesSayWhy() throws {
        #expect(Self.error("60 * * * *")?.description == "minute field: 60 is above the maximum 59 in \"60\"")
        #expect(Self.error("*/0 * * * *")?.description == "minute field: step must be a positive number in \"*/0\"")
        #expect(Self.error("* * 5-3 * *")?.description == "day-of-month field: range start 5 is after its end 3 in \"5-3\"")
        #expect(Self.error("0 0 0 * * *")?.description.contains("seconds") == true)
        #expect(Self.error("TZ=UTC 0 0 * * *")?.description.contains("timeZone") == true)
        #expect(Self.error("* * * foo *")?.description.contains("jan–dec") == true)
    }

    @Test func isValid() {
        for text in ["0 2 * * *", "@daily", "*/15 0-6 1,15 JAN-jun MON-FRI", "0 0 ? * ?", " 0 0 * * * "] {
            #expect(CronSchedule.isValid(text), "\(text)")
        }
        for text in ["", "0 2 * *", "0 0 * * 7", "@every 1h", "TZ=UTC @daily"] {
            #expect(!CronSchedule.isValid(text), "\(text)")
        }
    }

    @Test func equalityIncludesTheTimeZone() throws {
        #expect(try Self.schedule("0 2 * * *", "UTC") == (try Self.schedule("0  2 * * *", "UTC")))
        #expect(try Self.schedule("0 2 * * *", "UTC") != (try Self.schedule("0 2 * * *", "Europe/Berlin")))
        #expect(try Self.schedule("0 2 * * *") != (try Self.schedule("0 3 * * *")))
    }

    // MARK: - Calendar

    @Test func leapDay() throws {
        #expect(try Self.fires("0 0 29 2 *", after: "2030-01-01T00:00:00Z", count: 2) == ["2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"])
        let s = try Self.schedule("0 0 29 2 *")
        #expect(s.previousFireTime(atOrBefore: try Self.date("2030-01-01T00:00:00Z")) == (try Self.date("2028-02-29T00:00:00Z")))
        // Feb 29 or a Monday (in February): OR finds the Mondays of February.
        #expect(try Self.fires("0 0 29 2 1", after: "2030-01-01T00:00:00Z", count: 2) == ["2030-02-04T00:00:00Z", "2030-02-11T00:00:00Z"])
        // 2096-02-29 is followed by 2104-02-29 (2100 is no leap year): beyond the five-year search.
        #expect(s.nextFireTime(after: try Self.date("2096-02-29T00:00:00Z")) == nil)
    }

    @Test func impossibleDatesGiveNilQuickly() throws {
        let start = try Self.date("2030-01-01T00:00:00Z")
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for text in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 6,9,11 *"] {
                let s = try Self.schedule(text, "Europe/Berlin")
                #expect(s.nextFireTime(after: start) == nil, "\(text)")
                #expect(s.previousFireTime(atOrBefore: start) == nil, "\(text)")
            }
        }
        // Field by field, five years is a few thousand steps; minute by minute it would take far longer.
        #expect(elapsed < .seconds(5))
    }

    @Test func cheapEnoughForEveryReconcile() throws {
        let s = try Self.schedule("30 4 1,15 * MON", "America/New_York")
        var t = try Self.date("2030-01-01T00:00:00Z")
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<500 {
                guard let next = s.nextFireTime(after: t), s.previousFireTime(atOrBefore: next) == next else { break }
                t = next
            }
        }
        #expect(t > (try Self.date("2035-01-01T00:00:00Z")))
        #expect(elapsed < .seconds(5))
    }

    // MARK: - Time zones and DST

    @Test func firesInTheScheduleTimeZone() throws {
        // 02:00 in Berlin is 01:00Z in winter (CET) and 00:00Z in summer (CEST).
        #expect(try Self.fires("0 2 * * *", "Europe/Berlin", after: "2030-01-01T00:00:00Z", count: 1) == ["2030-01-01T01:00:00Z"])
        #expect(try Self.fires("0 2 * * *", "Europe/Berlin", after: "2030-06-30T23:00:00Z", count: 1) == ["2030-07-01T00:00:00Z"])
        #expect(try Self.fires("0 2 * * *", "America/New_York", after: "2030-01-01T00:00:00Z", count: 1) == ["2030-01-01T07:00:00Z"])
        // The day (and weekday) is the zone's: Monday 00:30 in Tokyo is Sunday 15:30Z.
        #expect(try Self.fires("30 0 * * MON", "Asia/Tokyo", after: "2030-01-01T00:00:00Z", count: 1) == ["2030-01-06T15:30:00Z"])
    }

    @Test func springForwardSkipsTheMissingWallTime() throws {
        // 02:30 does not exist in Berlin on 2030-03-31: no run that day.
        #expect(try Self.fires("30 2 * * *", "Europe/Berlin", after: "2030-03-30T00:00:00Z", count: 2) ==
            ["2030-03-30T01:30:00Z", "2030-04-01T00:30:00Z"])
        let s = try Self.schedule("30 2 * * *", "Europe/Berlin")
        #expect(s.previousFireTime(atOrBefore: try Self.date("2030-04-01T00:29:00Z")) == (try Self.date("2030-03-30T01:30:00Z")))
        // New York, 2030-03-10 02:00 EST → 03:00 EDT.
        #expect(try Self.fires("0 2 * * *", "America/New_York", after: "2030-03-09T00:00:00Z", count: 2) ==
            ["2030-03-09T07:00:00Z", "2030-03-11T06:00:00Z"])
        // Santiago skips midnight itself (2030-09-08 00:00 → 01:00): no midnight run that day.
        #expect(try Self.fires("0 0 * * *", "America/Santiago", after: "2030-09-06T12:00:00Z", count: 2) ==
            ["2030-09-07T04:00:00Z", "2030-09-09T03:00:00Z"])
        // Hourly stays hourly in absolute time across the gap.
        #expect(try Self.fires("0 * * * *", "Europe/Berlin", after: "2030-03-30T23:30:00Z", count: 3) ==
            ["2030-03-31T00:00:00Z", "2030-03-31T01:00:00Z", "2030-03-31T02:00:00Z"])
    }

    @Test func fallBackFiresAtBothInstantsOfARepeatedWallTime() throws {
        // 02:30 happens twice in Berlin on 2030-10-27: at 00:30Z (CEST) and 01:30Z (CET), as the
        // CronJob controller (robfig) fires.
        #expect(try Self.fires("30 2 * * *", "Europe/Berlin", after: "2030-10-26T12:00:00Z", count: 3) ==
            ["2030-10-27T00:30:00Z", "2030-10-27T01:30:00Z", "2030-10-28T01:30:00Z"])
        let s = try Self.schedule("30 2 * * *", "Europe/Berlin")
        #expect(s.previousFireTime(atOrBefore: try Self.date("2030-10-27T01:29:00Z")) == (try Self.date("2030-10-27T00:30:00Z")))
        #expect(s.previousFireTime(atOrBefore: try Self.date("2030-10-27T00:29:00Z")) == (try Self.date("2030-10-26T00:30:00Z")))
        // A daily midnight run is unaffected: once a day.
        #expect(try Self.fires("0 0 * * *", "America/New_York", after: "2030-11-02T00:00:00Z", count: 3) ==
            ["2030-11-02T04:00:00Z", "2030-11-03T04:00:00Z", "2030-11-04T05:00:00Z"])
    }

    // MARK: - Round trips against a brute-force oracle

    /// Every whole minute whose wall clock in the zone matches, found minute by minute with
    /// Calendar: the definition the field-by-field search must agree with.
    static func bruteForce(_ minute: Set<Int>, _ hour: Set<Int>, dom: Set<Int>?, month: Set<Int>, dow: Set<Int>?, zone: TimeZone,
                           from: Date, minutes: Int) -> [Date] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var out: [Date] = []
        for i in 1...minutes {
            let t = from.addingTimeInterval(Double(i * 60))
            let c = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: t)
            guard let mo = c.month, let d = c.day, let h = c.hour, let mi = c.minute, let wd = c.weekday else { continue }
            let dayOK: Bool
            switch (dom, dow) {
            case let (dom?, dow?): dayOK = dom.contains(d) || dow.contains(wd - 1)
            case let (dom?, nil): dayOK = dom.contains(d)
            case let (nil, dow?): dayOK = dow.contains(wd - 1)
            case (nil, nil): dayOK = true
            }
            if minute.contains(mi), hour.contains(h), month.contains(mo), dayOK { out.append(t) }
        }
        return out
    }

    @Test(arguments: ["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"])
    func nextAndPreviousAgreeWithBruteForceAroundDST(zoneName: String) throws {
        let s = try CronSchedule(parsing: "*/20 1-3 * * *", timeZone: Self.zone(zoneName))
        let zone = try Self.oracleZone(zoneName)
        // Four-day windows around the changes in New York, Berlin and Lord Howe (30-minute steps).
        for start in ["2030-03-08T00:00:00Z", "2030-03-29T00:00:00Z", "2030-10-25T00:00:00Z", "2030-11-01T00:00:00Z",
                      "2030-04-05T00:00:00Z", "2030-10-04T00:00:00Z"] {
            let from = try Self.date(start)
            let expected = Self.bruteForce([0, 20, 40], [1, 2, 3], dom: nil, month: Set(1...12), dow: nil, zone: zone, from: from,
                                           minutes: 4 * 24 * 60)
            var got: [Date] = []
            var t = from
            while let next = s.nextFireTime(after: t), next <= from.addingTimeInterval(Double(4 * 24 * 3600)) {
                got.append(next)
                t = next
            }
            #expect(got == expected, "\(zoneName) from \(start)")
            // Backwards gives the same list.
            var back: [Date] = []
            var u = from.addingTimeInterval(Double(4 * 24 * 3600))
            while let previous = s.previousFireTime(atOrBefore: u), previous > from {
                back.append(previous)
                u = previous.addingTimeInterval(-1)
            }
            #expect(back.reversed() == expected, "\(zoneName) from \(start), backwards")
        }
    }

    @Test func orRuleAgreesWithBruteForce() throws {
        let s = try CronSchedule(parsing: "15 12 1-7,28 FEB,mar 6", timeZone: Self.zone("Europe/Berlin"))
        let zone = try Self.oracleZone("Europe/Berlin")
        let from = try Self.date("2030-01-31T00:00:00Z")
        let expected = Self.bruteForce([15], [12], dom: Set(1...7).union([28]), month: [2, 3], dow: [6], zone: zone, from: from,
                                       minutes: 60 * 24 * 60)
        var got: [Date] = []
        var t = from
        while let next = s.nextFireTime(after: t), next <= from.addingTimeInterval(Double(60 * 24 * 3600)) {
            got.append(next)
            t = next
        }
        #expect(!expected.isEmpty)
        #expect(got == expected)
    }

    @Test(arguments: ["0 2 * * *", "*/7 * * * *", "0 0 29 2 *", "30 4 1,15 * MON", "@weekly", "59 23 31 12 *"])
    func previousOfNextIsNext(text: String) throws {
        let s = try CronSchedule(parsing: text, timeZone: Self.zone("America/New_York"))
        var t = try Self.date("2030-02-27T13:14:15Z")
        // Ten leap days reach 2068; after 2096 the next is more than five years away.
        for _ in 0..<10 {
            let next = try #require(s.nextFireTime(after: t))
            #expect(next > t)
            #expect(s.previousFireTime(atOrBefore: next) == next)
            // Nothing fires strictly between t and next.
            if let previous = s.previousFireTime(atOrBefore: next.addingTimeInterval(-1)) { #expect(previous <= t) }
            t = next
        }
    }
}
