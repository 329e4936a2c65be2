#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// What `pynomaly-operator preflight` finds out about a cluster before the operator runs there:
/// can we talk to it, is our CRD served, and may we do everything the operator does.
public struct PreflightReport: Sendable {
    public struct PermissionCheck: Sendable {
        public var permission: Permission
        public var verb: String
        public var namespace: String?
        public var allowed: Bool
        public var reason: String?
    }

    public var serverVersion: String
    public var crdProblems: [String]
    public var checks: [PermissionCheck]

    public var missingPermissions: [PermissionCheck] { checks.filter { !$0.allowed } }
    public var passed: Bool { crdProblems.isEmpty && missingPermissions.isEmpty }

    /// A table of every permission check and a summary line, as preflight prints it.
    public func rendered() -> String {
        var lines = ["Kubernetes API server: \(serverVersion)"]
        if crdProblems.isEmpty {
            lines.append("CRD pynomalydeployments.pynomaly.ai: installed and served (v1alpha1)")
        } else {
            lines.append(contentsOf: crdProblems.map { "CRD problem: \($0)" })
        }
        lines.append("")
        // One row per permission: the verbs granted and those missing, in the order the operator lists them.
        var rows: [[String]] = [["RESOURCE", "SCOPE", "GRANTED", "MISSING"]]
        for permission in Permission.operatorPermissions {
            let mine = checks.filter { $0.permission == permission }
            guard let first = mine.first else { continue }
            rows.append([
                permission.description,
                first.namespace.map { "namespace \($0)" } ?? "cluster",
                mine.filter(\.allowed).map(\.verb).joined(separator: ","),
                mine.filter { !$0.allowed }.map(\.verb).joined(separator: ","),
            ])
        }
        let widths = (0..<4).map { col in rows.map { $0[col].count }.max() ?? 0 }
        for row in rows {
            lines.append(zip(row, widths).map { $0.paddedRight(to: $1) }.joined(separator: "  ")
                .trimmingWhitespace())
        }
        lines.append("")
        let missing = missingPermissions
        if missing.isEmpty && crdProblems.isEmpty {
            lines.append("preflight passed: \(checks.count) permissions granted")
        } else {
            if !missing.isEmpty {
                lines.append("missing permissions (\(missing.count)):")
                for m in missing {
                    lines.append("  - \(m.verb) \(m.permission)\(m.namespace.map { " in namespace \($0)" } ?? "") — needed to \(m.permission.purpose)")
                }
            }
            lines.append("preflight FAILED")
        }
        return lines.joined(separator: "\n")
    }
}

/// Runs the preflight checks through any `KubeAPIClient` transport (real cluster or test server).
public struct Preflight: Sendable {
    public static let crdName = "pynomalydeployments.pynomaly.ai"
    let client: KubeAPIClient
    /// Where the operator itself runs (leader-election Lease and its Events).
    let operatorNamespace: String
    /// The namespace the operator watches, or nil for all namespaces.
    let watchNamespace: String?

    public init(client: KubeAPIClient, operatorNamespace: String, watchNamespace: String? = nil) {
        self.client = client
        self.operatorNamespace = operatorNamespace
        self.watchNamespace = watchNamespace
    }

    /// Runs every check. Throws only when the server cannot be reached or rejects the credentials;
    /// missing CRDs and permissions are findings in the report.
    public func run() async throws -> PreflightReport {
        let version = try await client.send(KubeRequest(method: .get, path: "/version"))
        let gitVersion = version["gitVersion"]?.stringValue ?? "unknown version"
        let platform = version["platform"]?.stringValue.map { " (\($0))" } ?? ""
        let crdProblems = await checkCRD()
        var checks: [PreflightReport.PermissionCheck] = []
        for permission in Permission.operatorPermissions {
            let namespace = permission.operatorNamespaceOnly ? operatorNamespace : watchNamespace
            for verb in permission.verbs {
                checks.append(try await check(permission, verb: verb, namespace: namespace))
            }
        }
        return PreflightReport(serverVersion: gitVersion + platform, crdProblems: crdProblems, checks: checks)
    }

    func checkCRD() async -> [String] {
        let request: KubeRequest
        do {
            request = try RequestBuilder(.customResourceDefinitions).get(namespace: nil, name: Self.crdName)
        } catch {
            return ["\(error)"]
        }
        do {
            let crd = try await client.send(request)
            var problems: [String] = []
            let versions = crd[path: ["spec", "versions"]]?.arrayValue ?? []
            let served = versions.contains { $0["name"]?.stringValue == "v1alpha1" && $0["served"]?.boolValue == true }
            if !served { problems.append("\(Self.crdName) does not serve version v1alpha1: apply crds/ from this release") }
            let conditions = crd[path: ["status", "conditions"]]?.arrayValue ?? []
            let established = conditions.contains { $0["type"]?.stringValue == "Established" && $0["status"]?.stringValue == "True" }
            if !established { problems.append("\(Self.crdName) exists but is not Established yet") }
            return problems
        } catch let error as KubeError where error.isNotFound {
            return ["\(Self.crdName) is not installed: run `kubectl apply -f crds/`"]
        } catch let error as KubeError where error.isForbidden {
            // The operator needs no access to CRDs themselves; discovery tells whether ours is served.
            return await checkDiscovery()
        } catch {
            return ["could not read CRD \(Self.crdName): \(error)"]
        }
    }

    /// Without read access to CRDs, discovery still tells whether the resource is served.
    func checkDiscovery() async -> [String] {
        do {
            let list = try await client.send(KubeRequest(method: .get, path: "/apis/pynomaly.ai/v1alpha1"))
            let names = list["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            return names.contains("pynomalydeployments") ? [] : ["pynomaly.ai/v1alpha1 does not serve pynomalydeployments"]
        } catch {
            return ["pynomaly.ai/v1alpha1 is not served: run `kubectl apply -f crds/`"]
        }
    }

    func check(_ permission: Permission, verb: String, namespace: String?) async throws -> PreflightReport.PermissionCheck {
        var attributes: JSONObject = ["verb": .string(verb), "group": .string(permission.group), "resource": .string(permission.resource)]
        if let sub = permission.subresource { attributes["subresource"] = .string(sub) }
        if let ns = namespace { attributes["namespace"] = .string(ns) }
        let review: JSONValue = [
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": ["resourceAttributes": .object(attributes)],
        ]
        let request = try RequestBuilder(.selfSubjectAccessReviews).create(namespace: nil, body: review.serialized())
        let answer = try await client.send(request)
        let allowed = answer[path: ["status", "allowed"]]?.boolValue ?? false
        let reason = answer[path: ["status", "reason"]]?.stringValue
        return .init(permission: permission, verb: verb, namespace: namespace, allowed: allowed, reason: reason)
    }
}

/// Turns the errors that stop preflight before any check into one clear sentence.
public func describeConnectionFailure(_ error: any Error, server: String) -> String {
    guard let kube = error as? KubeError else { return "cannot reach the Kubernetes API server at \(server): \(error)" }
    switch kube {
    case .transport(let t):
        return "cannot reach the Kubernetes API server at \(server): \(t)"
    case .api(let status, let code, _) where code == 401:
        return "the API server at \(server) rejected the credentials (401 Unauthorized: \(status.message ?? "no message")); check the token, client certificate or exec plugin of the kubeconfig user"
    case .api(let status, let code, _) where code == 403:
        return "the API server at \(server) refused access (403 Forbidden): \(status.message ?? "")"
    default:
        return "preflight against \(server) failed: \(kube)"
    }
}
