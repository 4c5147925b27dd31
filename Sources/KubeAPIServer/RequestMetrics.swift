import Foundation
import KubeJSON

/// `apiserver_request_total{verb,group,resource,subresource,code}` counters and the optional
/// audit log (one JSON line per request, never a body).
final class RequestMetrics: Sendable {
    struct Labels: Hashable {
        var verb, group, resource, subresource: String
        var code: Int
    }
    private let counters = Locked<[Labels: Int]>([:])
    private let audit: Locked<FileHandle?>

    init(auditLogPath: String?) {
        var handle: FileHandle?
        if let auditLogPath {
            if !FileManager.default.fileExists(atPath: auditLogPath) {
                _ = FileManager.default.createFile(atPath: auditLogPath, contents: nil)
            }
            handle = FileHandle(forWritingAtPath: auditLogPath)
            handle?.seekToEndOfFile()
        }
        audit = Locked(handle)
    }

    func record(verb: String, group: String, resource: String, subresource: String, namespace: String, name: String, code: Int, userAgent: String) {
        guard !verb.isEmpty else { return }
        counters.withLock { $0[Labels(verb: verb, group: group, resource: resource, subresource: subresource, code: code), default: 0] += 1 }
        audit.withLock { handle in
            guard let handle else { return }
            let line: JSONValue = [
                "verb": .string(verb), "group": .string(group), "resource": .string(resource),
                "subresource": .string(subresource), "namespace": .string(namespace), "name": .string(name),
                "code": .int(Int64(code)), "userAgent": .string(userAgent), "time": .string(ObjectStore.timestamp()),
            ]
            handle.write(Data(line.serializedBytes() + [0x0A]))
        }
    }

    /// Prometheus text exposition.
    func exposition() -> String {
        var out = "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, group, resource, subresource and HTTP response code.\n# TYPE apiserver_request_total counter\n"
        let snapshot = counters.current.sorted {
            ($0.key.verb, $0.key.group, $0.key.resource, $0.key.subresource, $0.key.code)
                < ($1.key.verb, $1.key.group, $1.key.resource, $1.key.subresource, $1.key.code)
        }
        for (l, n) in snapshot {
            out += "apiserver_request_total{code=\"\(l.code)\",group=\"\(l.group)\",resource=\"\(l.resource)\",subresource=\"\(l.subresource)\",verb=\"\(l.verb)\"} \(n)\n"
        }
        return out
    }

    func close() {
        audit.withLock {
            try? $0?.close()
            $0 = nil
        }
    }
}
