import Foundation
import FuzzSupport
import KubeCore

/// Arbitrary bytes as an API answer: the JSON parser, then every typed model the operator decodes.
/// Must never crash; a parsed value must survive serialize/parse unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzObjectJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONValue(parsing: bytes) else { return 0 }
    let again = try? JSONValue(parsing: value.serialized())
    if !(again.map { sameJSON($0, value) } ?? false) { fatalError("JSON value changed in a round trip: \(value)") }
    _ = try? value.decode(Deployment.self)
    _ = try? value.decode(Pod.self)
    _ = try? value.decode(Service.self)
    _ = try? value.decode(ConfigMap.self)
    _ = try? value.decode(Event.self)
    _ = try? value.decode(Job.self)
    _ = try? value.decode(CronJob.self)
    _ = try? value.decode(Ingress.self)
    _ = try? value.decode(HorizontalPodAutoscaler.self)
    _ = try? value.decode(ControllerRevision.self)
    _ = try? value.decode(Lease.self)
    _ = try? value.decode(Status.self)
    return 0
}
