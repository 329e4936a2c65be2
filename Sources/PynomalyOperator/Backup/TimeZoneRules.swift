#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The UTC offsets of one IANA time zone through time, read from its compiled TZif file
/// (RFC 8536, what `zic` writes under /usr/share/zoneinfo).
///
/// The operator needs its own: FoundationEssentials, which the shipped binary links instead of
/// Foundation, knows no named zone (`TimeZone(identifier:)` answers nil for every name there,
/// "UTC" included); named zones come with FoundationInternationalization and ICU, which the
/// binary leaves out for its size and memory. The Kubernetes CronJob controller reads the same
/// database (Go's `time.LoadLocation`), so a schedule fires where this computes it.
public struct TimeZoneRules: Sendable, Hashable, CustomStringConvertible {
    public let identifier: String
    /// Transition instants (seconds since 1970, strictly ascending) and the offset from each on.
    let transitions: [Int64]
    let offsets: [Int32]
    /// The offset before the first transition (time type 0).
    let initialOffset: Int32
    /// The rule from the last transition on (the file's footer); nil keeps the last offset.
    let rule: PosixZoneRule?

    public var description: String { identifier }

    /// Coordinated Universal Time: offset 0, no file needed (as Go's `LoadLocation("UTC")`).
    public static let utc = TimeZoneRules(identifier: "UTC", transitions: [], offsets: [], initialOffset: 0, rule: nil)

    init(identifier: String, transitions: [Int64], offsets: [Int32], initialOffset: Int32, rule: PosixZoneRule?) {
        self.identifier = identifier
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.rule = rule
    }

    /// Reads a TZif file (any version). Leap-second records (the `right/` zones) are skipped: they
    /// move a fire time by under a minute, and schedules have minute resolution.
    public init(identifier: String, tzif bytes: [UInt8]) throws(TimeZoneFileError) {
        var reader = TZifReader(bytes: bytes)
        let first = try reader.header()
        var block = first
        if first.version >= 2 {
            try reader.skip(first.blockLength(timeSize: 4))
            block = try reader.header()
            guard block.version >= 2 else { throw TimeZoneFileError("the second header is not version 2 or later") }
        }
        let timeSize = block.version >= 2 ? 8 : 4
        guard block.blockLength(timeSize: timeSize) <= reader.remaining else { throw TimeZoneFileError("the file is shorter than its header says") }
        var transitions: [Int64] = []
        transitions.reserveCapacity(block.timeCount)
        for _ in 0..<block.timeCount {
            let time = timeSize == 8 ? try reader.int64() : Int64(try reader.int32())
            if let last = transitions.last, time <= last { throw TimeZoneFileError("transition times are not in ascending order") }
            transitions.append(time)
        }
        var typeIndices: [Int] = []
        typeIndices.reserveCapacity(block.timeCount)
        for _ in 0..<block.timeCount {
            let index = Int(try reader.uint8())
            guard index < block.typeCount else { throw TimeZoneFileError("a transition names local time type \(index) of \(block.typeCount)") }
            typeIndices.append(index)
        }
        var typeOffsets: [Int32] = []
        for _ in 0..<block.typeCount {
            let offset = try reader.int32()
            guard offset != Int32.min, abs(Int(offset)) < 26 * 3600 else { throw TimeZoneFileError("a local time type has the offset \(offset) s") }
            typeOffsets.append(offset)
            _ = try reader.uint8()  // isdst: the offset is all a schedule needs
            let designation = Int(try reader.uint8())
            guard designation < block.charCount else { throw TimeZoneFileError("a designation index is past the designations") }
        }
        try reader.skip(block.charCount + block.leapCount * (timeSize + 4) + block.standardCount + block.utCount)
        var rule: PosixZoneRule?
        if block.version >= 2 {
            let footer = try reader.footer()
            if !footer.isEmpty {
                do {
                    rule = try PosixZoneRule(parsing: footer)
                } catch {
                    throw TimeZoneFileError("the footer rule \"\(footer)\" is malformed: \(error.reason)")
                }
            }
        }
        self.init(identifier: identifier, transitions: transitions, offsets: typeIndices.map { typeOffsets[$0] },
                  initialOffset: typeOffsets[0], rule: rule)
    }

