#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The configuration of a pod: the service-account mount and `KUBERNETES_SERVICE_HOST`/`_PORT`.
public enum InClusterConfiguration {
    public static let defaultMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// True when the environment names the API server and the service-account token is mounted.
    public static func isAvailable(environment: [String: String] = ProcessInfo.processInfo.environment,
                                   mountPath: String = defaultMountPath) -> Bool {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else { return false }
        return FileManager.default.fileExists(atPath: "\(mountPath)/token")
    }

    /// Builds the configuration; the token is re-read from its file as the kubelet rotates it.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment,
                            mountPath: String = defaultMountPath) throws -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubeError.configuration("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
        }
        guard let portNumber = Int(port), (1...65535).contains(portNumber) else {
            throw KubeError.configuration("in-cluster: KUBERNETES_SERVICE_PORT \"\(port)\" is not a port number")
        }
        let tokenPath = "\(mountPath)/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubeError.configuration("in-cluster: token file \(tokenPath) is missing or unreadable")
        }
        let caPath = "\(mountPath)/ca.crt"
        let ca: Data
        do {
            ca = try LocalFiles.contents(of: caPath)
        } catch {
            throw KubeError.configuration("in-cluster: CA file \(caPath) cannot be read: \(error)")
        }
        var namespace = "default"
        if let data = try? LocalFiles.contents(of: "\(mountPath)/namespace") {
            let ns = String(decoding: data, as: UTF8.self).trimmingWhitespace()
            if !ns.isEmpty { namespace = ns }
        }
        return ClientConfiguration(server: "https://\(ServerComponents.urlHost(host)):\(portNumber)",
                                   tls: TLSConfiguration(certificateAuthorityPEM: ca),
                                   authentication: .tokenFile(tokenPath), namespace: namespace, source: "in-cluster")
    }
}

/// Finds the configuration with kubectl's (and controller-runtime's) precedence: an explicit
/// path, then `KUBECONFIG`, then the in-cluster service account, then `~/.kube/config`.
public struct ConfigurationResolver: Sendable {
    public var explicitPath: String?
    /// A context other than `current-context` (kubeconfig only; it skips the in-cluster step).
    public var context: String?
    public var environment: [String: String]
    public var homeDirectory: String
    public var inClusterMountPath: String

    public init(explicitPath: String? = nil, context: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                homeDirectory: String = FileManager.default.homeDirectoryForCurrentUser.path,
                inClusterMountPath: String = InClusterConfiguration.defaultMountPath) {
        self.explicitPath = explicitPath
        self.context = context
        self.environment = environment
        self.homeDirectory = homeDirectory
        self.inClusterMountPath = inClusterMountPath
    }

    /// Resolves with the process environment and home directory.
    public static func resolve(kubeconfigPath: String?, context: String?) throws -> ClientConfiguration {
        try ConfigurationResolver(explicitPath: kubeconfigPath, context: context).resolve()
    }

    public func resolve() throws -> ClientConfiguration {
        if let path = explicitPath, !path.isEmpty {
            return try Kubeconfig.load(file: path).configuration(context: context)
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let files = list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
            let config = try Kubeconfig.load(files: files)
            guard !config.files.isEmpty else {
                throw KubeError.configuration("KUBECONFIG=\(list): none of these files exists")
            }
            return try config.configuration(context: context)
        }
        if context == nil, InClusterConfiguration.isAvailable(environment: environment, mountPath: inClusterMountPath) {
            return try InClusterConfiguration.load(environment: environment, mountPath: inClusterMountPath)
        }
        let home = "\(homeDirectory)/.kube/config"
        if FileManager.default.fileExists(atPath: home) {
            return try Kubeconfig.load(file: home).configuration(context: context)
        }
        throw KubeError.configuration("no configuration found: pass --kubeconfig, set KUBECONFIG, run in a pod with a service account, or create \(home)")
    }
}
