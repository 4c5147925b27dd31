import Foundation
import KubeJSON

/// One node of `restic ls --json`: a file, directory or link of a snapshot.
public struct SnapshotNode: Sendable, Hashable {
    /// The absolute path the snapshot recorded.
    public var path: String
    /// `file`, `dir`, `symlink`, ...
    public var type: String
    public var size: Int64
}

extension ResticRepository {
    /// `restic restore --verify ID --target DIR`: the snapshot's paths are written under `target`
    /// (a snapshot of `/data/app` lands in `target/data/app`), and every restored file is read
    /// back and compared with the snapshot. restic exits non-zero if anything differs.
    public func restore(snapshotID: String, into target: String) async throws {
        try Self.validateID(snapshotID)
        guard target.hasPrefix("/") else { throw ResticError.invalidArgument("restore target \"\(target)\" must be absolute") }
        _ = try await run(["restore", "--verify", "--target", target, "--", snapshotID])
    }

    /// `restic ls --json ID`: every node of the snapshot.
    public func listNodes(snapshotID: String) async throws -> [SnapshotNode] {
        try Self.validateID(snapshotID)
        let lines = Locked(JSONLineCollector())
        _ = try await run(["ls", "--json", "--", snapshotID], stdout: .stream { chunk in lines.withLock { $0.append(chunk) } })
        struct NodeJSON: Decodable {
            var struct_type: String?
            var path: String?
            var type: String?
            var size: Int64?
        }
        // `ls --json` prints the snapshot first, then its nodes: other lines are skipped. A node
        // skipped wrongly only fails the restore's check (a staged file "not in the snapshot").
        return lines.withLock { $0.finish() }.compactMap { line in
            guard let node = try? JSONDecoder().decode(NodeJSON.self, from: Data(line.utf8)), node.struct_type == "node",
                let path = node.path, let type = node.type
            else { return nil }
            return SnapshotNode(path: path, type: type, size: node.size ?? 0)
        }
    }
}
