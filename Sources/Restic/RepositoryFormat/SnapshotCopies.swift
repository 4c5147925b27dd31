import Foundation
import KubeJSON

extension ResticRepository {
    /// Writes `count` copies of snapshot `id` straight into this local repository, each sealed
    /// with the master key and named by its SHA-256 as restic names its files, and returns
    /// their ids. Each copy is the original with its own time (one second apart, before the
    /// original's) and the tag `copy-<n>`; they share the original's tree, so they cost a small
    /// file each and no data. For kubesnap-bench: 100,000 Snapshot objects, each with a restic
    /// snapshot of its own, in seconds rather than hours of `restic backup`.
    public func writeSnapshotCopies(of id: String, count: Int) async throws(ResticError) -> [String] {
        guard case .local(let path) = backend else {
            throw .unsupported("snapshot copies are written only into local repositories")
        }
        guard let key = await masterKey() else { throw .unsupported("the master key could not be read") }
        let printed: ChildResult
        do {
            printed = try await run(["cat", "snapshot", id], noLock: true, cache: false)
        } catch {
            throw .unsupported("restic cat snapshot \(id): \(error)")
        }
        guard var original = try? JSONValue.parse(Array(printed.stdout)),
            let time = original["time"].stringValue.flatMap(RFC3339.parse)
        else { throw .unsupported("restic cat snapshot \(id) printed no snapshot") }
        var ids: [String] = []
        ids.reserveCapacity(count)
        for n in 0..<count {
            original["time"] = .string(RFC3339.format(time.addingTimeInterval(-Double(n + 1))))
            original["tags"] = .array([.string("copy-\(n)")])
            let sealed = try key.seal(original.serializedBytes())
            let name = ResticMasterKey.storageID(of: sealed)
            do {
                try LocalForget.writeNewFile(sealed, at: "\(path)/snapshots/\(name)")
            } catch {
                throw .unsupported("writing snapshot copy \(n): \(error)")
            }
            ids.append(name)
        }
        return ids
    }
}
