#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Ingress `NAME` in front of the stable Service (or the active colour's), with an optional preview rule.
public enum IngressBuilder {
    /// nil when the Ingress is disabled or has no host.
    /// - Parameter previewService: the preview colour's Service; adds the `previewHost` rule when both are set.
    public static func build(_ ctx: BuildContext, backendService: String, previewService: String?) -> Ingress? {
        guard let ingress = ctx.spec.ingress, let host = ingress.host else { return nil }
        var annotations = ingress.annotations
        if let issuer = ingress.tls?.clusterIssuer { annotations[PynomalyAnnotations.clusterIssuer] = issuer }

        func rule(_ host: String, _ service: String) -> IngressRule {
            IngressRule(host: host, http: HTTPIngressRuleValue(paths: [
                HTTPIngressPath(path: ingress.path, pathType: ingress.pathType.rawValue,
                                backend: IngressBackend(service: IngressServiceBackend(
                                    name: service, port: ServiceBackendPort(name: PodTemplateBuilder.portName)))),
            ]))
        }
        var rules = [rule(host, backendService)]
        var hosts = [host]
        if let previewService, let previewHost = ctx.spec.strategy.blueGreen?.previewHost {
            rules.append(rule(previewHost, previewService))
            hosts.append(previewHost)
        }
        let tls = ingress.tls.map { [IngressTLS(hosts: hosts, secretName: $0.secretName)] }
        return Ingress(
            metadata: ctx.metadata(name: ctx.name, annotations: annotations.isEmpty ? nil : annotations),
            spec: IngressSpec(ingressClassName: ingress.className, tls: tls, rules: rules))
    }
}
