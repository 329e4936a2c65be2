import Foundation
import FuzzSupport
import KubeCore

/// A watch response body, cut into chunks where the input says (its first byte is the chunk size),
/// through the line splitter and the line decoder. Must never crash; every decoded event's object
/// must survive a serialize/parse round trip unchanged, and decoding it with managedFields skipped
/// must refuse the same lines and give the same object without them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWatchStream(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let chunkSize = Int(first % 64) + 1
    let body = bytes.dropFirst()
    var splitter = LineSplitter(maxLineBytes: 1 << 16)
    var lines: [Data] = []
    var offset = body.startIndex
    do {
        while offset < body.endIndex {
            let end = min(offset + chunkSize, body.endIndex)
            lines += try splitter.feed(Data(body[offset..<end]))
            offset = end
        }
        if let last = splitter.finish() { lines.append(last) }
    } catch {
        return 0  // an over-long line is refused with an error, which is the point
    }
    for line in lines {
        // Skipping managedFields unbuilt refuses the same lines and drops only them.
        let skipped = try? WatchLineDecoder.decode(line, droppingManagedFields: true)
        guard let event = try? WatchLineDecoder.decode(line) else {
            if skipped != nil { fatalError("a line refused in full was accepted with managedFields skipped") }
            continue
        }
        var withoutManagedFields = event.object
        if withoutManagedFields[path: ["metadata"]]?.objectValue != nil { withoutManagedFields[path: ["metadata", "managedFields"]] = nil }
        if !(skipped.map { sameJSON($0.object, withoutManagedFields) } ?? false) { fatalError("skipping managedFields changed more: \(event.object)") }
        let again = try? JSONValue(parsing: event.object.serialized())
        if !(again.map { sameJSON($0, event.object) } ?? false) { fatalError("watch object changed in a round trip: \(event.object)") }
    }
    return 0
}
