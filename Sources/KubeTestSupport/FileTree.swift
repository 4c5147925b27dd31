import Foundation

/// A directory tree as a comparable value, for tests that check a restore: every entry under
/// the root (by relative path) with its type and mode, and for regular files their content and
/// modification time (whole seconds).
public enum FileTree {
    public static func describe(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for relative in try FileManager.default.subpathsOfDirectory(atPath: root).sorted() {
            let full = (root as NSString).appendingPathComponent(relative)
            let attributes = try FileManager.default.attributesOfItem(atPath: full)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            let type = attributes[.type] as? FileAttributeType
            if type == .typeRegular {
                let mtime = Int((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
                let content = (try? String(contentsOfFile: full, encoding: .utf8)) ?? "?"
                result[relative] = "file mode=\(String(mode, radix: 8)) mtime=\(mtime) \(content)"
            } else {
                result[relative] = "\(type?.rawValue ?? "?") mode=\(String(mode, radix: 8))"
            }
        }
        return result
    }
}
