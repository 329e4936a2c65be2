import Foundation
import KubeCore
import XCTest

final class ValueTypeTests: XCTestCase {
    func testQuantityCodingKeepsTheText() throws {
        let q = try JSONValue.string("500m").decode(Quantity.self)
        XCTAssertEqual(q.string, "500m")
        XCTAssertEqual(try JSONValue(encoding: q), "500m")
        // Manifests may give bare numbers; they become the string form.
        XCTAssertEqual(try JSONValue.int(2).decode(Quantity.self).string, "2")
        XCTAssertEqual(try JSONValue.double(0.5).decode(Quantity.self).string, "0.5")
        XCTAssertThrowsError(try JSONValue.bool(true).decode(Quantity.self))
    }

    func testQuantityValues() {
        let cases: [(Quantity, Double?)] = [
            ("500m", 0.5), ("1", 1), ("64Mi", 67_108_864), ("1Gi", 1_073_741_824), ("2k", 2000), ("1e3", 1000),
            ("1.5", 1.5), ("100u", 0.0001), ("3Ki", 3072), ("1E", 1e18), ("", nil), ("abc", nil), ("1Xi", nil), ("m", nil),
        ]
        for (q, expected) in cases {
            if let expected {
                XCTAssertEqual(q.value ?? .nan, expected, accuracy: abs(expected) * 1e-12, "\(q)")
            } else {
                XCTAssertNil(q.value, "\(q)")
            }
        }
    }

    func testIntOrStringCoding() throws {
        XCTAssertEqual(try JSONValue.int(8080).decode(IntOrString.self), .int(8080))
        XCTAssertEqual(try JSONValue.string("http").decode(IntOrString.self), .string("http"))
        XCTAssertEqual(try JSONValue(encoding: IntOrString.int(3)), 3)
        XCTAssertEqual(try JSONValue(encoding: IntOrString.string("25%")), "25%")
        XCTAssertThrowsError(try JSONValue.bool(false).decode(IntOrString.self))
        XCTAssertThrowsError(try JSONValue.array([]).decode(IntOrString.self))
    }

    func testIntOrStringScaledValue() throws {
        XCTAssertEqual(try IntOrString.string("25%").scaledValue(total: 10, roundUp: true), 3)
        XCTAssertEqual(try IntOrString.string("25%").scaledValue(total: 10, roundUp: false), 2)
        XCTAssertEqual(try IntOrString.int(4).scaledValue(total: 10, roundUp: false), 4)
        XCTAssertThrowsError(try IntOrString.string("http").scaledValue(total: 10, roundUp: true))
    }

    func testMicroTimeHasExactlySixFractionalDigits() throws {
        let date = Date(timeIntervalSince1970: 1_893_553_445.000_001)  // 2030-01-02T03:04:05.000001Z
        XCTAssertEqual(MicroTime(date).rawValue, "2030-01-02T03:04:05.000001Z")
        XCTAssertEqual(MicroTime(Date(timeIntervalSince1970: 1_893_553_445)).rawValue, "2030-01-02T03:04:05.000000Z")
        XCTAssertEqual(MicroTime(Date(timeIntervalSince1970: 1_893_553_445.5)).rawValue, "2030-01-02T03:04:05.500000Z")
        for _ in 0..<200 {
            let t = MicroTime(Date(timeIntervalSince1970: Double.random(in: 0..<4_000_000_000))).rawValue
            let fraction = t.split(separator: ".").last.map { $0.dropLast() } ?? ""
            XCTAssertEqual(fraction.count, 6, t)
            XCTAssertTrue(t.hasSuffix("Z"), t)
        }
        XCTAssertEqual(try JSONValue(encoding: MicroTime(date)), "2030-01-02T03:04:05.000001Z")
    }

    func testMicroTimeParsing() throws {
        let t = MicroTime(rawValue: "2030-01-02T05:04:05.500000+02:00")
        XCTAssertEqual(t.date?.timeIntervalSince1970 ?? 0, 1_893_553_445.5, accuracy: 1e-6)
        XCTAssertEqual(MicroTime(t.date ?? Date()).rawValue, "2030-01-02T03:04:05.500000Z")
        XCTAssertNil(MicroTime(rawValue: "2030-01-02 03:04:05").date)
        XCTAssertNil(MicroTime(rawValue: "<microtime>").date)
        // Whatever the server wrote is kept verbatim.
        XCTAssertEqual(try JSONValue.string("<microtime>").decode(MicroTime.self).rawValue, "<microtime>")
    }

