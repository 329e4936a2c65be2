import KubeCore

/// A value that changes whenever an object changes in anything but its status, kept beside each
/// cached object so a caller can tell "only the status moved" without parsing it.
///
/// Objects with a `metadata.generation` (Deployments, HPAs, PDBs, Ingresses, custom resources)
/// count spec changes there, while their controllers' status writes bump only the
/// resourceVersion; their stamp covers the generation and the rest of the metadata (labels,
/// annotations, owners: what a status write leaves alone), without `resourceVersion` and
/// `managedFields`. Objects without a generation (ConfigMaps, Services) are stamped with their
/// resourceVersion: every change counts.
///
/// A stamp is a hash, one word per cached object: equal stamps mean "unchanged" up to a 64-bit
/// collision of the process's randomly seeded `Hasher`, which nothing outside the process can aim
/// at.
public struct SpecStamp: Hashable, Sendable {
    let value: Int

    public init(of object: JSONValue) {
        var hasher = Hasher()
        if let generation = object[path: ["metadata", "generation"]]?.intValue {
            var metadata = object["metadata"]?.objectValue ?? [:]
            metadata["resourceVersion"] = nil
            metadata["managedFields"] = nil
            hasher.combine(generation)
            hasher.combine(metadata)
        } else {
            hasher.combine(object[path: ["metadata", "resourceVersion"]]?.stringValue)
        }
        value = hasher.finalize()
    }
}
