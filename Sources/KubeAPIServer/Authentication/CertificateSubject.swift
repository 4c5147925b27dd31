/// The user a client certificate stands for, as kube-apiserver's x509 authenticator reads it:
/// the subject's CommonName is the user name, each Organization a group.
///
/// The certificate has already been verified against the server's CA by the TLS layer; this
/// only reads the subject out of its DER encoding (a small reader of the few ASN.1 shapes an
/// X.509 `tbsCertificate` holds up to its subject).
struct CertificateSubject: Equatable {
    var commonName: String
    var organizations: [String]

    var user: UserInfo {
        UserInfo(name: commonName, groups: organizations).withAuthenticatedGroup()
    }

    private static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]
    private static let organizationOID: [UInt8] = [0x55, 0x04, 0x0A]

    /// The subject of a DER certificate, or nil when the bytes are not a certificate.
    init?(der: [UInt8]) {
        var reader = DERReader(der[...])
        guard let certificate = reader.read(tag: 0x30) else { return nil }
        var cert = DERReader(certificate)
        guard let tbs = cert.read(tag: 0x30) else { return nil }
        var fields = DERReader(tbs)
        if fields.peekTag == 0xA0 { _ = fields.read(tag: 0xA0) }  // version
        guard fields.read(tag: 0x02) != nil,  // serialNumber
            fields.read(tag: 0x30) != nil,  // signature algorithm
            fields.read(tag: 0x30) != nil,  // issuer
            fields.read(tag: 0x30) != nil,  // validity
            let subject = fields.read(tag: 0x30)
        else { return nil }
        var commonName: String?
        var organizations: [String] = []
        var names = DERReader(subject)
        while !names.atEnd {
            guard let set = names.read(tag: 0x31) else { return nil }
            var attributes = DERReader(set)
            while !attributes.atEnd {
                guard let pair = attributes.read(tag: 0x30) else { return nil }
                var parts = DERReader(pair)
                guard let oid = parts.read(tag: 0x06), let (_, value) = parts.readAny() else { return nil }
                let text = String(decoding: value, as: UTF8.self)
                if Array(oid) == Self.commonNameOID, commonName == nil { commonName = text }
                if Array(oid) == Self.organizationOID { organizations.append(text) }
            }
        }
        guard let commonName, !commonName.isEmpty else { return nil }
        self.commonName = commonName
        self.organizations = organizations
    }
}

/// Reads DER tag-length-value items one after another.
struct DERReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { bytes.isEmpty }
    var peekTag: UInt8? { bytes.first }

    /// The next item's contents when its tag is `tag`.
    mutating func read(tag: UInt8) -> ArraySlice<UInt8>? {
        guard peekTag == tag, let (_, value) = readAny() else { return nil }
        return value
    }

    mutating func readAny() -> (tag: UInt8, value: ArraySlice<UInt8>)? {
        guard bytes.count >= 2 else { return nil }
        let start = bytes.startIndex
        let tag = bytes[start]
        let first = bytes[start + 1]
        var length = 0
        var offset = start + 2
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard count >= 1, count <= 4, bytes.endIndex - offset >= count else { return nil }
            for i in 0..<count { length = length << 8 | Int(bytes[offset + i]) }
            offset += count
        }
        guard length >= 0, bytes.endIndex - offset >= length else { return nil }
        let value = bytes[offset..<(offset + length)]
        bytes = bytes[(offset + length)...]
        return (tag, value)
    }
}
