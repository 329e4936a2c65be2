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

/// Reading the client's local files (kubeconfig, certificates, token files) with the operating
/// system's own reason when it fails ("No such file or directory", "Permission denied"), which is
/// what a user needs in the error; FoundationEssentials' file errors carry no readable description.
enum LocalFiles {
    struct ReadError: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    static func contents(of path: String) throws(ReadError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(reason: systemReason(errno)) }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: systemReason(errno))
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    static func text(of path: String) throws(ReadError) -> String {
        String(decoding: try contents(of: path), as: UTF8.self)
    }

    static func systemReason(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// The directory part of a path (empty for a bare name), as `dirname` without touching the disk.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}
