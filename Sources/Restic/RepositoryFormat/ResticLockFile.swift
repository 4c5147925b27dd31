import Foundation
import KubeJSON

#if canImport(Glibc)
    import Glibc
#endif

/// The content of a restic lock file (restic's `Lock` JSON): what `restic cat lock` prints, and
/// what a lock file holds sealed with the master key.
struct ResticLockFile: Sendable, Hashable {
    var time: Date
    var exclusive: Bool
    var hostname: String
    var username: String?
    var pid: Int32
    var uid: UInt32?
    var gid: UInt32?

    /// A lock of this process, made now, as restic would write it.
    static func ofThisProcess(exclusive: Bool) -> ResticLockFile {
        ResticLockFile(
            time: Date(), exclusive: exclusive, hostname: localHostname, username: localUsername, pid: getpid(),
            uid: getuid(), gid: getgid())
    }

    /// Reads the JSON `restic cat lock` prints; nil for anything else.
    init?(json bytes: Data) {
        guard let value = try? JSONValue.parse(bytes),
            let timeText = value["time"].stringValue, let time = RFC3339.parse(timeText),
            let exclusive = value["exclusive"].boolValue,
            let hostname = value["hostname"].stringValue,
            let pid = value["pid"].intValue, let pid32 = Int32(exactly: pid)
        else { return nil }
        self.init(
            time: time, exclusive: exclusive, hostname: hostname, username: value["username"].stringValue,
            pid: pid32, uid: value["uid"].intValue.flatMap { UInt32(exactly: $0) },
            gid: value["gid"].intValue.flatMap { UInt32(exactly: $0) })
    }

    init(
        time: Date, exclusive: Bool, hostname: String, username: String?, pid: Int32, uid: UInt32?, gid: UInt32?
    ) {
        self.time = time
        self.exclusive = exclusive
        self.hostname = hostname
        self.username = username
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The lock as listed, once its file name (`id`) is known.
    func lock(id: String) -> ResticLock {
        ResticLock(id: id, pid: pid, hostname: hostname, username: username, time: time, exclusive: exclusive)
    }

    /// The file's bytes: the JSON sealed with `key`. Its name is `ResticMasterKey.storageID` of them.
    func sealed(with key: ResticMasterKey) throws(ResticError) -> [UInt8] {
        var json: [String: JSONValue] = [
            "time": .string(RFC3339.format(time, fractionalSeconds: true)),
            "exclusive": .bool(exclusive),
            "hostname": .string(hostname),
            "username": .string(username ?? ""),
            "pid": .int(Int64(pid)),
        ]
        if let uid { json["uid"] = .int(Int64(uid)) }
        if let gid { json["gid"] = .int(Int64(gid)) }
        return try key.seal(JSONValue.object(json).serializedBytes())
    }

    /// This machine's name as restic writes it into lock files (Go's os.Hostname).
    static var localHostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The user name restic writes into a lock (Go's user.Current), or "" when there is none.
    static var localUsername: String {
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return "" }
        return String(cString: name)
    }
}
