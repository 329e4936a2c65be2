#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// What the operator reads from a TLS Secret's leaf certificate (`tls.crt`): its validity, subject
/// common name and DNS names. Nothing else is parsed: the operator does not verify chains (the
/// Ingress controller and the clients do), it only says when a certificate is about to stop working.
public struct CertificateSummary: Sendable, Hashable {
    public var notBefore: Date
    public var notAfter: Date
    /// The subject's CN, if any. Clients match host names against the DNS names only.
    public var commonName: String?
    /// The subjectAltName extension's dNSName entries, in order.
    public var dnsNames: [String]

    public init(notBefore: Date, notAfter: Date, commonName: String?, dnsNames: [String]) {
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.commonName = commonName
        self.dnsNames = dnsNames
    }
}

/// Why a `tls.crt` could not be read. The description names the structure that failed, never bytes
/// of the certificate.
public struct CertificateParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// What a TLS Secret held: no certificate, one that cannot be read (why, never its bytes), or the
/// fields the verdict needs. Small and free of key material, so it may be kept per Secret version.
public enum CertificateRead: Sendable, Hashable {
    case missing
    case malformed(String)
    case certificate(CertificateSummary)
}

/// The verdict on a certificate for `CertificateReady`.
public struct CertificateVerdict: Sendable, Hashable {
    public enum Reason: String, Sendable, Hashable {
        case missing = "Missing"
        case malformed = "Malformed"
        case expired = "Expired"
        case notYetValid = "NotYetValid"
        case hostNotCovered = "HostNotCovered"
        case expiringSoon = "ExpiringSoon"
        case valid = "Valid"
    }

    /// The condition status: "True" (valid, or valid but expiring soon) or "False".
    public var status: String
    public var reason: Reason
    public var message: String
    /// Whole days until notAfter (negative once expired); nil when no certificate was read.
    public var daysLeft: Int64?
    public var certificate: CertificateSummary?
    /// The hosts the certificate covers, of those asked about.
    public var hostsCovered: [String]
}

/// Reads the leaf certificate of a PEM bundle with a minimal DER reader (just the fields of
/// `CertificateSummary`), and judges it against the time, the Ingress hosts and the warning window.
/// A reader of this size keeps the shipped binary free of an ASN.1 library.
public enum CertificateInspection {
    /// Parses the first `CERTIFICATE` block of `pem` (the leaf, by the `kubernetes.io/tls` convention).
    public static func parse(pem: String) throws(CertificateParseError) -> CertificateSummary {
        let der = try firstCertificateDER(pem)
        return try parse(der: der)
    }

    /// Judges `pem` (nil: the Secret or its `tls.crt` is missing) at `now` for `hosts`; fewer than
    /// `warnDays` whole days left is `ExpiringSoon` (still ready: it works today).
    public static func evaluate(pem: String?, now: Date, hosts: [String], warnDays: Int64) -> CertificateVerdict {
        evaluate(read(pem: pem), now: now, hosts: hosts, warnDays: warnDays)
    }

    /// Judges a `kubernetes.io/tls` Secret as read from the API server (nil: it does not exist): its
    /// `data["tls.crt"]` (base64, as the API server serves it) or `stringData["tls.crt"]`.
    public static func evaluate(secret: JSONValue?, now: Date, hosts: [String], warnDays: Int64) -> CertificateVerdict {
        evaluate(read(secret: secret), now: now, hosts: hosts, warnDays: warnDays)
    }

    /// What a PEM bundle holds, reduced to the fields of `CertificateSummary`.
    public static func read(pem: String?) -> CertificateRead {
        guard let pem, !pem.allSatisfy(\.isWhitespace) else { return .missing }
        do {
            return .certificate(try parse(pem: pem))
        } catch {
            return .malformed("tls.crt cannot be read as a PEM certificate: \(error.reason)")
        }
    }

    /// What a TLS Secret (nil: it does not exist) holds, reduced to the fields of
    /// `CertificateSummary`: what a caller keeps once the Secret itself is dropped.
    public static func read(secret: JSONValue?) -> CertificateRead {
        if let encoded = secret?[path: ["data", "tls.crt"]]?.stringValue {
            guard let data = Data(base64Encoded: encoded) else { return .malformed("tls.crt in the Secret is not valid base64") }
            return read(pem: String(decoding: data, as: UTF8.self))
        }
        return read(pem: secret?[path: ["stringData", "tls.crt"]]?.stringValue)
    }

