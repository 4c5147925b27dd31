import Foundation
import KubeClient
import KubeJSON

/// The console's calls to the API server for one browser request, made with the console's
/// credentials and, behind a trusted proxy, as the user it names. Answers pass the API server's
/// own status and message through (a 403 says what was denied).
struct ConsoleAPI: Sendable {
    let client: KubeClient
    let identity: [(name: String, value: String)]

    private func call(_ method: String, _ path: String, query: [(name: String, value: String)] = [], body: JSONValue? = nil, accept: String = "application/json", raw: Bool = false) async -> PassthroughResponse {
        do {
            return try await client.passthrough(method: method, path: path, query: query, body: body, accept: accept, headers: identity, raw: raw)
        } catch {
            return PassthroughResponse(status: 502, body: ["message": .string("the API server could not be reached: \(error)")])
        }
    }

    private static func failure(_ response: PassthroughResponse) -> ConsoleReply {
        .message(response.status, response.errorMessage ?? "")
    }

    /// The namespaces the user may list; a user who may not gets told so and types one.
    func namespaces() async -> ConsoleReply {
        let response = await call("GET", "/api/v1/namespaces")
        guard response.errorMessage == nil else {
            return .json(200, ["canList": false, "items": [], "message": .string(response.errorMessage ?? "")])
        }
        let names = (response.body["items"].arrayValue ?? []).compactMap { $0["metadata"]["name"].stringValue }.sorted()
        return .json(200, ["canList": true, "items": .array(names.map(JSONValue.string))])
    }

    /// A kind's list in the Table form: the CRD's printer columns, a row per object.
    func table(_ kind: ConsoleKind, namespace: String?) async -> ConsoleReply {
        let response = await call("GET", kind.collection(namespace: namespace), accept: Console.tableAccept, raw: true)
        guard response.errorMessage == nil else { return Self.failure(response) }
        return .full(status: 200, headers: [("Content-Type", "application/json")], body: response.bytes)
    }

    /// Server-sent events from a watch in the Table form, from `resourceVersion` on: one
    /// `{"type", "table"}` per change; `EXPIRED` when the version is too old (410: the page lists
    /// again and watches from the new version), `END` when the watch ends (the page watches again
    /// from the last version it saw), `ERROR` with the API server's message.
    func watch(_ kind: ConsoleKind, namespace: String?, resourceVersion: String) -> ConsoleReply {
        let stream = client.passthroughWatch(
            path: kind.collection(namespace: namespace),
            query: [("resourceVersion", resourceVersion), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "240")],
            accept: Console.tableAccept, headers: identity)
        let (events, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let task = Task {
            func send(_ value: JSONValue) { continuation.yield(Array("data: ".utf8) + value.serializedBytes() + Array("\n\n".utf8)) }
            send(["type": "OPEN"])
            do {
                for try await event in stream {
                    switch event {
                    case .added(let table): send(["type": "ADDED", "table": table])
                    case .modified(let table): send(["type": "MODIFIED", "table": table])
                    case .deleted(let table): send(["type": "DELETED", "table": table])
                    case .bookmark(let version): send(["type": "BOOKMARK", "resourceVersion": .string(version)])
                    case .error(let status): send(["type": "ERROR", "message": .string(status.message ?? "watch error \(status.code)")])
                    }
                }
                send(["type": "END"])
            } catch let error as KubeError {
                if error.isGone {
                    send(["type": "EXPIRED"])
                } else if case .api(let status) = error {
                    send(["type": "ERROR", "code": .int(Int64(status.code)), "message": .string(status.message ?? "the API server answered \(status.code)")])
                } else if case .cancelled = error {
                } else {
                    send(["type": "ERROR", "message": .string("\(error)")])
                }
            } catch {
                send(["type": "ERROR", "message": .string("\(error)")])
            }
            continuation.finish()
        }
        return .events(events, onClose: { task.cancel() })
    }

