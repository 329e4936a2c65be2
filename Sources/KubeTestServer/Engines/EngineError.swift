import KubeCore

/// Thrown by the engines; the server turns it into a Status with the right code/reason.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public var status: Status
    public var httpCode: Int

    public init(status: Status, httpCode: Int) {
        self.status = status
        self.httpCode = httpCode
    }

    /// A Failure Status with the given code, reason and message.
    public init(code: Int, reason: String?, message: String, details: StatusDetails? = nil) {
        self.status = Status(status: "Failure", message: message, reason: reason, details: details, code: code)
        self.httpCode = code
    }

    public var description: String { "\(httpCode) \(status.reason ?? ""): \(status.message ?? "")" }

    /// 400 BadRequest with the message, as the apiserver answers malformed patches.
    static func badRequest(_ message: String) -> EngineError {
        EngineError(code: 400, reason: StatusReason.badRequest, message: message)
    }

    /// 500 without a reason: how the apiserver reports SSA typed-conversion failures.
    static func internalError(_ message: String) -> EngineError {
        EngineError(code: 500, reason: nil, message: message)
    }

    /// 422 Invalid with causes, e.g. a patch that produced an object that cannot be decoded.
    static func unprocessable(_ message: String, reason: String? = StatusReason.invalid) -> EngineError {
        EngineError(code: 422, reason: reason, message: message)
    }
}