    /// Judges what was read at `now` for `hosts`; fewer than `warnDays` whole days left is
    /// `ExpiringSoon` (still ready: it works today).
    public static func evaluate(_ read: CertificateRead, now: Date, hosts: [String], warnDays: Int64) -> CertificateVerdict {
        let summary: CertificateSummary
        switch read {
        case .missing:
            return CertificateVerdict(status: "False", reason: .missing, message: "no certificate: the TLS Secret or its tls.crt is missing",
                                      daysLeft: nil, certificate: nil, hostsCovered: [])
        case .malformed(let why):
            return CertificateVerdict(status: "False", reason: .malformed, message: why, daysLeft: nil, certificate: nil, hostsCovered: [])
        case .certificate(let read):
            summary = read
        }
        let daysLeft = Int64((summary.notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        let covered = hosts.filter { host in summary.dnsNames.contains { covers($0, host) } }
        let uncovered = hosts.filter { !covered.contains($0) }
        func verdict(_ status: String, _ reason: CertificateVerdict.Reason, _ message: String) -> CertificateVerdict {
            CertificateVerdict(status: status, reason: reason, message: message, daysLeft: daysLeft, certificate: summary, hostsCovered: covered)
        }
        let notAfter = format(summary.notAfter)
        if now >= summary.notAfter {
            return verdict("False", .expired, "the certificate expired at \(notAfter)")
        }
        if now < summary.notBefore {
            return verdict("False", .notYetValid, "the certificate is not valid before \(format(summary.notBefore))")
        }
        if !uncovered.isEmpty {
            let names = summary.dnsNames.isEmpty
                ? "it has no DNS names" + (summary.commonName.map { " (its common name \(printable($0)) is not used for host names)" } ?? "")
                : "it names \(summary.dnsNames.map(printable).joined(separator: ", "))"
            return verdict("False", .hostNotCovered, "the certificate does not cover \(uncovered.map(printable).joined(separator: ", ")): \(names)")
        }
        if daysLeft < warnDays {
            return verdict("True", .expiringSoon, "the certificate expires at \(notAfter), in \(daysLeft) days (fewer than \(warnDays))")
        }
        return verdict("True", .valid, "the certificate is valid until \(notAfter) (\(daysLeft) days)")
    }

    /// Whether DNS name `pattern` from a certificate covers `host` (RFC 6125): case-insensitive, a
    /// trailing dot ignored, and a wildcard only as the whole leftmost label, standing for exactly
    /// one label (`*.example.com` covers `a.example.com`, not `example.com` or `a.b.example.com`).
    public static func covers(_ pattern: String, _ host: String) -> Bool {
        func normal(_ s: String) -> [Substring] {
            let lower = s.lowercased()
            return (lower.hasSuffix(".") ? String(lower.dropLast()) : lower).split(separator: ".", omittingEmptySubsequences: false)
        }
        let p = normal(pattern), h = normal(host)
        guard p.count == h.count, !p.isEmpty, !p.contains(where: \.isEmpty), !h.contains(where: \.isEmpty) else { return false }
        // A wildcard host (an Ingress rule for `*.example.com`) is covered by the same wildcard only.
        if h[0] == "*" { return p == h }
        for (index, (want, have)) in zip(p, h).enumerated() {
            if index == 0, want == "*" { continue }
            if want.contains("*") || want != have { return false }
        }
        // `*.com`-style names cover a whole public suffix: no client accepts them.
        return p[0] != "*" || p.count >= 3
    }

    /// A name from the certificate as it may appear in a message: printable ASCII, bounded.
    static func printable(_ text: String) -> String {
        let kept = text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" }
        return String(String(kept).prefix(253))
    }

    static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ value: Int?, _ width: Int = 2) -> String {
            let s = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month))-\(pad(c.day))T\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second))Z"
    }

    // MARK: PEM

    static func firstCertificateDER(_ pem: String) throws(CertificateParseError) -> [UInt8] {
        let lines = pem.split(whereSeparator: \.isNewline).map { $0.filter { !$0.isWhitespace } }
        guard let begin = lines.firstIndex(of: "-----BEGINCERTIFICATE-----") else {
            throw CertificateParseError("no -----BEGIN CERTIFICATE----- block")
        }
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----ENDCERTIFICATE-----") else {
            throw CertificateParseError("the CERTIFICATE block has no END line")
        }
        let body = lines[(begin + 1)..<end].joined()
        guard !body.isEmpty, let data = Data(base64Encoded: body) else { throw CertificateParseError("the CERTIFICATE block is not valid base64") }
        return [UInt8](data)
    }

    // MARK: DER

    /// One DER element: its tag byte and the range of its content in the buffer.
    struct Element {
        var tag: UInt8
        var content: Range<Int>
        var end: Int { content.upperBound }
    }

    /// Reads the element at `offset`, within `limit`. Only definite lengths of up to four bytes
    /// (DER), and single-byte tags (all the certificate uses).
    static func element(_ bytes: [UInt8], at offset: Int, limit: Int, what: String) throws(CertificateParseError) -> Element {
        guard offset + 2 <= limit, limit <= bytes.count else { throw CertificateParseError("\(what): truncated") }
        let tag = bytes[offset]
        guard tag & 0x1F != 0x1F else { throw CertificateParseError("\(what): multi-byte tags are not supported") }
        var index = offset + 1
        let first = bytes[index]
        index += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard (1...4).contains(count) else { throw CertificateParseError("\(what): unsupported length encoding") }
            guard index + count <= limit else { throw CertificateParseError("\(what): truncated length") }
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
        }
        guard length >= 0, index + length <= limit else { throw CertificateParseError("\(what): length runs past the end") }
        return Element(tag: tag, content: index..<(index + length))
    }

    /// The children of a constructed element.
    static func children(_ bytes: [UInt8], of parent: Element, what: String) throws(CertificateParseError) -> [Element] {
        var result: [Element] = []
        var offset = parent.content.lowerBound
        while offset < parent.end {
            let child = try element(bytes, at: offset, limit: parent.end, what: what)
            result.append(child)
            offset = child.end
        }
        return result
    }

    static let sequence: UInt8 = 0x30
    static let set: UInt8 = 0x31
    static let oid: UInt8 = 0x06
    static let octetString: UInt8 = 0x04
    /// 2.5.4.3, commonName.
    static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]
    /// 2.5.29.17, subjectAltName.
    static let subjectAltNameOID: [UInt8] = [0x55, 0x1D, 0x11]

    static func parse(der bytes: [UInt8]) throws(CertificateParseError) -> CertificateSummary {
        let certificate = try element(bytes, at: 0, limit: bytes.count, what: "certificate")
        guard certificate.tag == sequence else { throw CertificateParseError("certificate: not a SEQUENCE") }
        guard let tbs = try children(bytes, of: certificate, what: "certificate").first, tbs.tag == sequence else {
            throw CertificateParseError("tbsCertificate: missing")
        }
        var fields = try children(bytes, of: tbs, what: "tbsCertificate")[...]
        // [0] EXPLICIT version, absent for v1.
        if fields.first?.tag == 0xA0 { fields.removeFirst() }
        // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo.
        guard fields.count >= 6 else { throw CertificateParseError("tbsCertificate: too few fields") }
        let validity = fields[fields.startIndex + 3], subject = fields[fields.startIndex + 4]
        guard validity.tag == sequence, subject.tag == sequence else { throw CertificateParseError("tbsCertificate: unexpected field types") }
        let times = try children(bytes, of: validity, what: "validity")
        guard times.count == 2 else { throw CertificateParseError("validity: expected notBefore and notAfter") }
        let notBefore = try time(bytes, times[0], what: "notBefore")
        let notAfter = try time(bytes, times[1], what: "notAfter")
        let commonName = try self.commonName(bytes, subject)

        var dnsNames: [String] = []
        // Optional [1] and [2] unique IDs, then [3] EXPLICIT extensions.
        if let extensionsField = fields.dropFirst(6).first(where: { $0.tag == 0xA3 }) {
            guard let list = try children(bytes, of: extensionsField, what: "extensions").first, list.tag == sequence else {
                throw CertificateParseError("extensions: not a SEQUENCE")
            }
            for ext in try children(bytes, of: list, what: "extensions") {
                let parts = try children(bytes, of: ext, what: "extension")
                guard let id = parts.first, id.tag == oid, let value = parts.last, value.tag == octetString else {
                    throw CertificateParseError("extension: malformed")
                }
                guard Array(bytes[id.content]) == subjectAltNameOID else { continue }
                let names = try element(bytes, at: value.content.lowerBound, limit: value.end, what: "subjectAltName")
                guard names.tag == sequence else { throw CertificateParseError("subjectAltName: not a SEQUENCE") }
                // GeneralName dNSName is [2] IMPLICIT IA5String.
                for name in try children(bytes, of: names, what: "subjectAltName") where name.tag == 0x82 {
                    dnsNames.append(String(decoding: bytes[name.content], as: UTF8.self))
                }
            }
        }
        return CertificateSummary(notBefore: notBefore, notAfter: notAfter, commonName: commonName, dnsNames: dnsNames)
    }

    /// The last CN of a Name (the most specific, as OpenSSL shows it).
    static func commonName(_ bytes: [UInt8], _ name: Element) throws(CertificateParseError) -> String? {
        var found: String?
        for rdn in try children(bytes, of: name, what: "subject") {
            guard rdn.tag == set else { throw CertificateParseError("subject: an RDN is not a SET") }
            for attribute in try children(bytes, of: rdn, what: "subject") {
                let parts = try children(bytes, of: attribute, what: "subject attribute")
                guard parts.count == 2, parts[0].tag == oid else { throw CertificateParseError("subject attribute: malformed") }
                guard Array(bytes[parts[0].content]) == commonNameOID else { continue }
                found = try string(bytes, parts[1])
            }
        }
        return found
    }

    /// A directory string: UTF8String, PrintableString, IA5String, TeletexString (read as
    /// Latin-1) or BMPString (UCS-2).
    static func string(_ bytes: [UInt8], _ value: Element) throws(CertificateParseError) -> String {
        let content = bytes[value.content]
        switch value.tag {
        case 0x0C, 0x13, 0x16: return String(decoding: content, as: UTF8.self)
        case 0x14: return String(content.map { Character(Unicode.Scalar($0)) })
        case 0x1E:
            guard content.count % 2 == 0 else { throw CertificateParseError("subject: odd BMPString length") }
            var units: [UInt16] = []
            var index = content.startIndex
            while index < content.endIndex {
                units.append(UInt16(content[index]) << 8 | UInt16(content[index + 1]))
                index += 2
            }
            return String(decoding: units, as: UTF16.self)
        default: throw CertificateParseError("subject: unsupported string type")
        }
    }

    /// UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), UTC.
    static func time(_ bytes: [UInt8], _ value: Element, what: String) throws(CertificateParseError) -> Date {
        let text = Array(bytes[value.content])
        let digits: [UInt8]
        let year: Int
        switch value.tag {
        case 0x17:
            guard text.count == 13, text.last == UInt8(ascii: "Z") else { throw CertificateParseError("\(what): not a UTCTime of the form YYMMDDHHMMSSZ") }
            digits = Array(text.dropLast())
            guard let yy = number(digits[0..<2]) else { throw CertificateParseError("\(what): bad year") }
            year = yy < 50 ? 2000 + yy : 1900 + yy
        case 0x18:
            guard text.count == 15, text.last == UInt8(ascii: "Z") else { throw CertificateParseError("\(what): not a GeneralizedTime of the form YYYYMMDDHHMMSSZ") }
            digits = Array(text.dropLast())
            guard let yyyy = number(digits[0..<4]) else { throw CertificateParseError("\(what): bad year") }
            year = yyyy
        default:
            throw CertificateParseError("\(what): not a time")
        }
        let rest = digits.suffix(10)
        let start = rest.startIndex
        guard let month = number(rest[start..<start + 2]), let day = number(rest[start + 2..<start + 4]),
              let hour = number(rest[start + 4..<start + 6]), let minute = number(rest[start + 6..<start + 8]),
              let second = number(rest[start + 8..<start + 10]),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            throw CertificateParseError("\(what): bad date or time")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)) else {
            throw CertificateParseError("\(what): bad date")
        }
        return date
    }

    static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }
}
