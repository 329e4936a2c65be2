import Foundation
import KubeClient
import KubeYAML

/// Arbitrary text as a kubeconfig: libyaml through KubeYAML, the kubeconfig model, and the client
/// configuration it resolves to. Must never crash (errors are fine).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKubeconfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let documents = try? YAML.parseDocuments(text) {
        for document in documents { _ = YAML.emit(document) }
    }
    if let config = try? Kubeconfig.parse(text, file: "fuzz") {
        _ = try? config.configuration()
    }
    return 0
}
