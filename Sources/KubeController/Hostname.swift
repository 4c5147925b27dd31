import Foundation

enum Hostname {
    /// This machine's host name from `gethostname` (no DNS lookup, unlike
    /// `ProcessInfo.hostName`, which may block on a resolver in a container).
    static var current: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