    /// One object with what its page shows: its Events and, for a Snapshot, its Repository,
    /// whether it is the last verified copy of its source there, and the restore target.
    /// `lastVerified` asks whether it is the last verified copy (a list of the namespace's
    /// Snapshots: asked when the delete dialog opens, not on every refresh of the page).
    func detail(_ kind: ConsoleKind, namespace: String, name: String, lastVerified: Bool = false) async -> ConsoleReply {
        let response = await call("GET", kind.object(namespace: namespace, name: name))
        guard response.errorMessage == nil else { return Self.failure(response) }
        let object = response.body
        var result: JSONValue = ["object": object]
        let events = await call(
            "GET", "/api/v1/namespaces/\(escape(namespace))/events",
            query: [("fieldSelector", "involvedObject.kind=\(kind.kind),involvedObject.name=\(name)")])
        if events.errorMessage == nil {
            let items = (events.body["items"].arrayValue ?? []).sorted {
                ($0["lastTimestamp"].stringValue ?? $0["eventTime"].stringValue ?? "") > ($1["lastTimestamp"].stringValue ?? $1["eventTime"].stringValue ?? "")
            }
            result["events"] = .array(Array(items.prefix(20)))
        } else {
            result["eventsError"] = .string(events.errorMessage ?? "")
        }
        guard kind == .snapshots else { return .json(200, result) }
        if let repository = object["spec"]["repository"].stringValue {
            let repo = await call("GET", ConsoleKind.repositories.object(namespace: namespace, name: repository))
            if repo.errorMessage == nil { result["repository"] = repo.body } else { result["repositoryError"] = .string(repo.errorMessage ?? "") }
        }
        if lastVerified { result["lastVerified"] = .bool(await isLastVerified(object, namespace: namespace)) }
        return .json(200, result)
    }

    /// Whether no other Ready, verified Snapshot of the same source is in the same repository.
    private func isLastVerified(_ snapshot: JSONValue, namespace: String) async -> Bool {
        guard Self.isVerified(snapshot) else { return false }
        let all = await call("GET", ConsoleKind.snapshots.collection(namespace: namespace))
        guard all.errorMessage == nil else { return false }
        let others = (all.body["items"].arrayValue ?? []).filter {
            $0["metadata"]["uid"] != snapshot["metadata"]["uid"] && $0["spec"]["repository"] == snapshot["spec"]["repository"]
                && Self.source(of: $0) == Self.source(of: snapshot) && Self.isVerified($0)
        }
        return others.isEmpty
    }

    static func isVerified(_ snapshot: JSONValue) -> Bool {
        snapshot["status"]["phase"] == "Ready" && snapshot["status"]["verificationStatus"] == "OK"
    }

    /// What a Snapshot is of: its source, or for an adopted one the repository's record of it.
    static func source(of snapshot: JSONValue) -> JSONValue {
        let source = snapshot["spec"]["source"]
        return source.isNull ? snapshot["status"]["source"] : source
    }

    func delete(_ kind: ConsoleKind, namespace: String, name: String) async -> ConsoleReply {
        let response = await call("DELETE", kind.object(namespace: namespace, name: name))
        guard response.errorMessage == nil else { return Self.failure(response) }
        return .json(200, response.body)
    }

    /// Creates a RestoreSession of the Snapshot into its own source, with a pre-restore
    /// Snapshot (the default), named after the Snapshot and the time.
    func restore(namespace: String, snapshot: String, name: String) async -> ConsoleReply {
        guard Self.isLabelValue(name) else {
            return .message(400, "metadata.name: \"\(name)\" must be at most 63 lower-case letters, digits and '-' (it names the pre-restore Snapshot's label)")
        }
        let body: JSONValue = [
            "apiVersion": "kubesnap.io/v1alpha1", "kind": "RestoreSession",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "spec": ["snapshot": .string(snapshot)],
        ]
        let response = await call("POST", ConsoleKind.restoresessions.collection(namespace: namespace), body: body)
        guard response.errorMessage == nil else { return Self.failure(response) }
        return .json(201, response.body)
    }

    /// A DNS-1123 label: what a RestoreSession's name must be for its pre-restore label.
    static func isLabelValue(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }
    }
}
