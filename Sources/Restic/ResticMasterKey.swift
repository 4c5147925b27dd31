import CKubeCrypto
import Foundation
import KubeJSON

/// The master key of a restic repository: what encrypts and authenticates every file in it.
///
/// restic's design ("Keys, Encryption and MAC"): a key file under `keys/` holds scrypt
/// parameters, a salt and `data`; scrypt of the password gives 64 bytes, an AES-256 key and a
/// Poly1305-AES key (k, r), that open `data`, which is the master key as JSON. Every sealed
/// file is IV (16 bytes) ‖ AES-256-CTR ciphertext ‖ Poly1305-AES tag (16 bytes) of the
/// ciphertext, with the IV as the nonce.
///
/// Held only in memory and never printed: `description` says nothing of the bytes.
struct ResticMasterKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let encryption: [UInt8]
    private let macK: [UInt8]
    private let macR: [UInt8]

    private init(encryption: [UInt8], macK: [UInt8], macR: [UInt8]) {
        self.encryption = encryption
        self.macK = macK
        self.macR = macR
    }

    var description: String { "ResticMasterKey(<redacted>)" }
    var debugDescription: String { description }

    /// Why a key file did not give a master key.
    enum OpenError: Error, Equatable {
        /// The password does not open this key file (its MAC does not match).
        case wrongPassword
        /// Not a key file this code reads (another KDF, bad JSON, bad sizes).
        case unreadable(String)
    }

    /// Opens the key file `keyFile` (its bytes as stored) with `password`.
    static func open(keyFile: [UInt8], password: String) throws(OpenError) -> ResticMasterKey {
        let json: JSONValue
        do { json = try JSONValue.parse(keyFile) } catch { throw .unreadable("key file is not JSON") }
        guard json["kdf"].stringValue == "scrypt" else {
            throw .unreadable("key file KDF \(json["kdf"].stringValue ?? "(none)") is not scrypt")
        }
        guard let n = json["N"].intValue, let r = json["r"].intValue, let p = json["p"].intValue,
            n > 1, r > 0, p > 0,
            let salt = json["salt"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            let data = json["data"].stringValue.flatMap({ Data(base64Encoded: $0) })
        else { throw .unreadable("key file lacks N, r, p, salt or data") }
        var derived = [UInt8](repeating: 0, count: 64)
        let passwordBytes = Array(password.utf8)
        let saltBytes = Array(salt)
        let status = derived.withUnsafeMutableBufferPointer { out in
            ckc_scrypt(
                passwordBytes, UInt(passwordBytes.count), saltBytes, UInt(saltBytes.count),
                UInt64(n), UInt64(r), UInt64(p), out.baseAddress, 64)
        }
        guard status == 0 else { throw .unreadable("scrypt with N=\(n) r=\(r) p=\(p) failed") }
        let userKey = ResticMasterKey(
            encryption: Array(derived[0..<32]), macK: Array(derived[32..<48]), macR: Array(derived[48..<64]))
        guard let plaintext = userKey.open(Array(data)) else { throw .wrongPassword }
        guard let master = try? JSONValue.parse(plaintext),
            let encryption = master["encrypt"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            let k = master["mac"]["k"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            let macR = master["mac"]["r"].stringValue.flatMap({ Data(base64Encoded: $0) }),
            encryption.count == 32, k.count == 16, macR.count == 16
        else { throw .unreadable("key file data does not hold a master key") }
        return ResticMasterKey(encryption: Array(encryption), macK: Array(k), macR: Array(macR))
    }

    /// The plaintext of a sealed file; nil when its tag does not match (another key, or damage).
    func open(_ sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 32 else { return nil }
        let nonce = Array(sealed[0..<16])
        let ciphertext = Array(sealed[16..<(sealed.count - 16)])
        guard let expected = tag(of: ciphertext, nonce: nonce) else { return nil }
        // Constant time over the 16 bytes.
        var difference: UInt8 = 0
        for (a, b) in zip(expected, sealed[(sealed.count - 16)...]) { difference |= a ^ b }
        guard difference == 0 else { return nil }
        return crypt(ciphertext, nonce: nonce)
    }

    /// `plaintext` sealed under a fresh random IV, as restic stores a file.
    func seal(_ plaintext: [UInt8]) throws(ResticError) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 16)
        let randomStatus = nonce.withUnsafeMutableBufferPointer { ckc_random($0.baseAddress, 16) }
        guard randomStatus == 0, let ciphertext = crypt(plaintext, nonce: nonce),
            let tag = tag(of: ciphertext, nonce: nonce)
        else { throw .unsupported("sealing a repository file failed (libcrypto)") }
        return nonce + ciphertext + tag
    }

    private func crypt(_ input: [UInt8], nonce: [UInt8]) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: input.count)
        let status = output.withUnsafeMutableBufferPointer { out in
            ckc_aes256_ctr(encryption, nonce, input, UInt(input.count), out.baseAddress)
        }
        return status == 0 ? output : nil
    }

    private func tag(of message: [UInt8], nonce: [UInt8]) -> [UInt8]? {
        var tag = [UInt8](repeating: 0, count: 16)
        let status = tag.withUnsafeMutableBufferPointer { out in
            ckc_poly1305_aes(macK, macR, nonce, message, UInt(message.count), out.baseAddress)
        }
        return status == 0 ? tag : nil
    }

    /// The lowercase hex SHA-256 of `bytes`: the name restic gives a stored file.
    static func storageID(of bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = digest.withUnsafeMutableBufferPointer { ckc_sha256(bytes, UInt(bytes.count), $0.baseAddress) }
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
