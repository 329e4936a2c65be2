import CCurl
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One libcurl multi handle driven by `curl_multi_socket_action`: the sockets libcurl wants
/// watched and when it wants to be called back, as its socket and timer callbacks report them.
/// Engine thread only: libcurl calls the callbacks from inside the engine's own curl calls.
///
/// Why the socket interface and not `curl_multi_perform`: `perform` runs every transfer of the
/// multi handle on every wake-up, and a transfer that shares its HTTP/2 connection with others asks
/// the kernel whether the socket is readable (a `poll` of its own) each time it runs. An operator
/// holds a dozen watches open, so each request's start, each answer and each watch event cost a
/// dozen system calls. `socket_action` runs only the transfers of the socket that is ready, or whose
/// timer is due.
final class CurlMulti: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    /// Sockets to poll and for what (`CURL_POLL_IN`, `_OUT` or both).
    private(set) var sockets: [curl_socket_t: Int32] = [:]
    /// When libcurl wants `socket_action(CURL_SOCKET_TIMEOUT)`; nil: no timer.
    private(set) var timerDue: ContinuousClock.Instant?

    init?(options: CurlEngineOptions) {
        guard let m = curl_multi_init() else { return nil }
        raw = m
        // One pool of connections per multi handle; HTTP/2 streams share a connection when offered.
        _ = ccurl_multi_setopt_long(m, CURLMOPT_PIPELINING, ccurl_pipe_multiplex())
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAX_HOST_CONNECTIONS, options.maxConnectionsPerHost)
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.maxTotalConnections)
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAXCONNECTS, max(options.idleConnectionCache, options.maxTotalConnections))
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_socket_cb(m) { _, socket, what, userp, _ in
            guard let userp else { return 0 }
            let multi = Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue()
            multi.sockets[socket] = what == ccurl_poll_remove() ? nil : what
            return 0
        }
        _ = ccurl_multi_setopt_ptr(m, CURLMOPT_SOCKETDATA, me)
        _ = ccurl_multi_setopt_timer_cb(m) { _, milliseconds, userp in
            guard let userp else { return 0 }
            let multi = Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue()
            multi.timerDue = milliseconds < 0 ? nil : ContinuousClock.now.advanced(by: .milliseconds(milliseconds))
            return 0
        }
        _ = ccurl_multi_setopt_ptr(m, CURLMOPT_TIMERDATA, me)
    }

    /// Lets libcurl act on `socket` (`CURL_CSELECT_*` bits), or on its due timers.
    func act(on socket: curl_socket_t, events: Int32) {
        var running: Int32 = 0
        _ = curl_multi_socket_action(raw, socket, events, &running)
    }

    /// Runs the timers libcurl set, when due by `now`.
    func actOnTimer(now: ContinuousClock.Instant) {
        guard let due = timerDue, due <= now else { return }
        // Cleared first: libcurl sets the next one from inside the call.
        timerDue = nil
        act(on: ccurl_socket_timeout(), events: 0)
    }

    /// The transfers that finished since the last call, with their results.
    func finished() -> [(easy: UnsafeMutableRawPointer, result: CURLcode)] {
        var done: [(easy: UnsafeMutableRawPointer, result: CURLcode)] = []
        var left: Int32 = 0
        while let msg = curl_multi_info_read(raw, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            done.append((easy, msg.pointee.data.result))
        }
        return done
    }

    func cleanup() {
        _ = curl_multi_cleanup(raw)
    }
}

/// A self-pipe that ends the engine's `poll` from another thread.
struct WakePipe: @unchecked Sendable {
    let readEnd: Int32
    let writeEnd: Int32

    init?() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    /// A full pipe already holds a wake-up, so a failed write loses nothing.
    func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &buffer, buffer.count) > 0 {}
    }

    func close() {
        _ = closeDescriptor(readEnd)
        _ = closeDescriptor(writeEnd)
    }
}

private func closeDescriptor(_ fd: Int32) -> Int32 {
    #if canImport(Darwin)
    Darwin.close(fd)
    #elseif canImport(Musl)
    Musl.close(fd)
    #else
    Glibc.close(fd)
    #endif
}
