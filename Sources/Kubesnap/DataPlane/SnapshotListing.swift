import Foundation
import KubeController
import Restic

/// One repository's snapshots, with their ids sorted so that a lookup by id or prefix is a
/// binary search (a thousand adoptions scanning a thousand ids each cost an eighth of the
/// operator's CPU).
struct SnapshotListing: Sendable {
    let snapshots: [SnapshotInfo]
    /// Indexes into `snapshots`, by id.
    private let byID: [Int]

    init(_ snapshots: [SnapshotInfo]) {
        self.snapshots = snapshots
        byID = snapshots.indices.sorted { snapshots[$0].id < snapshots[$1].id }
    }

    /// The snapshot with this full id or unique prefix; nil if none has it.
    /// Throws `ResticError.invalidArgument` for a prefix that matches several.
    func match(_ prefix: String) throws -> SnapshotInfo? {
        // The first id not below the prefix; ids with the prefix follow it in order.
        var low = 0, high = byID.count
        while low < high {
            let middle = (low + high) / 2
            if snapshots[byID[middle]].id < prefix { low = middle + 1 } else { high = middle }
        }
        guard low < byID.count, snapshots[byID[low]].id.hasPrefix(prefix) else { return nil }
        if low + 1 < byID.count, snapshots[byID[low + 1]].id.hasPrefix(prefix) {
            throw ResticError.invalidArgument("snapshot id prefix \"\(prefix)\" matches more than one snapshot")
        }
        return snapshots[byID[low]]
    }
}