    /// Seconds east of UTC at `instant` (seconds since 1970).
    public func offset(at instant: Int64) -> Int {
        guard let last = transitions.last else { return rule?.offset(at: instant) ?? Int(initialOffset) }
        if instant >= last { return rule?.offset(at: instant) ?? Int(offsets[offsets.count - 1]) }
        guard instant >= transitions[0] else { return Int(initialOffset) }
        // The last transition at or before `instant`.
        var low = 0, high = transitions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if transitions[middle] <= instant { low = middle } else { high = middle - 1 }
        }
        return Int(offsets[low])
    }

    /// The wall clock at `instant` as seconds since 1970-01-01 00:00 on that clock.
    func local(_ instant: Int64) -> Int64 { instant + Int64(offset(at: instant)) }

    /// The earliest instant whose wall clock reads `local`; in a gap (a wall time skipped by a
    /// change of offset) the instant the gap ends, the first wall time after it.
    func instant(forLocal local: Int64) -> Int64 {
        // Offsets change at most a few times a year, never twice within two days: the offsets in
        // effect around `local` are all the candidates.
        let around = [local - 172_800, local - Int64(offset(at: local)), local, local + 172_800].map { Int64(offset(at: $0)) }
        let candidates = Set(around)
        let matching = candidates.map { local - $0 }.filter { self.local($0) == local }
        if let earliest = matching.min() { return earliest }
        // A gap: the wall clock jumps past `local`. Find the jump by bisection between the
        // instants `local` would be under the smallest and the largest offset around it.
        var low = local - (candidates.max() ?? 0)  // wall clock before `local`
        var high = local - (candidates.min() ?? 0)  // wall clock after it
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if self.local(middle) > local { high = middle } else { low = middle }
        }
        return high
    }
}

/// Why a zone's file could not be read: what is wrong with it.
public struct TimeZoneFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The TZif layout: a header, then big-endian counts and arrays (RFC 8536, section 3).
private struct TZifReader {
    let bytes: [UInt8]
    var position = 0

    struct Header {
        var version: Int
        var utCount, standardCount, leapCount, timeCount, typeCount, charCount: Int

        func blockLength(timeSize: Int) -> Int {
            timeCount * timeSize + timeCount + typeCount * 6 + charCount + leapCount * (timeSize + 4) + standardCount + utCount
        }
    }

    mutating func header() throws(TimeZoneFileError) -> Header {
        guard position + 44 <= bytes.count else { throw TimeZoneFileError("the file ends inside a header (\(bytes.count) bytes)") }
        guard Array(bytes[position..<position + 4]) == Array("TZif".utf8) else { throw TimeZoneFileError("not a TZif file (no TZif magic)") }
        let versionByte = bytes[position + 4]
        let version: Int
        switch versionByte {
        case 0: version = 1
        case UInt8(ascii: "2")...UInt8(ascii: "9"): version = Int(versionByte - UInt8(ascii: "0"))
        default: throw TimeZoneFileError("unknown TZif version byte \(versionByte)")
        }
        position += 20
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(Int(UInt32(bitPattern: try int32()))) }
        let header = Header(version: version, utCount: counts[0], standardCount: counts[1], leapCount: counts[2],
                            timeCount: counts[3], typeCount: counts[4], charCount: counts[5])
        // RFC 8536: at least one local time type and one designation byte; the indicator arrays
        // are empty or one per type. Type indices are one byte, so at most 256 types.
        guard header.typeCount >= 1, header.typeCount <= 256, header.charCount >= 1,
              header.utCount == 0 || header.utCount == header.typeCount,
              header.standardCount == 0 || header.standardCount == header.typeCount else {
            throw TimeZoneFileError("the header's counts are inconsistent")
        }
        // Checked before anything is sized by the counts (a version 1 block is the smaller).
        guard header.blockLength(timeSize: 4) <= remaining else { throw TimeZoneFileError("the file is shorter than its header says") }
        return header
    }

    var remaining: Int { bytes.count - position }

    mutating func skip(_ count: Int) throws(TimeZoneFileError) {
        guard count >= 0, count <= bytes.count - position else { throw TimeZoneFileError("the file ends early") }
        position += count
    }

    mutating func uint8() throws(TimeZoneFileError) -> UInt8 {
        guard position < bytes.count else { throw TimeZoneFileError("the file ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func int32() throws(TimeZoneFileError) -> Int32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(try uint8()) }
        return Int32(bitPattern: value)
    }

    mutating func int64() throws(TimeZoneFileError) -> Int64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(try uint8()) }
        return Int64(bitPattern: value)
    }

    /// The footer: a POSIX TZ string between two newlines (empty when the zone has none).
    mutating func footer() throws(TimeZoneFileError) -> String {
        guard try uint8() == UInt8(ascii: "\n") else { throw TimeZoneFileError("the footer does not start with a newline") }
        guard let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else { throw TimeZoneFileError("the footer does not end with a newline") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }
}

