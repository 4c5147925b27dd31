import Foundation

/// What kind of failure a restic command reported, read from its stderr and exit code.
///
/// restic 0.14 exits 1 for almost every fatal error, so the kind comes from the message:
/// the checks run in the order of the cases below because one message can carry several hints
/// (an unreachable S3 endpoint also prints "Is there a repository at the following location?").
public enum ResticFailureKind: String, Sendable, Hashable {
    /// "wrong password or no key found".
    case wrongPassword
    /// Connection refused, no such host, timeouts, resets: usually transient.
    case backendUnreachable
    /// The backend refused our credentials or the filesystem refused access.
    case accessDenied
    /// "repository is already locked": another process holds a conflicting lock.
    case locked
    /// "unable to open config file" / "Is there a repository at the following location?".
    case repositoryNotFound
    /// "config file already exists" on `init`.
    case alreadyInitialized
    /// A snapshot id that the repository does not hold.
    case snapshotNotFound
    /// The data read back does not match (corrupted or missing pack, failed MAC, bad hash).
    case integrity
    /// `backup` of a path that does not exist.
    case sourceNotFound
    /// Anything else.
    case other
}

/// A restic command that ran and failed.
public struct ResticFailure: Sendable, CustomStringConvertible {
    public var kind: ResticFailureKind
    /// The restic subcommand ("backup", "snapshots", ...).
    public var command: String
    public var exitCode: Int32
    /// restic's stderr (progress noise removed; the password and S3 secret are redacted).
    public var stderr: String

    public var description: String {
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return "restic \(command) failed (exit \(exitCode), \(kind.rawValue))" + (text.isEmpty ? "" : ": \(text)")
    }
}

/// Every error of the Restic module.
public enum ResticError: Error, Sendable, CustomStringConvertible {
    /// The restic executable cannot be found or started.
    case executableNotFound(String)
    /// The caller passed something restic must not receive (a relative path, a tag with a comma,
    /// an id that is not hex); the message names the argument.
    case invalidArgument(String)
    /// restic ran and failed.
    case commandFailed(ResticFailure)
    /// restic succeeded but printed something this module cannot read.
    case unexpectedOutput(command: String, detail: String)
    /// `initialize()` refused a local directory that is neither empty nor a restic repository.
    case locationNotEmpty(String)
    /// `wipe()` refused a directory that is not a restic repository.
    case notARepository(String)
    /// The operation is not available for this backend.
    case unsupported(String)
    /// `forget` exited 0 but these snapshots are still listed.
    case forgetIncomplete(remaining: [String])
    /// An S3 request (wiping a repository) failed; the message names the request, never a key.
    case s3(String)

    /// The classification of this error (`.other` for errors that are not restic's own).
    public var kind: ResticFailureKind {
        switch self {
        case .commandFailed(let failure): return failure.kind
        default: return .other
        }
    }

    public var description: String {
        switch self {
        case .executableNotFound(let message): return message
        case .invalidArgument(let message): return message
        case .commandFailed(let failure): return failure.description
        case .unexpectedOutput(let command, let detail): return "restic \(command): unexpected output: \(detail)"
        case .locationNotEmpty(let path):
            return "refusing to create a restic repository in \(path): the directory is not empty and holds no restic repository"
        case .notARepository(let path):
            return "refusing to remove \(path): it does not hold a restic repository (config file and keys/)"
        case .unsupported(let message): return message
        case .forgetIncomplete(let remaining):
            return "restic forget left snapshots in the repository: \(remaining.joined(separator: ", "))"
        case .s3(let message): return "s3: \(message)"
        }
    }
}

/// Reads restic's stderr into a `ResticFailureKind`.
public enum ResticErrorClassifier {
    public static func classify(stderr: String, exitCode: Int32) -> ResticFailureKind {
        let text = stderr.lowercased()
        func has(_ needles: String...) -> Bool { needles.contains { text.contains($0) } }
        if has("wrong password or no key found") { return .wrongPassword }
        if has(
            "connection refused", "no such host", "i/o timeout", "network is unreachable",
            "no route to host", "connection reset", "tls handshake timeout", "server misbehaving",
            "context deadline exceeded", "dial tcp", "eof while", "temporary failure in name resolution")
        {
            return .backendUnreachable
        }
        if has(
            "access denied", "accessdenied", "invalidaccesskeyid", "signaturedoesnotmatch",
            "the aws access key id you provided does not exist", "permission denied",
            "($aws_secret_access_key) is empty", "($aws_access_key_id) is empty", "401 unauthorized",
            "403 forbidden", "forbidden")
        {
            return .accessDenied
        }
        if has("repository is already locked", "unable to create lock") { return .locked }
        if has("config file already exists") { return .alreadyInitialized }
        if has("is there a repository at the following location", "unable to open config file") {
            return .repositoryNotFound
        }
        if has("no matching id found", "no snapshot found", "snapshot not found", "invalid id") {
            return .snapshotNotFound
        }
        if has("all target directories/files do not exist", "does not exist, skipping") { return .sourceNotFound }
        if has(
            "ciphertext verification failed", "pack id does not match", "repository contains errors",
            "invalid hash", "blob not found", "decrypting blob", "unexpected end of file", "checksum mismatch")
        {
            return .integrity
        }
        return .other
    }
}
