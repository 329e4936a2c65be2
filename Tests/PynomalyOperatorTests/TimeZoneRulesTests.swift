import Foundation
import KubeCore
@testable import PynomalyOperator
import Testing

/// TimeZoneRules and TimeZoneDatabase: the operator's own reading of the tz database, checked
/// against Foundation's ICU zones (linked into this test process, not into the shipped binary).
@Suite("TimeZoneRules")
struct TimeZoneRulesTests {
    static func rules(_ identifier: String) throws -> TimeZoneRules { try TimeZoneDatabase.system.rules(for: identifier) }
    static func icu(_ identifier: String) throws -> TimeZone { try #require(TimeZone(identifier: identifier)) }
    static func instant(_ text: String) throws -> Int64 { Int64(try #require(KubeTime.parse(text)).timeIntervalSince1970) }

    // Zones whose rules have not changed between the tz data ICU carries and Debian's: northern
    // and southern daylight time, half-hour and 45-minute offsets, a 30-minute daylight shift,
    // Ireland's negative daylight time, fixed offsets.
    static let zones = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Tokyo",
                        "Pacific/Chatham", "Europe/Dublin", "America/St_Johns", "Asia/Kathmandu", "Etc/GMT+5", "Etc/UTC", "UTC",
                        "America/Sao_Paulo", "Europe/London"]

    /// Every 7 h 13 min from 2000 to 2050: the table of the file up to 2037, its footer rule after.
    @Test(arguments: zones)
    func offsetsAgreeWithICU(zone: String) throws {
        let rules = try Self.rules(zone)
        let icu = try Self.icu(zone)
        var t = try Self.instant("2000-01-01T00:00:00Z")
        let end = try Self.instant("2050-01-01T00:00:00Z")
        var mismatches: [String] = []
        while t < end {
            let expected = icu.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))
            if rules.offset(at: t) != expected, mismatches.count < 5 {
                mismatches.append("\(KubeTime.format(Date(timeIntervalSince1970: Double(t)))): \(rules.offset(at: t)) ≠ \(expected)")
            }
            t += 7 * 3600 + 13 * 60
        }
        #expect(mismatches.isEmpty, "\(zone): \(mismatches)")
    }

