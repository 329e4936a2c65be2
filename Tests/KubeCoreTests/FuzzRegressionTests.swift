import Foundation
import XCTest

@testable import KubeCore

/// Inputs the fuzzers in Fuzz/ found, kept so the fixes stay fixed (see docs/fuzzing.md).
final class FuzzRegressionTests: XCTestCase {
    /// FuzzObjectJSON: `1e400` parsed as infinity, which serializes as `null`: the value changed in a
    /// round trip. Out-of-range numbers are now refused, as Go's decoder refuses them.
    func testNumbersBeyondTheDoubleRangeAreRefused() {
        for text in ["[1e400]", "{\"a\":-1e309}", "123456789e999"] {
            XCTAssertThrowsError(try JSONValue(parsing: text), text) { error in
                XCTAssertTrue(String(describing: error).contains("out of range"), "\(error)")
            }
        }
        XCTAssertEqual(try JSONValue(parsing: "1.5e300"), .double(1.5e300))
        XCTAssertEqual(try JSONValue(parsing: "[1e-400]"), .array([.double(0)]), "underflow to zero is a finite value")
    }

    /// FuzzObjectJSON: an integral double (`1.5e1`) is written as `15` and reads back as an int; the
    /// value is the same JSON number, and typed decoding sees the same.
    func testIntegralDoublesRoundTripAsTheSameNumber() throws {
        let value = try JSONValue(parsing: "[1.5e1,-0]")
        let again = try JSONValue(parsing: value.serialized())
        XCTAssertEqual(again, .array([.int(15), .int(0)]))
        XCTAssertEqual(value.arrayValue?.first?.doubleValue, again.arrayValue?.first?.doubleValue)
    }
}