/// A POSIX TZ rule as TZif footers carry it (RFC 8536 section 3.3, with its extensions: rule
/// times from -167 to 167 hours), e.g. `CET-1CEST,M3.5.0,M10.5.0/3`: standard time 1 hour east
/// of UTC, daylight time from the last Sunday of March 02:00 to the last Sunday of October 03:00.
struct PosixZoneRule: Sendable, Hashable {
    /// Seconds east of UTC (POSIX writes them west-positive: `CET-1` is UTC+1).
    let standardOffset: Int
    let daylight: Daylight?

    struct Daylight: Sendable, Hashable {
        let offset: Int
        let start: Change
        let end: Change
    }

    /// When a change happens: a day of the year and the wall time (in the time it ends) on it.
    struct Change: Sendable, Hashable {
        let day: Day
        let time: Int
    }

    enum Day: Sendable, Hashable {
        /// `Jn`: day 1...365, February 29 never counted.
        case julian(Int)
        /// `n`: day 0...365, February 29 counted in leap years.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = the last) of month `m`.
        case monthWeekDay(month: Int, week: Int, weekday: Int)
    }

    struct ParseError: Error {
        let reason: String
    }

    init(standardOffset: Int, daylight: Daylight?) {
        self.standardOffset = standardOffset
        self.daylight = daylight
    }

    init(parsing text: String) throws(ParseError) {
        var scanner = RuleScanner(Array(text.utf8))
        try scanner.name()
        let standard = -(try scanner.offset())
        if scanner.atEnd {
            self.init(standardOffset: standard, daylight: nil)
            return
        }
        try scanner.name()
        var daylightOffset = standard + 3600
        if let next = scanner.peek, next != UInt8(ascii: ",") { daylightOffset = -(try scanner.offset()) }
        let start: Change, end: Change
        if scanner.atEnd {
            // POSIX leaves the dates to the implementation; this is the United States' rule, as in
            // Go and glibc. zic always writes the dates.
            start = Change(day: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200)
            end = Change(day: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
        } else {
            try scanner.expect(",")
            start = try scanner.change()
            try scanner.expect(",")
            end = try scanner.change()
        }
        guard scanner.atEnd else { throw ParseError(reason: "unexpected text after the rule") }
        self.init(standardOffset: standard, daylight: Daylight(offset: daylightOffset, start: start, end: end))
    }

    /// Seconds east of UTC at `instant`.
    func offset(at instant: Int64) -> Int {
        guard let daylight else { return standardOffset }
        // The changes of the year the instant falls in by standard time; a daylight period that
        // spans the new year is the two ends of the same year (the southern hemisphere's).
        let year = CivilDate(days: Int(floorDivide(instant + Int64(standardOffset), 86_400))).year
        // The start is written in standard time, the end in daylight time.
        let start = Int64(daylight.start.day.days(in: year)) * 86_400 + Int64(daylight.start.time - standardOffset)
        let end = Int64(daylight.end.day.days(in: year)) * 86_400 + Int64(daylight.end.time - daylight.offset)
        let inDaylight = start < end ? (instant >= start && instant < end) : !(instant >= end && instant < start)
        return inDaylight ? daylight.offset : standardOffset
    }
}

extension PosixZoneRule.Day {
    /// Days since 1970-01-01 of this day in `year`.
    func days(in year: Int) -> Int {
        let january1 = CivilDate(year: year, month: 1, day: 1).days
        switch self {
        case .julian(let n):
            return january1 + n - 1 + (CivilDate.isLeap(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            return january1 + n
        case .monthWeekDay(let month, let week, let weekday):
            let first = CivilDate(year: year, month: month, day: 1).days
            var day = first + (weekday - CivilDate.weekday(ofDays: first) + 7) % 7 + (week - 1) * 7
            let nextMonth = month == 12 ? CivilDate(year: year + 1, month: 1, day: 1).days : CivilDate(year: year, month: month + 1, day: 1).days
            while day >= nextMonth { day -= 7 }
            return day
        }
    }
}

/// Reads the parts of a POSIX TZ string.
private struct RuleScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[position] }

