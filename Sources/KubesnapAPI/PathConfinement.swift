import Foundation

/// A path that failed confinement; the message names the field and the root.
public struct PathConfinementError: Error, Sendable, Hashable, CustomStringConvertible {
    /// e.g. `spec.source.path`.
    public var field: String
    public var path: String
    public var message: String

    public var description: String { message }
}

/// The outcome of confining a path.
public struct ConfinedPath: Sendable, Hashable {
    /// The absolute path with every symlink of its existing part resolved; hand this (not the
    /// user's text) to the data mover.
    public var resolvedPath: String
    /// Whether the whole path exists now (a repository path may not exist yet; a source must).
    public var exists: Bool
}

/// Keeps user-given paths inside a root directory (`--source-root`, `--repository-root`).
///
/// A relative path is taken against the root; the result is resolved through symlinks
/// (`realpath`) as far as it exists, and the part that does not exist yet is appended
/// lexically (it may not contain `..`). The resolved path must be the root or lie below it.
/// The check is only as good as the moment it runs: the data mover should use `resolvedPath`.
public struct PathConfinement: Sendable, Hashable {
    /// The root as given.
    public let root: String
    /// The root with symlinks resolved.
    public let resolvedRoot: String
    /// How messages name the root: "source root", "repository root".
    public let rootName: String

    public init(root: String, rootName: String) throws(PathConfinementError) {
        guard root.hasPrefix("/") else {
            throw PathConfinementError(
                field: rootName, path: root, message: "the \(rootName) \"\(root)\" must be an absolute path")
        }
        self.root = root
        self.rootName = rootName
        self.resolvedRoot = try Self.resolve(root, field: rootName).resolvedPath
    }

    /// Confines `path` (the value of `field`, e.g. "spec.source.path").
    public func confine(_ path: String, field: String) throws(PathConfinementError) -> ConfinedPath {
        guard !path.isEmpty else {
            throw PathConfinementError(field: field, path: path, message: "\(field) must not be empty")
        }
        guard !path.contains("\0") else {
            throw PathConfinementError(field: field, path: path, message: "\(field) must not contain a NUL character")
        }
        let joined = path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
        let confined = try Self.resolve(joined, field: field)
        let inside =
            resolvedRoot == "/" || confined.resolvedPath == resolvedRoot
            || confined.resolvedPath.hasPrefix(resolvedRoot + "/")
        guard inside else {
            throw PathConfinementError(
                field: field, path: path,
                message: "\(field) \"\(path)\" resolves outside the \(rootName) \"\(root)\"")
        }
        return confined
    }

    /// realpath of the deepest existing ancestor, plus the rest appended lexically.
    private static func resolve(_ absolute: String, field: String) throws(PathConfinementError) -> ConfinedPath {
        let components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        // Find the longest prefix that exists (lstat would stop at a dangling symlink; realpath
        // is what we need, so probe it directly).
        var existingCount = components.count
        var resolvedPrefix: String?
        while existingCount >= 0 {
            let prefix = "/" + components.prefix(existingCount).joined(separator: "/")
            if let real = realPath(prefix) {
                resolvedPrefix = real
                break
            }
            existingCount -= 1
        }
        guard var result = resolvedPrefix else {
            throw PathConfinementError(field: field, path: absolute, message: "\(field) \"\(absolute)\" cannot be resolved")
        }
        if existingCount < components.count {
            // The first missing component may be a dangling symlink: realpath fails on it, but a
            // later mkdir would follow it wherever it points.
            let first = "/" + components.prefix(existingCount + 1).joined(separator: "/")
            var info = stat()
            if lstat(first, &info) == 0 {
                throw PathConfinementError(
                    field: field, path: absolute,
                    message: "\(field) \"\(absolute)\" goes through \"\(first)\", which exists but cannot be resolved (a dangling symbolic link or no permission)")
            }
        }
        let rest = components.dropFirst(existingCount).filter { $0 != "." }
        if rest.contains("..") {
            throw PathConfinementError(
                field: field, path: absolute,
                message: "\(field) \"\(absolute)\" uses \"..\" below a directory that does not exist")
        }
        for component in rest { result = result == "/" ? "/" + component : result + "/" + component }
        return ConfinedPath(resolvedPath: result, exists: existingCount == components.count)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
