import Foundation

/// kube-apiserver's `--token-auth-file`: CSV lines `token,user,uid,"group1,group2"` (the
/// groups column is optional). Read once at start, as kube-apiserver does.
///
/// Errors name the line and the column, never the token.
struct StaticTokenFile: Sendable {
    private(set) var users: [String: UserInfo] = [:]

    init() {}

    init(path: String) throws(AuthenticationSetupError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AuthenticationSetupError("cannot read the token auth file \(path): \(error.localizedDescription)")
        }
        try self.init(parsing: text, source: path)
    }

    init(parsing text: String, source: String) throws(AuthenticationSetupError) {
        var lineOfToken: [String: Int] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let fields: [String]
            do { fields = try Self.fields(trimmed) } catch {
                throw AuthenticationSetupError("token auth file \(source), line \(number): \(error.message)")
            }
            guard fields.count >= 3 else {
                throw AuthenticationSetupError(
                    "token auth file \(source), line \(number): must have at least 3 columns (token, user name, user uid), found \(fields.count)")
            }
            guard !fields[0].isEmpty else { throw AuthenticationSetupError("token auth file \(source), line \(number): the token (column 1) is empty") }
            guard !fields[1].isEmpty else { throw AuthenticationSetupError("token auth file \(source), line \(number): the user name (column 2) is empty") }
            if let earlier = lineOfToken[fields[0]] {
                throw AuthenticationSetupError("token auth file \(source), line \(number): the same token as line \(earlier)")
            }
            lineOfToken[fields[0]] = number
            var groups: [String] = []
            if fields.count >= 4 {
                groups = fields[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            users[fields[0]] = UserInfo(name: fields[1], uid: fields[2], groups: groups).withAuthenticatedGroup()
        }
    }

    struct FieldError: Error { var message: String }

    /// One CSV record (RFC 4180 quoting, `""` inside quotes, leading spaces trimmed as Go's
    /// encoding/csv with TrimLeadingSpace).
    static func fields(_ line: String) throws(FieldError) -> [String] {
        var fields: [String] = []
        var current = ""
        var chars = Array(line)[...]
        var atFieldStart = true
        while let c = chars.first {
            chars = chars.dropFirst()
            if atFieldStart && (c == " " || c == "\t") { continue }
            if atFieldStart && c == "\"" {
                atFieldStart = false
                var closed = false
                while let q = chars.first {
                    chars = chars.dropFirst()
                    if q == "\"" {
                        if chars.first == "\"" {
                            current.append("\"")
                            chars = chars.dropFirst()
                        } else {
                            closed = true
                            break
                        }
                    } else {
                        current.append(q)
                    }
                }
                guard closed else { throw FieldError(message: "a quoted field is not closed") }
                if let next = chars.first, next != "," { throw FieldError(message: "extraneous \(next) after a quoted field") }
                continue
            }
            if c == "," {
                fields.append(current)
                current = ""
                atFieldStart = true
                continue
            }
            atFieldStart = false
            current.append(c)
        }
        fields.append(current)
        return fields
    }
}

/// The authentication setup (a token file, the signing key) could not be loaded.
public struct AuthenticationSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
