import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The files of a local restic repository, read and removed without restic: what is there
/// (`config`, `keys/`, `snapshots/`, `locks/`, packs) and what a killed restic left behind.
/// Every restic run pays for opening the repository (its scrypt key derivation); a directory
/// listing does not. The calls block: callers run walks on a thread of their own.
struct LocalRepositoryFiles: Sendable {
    /// The repository's directory.
    let root: String

    /// Whether `root` holds a restic repository: a `config` file and a `keys/` directory.
    var holdsRepository: Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root + "/config", isDirectory: &isDirectory), !isDirectory.boolValue
        else { return false }
        return FileManager.default.fileExists(atPath: root + "/keys", isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Whether `key` opens the repository's `config` (a repository made again at the same place
    /// has another master key).
    func configOpens(with key: ResticMasterKey) -> Bool {
        guard let config = FileManager.default.contents(atPath: root + "/config") else { return false }
        return key.open(Array(config)) != nil
    }

    /// Bytes of every file under the root (config, keys, index, snapshots, data, locks).
    func totalBytes() -> Int64 {
        var total: Int64 = 0
        Self.visitFiles(under: root) { _, info in total += Int64(info.st_size) }
        return total
    }

    /// The names of the files in `directory` (`snapshots`, `locks`) that start with `prefix`.
    /// A missing directory holds nothing.
    func fileNames(in directory: String, prefix: String = "") throws -> [String] {
        let full = root + "/" + directory
        guard FileManager.default.fileExists(atPath: full) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: full).filter { $0.hasPrefix(prefix) }
    }

    /// Removes these lock files (a lock removed meanwhile is fine).
    func removeLocks(_ ids: [String]) {
        for id in ids { try? FileManager.default.removeItem(atPath: root + "/locks/" + id) }
    }

    /// Files restic began to write and never finished (`NAME-tmp-RANDOM`: restic 0.14 writes a
    /// local repository's files under a temporary name and renames them when complete), not
    /// written to since `cutoff` (seconds since 1970). Paths are relative to the root.
    func unfinishedFiles(notModifiedSince cutoff: Double) -> [(path: String, bytes: Int64)] {
        var found: [(path: String, bytes: Int64)] = []
        Self.visitFiles(under: root) { relative, info in
            let name = relative.split(separator: "/").last.map(String.init) ?? relative
            guard name.contains("-tmp-"), Double(info.st_mtim.tv_sec) < cutoff else { return }
            found.append((relative, Int64(info.st_size)))
        }
        return found
    }

    /// Removes files `unfinishedFiles` listed (paths relative to the root); a name that is not
    /// an unfinished restic file is refused.
    func removeUnfinishedFiles(_ paths: [String]) throws(ResticError) {
        for relative in paths {
            let name = relative.split(separator: "/").last.map(String.init) ?? ""
            guard name.contains("-tmp-"), !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
                throw .invalidArgument("\(relative) is not an unfinished restic file")
            }
            try? FileManager.default.removeItem(atPath: root + "/" + relative)  // gone meanwhile is fine
        }
    }

    /// Where `d_name` is in a `struct dirent`.
    private static let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19  // 19 on Linux

    /// Calls `visit` with the path (relative to `root`) and `lstat` of every regular file under
    /// `root`, recursively; symbolic links are not followed, unreadable entries are skipped.
    /// Callers run it on a thread of its own: a large repository has a hundred thousand packs.
    static func visitFiles(under root: String, _ visit: (String, stat) -> Void) {
        func walk(_ relative: String) {
            let full = relative.isEmpty ? root : root + "/" + relative
            guard let directory = opendir(full) else { return }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                // The name is read in place, up to its NUL. `entry.pointee` would copy a whole
                // `struct dirent` (280 bytes), and a record is only `d_reclen` long: the last one
                // of readdir's buffer can end just before an unmapped page, and the copy then
                // faulted (an operator crashed so, listing a repository's files).
                let name = String(
                    cString: UnsafeRawPointer(entry).advanced(by: Self.direntNameOffset).assumingMemoryBound(
                        to: CChar.self))
                if name == "." || name == ".." { continue }
                let child = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(root + "/" + child, &info) == 0 else { continue }  // removed meanwhile
                switch info.st_mode & S_IFMT {
                case S_IFDIR: walk(child)
                case S_IFREG: visit(child, info)
                default: break
                }
            }
        }
        walk("")
    }
}
