#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One-shot requests: annotations whose value is a fresh token. The operator records the handled
/// token under `statusKey` in `status.handledRequests` (the latest) and `status.handledTokens`
/// (the last few), so each request runs once, also when the annotation goes back to an earlier
/// token.
public enum RequestAnnotation: String, Sendable, Hashable, CaseIterable {
    case promote = "pynomaly.ai/promote"
    case abort = "pynomaly.ai/abort"
    case restart = "pynomaly.ai/restart"
    case backup = "pynomaly.ai/backup"
    case rollbackTo = "pynomaly.ai/rollback-to"
    /// Ends the running analysis as Skipped (`kubectl pynomaly promote --skip-analysis`).
    case skipAnalysis = "pynomaly.ai/skip-analysis"

    /// The annotation name.
    public var name: String { rawValue }

    /// The key in `status.handledRequests` (`promote`, …, `rollback-to`).
    public var statusKey: String { String(rawValue.dropFirst("pynomaly.ai/".count)) }

    /// Tokens remembered per request in `status.handledTokens`: more than a GitOps history is
    /// likely to go back through, few enough to keep the status small.
    public static let handledTokenLimit = 10

    /// The pending token of this request on `annotations`: present, non-empty and not handled.
    public func pendingToken(annotations: [String: String]?, status: PynomalyDeploymentStatus?) -> String? {
        guard let token = annotations?[name], !token.isEmpty, status?.hasHandled(self, token: token) != true else { return nil }
        return token
    }
}

extension PynomalyDeploymentStatus {
    /// Whether `token` of `request` was handled: the latest one, or one of the last remembered.
    public func hasHandled(_ request: RequestAnnotation, token: String) -> Bool {
        handledRequests?[request.statusKey] == token || handledTokens?[request.statusKey]?.contains(token) == true
    }

    /// Records `token` of `request` as handled: the latest, and the newest of the remembered ones.
    public mutating func markHandled(_ request: RequestAnnotation, token: String) {
        var latest = handledRequests ?? [:]
        latest[request.statusKey] = token
        handledRequests = latest
        var remembered = handledTokens ?? [:]
        var tokens = remembered[request.statusKey] ?? []
        tokens.removeAll { $0 == token }
        tokens.append(token)
        tokens.removeFirst(max(0, tokens.count - RequestAnnotation.handledTokenLimit))
        remembered[request.statusKey] = tokens
        handledTokens = remembered
    }
}

/// A parsed `pynomaly.ai/rollback-to` value: `REVISION` or `REVISION@TOKEN`; revision 0 means "the
/// previous revision". The token makes a repeated rollback to the same revision a new request.
public struct RollbackRequest: Sendable, Hashable {
    public var revision: Int64
    public var token: String?

    public init(revision: Int64, token: String? = nil) {
        self.revision = revision
        self.token = token
    }

    /// Whether this asks for the previous revision rather than a numbered one.
    public var isPrevious: Bool { revision == 0 }

    /// Parses an annotation value.
    public static func parse(_ value: String) throws(RollbackRequestError) -> RollbackRequest {
        let trimmed = value.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .empty }
        let parts = trimmed.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let number = parts[0]
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let revision = Int64(number) else {
            throw .invalidRevision(String(number))
        }
        var token: String?
        if parts.count == 2 {
            guard !parts[1].isEmpty else { throw .emptyToken }
            token = String(parts[1])
        }
        return RollbackRequest(revision: revision, token: token)
    }

    /// The annotation value for this request.
    public var annotationValue: String { token.map { "\(revision)@\($0)" } ?? String(revision) }
}

/// Why a `pynomaly.ai/rollback-to` value was rejected.
public enum RollbackRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case invalidRevision(String)
    case emptyToken

    public var description: String {
        switch self {
        case .empty: return "pynomaly.ai/rollback-to is empty; expected REVISION or REVISION@TOKEN (0 = previous)"
        case .invalidRevision(let s): return "pynomaly.ai/rollback-to revision \"\(s)\" is not a non-negative integer; expected REVISION or REVISION@TOKEN"
        case .emptyToken: return "pynomaly.ai/rollback-to has an empty token after @; expected REVISION@TOKEN"
        }
    }
}
