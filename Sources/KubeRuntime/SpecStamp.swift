import KubeCore

/// A value that changes whenever an object changes in anything but its status, kept beside each
/// cached object so a caller can tell "only the status moved" without parsing it.
///
/// Objects with a `metadata.generation` (Deployments, HPAs, PDBs, Ingresses, custom resources)
/// count spec changes there, while their controllers' status writes bump only the
/// resourceVersion; their stamp is the generation and a hash of the rest of the metadata (labels,
/// annotations, owners: what a status write leaves alone), without `resourceVersion` and
/// `managedFields`. Objects without a generation (ConfigMaps, Services) are stamped with their
/// resourceVersion: every change counts.
///
/// The metadata part is a hash: equal stamps mean "unchanged" up to a 64-bit collision of the
/// process's randomly seeded `Hasher`, which nothing outside the process can aim at.
public struct SpecStamp: Hashable, Sendable {
    var generation: Int64?
    var metadataHash: Int
    var resourceVersion: String?

    public init(of object: JSONValue) {
        guard let generation = object[path: ["metadata", "generation"]]?.intValue else {
            self.generation = nil
            self.metadataHash = 0
            self.resourceVersion = object[path: ["metadata", "resourceVersion"]]?.stringValue
            return
        }
        var metadata = object["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = nil
        metadata["managedFields"] = nil
        self.generation = generation
        self.metadataHash = metadata.hashValue
        self.resourceVersion = nil
    }
}
