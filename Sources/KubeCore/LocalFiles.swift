#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading local files (kubeconfig, certificates, token files, time zones) with the operating
/// system's own reason when it fails ("No such file or directory", "Permission denied"), which is
/// what a user needs in the error; FoundationEssentials' file errors carry no readable description.
public enum LocalFiles {
    public struct ReadError: Error, CustomStringConvertible {
        public let reason: String
        /// The `errno` of the failed call; 0 when the file was longer than allowed.
        public let code: Int32
        public var description: String { reason }

        /// The path names nothing (or goes through something that is not a directory).
        public var isMissing: Bool { code == ENOENT || code == ENOTDIR }
    }

    /// The file's bytes; refused once more than `maximumBytes` were read.
    public static func contents(of path: String, maximumBytes: Int = .max) throws(ReadError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { let code = errno; throw ReadError(reason: systemReason(code), code: code) }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ReadError(reason: systemReason(code), code: code)
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
            if data.count > maximumBytes { throw ReadError(reason: "longer than \(maximumBytes) bytes", code: 0) }
        }
    }

    public static func text(of path: String) throws(ReadError) -> String {
        String(decoding: try contents(of: path), as: UTF8.self)
    }

    public static func systemReason(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// The directory part of a path (empty for a bare name), as `dirname` without touching the disk.
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}
