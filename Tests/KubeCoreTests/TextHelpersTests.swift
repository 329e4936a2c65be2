import Foundation
import KubeCore
import XCTest

/// The string helpers that stand in for full Foundation's in the shipped binaries give the same
/// answers Foundation gave.
final class TextHelpersTests: XCTestCase {
    func testTrimmingWhitespaceMatchesFoundation() {
        for text in ["", "  ", "\n\t a b \r\n", "x", " x", "x ", "\u{00A0}ü\u{2003}", "a\nb"] {
            XCTAssertEqual(text.trimmingWhitespace(), text.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.debugDescription)")
        }
    }

    func testASCIICaseInsensitiveEquality() {
        XCTAssertTrue("Retry-After".equalsIgnoringASCIICase("retry-after"))
        XCTAssertTrue("WARNING".equalsIgnoringASCIICase("Warning"))
        XCTAssertFalse("Warning".equalsIgnoringASCIICase("Warnings"))
        XCTAssertFalse("Content-Type".equalsIgnoringASCIICase("Content_Type"))
    }

    func testPercentEncodingMatchesFoundationUnreservedSet() {
        var unreserved = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        unreserved.insert(charactersIn: "-._~")
        for text in ["app=pynomaly,tier in (web)", "a b&c=d", "ünïcode/✓", "100%", "~._-AZaz09", ""] {
            XCTAssertEqual(percentEncodeUnreserved(text), text.addingPercentEncoding(withAllowedCharacters: unreserved), text)
        }
    }

    func testFixedPointAndZeroPaddingMatchPrintf() {
        for value in [0.0, 0.0004, 0.0005, 1.23456, -2.5, 12345.6789, -0.0004] {
            XCTAssertEqual(fixedPoint(value, digits: 3), String(format: "%.3f", value).replacingOccurrences(of: "-0.000", with: "0.000"), "\(value)")
        }
        XCTAssertEqual(fixedPoint(2.5, digits: 0), "3")
        XCTAssertEqual(zeroPadded(7, width: 2), "07")
        XCTAssertEqual(zeroPadded(2030, width: 4), "2030")
        XCTAssertEqual(zeroPadded(123, width: 2), "123")
        XCTAssertEqual("ab".paddedRight(to: 4), "ab  ")
        XCTAssertEqual("abcdef".paddedRight(to: 4), "abcdef")
    }

    /// The operator, its libraries and the kubectl plugin link FoundationEssentials only (no ICU,
    /// several MiB less resident memory); one unguarded `import Foundation` in them would link full
    /// Foundation back in without any build error.
    func testShippedTargetsDoNotImportFullFoundation() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
        let shipped = ["KubeCore", "KubeYAML", "KubeClient", "KubeRuntime", "PynomalyOperator", "pynomaly-operator", "kubectl-pynomaly"]
        var offenders: [String] = []
        for target in shipped {
            let directory = sources.appendingPathComponent(target)
            guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let lines = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8).components(separatedBy: "\n")
                for (index, line) in lines.enumerated() where line.hasPrefix("import Foundation") && !line.hasPrefix("import FoundationEssentials") {
                    // Allowed only as the fallback of `#if canImport(FoundationEssentials) … #else`.
                    let guarded = index >= 1 && lines[index - 1] == "#else" && index >= 3 && lines[index - 3] == "#if canImport(FoundationEssentials)"
                    if !guarded { offenders.append("\(target)/\(file):\(index + 1)") }
                }
                // Compiles, and answers nil for every name in the shipped binary (no ICU): named
                // zones go through TimeZoneDatabase.
                for (index, line) in lines.enumerated() where line.contains("TimeZone(identifier:") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("///") {
                    offenders.append("\(target)/\(file):\(index + 1) uses TimeZone(identifier:)")
                }
            }
        }
        XCTAssertEqual(offenders, [], "shipped targets must import FoundationEssentials")
    }
}