    /// The offset changes at the very second ICU says, before and after 2037 (where the files'
    /// tables end and the footer rule takes over).
    @Test(arguments: ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/Dublin", "Pacific/Chatham"])
    func transitionsFallOnTheSameSecondAsICU(zone: String) throws {
        let rules = try Self.rules(zone)
        let icu = try Self.icu(zone)
        var after = Date(timeIntervalSince1970: Double(try Self.instant("2030-01-01T00:00:00Z")))
        var seen = 0
        while let transition = icu.nextDaylightSavingTimeTransition(after: after), transition.timeIntervalSince1970 < Double(try Self.instant("2046-01-01T00:00:00Z")) {
            let t = Int64(transition.timeIntervalSince1970)
            #expect(rules.offset(at: t - 1) == icu.secondsFromGMT(for: transition.addingTimeInterval(-1)), "\(zone) before \(transition)")
            #expect(rules.offset(at: t) == icu.secondsFromGMT(for: transition), "\(zone) at \(transition)")
            #expect(rules.offset(at: t - 1) != rules.offset(at: t), "\(zone) changes at \(transition)")
            seen += 1
            after = transition
        }
        #expect(seen >= 30, "\(zone): two changes a year")
    }

    @Test func wallClockToInstantInGapsAndRepeats() throws {
        let berlin = try Self.rules("Europe/Berlin")
        func local(_ text: String) throws -> Int64 { try Self.instant(text) }  // the wall clock written as if UTC
        // An ordinary time, then 02:30 on 2030-03-31 (skipped: the gap ends at 03:00 CEST = 01:00Z),
        // then 02:30 on 2030-10-27 (twice: the earlier is 00:30Z, in CEST).
        #expect(berlin.instant(forLocal: try local("2030-01-15T12:00:00Z")) == (try Self.instant("2030-01-15T11:00:00Z")))
        #expect(berlin.instant(forLocal: try local("2030-03-31T02:30:00Z")) == (try Self.instant("2030-03-31T01:00:00Z")))
        #expect(berlin.instant(forLocal: try local("2030-10-27T02:30:00Z")) == (try Self.instant("2030-10-27T00:30:00Z")))
        // The same after the table ends (2040-03-25 and 2040-10-28 by the footer rule).
        #expect(berlin.instant(forLocal: try local("2040-03-25T02:15:00Z")) == (try Self.instant("2040-03-25T01:00:00Z")))
        #expect(berlin.instant(forLocal: try local("2040-10-28T02:15:00Z")) == (try Self.instant("2040-10-28T00:15:00Z")))
        #expect(TimeZoneRules.utc.instant(forLocal: 12345) == 12345)
    }

    // MARK: - Footer rules

    @Test func posixRulesParse() throws {
        let berlin = try PosixZoneRule(parsing: "CET-1CEST,M3.5.0,M10.5.0/3")
        #expect(berlin.standardOffset == 3600 && berlin.daylight?.offset == 7200)
        #expect(berlin.daylight?.start == .init(day: .monthWeekDay(month: 3, week: 5, weekday: 0), time: 7200))
        #expect(berlin.daylight?.end == .init(day: .monthWeekDay(month: 10, week: 5, weekday: 0), time: 10800))
        let tehran = try PosixZoneRule(parsing: "<+0330>-3:30")
        #expect(tehran.standardOffset == 12600 && tehran.daylight == nil)
        // Greenland's negative change times (an extension RFC 8536 allows).
        let nuuk = try PosixZoneRule(parsing: "<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
        #expect(nuuk.standardOffset == -7200 && nuuk.daylight?.start.time == -3600 && nuuk.daylight?.end.time == 0)
        let us = try PosixZoneRule(parsing: "EST5EDT")
        #expect(us.daylight?.offset == -14400 && us.daylight?.start.day == .monthWeekDay(month: 3, week: 2, weekday: 0))
        #expect(try PosixZoneRule(parsing: "XXX3YYY,J60/2,300").daylight?.end == .init(day: .zeroBased(300), time: 7200))
        for bad in ["", "AB1", "CET", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0", "<+03", "CET-1CEST,M3.5.0,M10.5.0/3x",
                    "CET-25", "CET-1CEST,J0,J365", "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/168"] {
            #expect(throws: PosixZoneRule.ParseError.self, "\(bad)") { try PosixZoneRule(parsing: bad) }
        }
    }

    @Test func posixRulesGiveOffsets() throws {
        func offset(_ rule: String, _ text: String) throws -> Int { try PosixZoneRule(parsing: rule).offset(at: try Self.instant(text)) }
        // Sydney: daylight time across the new year.
        #expect(try offset("AEST-10AEDT,M10.1.0,M4.1.0/3", "2041-01-10T00:00:00Z") == 39600)
        #expect(try offset("AEST-10AEDT,M10.1.0,M4.1.0/3", "2041-07-10T00:00:00Z") == 36000)
        // Dublin: standard time in summer (IST), "daylight" (GMT) in winter.
        #expect(try offset("IST-1GMT0,M10.5.0,M3.5.0/1", "2041-01-10T00:00:00Z") == 0)
        #expect(try offset("IST-1GMT0,M10.5.0,M3.5.0/1", "2041-07-10T00:00:00Z") == 3600)
        // Daylight time all year (January 1 00:00 to December 31 25:00).
        for month in ["01-01T00:30", "06-15T12:00", "12-31T23:30"] {
            #expect(try offset("EST5EDT,0/0,J365/25", "2041-\(month):00Z") == -14400, "\(month)")
        }
        // J60 is March 1 in every year; zero-based 59 is February 29 in a leap year.
        #expect(try offset("XXX3YYY,J60/0,J300/0", "2040-02-29T12:00:00Z") == -10800)
        #expect(try offset("XXX3YYY,J60/0,J300/0", "2040-03-01T12:00:00Z") == -7200)
        #expect(try offset("XXX3YYY,59/0,J300/0", "2040-02-29T12:00:00Z") == -7200)
        // The fifth week means the last: October 2041's last Sunday is the 27th.
        let rule = try PosixZoneRule(parsing: "CET-1CEST,M3.5.0,M10.5.0/3")
        #expect(rule.offset(at: try Self.instant("2041-10-27T00:59:59Z")) == 7200)
        #expect(rule.offset(at: try Self.instant("2041-10-27T01:00:00Z")) == 3600)
    }

    @Test func civilDatesRoundTrip() {
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            let date = CivilDate(days: days)
            #expect(date.days == days, "\(days)")
            #expect((1...12).contains(date.month) && (1...31).contains(date.day))
        }
        #expect(CivilDate(year: 1970, month: 1, day: 1).days == 0)
        #expect(CivilDate(year: 2000, month: 2, day: 29).days == 11016)
        #expect(CivilDate.weekday(ofDays: 0) == 4 && CivilDate.weekday(ofDays: -1) == 3)
    }

    // MARK: - TZif files

    /// A TZif file: version 2 with one version-1 block and one 64-bit block, or version 1 alone.
    static func tzif(version: UInt8 = UInt8(ascii: "2"), transitions: [Int64], types: [Int], offsets: [Int32], footer: String) -> [UInt8] {
        func be32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
        func be64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
        func block(_ timeSize: Int) -> [UInt8] {
            var out = Array("TZif".utf8) + [version] + [UInt8](repeating: 0, count: 15)
            for count in [0, 0, 0, transitions.count, offsets.count, 4] { out += be32(Int32(count)) }
            for t in transitions { out += timeSize == 8 ? be64(t) : be32(Int32(t)) }
            out += types.map { UInt8($0) }
            for offset in offsets { out += be32(offset) + [0, 0] }
            out += Array("XYZ\0".utf8)
            return out
        }
        if version == 0 { return block(4) }
        return block(4) + block(8) + Array("\n\(footer)\n".utf8)
    }

    @Test func slimAndVersionOneFilesRead() throws {
        // Slim (zic -b slim): no transitions at all, everything from the footer.
        let slim = try TimeZoneRules(identifier: "Test/Slim", tzif: Self.tzif(transitions: [], types: [], offsets: [3600], footer: "CET-1CEST,M3.5.0,M10.5.0/3"))
        #expect(slim.offset(at: try Self.instant("2031-07-01T00:00:00Z")) == 7200)
        #expect(slim.offset(at: try Self.instant("2031-01-01T00:00:00Z")) == 3600)
        // Version 1: the table only; after the last transition its offset stays.
        let old = try TimeZoneRules(identifier: "Test/Old", tzif: Self.tzif(version: 0, transitions: [1000, 2000], types: [1, 0], offsets: [0, 3600], footer: ""))
        #expect(old.offset(at: 999) == 0 && old.offset(at: 1000) == 3600 && old.offset(at: 2000) == 0 && old.offset(at: 1 << 40) == 0)
        // An empty footer: the last offset stays.
        let fixed = try TimeZoneRules(identifier: "Test/Fixed", tzif: Self.tzif(transitions: [0], types: [1], offsets: [0, -18000], footer: ""))
        #expect(fixed.offset(at: -1) == 0 && fixed.offset(at: 1 << 40) == -18000)
    }

    @Test func malformedFilesAreRefusedWithTheirReason() throws {
        let good = Self.tzif(transitions: [0, 100], types: [0, 1], offsets: [0, 3600], footer: "<+01>-1")
        _ = try TimeZoneRules(identifier: "Test/Good", tzif: good)
        func reason(_ bytes: [UInt8]) -> String? {
            do { _ = try TimeZoneRules(identifier: "Test/Bad", tzif: bytes); return nil } catch { return error.reason }
        }
        #expect(reason(Array("not a zone".utf8))?.contains("ends inside a header") == true)
        #expect(reason(Array("TZxf".utf8) + good.dropFirst(4))?.contains("TZif magic") == true)
        #expect(reason(Self.tzif(transitions: [100, 0], types: [0, 0], offsets: [0], footer: ""))?.contains("ascending") == true)
        #expect(reason(Self.tzif(transitions: [0], types: [3], offsets: [0], footer: ""))?.contains("local time type 3") == true)
        #expect(reason(Self.tzif(transitions: [0], types: [0], offsets: [0], footer: "CET-1CEST,M13.5.0,M10.5.0"))?.contains("footer rule") == true)
        // A count that would size an enormous table.
        var huge = good
        huge.replaceSubrange(32..<36, with: [0xff, 0xff, 0xff, 0xff])
        #expect(reason(huge)?.contains("shorter than its header") == true)
        // Every truncation is refused, none crashes.
        for length in 0..<good.count { #expect(reason(Array(good.prefix(length))) != nil, "\(length) bytes") }
        // Nor does any single corrupted byte of a real file.
        let berlin = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/Europe/Berlin")))
        for index in stride(from: 0, to: berlin.count, by: 3) {
            var corrupted = berlin
            corrupted[index] ^= 0xa5
            _ = try? TimeZoneRules(identifier: "Test/Corrupted", tzif: corrupted)
        }
    }

    // MARK: - The database

    @Test func namesAreCheckedAsKubernetesChecksThem() {
        for good in ["Europe/Berlin", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "UTC", "Etc/UTC", "America/Port-au-Prince"] {
            #expect(TimeZoneDatabase.nameProblem(good) == nil, "\(good)")
        }
        for bad in ["", "Local", "local", "../etc/passwd", "Europe/../x", "/etc/passwd", "Europe/", "-Berlin", "Europe/Abcdefghijklmno",
                    "Europe/Ber lin", "Europe\\Berlin", "Europe/Berlin\u{0}"] {
            #expect(TimeZoneDatabase.nameProblem(bad) != nil, "\(bad)")
        }
    }

    @Test func lookupsSayWhyAZoneIsMissing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zones-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("Test/Group"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(Self.tzif(transitions: [], types: [], offsets: [19800], footer: "<+0530>-5:30")).write(to: directory.appendingPathComponent("Test/Mine"))
        try Data("garbage".utf8).write(to: directory.appendingPathComponent("Test/Garbage"))
        let database = TimeZoneDatabase(directories: ["/nonexistent-zoneinfo", directory.path])
        #expect(try database.rules(for: "Test/Mine").offset(at: 0) == 19800)
        #expect(try database.rules(for: "UTC") == .utc, "UTC needs no file")
        func reason(_ name: String) -> String {
            do { _ = try database.rules(for: name); return "" } catch { return error.reason }
        }
        #expect(reason("Test/Garbage").contains("Test/Garbage is not a time zone file"))
        #expect(reason("Test/Group").contains("not in the time zone database"), "a directory is not a zone")
        #expect(reason("Test/Nowhere").contains("looked in /nonexistent-zoneinfo, \(directory.path)"))
        #expect(reason("../Test/Mine").contains("not a time zone name"))
        #expect(reason("Local").contains("Local is not accepted"))
    }

    @Test func validationNamesTheFieldAndTheCause() throws {
        var cr = try APIFixtures.sampleDeployment("pynomaly-backup.yaml")
        #expect(validate(cr).isEmpty, "the sample's Etc/UTC is known")
        cr.spec.backup?.timeZone = "Europe/Berlin"
        #expect(validate(cr).isEmpty)
        let none = validate(cr, timeZones: TimeZoneDatabase(directories: ["/nonexistent-zoneinfo"]))
        #expect(none.map(\.field) == ["spec.database.maintenance.timeZone", "spec.backup.timeZone"])
        #expect(none.last?.message.contains("is tzdata installed?") == true, "\(none)")
        cr.spec.backup?.timeZone = "Mars/Olympus_Mons"
        #expect(validate(cr).map(\.field) == ["spec.backup.timeZone"])
        cr.spec.backup?.timeZone = "UTC"
        #expect(validate(cr, timeZones: TimeZoneDatabase(directories: [])).map(\.field) == ["spec.database.maintenance.timeZone"])
    }
}
