import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// Reads every fixture with our YAML reader and with kubectl, and compares the JSON.
///
/// kubectl reads a local manifest without a cluster with `kubectl patch --local -f F --type merge
/// -p {} -o json` (an empty merge patch changes nothing; `--local` never builds a REST mapping,
/// so no API server is asked). It prints each object on its own and flattens `kind: List`.
/// Kubeconfigs go through `kubectl config view --raw -o json --kubeconfig F`, which adds
/// `preferences: {}` and `provideClusterInfo: false` itself.
@Suite struct YAMLCorpusTests {
    static let kubectl = "/usr/bin/kubectl"

    static var fixturesDirectory: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw FixtureMissing()
            }
            return url
        }
    }

    static func fixtures(prefix: String?, excluding: String?) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: try fixturesDirectory.path)
        return names.filter { name in
            guard name.hasSuffix(".yaml") else { return false }
            if let prefix, !name.hasPrefix(prefix) { return false }
            if let excluding, name.hasPrefix(excluding) { return false }
            return true
        }.sorted()
    }

    static var manifestFixtures: [String] { (try? fixtures(prefix: nil, excluding: "kubeconfig")) ?? [] }
    static var kubeconfigFixtures: [String] { (try? fixtures(prefix: "kubeconfig", excluding: nil)) ?? [] }

    static func environment(_ home: TemporaryDirectory) -> [String: String] {
        [
            "PATH": "/usr/bin:/bin",
            "HOME": home.path,
            // Points at nothing on purpose: the commands used must work without a cluster.
            "KUBECONFIG": home.appending("no-such-kubeconfig"),
        ]
    }

    @Test func corpusIsPresent() {
        #expect(Self.manifestFixtures.count >= 7)
        #expect(Self.kubeconfigFixtures.count >= 2)
    }

    @Test(arguments: manifestFixtures)
    func manifestMatchesKubectl(_ name: String) async throws {
        let path = try Self.fixturesDirectory.appendingPathComponent(name).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let ours = try YAML.parseAll(text).flatMap { document -> [JSONValue] in
            if document["kind"] == "List", let items = document["items"].arrayValue { return items }
            return [document]
        }
        let home = try TemporaryDirectory(prefix: "yaml-corpus")
        defer { home.remove() }
        let result = try await runCommand(
            Self.kubectl, ["patch", "--local", "-f", path, "--type", "merge", "-p", "{}", "-o", "json"],
            environment: Self.environment(home))
        try #require(result.succeeded, "kubectl failed on \(name): \(result)")
        let theirs = try splitJSONStream(result.stdout)
        #expect(ours.count == theirs.count, "\(name): document count")
        for (index, (mine, kubectls)) in zip(ours, theirs).enumerated() {
            #expect(
                mine == kubectls,
                "\(name) document \(index):\nours:    \(mine)\nkubectl: \(kubectls)\ndiff: \(firstDifference(mine, kubectls) ?? "-")"
            )
        }
    }

    @Test(arguments: kubeconfigFixtures)
    func kubeconfigMatchesKubectl(_ name: String) async throws {
        let path = try Self.fixturesDirectory.appendingPathComponent(name).path
        let read = try YAML.parse(try String(contentsOfFile: path, encoding: .utf8))
        let home = try TemporaryDirectory(prefix: "yaml-corpus")
        defer { home.remove() }
        let result = try await runCommand(
            Self.kubectl, ["config", "view", "--raw", "-o", "json", "--kubeconfig", path],
            environment: Self.environment(home))
        try #require(result.succeeded, "kubectl failed on \(name): \(result)")
        var theirs = try JSONValue.parse(result.stdout)
        // Added by kubectl's typed round trip, not present in the file.
        if theirs["preferences"] == .emptyObject { theirs.removeValue(forKey: "preferences") }
        if case .array(var users) = theirs["users"] {
            for i in users.indices where users[i]["user"]["exec"]["provideClusterInfo"] == false {
                let sameUser = read["users"].arrayValue?.first { $0["name"] == users[i]["name"] }
                if sameUser?["user"]["exec"]["provideClusterInfo"].isNull ?? true {
                    users[i][path: ["user", "exec"]].removeValue(forKey: "provideClusterInfo")
                }
            }
            theirs["users"] = .array(users)
        }
        // kubectl writes the named lists sorted by name.
        var ours = read
        for list in ["clusters", "contexts", "users"] {
            for side in [0, 1] {
                let items = (side == 0 ? ours : theirs)[list].arrayValue ?? []
                let sorted = JSONValue.array(
                    items.sorted { ($0["name"].stringValue ?? "") < ($1["name"].stringValue ?? "") })
                if side == 0 { ours[list] = sorted } else { theirs[list] = sorted }
            }
        }
        #expect(
            ours == theirs,
            "\(name):\nours:    \(ours)\nkubectl: \(theirs)\ndiff: \(firstDifference(ours, theirs) ?? "-")")
    }

    /// Every fixture survives serialize → parse unchanged.
    @Test(arguments: manifestFixtures + kubeconfigFixtures)
    func serializeRoundTrips(_ name: String) throws {
        let path = try Self.fixturesDirectory.appendingPathComponent(name).path
        for document in try YAML.parseAll(try String(contentsOfFile: path, encoding: .utf8)) {
            let text = YAML.serialize(document)
            let back = try YAML.parse(text)
            #expect(back == document, "\(name):\n\(text)\ndiff: \(firstDifference(back, document) ?? "-")")
        }
    }
}

