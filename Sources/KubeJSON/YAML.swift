/// An error reading YAML: what went wrong and where (1-based line and column).
public struct YAMLError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public var line: Int
    public var column: Int

    public init(message: String, line: Int, column: Int) {
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String { "yaml: line \(line), column \(column): \(message)" }
}

/// YAML reading and writing, with kubectl's reading of scalars.
///
/// Reading goes through libyaml's event parser and resolves plain scalars with YAML 1.1 rules
/// as go-yaml v2 does (sigs.k8s.io/yaml, which kubectl uses): `yes`/`on`/`y` are booleans,
/// `0x1F` and `017` are integers, quoted and block scalars are always strings. Mapping keys that
/// are not strings become strings as sigs.k8s.io/yaml makes them (`yes:` is the key `"true"`).
/// Numbers come out as they would after kubectl's detour through JSON: `1e3` is the integer 1000.
public enum YAML {
    /// All documents of a stream; empty documents (e.g. a trailing `---`) are skipped like kubectl.
    public static func parseAll(_ text: String) throws(YAMLError) -> [JSONValue] {
        try YAMLReader.readAll(text).map(\.value)
    }

    /// Exactly one document (an empty stream is `.null`); more than one is an error.
    public static func parse(_ text: String) throws(YAMLError) -> JSONValue {
        let documents = try YAMLReader.readAll(text)
        if documents.count > 1 {
            throw YAMLError(
                message: "expected one YAML document, found \(documents.count)", line: documents[1].line,
                column: documents[1].column)
        }
        return documents.first?.value ?? .null
    }

    /// Block-style YAML text for people (kubeconfig files, CLI output). Keys are sorted and a
    /// string is quoted whenever it would otherwise read back as something else, so
    /// `parse(serialize(v)) == v` for every value `parse` can return.
    public static func serialize(_ value: JSONValue) -> String {
        var writer = YAMLWriter()
        writer.writeDocument(value)
        return writer.output
    }
}
