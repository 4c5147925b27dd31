import Foundation

/// A fresh directory under the system temporary directory, removed by `remove()` (call it in a
/// `defer`). Paths are resolved (no symlinks), so path confinement checks see real paths.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "kubesnap-test") throws {
        let base = (NSTemporaryDirectory() as NSString).resolvingSymlinksInPath
        let template = (base as NSString).appendingPathComponent("\(prefix)-XXXXXX")
        var bytes = Array(template.utf8CString)
        guard let result = mkdtemp(&bytes) else {
            throw NSError(domain: "TemporaryDirectory", code: Int(errno))
        }
        path = String(cString: result)
    }

    /// `path/component`.
    public func appending(_ component: String) -> String {
        (path as NSString).appendingPathComponent(component)
    }

    /// Writes `contents` to `path/relative`, creating parent directories.
    @discardableResult
    public func write(_ relative: String, _ contents: String) throws -> String {
        let full = appending(relative)
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: full, atomically: true, encoding: .utf8)
        return full
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
