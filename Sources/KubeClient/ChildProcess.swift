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
import KubeCore

/// Runs a program to completion and collects what it writes: stdin is /dev/null, stdout and
/// stderr are pipes read together with `poll`, so a child that fills one while we wait on the other
/// cannot deadlock. Blocks the calling thread; callers run it on their own OS thread.
///
/// A child that outlives `timeout` is killed (SIGKILL) and reaped: a credential plugin that hangs
/// (waiting for a login that never comes, a network that does not answer) would otherwise hold every
/// request that waits for credentials. Once the child itself has exited, what it wrote is taken as
/// it is, even if a process it left behind keeps the pipes open.
enum ChildProcess {
    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// The child ran longer than allowed and was killed.
    struct TimedOut: Error, CustomStringConvertible {
        let seconds: Double
        let stderr: Data
        var description: String {
            let shown = seconds.rounded() == seconds ? String(Int(seconds)) : String(seconds)
            return "did not finish within \(shown) s and was killed"
        }
    }

    enum Failure: Error, CustomStringConvertible {
        case spawn(SpawnError)
        case timedOut(TimedOut)

        var description: String {
            switch self {
            case .spawn(let e): return e.description
            case .timedOut(let e): return e.description
            }
        }
    }

    /// The exit status, or 128 + the signal number for a child killed by a signal (the shell's
    /// convention), with everything it wrote to stdout and stderr.
    static func run(executable: String, arguments: [String], environment: [String: String],
                    timeout: Double) throws(Failure) -> (Int32, Data, Data) {
        do {
            return try runChecked(executable: executable, arguments: arguments, environment: environment, timeout: timeout)
        } catch let error as SpawnError {
            throw .spawn(error)
        } catch let error as TimedOut {
            throw .timedOut(error)
        } catch {
            throw .spawn(SpawnError(description: "\(error)"))
        }
    }

    private static func runChecked(executable: String, arguments: [String], environment: [String: String],
                                   timeout: Double) throws -> (Int32, Data, Data) {
        let deadline = monotonicSeconds() + timeout
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw SpawnError(description: "pipe: \(LocalFiles.systemReason(errno))") }
        guard pipe(&errPipe) == 0 else {
            let reason = LocalFiles.systemReason(errno)
            close(outPipe[0]); close(outPipe[1])
            throw SpawnError(description: "pipe: \(reason)")
        }
        // Close-on-exec, so the pipes of one plugin do not leak into another spawned at the same
        // time (its EOF would wait for that child); dup2 onto 1 and 2 clears the flag in the child.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv + [nil], envp + [nil])
        close(outPipe[1])
        close(errPipe[1])
        guard spawned == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw SpawnError(description: LocalFiles.systemReason(spawned))
        }

        var out = Data(), err = Data()
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        // Non-blocking reads, so the pipes can be drained without waiting once the child is gone.
        for fd in fds { _ = fcntl(fd.fd, F_SETFL, fcntl(fd.fd, F_GETFL) | O_NONBLOCK) }
        defer { for fd in fds where fd.fd >= 0 { close(fd.fd) } }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        func drain(_ i: Int) {
            while fds[i].fd >= 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 0 { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n < 0 && errno == EAGAIN {
                    return
                } else {
                    close(fds[i].fd)
                    fds[i].fd = -1
                }
            }
        }

        var status: Int32 = 0
        var reaped = false
        // Poll in slices: between them, see whether the child has exited (its output is then
        // complete) or has run out of time.
        while !reaped {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                for i in fds.indices { drain(i) }
                throw TimedOut(seconds: timeout, stderr: err)
            }
            let sliceMilliseconds = Int32(max(1, min(remaining, 0.1) * 1000))
            if fds.contains(where: { $0.fd >= 0 }) {
                if poll(&fds, nfds_t(fds.count), sliceMilliseconds) < 0 && errno != EINTR {
                    throw SpawnError(description: "poll: \(LocalFiles.systemReason(errno))")
                }
                for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 { drain(i) }
            } else {
                usleep(UInt32(sliceMilliseconds) * 1000)
            }
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid {
                reaped = true
                for i in fds.indices { drain(i) }
            } else if waited < 0 && errno != EINTR {
                throw SpawnError(description: "waitpid: \(LocalFiles.systemReason(errno))")
            }
        }
        let signal = status & 0x7F
        let code = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
        return (code, out, err)
    }

    /// Seconds on a clock that never jumps (wall-clock changes must not cut a run short or stretch it).
    private static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