    mutating func expect(_ character: Character) throws(PosixZoneRule.ParseError) {
        guard let ascii = character.asciiValue, peek == ascii else { throw .init(reason: "expected \"\(character)\" at offset \(position)") }
        position += 1
    }

    /// `<+0330>` (quoted: letters, digits, signs) or three or more letters.
    mutating func name() throws(PosixZoneRule.ParseError) {
        if peek == UInt8(ascii: "<") {
            position += 1
            let start = position
            while let c = peek, c != UInt8(ascii: ">") {
                guard Self.isLetter(c) || Self.isDigit(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") else {
                    throw .init(reason: "a quoted zone name holds \"\(Character(Unicode.Scalar(c)))\"")
                }
                position += 1
            }
            guard peek == UInt8(ascii: ">"), position - start >= 3 else { throw .init(reason: "a quoted zone name is unterminated or shorter than 3") }
            position += 1
            return
        }
        let start = position
        while let c = peek, Self.isLetter(c) { position += 1 }
        guard position - start >= 3 else { throw .init(reason: "a zone name is shorter than 3 letters at offset \(start)") }
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, as written (west-positive for a zone's offset).
    mutating func offset(maximumHours: Int = 24) throws(PosixZoneRule.ParseError) -> Int {
        var sign = 1
        if peek == UInt8(ascii: "+") { position += 1 } else if peek == UInt8(ascii: "-") { sign = -1; position += 1 }
        let hours = try number(maximum: maximumHours)
        var seconds = hours * 3600
        if peek == UInt8(ascii: ":") {
            position += 1
            seconds += try number(maximum: 59) * 60
            if peek == UInt8(ascii: ":") {
                position += 1
                seconds += try number(maximum: 59)
            }
        }
        return sign * seconds
    }

    /// `Jn`, `n` or `Mm.w.d`, then an optional `/time` (02:00 when absent).
    mutating func change() throws(PosixZoneRule.ParseError) -> PosixZoneRule.Change {
        let day: PosixZoneRule.Day
        if peek == UInt8(ascii: "J") {
            position += 1
            let n = try number(maximum: 365)
            guard n >= 1 else { throw .init(reason: "a Jn day is 1 to 365") }
            day = .julian(n)
        } else if peek == UInt8(ascii: "M") {
            position += 1
            let month = try number(maximum: 12)
            try expect(".")
            let week = try number(maximum: 5)
            try expect(".")
            let weekday = try number(maximum: 6)
            guard month >= 1, week >= 1 else { throw .init(reason: "an Mm.w.d day has month 1 to 12 and week 1 to 5") }
            day = .monthWeekDay(month: month, week: week, weekday: weekday)
        } else {
            day = .zeroBased(try number(maximum: 365))
        }
        var time = 7200
        if peek == UInt8(ascii: "/") {
            position += 1
            time = try offset(maximumHours: 167)
        }
        return PosixZoneRule.Change(day: day, time: time)
    }

    mutating func number(maximum: Int) throws(PosixZoneRule.ParseError) -> Int {
        let start = position
        var value = 0
        while let c = peek, Self.isDigit(c), position - start < 3 {
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            position += 1
        }
        guard position > start else { throw .init(reason: "expected a number at offset \(start)") }
        guard value <= maximum else { throw .init(reason: "\(value) is more than \(maximum) at offset \(start)") }
        return value
    }

    static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}

/// A proleptic Gregorian date, converted to and from days since 1970-01-01 with integer
/// arithmetic (Howard Hinnant's algorithms): schedules need nothing more from a calendar.
struct CivilDate: Hashable {
    var year: Int
    var month: Int
    var day: Int

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // March = 0
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Days since 1970-01-01 (negative before it).
    var days: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = (month + 9) % 12
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    /// 0 = Sunday; 1970-01-01 was a Thursday.
    static func weekday(ofDays days: Int) -> Int { ((days % 7) + 7 + 4) % 7 }
}

func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