    func testKubeTimeRoundTrips() {
        XCTAssertEqual(KubeTime.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
        XCTAssertEqual(KubeTime.format(Date(timeIntervalSince1970: 951_782_400)), "2000-02-29T00:00:00Z")
        XCTAssertEqual(KubeTime.parse("2000-02-29T00:00:00Z")?.timeIntervalSince1970, 951_782_400)
        XCTAssertEqual(KubeTime.parse("1969-12-31T23:59:59Z")?.timeIntervalSince1970, -1)
        XCTAssertNil(KubeTime.parse("2000-13-01T00:00:00Z"))
        XCTAssertNil(KubeTime.parse("2000-01-01T00:00:00"))
        XCTAssertNil(KubeTime.parse("2000-01-01T00:00:00.Z"))
        for _ in 0..<200 {
            let seconds = Double(Int.random(in: -2_000_000_000..<4_000_000_000))
            XCTAssertEqual(KubeTime.parse(KubeTime.format(Date(timeIntervalSince1970: seconds)))?.timeIntervalSince1970, seconds)
        }
    }

    func testConditionSetKeepsTransitionTimeWhenStatusIsUnchanged() {
        var conditions: [Condition] = []
        let t0 = Date(timeIntervalSince1970: 1_000)
        let t1 = Date(timeIntervalSince1970: 2_000)
        XCTAssertTrue(conditions.set(Condition(type: "Ready", status: "False", reason: "Starting"), now: t0))
        XCTAssertEqual(conditions.first(type: "Ready")?.lastTransitionTime, KubeTime.format(t0))
        XCTAssertTrue(conditions.set(Condition(type: "Ready", status: "False", reason: "StillStarting"), now: t1))
        XCTAssertEqual(conditions.first(type: "Ready")?.lastTransitionTime, KubeTime.format(t0))
        XCTAssertEqual(conditions.first(type: "Ready")?.reason, "StillStarting")
        XCTAssertFalse(conditions.set(Condition(type: "Ready", status: "False", reason: "StillStarting"), now: t1))
        XCTAssertTrue(conditions.set(Condition(type: "Ready", status: "True", reason: "Done"), now: t1))
        XCTAssertEqual(conditions.first(type: "Ready")?.lastTransitionTime, KubeTime.format(t1))
        XCTAssertEqual(conditions.count, 1)
        XCTAssertTrue(conditions.remove(type: "Ready"))
        XCTAssertFalse(conditions.remove(type: "Ready"))
    }

    func testEncoderMatchesJSONEncoderForPlainTypes() throws {
        struct Plain: Codable { var a: Int; var b: String?; var c: [Double]; var d: [String: Bool]; var e: Data; var f: UInt64 }
        let value = Plain(a: 1, b: nil, c: [1.5, 2], d: ["x": true], e: Data([1, 2, 3]), f: UInt64.max)
        let viaJSONEncoder = try JSONValue(parsing: JSONEncoder().encode(value))
        let direct = try JSONValue(encoding: value)
        XCTAssertEqual(direct["a"], viaJSONEncoder["a"])
        XCTAssertEqual(direct["b"], nil)
        XCTAssertEqual(direct["c"]?.arrayValue?.map { $0.doubleValue }, viaJSONEncoder["c"]?.arrayValue?.map { $0.doubleValue })
        XCTAssertEqual(direct["d"], viaJSONEncoder["d"])
        XCTAssertEqual(direct["e"], viaJSONEncoder["e"])
        XCTAssertEqual(direct["f"]?.doubleValue, viaJSONEncoder["f"]?.doubleValue)
        // Integral doubles, dates and URLs come out exactly as through JSONEncoder and the parser.
        struct Special: Codable { var whole: Double; var float: Float; var date: Date; var url: URL }
        let special = Special(whole: 2.0, float: 3, date: Date(timeIntervalSinceReferenceDate: 5), url: URL(fileURLWithPath: "/x/y"))
        XCTAssertEqual(try JSONValue(encoding: special), try JSONValue(parsing: JSONEncoder().encode(special)))
        struct Bad: Codable { var x: Double }
        XCTAssertThrowsError(try JSONValue(encoding: Bad(x: .infinity)))
        // The error names where the value sits, through keys and array positions.
        struct Outer: Codable { var spec: Inner }
        struct Inner: Codable { var items: [Bad]; var limits: [String: [Double]] }
        func path(of value: Outer) -> String? {
            var thrown: (any Error)?
            XCTAssertThrowsError(try JSONValue(encoding: value)) { thrown = $0 }
            guard case .invalidValue(_, let context)? = thrown as? EncodingError else { return nil }
            return context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        XCTAssertEqual(path(of: Outer(spec: Inner(items: [Bad(x: 1), Bad(x: .nan)], limits: [:]))), ".spec.items[1].x")
        XCTAssertEqual(path(of: Outer(spec: Inner(items: [], limits: ["cpu": [1, 2, -.infinity]]))), ".spec.limits.cpu[2]")
    }
}
