#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a probe server listens, parsed from a `--metrics-bind-address` /
/// `--health-probe-bind-address` value as controller-runtime accepts them: `:8080` (every
/// interface), `127.0.0.1:8080`, `[::1]:8080`; `0` disables the server. Hosts are numeric
/// addresses only (no name lookup). Port 0 asks the system for a free port (tests).
public struct BindAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        /// Every interface (IPv6 and IPv4 where the system has IPv6, else IPv4 only).
        case any
        case ipv4(String)
        case ipv6(String)
    }

    public var host: Host
    public var port: UInt16

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Loopback with a free port (for tests).
    public static let loopbackEphemeral = BindAddress(host: .ipv4("127.0.0.1"), port: 0)

    /// Parses a bind address flag value; nil for `0` (disabled). Throws
    /// `ProbeServerError.invalidBindAddress` naming the value and what is wrong with it.
    public static func parse(_ value: String) throws -> BindAddress? {
        if value == "0" { return nil }
        func invalid(_ reason: String) -> ProbeServerError { .invalidBindAddress(value: value, reason: reason) }
        guard let colon = value.lastIndex(of: ":") else {
            throw invalid("expected :PORT, IPv4:PORT, [IPv6]:PORT, or 0 to disable")
        }
        let hostPart = String(value[..<colon])
        let portPart = String(value[value.index(after: colon)...])
        guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), portPart.count <= 5,
              let port = Int(portPart), port <= Int(UInt16.max) else {
            throw invalid("port \"\(portPart)\" is not a number from 0 to 65535")
        }
        let host: Host
        if hostPart.isEmpty {
            host = .any
        } else if hostPart.hasPrefix("[") {
            guard hostPart.hasSuffix("]"), hostPart.count > 2 else { throw invalid("unterminated IPv6 address \"\(hostPart)\"") }
            let literal = String(hostPart.dropFirst().dropLast())
            guard Self.isIPv6(literal) else { throw invalid("\"\(literal)\" is not an IPv6 address") }
            host = .ipv6(literal)
        } else if hostPart.contains(":") {
            throw invalid("an IPv6 address must be in brackets, e.g. [::1]:8080")
        } else {
            guard Self.isIPv4(hostPart) else { throw invalid("host \"\(hostPart)\" is not an IPv4 address (host names are not resolved)") }
            host = .ipv4(hostPart)
        }
        return BindAddress(host: host, port: UInt16(port))
    }

    public var description: String {
        switch host {
        case .any: return ":\(port)"
        case .ipv4(let a): return "\(a):\(port)"
        case .ipv6(let a): return "[\(a)]:\(port)"
        }
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }
}

/// Failures of the probe server, naming the value or the system call that failed.
public enum ProbeServerError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidBindAddress(value: String, reason: String)
    /// A socket call failed (`call`: socket, bind, listen, …) with `errno`.
    case socket(call: String, address: String, errno: Int32)
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidBindAddress(let value, let reason):
            return "invalid bind address \"\(value)\": \(reason)"
        case .socket(let call, let address, let code):
            return "probe server on \(address): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .alreadyStarted:
            return "probe server: already started"
        }
    }
}