struct FixtureMissing: Error, CustomStringConvertible {
    var description: String { "Fixtures directory missing from the test bundle" }
}

extension YAMLCorpusTests {
    /// kubectl reads what `YAML.serialize` writes as the same objects.
    @Test(arguments: manifestFixtures)
    func kubectlReadsSerializedManifest(_ name: String) async throws {
        let path = try Self.fixturesDirectory.appendingPathComponent(name).path
        let documents = try YAML.parseAll(try String(contentsOfFile: path, encoding: .utf8))
        let home = try TemporaryDirectory(prefix: "yaml-serialize")
        defer { home.remove() }
        let written = try home.write("serialized.yaml", documents.map(YAML.serialize).joined(separator: "---\n"))
        let result = try await runCommand(
            Self.kubectl, ["patch", "--local", "-f", written, "--type", "merge", "-p", "{}", "-o", "json"],
            environment: Self.environment(home))
        try #require(result.succeeded, "kubectl failed on serialized \(name): \(result)")
        let expected = documents.flatMap { document -> [JSONValue] in
            if document["kind"] == "List", let items = document["items"].arrayValue { return items }
            return [document]
        }
        #expect(try splitJSONStream(result.stdout) == expected)
    }

    /// Strings that must be quoted (or written as blocks) to stay strings for kubectl too.
    @Test func kubectlReadsSerializedTrickyStrings() async throws {
        let tricky = [
            "yes", "No", "on", "OFF", "y", "N", "true", "null", "~", "", "123", "0x1F", "017", "0o17", "1e3", ".5",
            ".inf", "-.inf", ".nan", "1_000", "+5", "08", "<<", "- a", "a: b", "a #b", "#c", "key:", " lead", "trail ",
            "@x", "`x", "%x", "!x", "&x", "*x", "|", ">", "'", "\"", "{", "[", "2001-12-14", "tab\there", "new\nline",
            "a\n\n", "line\n", "  indented\nblock", "back\\slash", "é ✓", "\u{01}", "---", "...", "? x", "-", "=",
            "10Gi", "0.1", "text with 'quotes'", "trailing space \nnext",
        ]
        var data: JSONValue = [:]
        for (index, string) in tricky.enumerated() {
            data["value-\(index)"] = .string(string)
        }
        let object: JSONValue = [
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "tricky"], "data": data,
            "keys": .object(Dictionary(uniqueKeysWithValues: tricky.map { ($0, JSONValue.string($0)) })),
            "list": .array(tricky.map { .string($0) }),
        ]
        let home = try TemporaryDirectory(prefix: "yaml-serialize")
        defer { home.remove() }
        let written = try home.write("tricky.yaml", YAML.serialize(object))
        let result = try await runCommand(
            Self.kubectl, ["patch", "--local", "-f", written, "--type", "merge", "-p", "{}", "-o", "json"],
            environment: Self.environment(home))
        try #require(result.succeeded, "\(result)")
        let theirs = try JSONValue.parse(result.stdout)
        #expect(theirs == object, "diff: \(firstDifference(theirs, object) ?? "-")")
    }
}

/// Splits kubectl's output of several JSON objects one after the other.
func splitJSONStream(_ text: String) throws -> [JSONValue] {
    var values: [JSONValue] = []
    var depth = 0
    var inString = false
    var escaped = false
    var start: String.UTF8View.Index?
    let utf8 = text.utf8
    var index = utf8.startIndex
    while index != utf8.endIndex {
        let byte = utf8[index]
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
            if depth == 0 { start = index }
            depth += 1
        } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
            depth -= 1
            if depth == 0, let begin = start {
                values.append(try JSONValue.parse(Array(utf8[begin...index])))
                start = nil
            }
        }
        index = utf8.index(after: index)
    }
    return values
}

/// The path of the first place two values differ, for readable failures.
func firstDifference(_ a: JSONValue, _ b: JSONValue, path: String = "") -> String? {
    switch (a, b) {
    case (.object(let x), .object(let y)):
        for key in Set(x.keys).union(y.keys).sorted() where x[key] != y[key] {
            return firstDifference(x[key] ?? .null, y[key] ?? .null, path: path + "." + key)
                ?? "\(path).\(key): \(x[key].map(\.description) ?? "missing") vs \(y[key].map(\.description) ?? "missing")"
        }
        return nil
    case (.array(let x), .array(let y)):
        if x.count != y.count { return "\(path): \(x.count) vs \(y.count) elements" }
        for (i, (p, q)) in zip(x, y).enumerated() where p != q {
            return firstDifference(p, q, path: "\(path)[\(i)]")
        }
        return nil
    default:
        return a == b ? nil : "\(path): \(a) vs \(b)"
    }
}
