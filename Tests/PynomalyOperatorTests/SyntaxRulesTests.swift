import KubeCore
@testable import PynomalyOperator
import Testing

/// The name syntaxes are checked as UTF-8 bytes. Each is compared here with the rule written out
/// over Characters, the way Kubernetes states it, on names that probe where bytes and Characters
/// part: non-ASCII letters and digits, combining marks, CR LF (two bytes, one Character), case,
/// and the length limits.
@Suite("SyntaxRules")
struct SyntaxRulesTests {
    static func lowerAlnum(_ c: Character) -> Bool { c.isASCII && ((c.isLetter && c.isLowercase) || c.isNumber) }
    static func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    static func dnsLabel(_ s: Substring) -> Bool {
        guard (1...63).contains(s.count), let first = s.first, let last = s.last, lowerAlnum(first), lowerAlnum(last) else { return false }
        return s.allSatisfy { lowerAlnum($0) || $0 == "-" }
    }

    static func dnsSubdomain(_ s: String) -> Bool {
        (1...253).contains(s.count) && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { dnsLabel($0) }
    }

    static func dns1035Label(_ s: String) -> Bool {
        guard let first = s.first, first.isASCII, first.isLetter, first.isLowercase else { return false }
        return dnsLabel(Substring(s))
    }

    static func envVarName(_ s: String) -> Bool {
        guard let first = s.first, !first.isNumber else { return false }
        return s.allSatisfy { alnum($0) || "_-.".contains($0) }
    }

    static func configMapKey(_ s: String) -> Bool {
        (1...253).contains(s.count) && s != "." && s != ".." && s.allSatisfy { alnum($0) || "-_.".contains($0) }
    }

    static let names: [String] = {
        var names = ["", "a", "A", "0", "-", ".", "..", "_", "app", "my-app", "-app", "app-", "my.app", "my..app", ".app", "app.",
                     "App", "aPP", "9app", "app9", "a_b", "A_B", "DB_PASSWORD", "db.password", "1ABC", "x-y.z_w",
                     "caf\u{E9}", "cafe\u{301}", "\u{0663}abc", "abc\u{0663}", "a\r\nb", "\r\n", "a\nb", "a b", "ünïcode", "ａｐｐ",
                     "*.example.com", "example.com", "sub.example.com", "a.b-c.d", "xn--caf-dma.example"]
        names.append(String(repeating: "a", count: 63))
        names.append(String(repeating: "a", count: 64))
        names.append(Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".") + ".b")  // 257
        names.append(Array(repeating: String(repeating: "a", count: 61), count: 4).joined(separator: ".") + ".bcdefgh")  // 253
        names.append(String(repeating: "k", count: 253))
        names.append(String(repeating: "k", count: 254))
        names.append(String(repeating: "\u{E9}", count: 200))  // 200 Characters, 400 bytes
        return names
    }()

    @Test func byteChecksAgreeWithTheCharacterRules() {
        for name in Self.names {
            #expect(SyntaxRules.isDNSLabel(name) == Self.dnsLabel(Substring(name)), "label \(name.debugDescription)")
            #expect(SyntaxRules.isDNSSubdomain(name) == Self.dnsSubdomain(name), "subdomain \(name.debugDescription)")
            #expect(SyntaxRules.isDNS1035Label(name) == Self.dns1035Label(name), "1035 label \(name.debugDescription)")
            #expect(SyntaxRules.isEnvVarName(name) == Self.envVarName(name), "env var \(name.debugDescription)")
            #expect(SyntaxRules.isConfigMapKey(name) == Self.configMapKey(name), "key \(name.debugDescription)")
        }
    }

    @Test func theUsualNamesPassAndTheUsualMistakesFail() {
        #expect(SyntaxRules.isDNSSubdomain("pynomaly-db-credentials"))
        #expect(!SyntaxRules.isDNSSubdomain("Pynomaly"))
        #expect(SyntaxRules.isConfigMapKey("password"))
        #expect(!SyntaxRules.isConfigMapKey("pass word"))
        #expect(SyntaxRules.isEnvVarName("PYNOMALY_LOG_LEVEL"))
        #expect(!SyntaxRules.isEnvVarName("1LEVEL"))
        #expect(SyntaxRules.isDNS1035Label("api"))
        #expect(!SyntaxRules.isDNS1035Label("1api"))
    }
}
