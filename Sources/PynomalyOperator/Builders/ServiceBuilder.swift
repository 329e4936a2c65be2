#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// A ClusterIP Service on port `http`: `NAME` (the stable one, selecting the active pods) or one colour's.
public enum ServiceBuilder {
    public static func build(_ ctx: BuildContext, name: String, selectorExtra: [String: String] = [:]) -> Service {
        let spec = ServiceSpec(
            type: "ClusterIP",
            selector: ctx.selectorLabels.merging(selectorExtra) { _, extra in extra },
            ports: [ServicePort(name: PodTemplateBuilder.portName, port: ctx.spec.port,
                                targetPort: .string(PodTemplateBuilder.portName), protocol: "TCP")])
        return Service(metadata: ctx.metadata(name: name, extraLabels: selectorExtra), spec: spec)
    }
}
